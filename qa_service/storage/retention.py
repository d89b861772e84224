"""Deleting conversations with everything tied to them: retention (older than a local day, ``qa purge``) and
erasure on request (``qa erase``, ``DELETE /v1/transcripts/{id}``) go through one path, :func:`delete_transcripts`.

It deletes a set of transcripts: the foreign keys cascade to utterances, reports, findings, flags, reviews,
their verdicts, manual findings, appeals and audit events, the facts, and the record of the live conversation
each became; the live alerts raised on them are deleted explicitly (their foreign key only sets null: an
alert would keep its quote), with their webhook deliveries. Their figures leave the per-day rollups: an
erasure takes them out (``rollups.take_out``); a purge deletes the rollups of the whole days it purges, first
(an interrupted purge leaves no figures of conversations that are gone) and again at the end. It returns
the live conversations they were, whose state Redis still keeps for a day after the end
(``storage.live.forget`` drops it).

A purge deletes in batches of transcripts, each its own short transaction, so a purge of millions never
holds a long lock, and then alerts before the day that never became a transcript. KPI records lying wholly
before the day go too unless kept, and with them the audit trail's account of their figures
(:func:`purge_kpi_events`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from qa_service.domain import TranscriptStatus
from qa_service.storage import rollups, scoring_versions
from qa_service.storage.alert_tables import LiveAlert, LiveTranscript
from qa_service.storage.fact_tables import FindingCount, QaDaily, QaFact
from qa_service.storage.sqlite_writer import begin_write
from qa_service.storage.tables import AgentKpi, AuditEvent, Review, Transcript


class LiveKey(NamedTuple):
    """A live conversation a transcript was: its id in Redis and its (source, external_id)."""

    conversation_id: int
    source: str
    external_id: str


@dataclass(frozen=True, slots=True)
class Deleted:
    """What :func:`delete_transcripts` deleted, and the live conversations whose Redis state is left to drop."""

    transcripts: int = 0
    alerts: int = 0
    live: tuple[LiveKey, ...] = ()


def live_of(*, session: Session, ids: Iterable[int]) -> list[LiveKey]:
    """The live conversations these transcripts were: recorded at their end, or named by their alerts."""
    ids = list(ids)
    if not ids:
        return []
    ended = (select(LiveTranscript.conversation_id, Transcript.source, Transcript.external_id)
             .join(Transcript, Transcript.id == LiveTranscript.transcript_id)
             .where(LiveTranscript.transcript_id.in_(ids)))
    alerted = (select(LiveAlert.conversation_id, LiveAlert.source, LiveAlert.external_id)
               .where(LiveAlert.transcript_id.in_(ids)))
    return sorted({LiveKey(*row) for query in (ended, alerted) for row in session.execute(query)})


def delete_transcripts(*, session: Session, ids: Iterable[int], frt_target_ms: float | None) -> Deleted:
    """Delete these transcripts and everything tied to them (the module's docstring says what), in the
    caller's transaction. ``frt_target_ms``: take their figures out of the rollups (an erasure); None when the
    caller deletes the rollups of their whole days itself (a purge).

    Locks as a report being stored does (the transcripts, then their reviews, then the facts, in id order on
    PostgreSQL; SQLite's write transaction begins first), so a re-score or a review closing meanwhile is
    either counted before and taken out with them, or waits and finds them gone."""
    ids = sorted(set(ids))
    if not ids:
        return Deleted()
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        session.execute(select(Transcript.id).where(Transcript.id.in_(ids)).order_by(Transcript.id).with_for_update())
        session.execute(select(Review.id).where(Review.transcript_id.in_(ids)).order_by(Review.id).with_for_update())
    else:
        begin_write(conn)
    live = live_of(session=session, ids=ids)
    if frt_target_ms is not None:
        rollups.take_out(conn, ids, frt_target_ms)
        scoring_versions.take_out(conn, ids)
    conversations = sorted({k.conversation_id for k in live})
    alerts = session.execute(delete(LiveAlert).where(or_(  # with their deliveries (cascade)
        LiveAlert.transcript_id.in_(ids), LiveAlert.conversation_id.in_(conversations)))).rowcount or 0
    session.execute(delete(AuditEvent).where(AuditEvent.transcript_id.in_(ids)))  # a review's go with it anyway
    n = session.execute(delete(Transcript).where(Transcript.id.in_(ids))).rowcount or 0
    return Deleted(n, alerts, tuple(live))


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


def purge_batch(*, session: Session, before: date, cutoff: datetime, limit: int = 2000) -> Deleted:
    """Delete up to ``limit`` transcripts of local days before ``before`` (scored ones by their fact's day,
    others by their start, else receipt, before ``cutoff``) through :func:`delete_transcripts`; returns what
    went (``transcripts`` 0: done)."""
    ids = list(session.scalars(select(QaFact.transcript_id).where(QaFact.day < before)
                               .order_by(QaFact.transcript_id).limit(limit)))
    if len(ids) < limit:
        ids += list(session.scalars(select(Transcript.id).where(*_unscored(cutoff)).order_by(Transcript.id)
                                    .limit(limit - len(ids))))
    return delete_transcripts(session=session, ids=ids, frt_target_ms=None)  # their days' rollups go whole


def purge_rest(*, session: Session, before: date, cutoff: datetime, keep_kpis: bool) -> int:
    """The rollups of the purged days, live alerts raised before the cutoff on conversations that never
    became a transcript, and (unless ``keep_kpis``) KPI records ending before the day; returns how many
    KPI records went."""
    purge_rollups(session=session, before=before)
    session.execute(delete(LiveAlert).where(LiveAlert.transcript_id.is_(None), LiveAlert.created_at < cutoff))
    if keep_kpis:
        return 0
    purge_kpi_events(session=session, before=before, cutoff=cutoff)
    return session.execute(delete(AgentKpi).where(AgentKpi.date_to < before)).rowcount or 0


# performance/audit.py's names (storage does not import it): the entity and actions of KPI imports and deletions
KPI_EVENTS, KPI_IMPORTED, KPI_DELETED = "kpis", "kpis_imported", "kpis_deleted"


def purge_kpi_events(*, session: Session, before: date, cutoff: datetime, batch: int = 500) -> int:
    """The audit events of KPI imports and deletions whose rows all end before the day go with those rows: an
    import by the last day it stored (``after.to``), a deletion when its period (``after.to``) ends before the
    day or every row it deleted is listed (``before.rows``, with their figures) and does; one of no row (an
    import before c7cde42 wrote such events) by when it was written (before ``cutoff``). A deletion with rows on
    or after the day keeps those and loses the others' figures (``before.rows_purged`` counts them). Returns how
    many events went. Was: the figures of deleted KPI rows outlived the KPI retention without limit (events go
    with a transcript only, and these have none)."""
    day = before.isoformat()
    kpis, to = AuditEvent.entity == KPI_EVENTS, AuditEvent.after["to"].as_string()
    gone = session.execute(delete(AuditEvent).where(kpis, AuditEvent.action == KPI_IMPORTED, or_(
        to < day, and_(to.is_(None), AuditEvent.at < cutoff)))).rowcount or 0
    last = 0
    while events := session.execute(select(AuditEvent.id, AuditEvent.at, AuditEvent.before, AuditEvent.after)
                                    .where(kpis, AuditEvent.action == KPI_DELETED, AuditEvent.id > last)
                                    .order_by(AuditEvent.id).limit(batch)).all():
        last = events[-1].id
        for event_id, at, was, after in events:
            rows = (was or {}).get("rows") or []
            kept = [r for r in rows if str(r.get("date_to", "")) >= day]
            asked_to = (after or {}).get("to")  # a period's deletion: every row it deleted lay inside it
            if (rows and not kept and int((after or {}).get("deleted") or 0) <= len(rows)) or (
                    asked_to is not None and str(asked_to) < day) or (not rows and at < cutoff):
                session.execute(delete(AuditEvent).where(AuditEvent.id == event_id))
                gone += 1
            elif len(kept) < len(rows):
                purged = int((was or {}).get("rows_purged") or 0) + len(rows) - len(kept)
                session.execute(update(AuditEvent).where(AuditEvent.id == event_id).values(
                    before={**was, "rows": kept, "rows_purged": purged}))
    return gone
