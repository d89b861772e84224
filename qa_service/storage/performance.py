"""Read a period's KPI rows and scored transcripts for performance records (the queries only)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qa_service.domain import ReviewStatus
from qa_service.storage import kpis as kpi_repo
from qa_service.storage.tables import Report, Review, Transcript


def kpi_rows(*, session: Session, start: date, end: date, agent_id: str | None = None, team: str | None = None
             ) -> list[dict[str, Any]]:
    rows = kpi_repo.list_in_range(session=session, start=start, end=end, agent_id=agent_id, team=team)
    return [{"agent_id": r.agent_id, "team_id": r.team_id, "date_from": r.date_from, "date_to": r.date_to,
             **{f: getattr(r, f) for f in kpi_repo.KPI_COLUMNS}} for r in rows]


def qa_rows(*, session: Session, since: datetime, until: datetime, agent_id: str | None = None,
            team: str | None = None, final: bool = False) -> list[tuple]:
    """Scored transcripts with an agent whose started_at (else received_at) is in [since, until):
    (agent, team, started_at, received_at, score, fatal, summary, final dimension scores or None).

    ``final``: only transcripts whose review is done, with the final (reviewed, appealed) score and
    dimension scores in place of the machine's.
    """
    when = func.coalesce(Transcript.started_at, Transcript.received_at)
    if final:
        query = (select(Transcript.agent_id, Transcript.team_id, Transcript.started_at, Transcript.received_at,
                        Review.final_score, Review.final_fatal, Report.summary, Review.final_dims)
                 .join(Report, Report.transcript_id == Transcript.id)
                 .join(Review, Review.transcript_id == Transcript.id)
                 .where(Review.status == ReviewStatus.done.value))
    else:
        query = (select(Transcript.agent_id, Transcript.team_id, Transcript.started_at, Transcript.received_at,
                        Report.score, Report.fatal, Report.summary, None)
                 .join(Report, Report.transcript_id == Transcript.id))
    query = query.where(Transcript.agent_id.is_not(None), when >= since, when < until)
    if agent_id:
        query = query.where(Transcript.agent_id == agent_id)
    if team:
        query = query.where(Transcript.team_id == team)
    return [tuple(r) for r in session.execute(query)]
