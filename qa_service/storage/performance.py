"""Read a period's KPI rows and scored transcripts for performance records (the I/O side of performance/)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qa_service.performance.kpi import KPI_FIELDS
from qa_service.performance.period import Period
from qa_service.performance.record import QaRow
from qa_service.storage import kpis as kpi_repo
from qa_service.storage.tables import Report, Review, Transcript


def kpi_rows(*, session: Session, period: Period, agent_id: str | None = None, team: str | None = None
             ) -> list[dict[str, Any]]:
    rows = kpi_repo.list_in_range(session=session, start=period.start, end=period.end, agent_id=agent_id, team=team)
    return [{"agent_id": r.agent_id, "team_id": r.team_id, "date_from": r.date_from, "date_to": r.date_to,
             **{f: getattr(r, f) for f in KPI_FIELDS}} for r in rows]


def qa_rows(*, session: Session, period: Period, tz: ZoneInfo, agent_id: str | None = None,
            team: str | None = None, final: bool = False) -> list[QaRow]:
    """Scored transcripts with an agent whose local day (started_at, else received_at) is in the period.

    ``final``: only transcripts whose review is done, with the final (reviewed, appealed) score and
    dimension scores in place of the machine's.
    """
    lo, hi = period.bounds(tz)
    when = func.coalesce(Transcript.started_at, Transcript.received_at)
    query = (
        select(Transcript.agent_id, Transcript.team_id, Transcript.started_at, Transcript.received_at,
               Report.score, Report.fatal, Report.summary)
        .join(Report, Report.transcript_id == Transcript.id)
        .where(Transcript.agent_id.is_not(None), when >= lo, when < hi)
    )
    if final:
        query = query.join(Review, Review.transcript_id == Transcript.id).where(Review.status == "done").with_only_columns(
            Transcript.agent_id, Transcript.team_id, Transcript.started_at, Transcript.received_at,
            Review.final_score, Review.final_fatal, Report.summary, Review.final_dims)
    if agent_id:
        query = query.where(Transcript.agent_id == agent_id)
    if team:
        query = query.where(Transcript.team_id == team)
    out = []
    for agent, team_id, started, received, score, fatal, summary, *final_dims in session.execute(query):
        day = (started or received).astimezone(tz).date()
        if day not in period:
            continue
        summary = summary or {}
        if final_dims:  # reviewed dimension scores; inapplicable ones stay out
            dims = summary.get("dims") or {}
            summary = {**summary, "dims": {n: (final_dims[0] or {}).get(n, v) if v is not None else None
                                            for n, v in dims.items()}}
        out.append(QaRow(agent, team_id, day, score, bool(fatal), summary))
    return out


def overlapping_kpi_rows(*, session: Session, period: Period) -> int:
    return kpi_repo.count_overlapping_outside(session=session, start=period.start, end=period.end)


def records_for(*, session: Session, settings, period: Period, agent_id: str | None = None,
                team: str | None = None, final: bool = False):
    """(agent records, team records) for the period, from stored KPIs and scored transcripts.

    ``final``: QA figures from finalised reviews only (final scores after review and appeals).

    Team figures (and the team mean that adjusted QA scores shrink toward) always cover the whole
    team, even when one agent is asked for.
    """
    from qa_service.performance.record import build_records

    p = settings.performance
    # Everyone's rows: an agent's team comes from their rows, and adjusted scores need the team mean.
    kpis = kpi_rows(session=session, period=period)
    qas = qa_rows(session=session, period=period, tz=ZoneInfo(p.timezone), final=final)
    agents, teams = build_records(period, kpis, qas, shrinkage_n=p.shrinkage_n, frt_target_s=p.frt_target_seconds)
    if agent_id:
        agents = [r for r in agents if r.agent_id == agent_id]
        teams = [t for t in teams if any(a.team == t.team for a in agents)]
    if team:
        agents = [r for r in agents if r.team == team]
        teams = [t for t in teams if t.team == team]
    return agents, teams
