"""A period's KPI rows and QA sums for performance records, aggregated by the database.

QA sums come from the ``qa_daily`` rollup, the score distributions (for exact medians) and the
reviewed figures from ``qa_facts`` over ``day BETWEEN start AND end`` (indexed): one row per agent
(or agent and score), never one per conversation. ``final``: only transcripts whose review is done,
with the reviewed score and dimensions in place of the machine's.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, select
from sqlalchemy.orm import Session

from qa_service.storage import kpis as kpi_repo
from qa_service.storage import rollups
from qa_service.storage.fact_tables import FACT_DIMENSIONS as DIMENSIONS
from qa_service.storage.fact_tables import QaDaily as D
from qa_service.storage.fact_tables import QaFact as F

TIMES = rollups.TIMES


def kpi_rows(*, session: Session, start: date, end: date, agent_id: str | None = None, team: str | None = None
             ) -> list[dict[str, Any]]:
    rows = kpi_repo.list_in_range(session=session, start=start, end=end, agent_id=agent_id, team=team)
    return [{"agent_id": r.agent_id, "team_id": r.team_id, "date_from": r.date_from, "date_to": r.date_to,
             **{f: getattr(r, f) for f in kpi_repo.KPI_COLUMNS}} for r in rows]


def score_column(final: bool) -> ColumnElement:
    """The score to aggregate: the machine's, or the reviewed one where a review is done."""
    return func.coalesce(F.final_score, F.score) if final else F.score


def dim_column(name: str, final: bool) -> ColumnElement:
    """A dimension's score (None where it did not apply); ``final``: the reviewed one where there is one."""
    machine = getattr(F, f"dim_{name}")
    if not final:
        return machine
    return case((machine.is_(None), None), else_=func.coalesce(getattr(F, f"final_{name}"), machine))


def in_period(query: Select, start: date, end: date, final: bool, *, agents_only: bool = True,
              team: str | None = None) -> Select:
    """Facts of the local days ``start``..``end``; ``team``: only those filed under that team."""
    query = query.where(F.day >= start, F.day <= end)
    if team is not None:
        query = query.where(F.team_id == team)
    if agents_only:
        query = query.where(F.agent_id.is_not(None))
    return query.where(F.final_score.is_not(None)) if final else query


def _count_true(cond: ColumnElement) -> ColumnElement:
    return func.sum(case((cond, 1), else_=0))


def qa_sums(*, session: Session, start: date, end: date, final: bool, frt_target_ms: float,
            team: str | None = None) -> list[dict[str, Any]]:
    """Per (agent, team filed under): n, total, total_sq, fatal, flagged, dim_<d>_sum/_n, <t>_sum/_n
    for t in frt/reply/handling, and frt_within (first responses within the target). Machine scores
    come from the ``qa_daily`` rollup (made with the configured target); reviewed ones from the facts.
    ``team`` (here and below): only transcripts filed under that team."""
    if not final:
        cols = [D.agent_key.label("agent_id"), D.team_key.label("team_id"),
                *(func.sum(getattr(D, c)).label(c) for c in rollups.SUMS if c != "e_total")]
        query = (select(*cols).where(D.day >= start, D.day <= end, D.agent_key != "")
                 .group_by(D.agent_key, D.team_key))
        if team is not None:
            query = query.where(D.team_key == team)
        return [{**r._mapping, "team_id": r.team_id or None} for r in session.execute(query)]
    score = score_column(final)
    cols: list[Any] = [F.agent_id, F.team_id, func.count().label("n"), func.sum(score).label("total"),
                       func.sum(score * score).label("total_sq"), _count_true(F.final_fatal).label("fatal"),
                       _count_true(F.flagged).label("flagged")]
    for d in DIMENSIONS:
        value = dim_column(d, final)
        cols += [func.sum(value).label(f"dim_{d}_sum"), func.count(value).label(f"dim_{d}_n")]
    for t in TIMES:
        value = getattr(F, f"{t}_ms")
        cols += [func.sum(value).label(f"{t}_sum"), func.count(value).label(f"{t}_n")]
    cols.append(_count_true(F.frt_ms <= frt_target_ms).label("frt_within"))
    query = in_period(select(*cols), start, end, final, team=team).group_by(F.agent_id, F.team_id)
    return [dict(r._mapping) for r in session.execute(query)]


def qa_days(*, session: Session, start: date, end: date, final: bool, team: str | None = None
            ) -> list[tuple[str, date]]:
    """(agent, day) for every day an agent has a scored (``final``: reviewed) transcript."""
    if not final:
        query = select(D.agent_key, D.day).where(D.day >= start, D.day <= end, D.agent_key != "").distinct()
        if team is not None:
            query = query.where(D.team_key == team)
    else:
        query = in_period(select(F.agent_id, F.day), start, end, final, team=team).distinct()
    return [(a, d) for a, d in session.execute(query)]


def score_counts(*, session: Session, start: date, end: date, final: bool, team: str | None = None
                 ) -> list[tuple[str, float, int]]:
    """(agent, score, how many): each agent's score distribution, from which medians are exact (scores
    carry two decimals, so an agent has at most a few hundred distinct ones in practice)."""
    score = score_column(final)
    query = in_period(select(F.agent_id, score, func.count()), start, end, final, team=team).group_by(F.agent_id, score)
    return [(a, float(s), n) for a, s, n in session.execute(query)]


def extra_dims(*, session: Session, start: date, end: date, final: bool, team: str | None = None
               ) -> Iterator[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    """(agent, machine extra dims, final extra dims) of transcripts that have plugin scorers' dimensions:
    those few are added up in Python."""
    query = in_period(select(F.agent_id, F.extra_dims, F.final_extra_dims), start, end, final, team=team)
    for agent, machine, reviewed in session.execute(query.where(F.extra_dims.is_not(None))):
        yield agent, machine or {}, reviewed if final else None
