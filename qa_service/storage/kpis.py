"""KPI repository: upsert imported records (same agent and days → replaced), read a period's rows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    String,
    and_,
    case,
    cast,
    column,
    delete,
    func,
    literal,
    null,
    or_,
    select,
    tuple_,
    values,
)
from sqlalchemy.orm import Session, aliased

from qa_service.storage.fact_tables import QaDaily, QaFact
from qa_service.storage.tables import Agent, AgentKpi, ApiKey, Team, Transcript, utcnow
from qa_service.storage.transcripts import KnownIds, ensure_agents_and_teams
from qa_service.storage.upsert import dialect_insert
from qa_service.text import FOLDED_BY_FOLD_ID, fold_id, id_forms

_KEYS = ("id", "agent_id", "team_id", "date_from", "date_to", "source", "imported_at")
KPI_COLUMNS: tuple[str, ...] = tuple(c.key for c in AgentKpi.__table__.c if c.key not in _KEYS)

CHUNK = 500  # rows per statement (keeps PostgreSQL/SQLite parameter counts well under their limits)


@dataclass
class UpsertResult:
    inserted: int = 0
    replaced: int = 0


def upsert_many(*, session: Session, rows: Sequence[dict[str, Any]], known: KnownIds) -> UpsertResult:
    """Store ``agent_kpis`` rows (agent_id, team_id, date_from, date_to, source and KPI columns); a row for
    an agent and days already stored overwrites every column (never adds to it): callers that keep fields
    pass the stored values in. Two rows of one agent and days are refused (``ValueError``): stored one after
    the other, the later would silently overwrite the earlier and both count as inserted."""
    result = UpsertResult()
    if not rows:
        return result
    keys = [(r["agent_id"], r["date_from"], r["date_to"]) for r in rows]
    if len(set(keys)) < len(keys):
        twice = next(k for k, n in Counter(keys).items() if n > 1)
        raise ValueError(f"two rows for agent {twice[0]} over {twice[1]}..{twice[2]}; merge them before storing")
    ensure_agents_and_teams(session=session, known=known,
                            items=[SimpleNamespace(agent_id=r["agent_id"], team=r["team_id"]) for r in rows])
    now = utcnow()
    for i in range(0, len(rows), CHUNK):
        chunk = [{**r, "imported_at": now} for r in rows[i : i + CHUNK]]
        keys = [(r["agent_id"], r["date_from"], r["date_to"]) for r in chunk]
        existing = {tuple(row) for row in session.execute(
            select(AgentKpi.agent_id, AgentKpi.date_from, AgentKpi.date_to)
            .where(tuple_(AgentKpi.agent_id, AgentKpi.date_from, AgentKpi.date_to).in_(keys)))}
        result.replaced += len(existing)
        result.inserted += len(chunk) - len(existing)
        stmt = dialect_insert(session.get_bind().dialect.name, AgentKpi.__table__)
        update = {c: stmt.excluded[c] for c in ("team_id", "source", "imported_at", *KPI_COLUMNS)}
        session.execute(stmt.on_conflict_do_update(
            index_elements=["agent_id", "date_from", "date_to"], set_=update), chunk)
    return result


def get_many(*, session: Session, keys: Sequence[tuple[str, date, date]]) -> dict[tuple[str, date, date], dict[str, Any]]:
    """The stored records for these (agent, from, to) keys: key → {team_id and each KPI column}."""
    c = AgentKpi.__table__.c
    found = {}
    for i in range(0, len(keys), CHUNK):
        query = select(c.agent_id, c.date_from, c.date_to, c.team_id, *(c[f] for f in KPI_COLUMNS)).where(
            tuple_(c.agent_id, c.date_from, c.date_to).in_(keys[i : i + CHUNK]))
        for row in session.execute(query):
            m = dict(row._mapping)
            found[(m.pop("agent_id"), m.pop("date_from"), m.pop("date_to"))] = m
    return found


def overlapping(*, session: Session, spans: Sequence[tuple[str, date, date]], summed: Sequence[str] = ()
                ) -> list[tuple[int, date, date, bool]]:
    """Stored records sharing a day with one of ``spans`` (agent, from, to) of the same agent without being
    exactly those days: (index in ``spans``, stored from, stored to, whether it carries one of the
    ``summed`` fields), by index then date."""
    k = AgentKpi.__table__.c
    carries = or_(*(k[f].is_not(None) for f in summed)) if summed else None
    flag = case((carries, 1), else_=0) if carries is not None else literal(0)
    found: list[tuple[int, date, date, bool]] = []
    for i in range(0, len(spans), CHUNK):
        given = values(column("n", Integer), column("agent_id", String), column("date_from", Date),
                       column("date_to", Date), name="given").data(
            [(i + j, *span) for j, span in enumerate(spans[i : i + CHUNK])]).cte("given")
        # The (agent_id, date_from, date_to) unique index finds each agent's rows starting by the span's end.
        query = (select(given.c.n, k.date_from, k.date_to, flag)
                 .join_from(given, AgentKpi.__table__, and_(
                     k.agent_id == given.c.agent_id, k.date_from <= given.c.date_to, k.date_to >= given.c.date_from,
                     or_(k.date_from != given.c.date_from, k.date_to != given.c.date_to)))
                 .order_by(given.c.n, k.date_from, k.date_to))
        found += [(n, start, end, bool(carried)) for n, start, end, carried in session.execute(query)]
    return found


def list_in_range(*, session: Session, start: date, end: date, agent_id: str | None = None,
                  team: str | None = None) -> list[AgentKpi]:
    """Records lying wholly inside ``start``..``end`` (a month's row is not part of one of its weeks); ``agent_id``:
    that agent's, stored in either form (``text.id_forms``); ``team``: the team's records as its figures count them
    (``_in_range``: filed under it, and those naming no team of the agents whose team for the range it is)."""
    query = select(AgentKpi)
    if agent_id:
        query = query.where(AgentKpi.agent_id.in_(id_forms(agent_id)))
    query = _in_range(query, start, end, team or None, dialect=session.get_bind().dialect.name)
    return list(session.scalars(query.order_by(AgentKpi.agent_id, AgentKpi.date_from)))


def _by_name(team_column, dialect: str):
    """Ties between teams broken by name in code point order, as Python compares strings (PostgreSQL's
    default collation may sort otherwise; SQLite's BINARY already does)."""
    return team_column.collate("C") if dialect == "postgresql" else team_column


def home_agents(*, start: date, end: date, team: str, final: bool = False, dialect: str = "postgresql"):
    """A subquery of the agents whose team for the local days ``start``..``end`` is ``team``: the team of their
    latest KPI record inside the range that names one, else the team most of their scored transcripts of
    those days (``final``: reviewed ones) were filed under, ties to the first by name — the team the
    company-wide records list them under. Their records naming no team count under that team.

    One ranking over both sources (KPI records first, latest first; then transcript counts, most first):
    a month of 1,000 agents' daily records is one sort of 31,000 narrow rows."""
    k = aliased(AgentKpi)
    day, number = cast(null(), Date), cast(null(), Integer)
    kpi = (select(k.agent_id.label("agent"), k.team_id.label("team"), literal(0).label("src"), k.date_to.label("d_to"),
                  k.date_from.label("d_from"), k.id.label("kid"), number.label("n"))
           .where(k.date_from >= start, k.date_to <= end, k.team_id.is_not(None)))
    if final:
        qa = (select(QaFact.agent_id, QaFact.team_id, literal(1), day, day, number, func.count())
              .where(QaFact.day >= start, QaFact.day <= end, QaFact.final_score.is_not(None),
                     QaFact.agent_id.is_not(None), QaFact.team_id.is_not(None))
              .group_by(QaFact.agent_id, QaFact.team_id))
    else:
        qa = (select(QaDaily.agent_key, QaDaily.team_key, literal(1), day, day, number, func.sum(QaDaily.n))
              .where(QaDaily.day >= start, QaDaily.day <= end, QaDaily.agent_key != "", QaDaily.team_key != "")
              .group_by(QaDaily.agent_key, QaDaily.team_key))
    both = kpi.union_all(qa).subquery()
    ranked = select(both.c.agent, both.c.team, func.row_number().over(partition_by=both.c.agent, order_by=(
        both.c.src, both.c.d_to.desc(), both.c.d_from.desc(), both.c.kid.desc(), both.c.n.desc(),
        _by_name(both.c.team, dialect))).label("rn")).subquery()
    return select(ranked.c.agent).where(ranked.c.rn == 1, ranked.c.team == team)


def _in_team(query, team: str, start: date, end: date, final: bool, dialect: str):
    """Records filed under ``team``, and those naming no team of the agents whose team for the range it is
    (``home_agents``): an agent's figures read the same in the team's view as company-wide."""
    home = home_agents(start=start, end=end, team=team, final=final, dialect=dialect)
    return query.where(or_(AgentKpi.team_id == team,
                           and_(AgentKpi.team_id.is_(None), AgentKpi.agent_id.in_(home))))


def outside_by_agent(*, session: Session, start: date, end: date, team: str | None = None,
                     agent_id: str | None = None, ratings: Sequence[str] = (), final: bool = False
                     ) -> dict[str, tuple[int, int]]:
    """Per agent, the records that overlap the range without lying inside it (left out of its figures, and
    said so): (records, those carrying one of ``ratings``). ``team``: the team's records, as ``sums_by_agent``
    counts them; ``agent_id``: that agent's only."""
    k = AgentKpi
    rated = or_(*(k.__table__.c[f].is_not(None) for f in ratings)) if ratings else None
    query = (select(k.agent_id, func.count(), func.sum(case((rated, 1), else_=0)) if rated is not None
                    else literal(0))
             .where(k.date_from <= end, k.date_to >= start, (k.date_from < start) | (k.date_to > end)))
    if agent_id is not None:
        query = query.where(k.agent_id.in_(id_forms(agent_id)))
    if team is not None:
        query = _in_team(query, team, start, end, final, session.get_bind().dialect.name)
    return {a: (n, int(r or 0)) for a, n, r in session.execute(query.group_by(k.agent_id))}


def count_overlapping_outside(*, session: Session, start: date, end: date, team: str | None = None,
                              agent_id: str | None = None, final: bool = False) -> int:
    """Records that overlap the range without lying inside it (left out of its figures, and said so);
    ``team``: the team's records (``_in_team``); ``agent_id``: that agent's only."""
    return sum(n for n, _ in outside_by_agent(session=session, start=start, end=end, team=team,
                                              agent_id=agent_id, final=final).values())


def _in_range(query, start: date, end: date, team: str | None = None, final: bool = False,
              dialect: str = "postgresql"):
    """Records wholly inside the range; ``team``: those filed under that team, and those naming no team of
    the agents whose team for the range it is (``_in_team``)."""
    query = query.where(AgentKpi.date_from >= start, AgentKpi.date_to <= end)
    return query if team is None else _in_team(query, team, start, end, final, dialect)


def sums_by_agent(*, session: Session, start: date, end: date, sums: Sequence[str],
                  ratios: dict[str, tuple[str, str]], means: dict[str, tuple[str, str]],
                  ratings: Sequence[str], team: str | None = None, final: bool = False) -> list[dict[str, Any]]:
    """Per agent, over the records inside the range (``team``: the team's, ``_in_team``): ``rows``; ``sum_<f>``/``has_<f>`` for each summed
    field; ``num_<m>``/``den_<m>`` for each ratio (numerator and denominator over the records carrying
    both) and weighted mean (Σ mean·weight, Σ weight), and for NPS; ``rsum_<f>``/``rn_<f>`` per rating."""
    c = AgentKpi.__table__.c
    cols: list[Any] = [c.agent_id, func.count().label("rows")]
    for f in sums:
        cols += [func.sum(c[f]).label(f"sum_{f}"), func.count(c[f]).label(f"has_{f}")]
    for metric, (n, d) in ratios.items():
        both = and_(c[n].is_not(None), c[d].is_not(None))
        cols += [func.sum(case((both, c[n]))).label(f"num_{metric}"), func.sum(case((both, c[d]))).label(f"den_{metric}")]
    for metric, (m, w) in means.items():
        both = and_(c[m].is_not(None), c[w].is_not(None))
        cols += [func.sum(case((both, c[m] * c[w]))).label(f"num_{metric}"),
                 func.sum(case((both, c[w]))).label(f"den_{metric}")]
    p, pa, d = (func.coalesce(c[k], 0) for k in ("nps_promoters", "nps_passives", "nps_detractors"))
    answered = or_(c.nps_promoters.is_not(None), c.nps_detractors.is_not(None))
    cols += [func.sum(case((answered, p - d))).label("num_nps"), func.sum(case((answered, p + pa + d))).label("den_nps")]
    for f in ratings:
        cols += [func.sum(c[f]).label(f"rsum_{f}"), func.count(c[f]).label(f"rn_{f}")]
    query = _in_range(select(*cols), start, end, team, final, session.get_bind().dialect.name).group_by(c.agent_id)
    return [dict(r._mapping) for r in session.execute(query)]


def latest_teams(*, session: Session, start: date, end: date) -> dict[str, str]:
    """Each agent's team on their latest record inside the range that names one."""
    ranked = _in_range(select(AgentKpi.agent_id, AgentKpi.team_id, func.row_number().over(
        partition_by=AgentKpi.agent_id, order_by=(AgentKpi.date_to.desc(), AgentKpi.date_from.desc(),
                                                  AgentKpi.id.desc())).label("rn")), start, end)
    ranked = ranked.where(AgentKpi.team_id.is_not(None)).subquery()
    return dict(session.execute(select(ranked.c.agent_id, ranked.c.team_id).where(ranked.c.rn == 1)).all())


def single_days(*, session: Session, start: date, end: date, team: str | None = None, final: bool = False
                ) -> list[tuple[str, date, float]]:
    """(agent, day, contacts) of the one-day records inside the range that carry contacts (the days worked;
    ``team``: the team's, ``_in_team``)."""
    query = _in_range(select(AgentKpi.agent_id, AgentKpi.date_from, func.sum(AgentKpi.contacts)), start, end, team,
                      final, session.get_bind().dialect.name).where(AgentKpi.date_from == AgentKpi.date_to, AgentKpi.contacts.is_not(None)
                              ).group_by(AgentKpi.agent_id, AgentKpi.date_from)
    return [(a, d, c) for a, d, c in session.execute(query)]


def _matching(query, *, agent_id: str, start: date | None, end: date | None, team: str | None):
    """One agent's records, stored under the id as asked for or folded (``text.id_forms``: rows an earlier release
    stored in full width stay deletable); ``start``/``end``: those lying wholly inside (as ``GET /v1/kpis`` lists
    them); ``team``: those filed under it (not the rows naming no team that the team's listing also holds:
    which team such a row is depends on the period asked, and a deletion may have none)."""
    query = query.where(AgentKpi.agent_id.in_(id_forms(agent_id)))
    if start is not None and end is not None:
        query = query.where(AgentKpi.date_from >= start, AgentKpi.date_to <= end)
    return query if team is None else query.where(AgentKpi.team_id == team)


def count_matching(*, session: Session, agent_id: str, start: date | None = None, end: date | None = None,
                   team: str | None = None) -> int:
    return session.scalar(_matching(select(func.count()).select_from(AgentKpi), agent_id=agent_id, start=start,
                                    end=end, team=team))


def list_matching(*, session: Session, agent_id: str, start: date | None = None, end: date | None = None,
                  team: str | None = None, fields: Sequence[str] = (), limit: int = 1000) -> list[dict[str, Any]]:
    """One agent's records (see ``_matching``), oldest first, as ``{date_from, date_to, team, source, <field>…}``
    with the figures they carry; at most ``limit``."""
    query = _matching(select(AgentKpi), agent_id=agent_id, start=start, end=end, team=team)
    rows = session.scalars(query.order_by(AgentKpi.date_from, AgentKpi.date_to).limit(limit))
    return [{"date_from": r.date_from.isoformat(), "date_to": r.date_to.isoformat(), "team": r.team_id,
             "source": r.source, **{f: getattr(r, f) for f in fields if getattr(r, f) is not None}} for r in rows]


def delete_matching(*, session: Session, agent_id: str, start: date | None = None, end: date | None = None,
                    team: str | None = None) -> int:
    """Delete one agent's records (see ``_matching``); the number deleted."""
    return session.execute(_matching(delete(AgentKpi), agent_id=agent_id, start=start, end=end, team=team)).rowcount


def agents_seen(*, session: Session, agent_ids: Sequence[str]) -> set[str]:
    """Those of ``agent_ids`` with a conversation or a KPI record stored."""
    seen: set[str] = set()
    for i in range(0, len(agent_ids), CHUNK):
        chunk = list(agent_ids[i : i + CHUNK])
        seen |= set(session.scalars(select(AgentKpi.agent_id).where(AgentKpi.agent_id.in_(chunk)).distinct()))
        seen |= set(session.scalars(select(Transcript.agent_id).where(Transcript.agent_id.in_(chunk)).distinct()))
    return seen


def teams_named(*, session: Session, teams: Sequence[str]) -> set[str]:
    """Those of ``teams`` a conversation, agent, key or KPI record has named: ``teams`` (conversations, agents
    and KPI records add theirs there) and ``api_keys.team_id`` (a key does not: a supervisor's key is often made
    before the team's first conversation)."""
    out: set[str] = set()
    for i in range(0, len(teams), CHUNK):
        chunk = list(teams[i : i + CHUNK])
        out |= set(session.scalars(select(Team.id).where(Team.id.in_(chunk))))
        out |= set(session.scalars(select(ApiKey.team_id).where(ApiKey.team_id.in_(chunk)).distinct()))
    return out


def unfolded_agent_ids(*, session: Session, shown: int = 3) -> tuple[int, int, list[str]]:
    """The stored agent ids that ``text.fold_id`` would change (an earlier release stored ``０００１２６`` as sent):
    (how many, how many of them are also stored folded — one person as two agents —, the first ``shown``).
    One pass over ``agents`` (every conversation's and KPI row's agent has a row there: a foreign key), a
    regular expression on each id; the ids found are few."""
    wide = sorted(session.scalars(select(Agent.id).where(Agent.id.regexp_match(FOLDED_BY_FOLD_ID))))
    folded = {fold_id(a) for a in wide}
    both = {a for i in range(0, len(folded), CHUNK)
            for a in session.scalars(select(Agent.id).where(Agent.id.in_(sorted(folded)[i : i + CHUNK])))}
    return len(wide), sum(fold_id(a) in both for a in wide), wide[:shown]


def latest_named_teams(*, session: Session, agent_ids: Sequence[str]) -> dict[str, str]:
    """Each agent's team on their latest stored record (any period) that names one."""
    out: dict[str, str] = {}
    for i in range(0, len(agent_ids), CHUNK):
        ranked = select(AgentKpi.agent_id, AgentKpi.team_id, func.row_number().over(
            partition_by=AgentKpi.agent_id, order_by=(AgentKpi.date_to.desc(), AgentKpi.id.desc())).label("rn")
        ).where(AgentKpi.agent_id.in_(list(agent_ids[i : i + CHUNK])), AgentKpi.team_id.is_not(None)).subquery()
        out.update(session.execute(select(ranked.c.agent_id, ranked.c.team_id).where(ranked.c.rn == 1)).all())
    return out
