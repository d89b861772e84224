"""Retention: delete conversations (and everything derived from them) older than a local day.

Deletes run in batches of transcripts, each its own short transaction, so a purge of millions never
holds a long lock; the foreign keys cascade to utterances, reports, findings, flags, reviews, their
verdicts, manual findings, appeals and audit events, and the facts. The per-day rollups of those days
go first (an interrupted purge leaves no figures of conversations that are gone) and again at the end.
Live alerts raised on purged conversations go with them (their deliveries cascade), and alerts before
the day that never became a transcript. KPI records lying wholly before the day go too unless kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from qa_service.domain import TranscriptStatus
from qa_service.storage import scoring_versions
from qa_service.storage.alert_tables import LiveAlert
from qa_service.storage.fact_tables import FindingCount, QaDaily, QaFact
from qa_service.storage.tables import AgentKpi, Transcript


@dataclass(frozen=True, slots=True)
class PurgeCount:
    transcripts: int
    kpi_rows: int


def count_before(*, session: Session, before: date, cutoff: datetime) -> PurgeCount:
    """What :func:`purge_batch` and :func:`purge_rest` would delete (for ``--dry-run``)."""
    scored = session.scalar(select(func.count()).select_from(QaFact).where(QaFact.day < before)) or 0
    unscored = session.scalar(select(func.count()).select_from(Transcript).where(*_unscored(cutoff))) or 0
    kpis = session.scalar(select(func.count()).select_from(AgentKpi).where(AgentKpi.date_to < before)) or 0
    return PurgeCount(scored + unscored, kpis)


def _unscored(cutoff: datetime):
    """Transcripts with no facts (never scored: received, queued, failed …; or being scored again after
    its facts went) stored before the cutoff. One with facts goes by its fact's day, and is counted there."""
    facts = select(QaFact.transcript_id).where(QaFact.transcript_id == Transcript.id).exists()
    return (Transcript.status != TranscriptStatus.scored.value, ~facts,
            func.coalesce(Transcript.started_at, Transcript.received_at) < cutoff)


def purge_rollups(*, session: Session, before: date) -> None:
    """The per-day rollups of the days purged: first, so that an interrupted purge shows no figures of
    conversations already gone; and at the end (:func:`purge_rest`)."""
    session.execute(delete(QaDaily).where(QaDaily.day < before))
    session.execute(delete(FindingCount).where(FindingCount.day < before))
    scoring_versions.purge(session, before=before)


def purge_batch(*, session: Session, before: date, cutoff: datetime, limit: int = 2000) -> int:
    """Delete up to ``limit`` transcripts of local days before ``before`` (scored ones by their fact's day,
    others by their start, else receipt, before ``cutoff``); returns how many (0: done)."""
    ids = list(session.scalars(select(QaFact.transcript_id).where(QaFact.day < before)
                               .order_by(QaFact.transcript_id).limit(limit)))
    if len(ids) < limit:
        ids += list(session.scalars(select(Transcript.id).where(*_unscored(cutoff)).order_by(Transcript.id)
                                    .limit(limit - len(ids))))
    if ids:
        session.execute(delete(LiveAlert).where(LiveAlert.transcript_id.in_(ids)))  # with their deliveries
        session.execute(delete(Transcript).where(Transcript.id.in_(ids)))
    return len(ids)


def purge_rest(*, session: Session, before: date, cutoff: datetime, keep_kpis: bool) -> int:
    """The rollups of the purged days, live alerts raised before the cutoff on conversations that never
    became a transcript, and (unless ``keep_kpis``) KPI records ending before the day; returns how many
    KPI records went."""
    purge_rollups(session=session, before=before)
    session.execute(delete(LiveAlert).where(LiveAlert.transcript_id.is_(None), LiveAlert.created_at < cutoff))
    if keep_kpis:
        return 0
    return session.execute(delete(AgentKpi).where(AgentKpi.date_to < before)).rowcount or 0
