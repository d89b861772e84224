"""What a purge reaches besides its transcripts, and how far purges have reached.

* :func:`reach`: the reviews, appeals (open ones among them) and live alerts that go with the transcripts
  :mod:`retention` deletes (scored ones by their fact's day, others by their start, else receipt, before
  the cutoff), counted for ``qa purge``'s dry run and confirmation: it said only "85 transcript(s)".
* ``qa_meta`` ``purged_before``: the latest day any purge deleted everything before. A period starting
  before it is partial (its figures and appraisals count only the days kept, its KPI records stay whole),
  and the performance records and appraisals say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, or_, select, union
from sqlalchemy.orm import Session

from qa_service.domain import TranscriptStatus
from qa_service.storage.alert_tables import LiveAlert
from qa_service.storage.fact_tables import Meta, QaFact
from qa_service.storage.tables import Appeal, Review, Transcript

PURGED_BEFORE = "purged_before"  # qa_meta key: YYYY-MM-DD


@dataclass(frozen=True, slots=True)
class Reach:
    reviews: int
    appeals: int
    open_appeals: int
    alerts: int


def _transcripts(before: date, cutoff: datetime):
    """The ids of the transcripts a purge before ``before`` deletes (as ``retention.purge_batch`` picks them)."""
    facts = select(QaFact.transcript_id).where(QaFact.transcript_id == Transcript.id).exists()
    unscored = select(Transcript.id).where(Transcript.status != TranscriptStatus.scored.value, ~facts,
                                           func.coalesce(Transcript.started_at, Transcript.received_at) < cutoff)
    return union(select(QaFact.transcript_id).where(QaFact.day < before), unscored).subquery()


def reach(*, session: Session, before: date, cutoff: datetime) -> Reach:
    """The reviews, appeals and live alerts a purge before ``before`` (local midnight ``cutoff``) deletes."""
    ids = select(_transcripts(before, cutoff).c[0])
    reviews = select(Review.id).where(Review.transcript_id.in_(ids))
    appeals = select(func.count(), func.count().filter(Appeal.status == "open")).where(Appeal.review_id.in_(reviews))
    n_appeals, n_open = session.execute(appeals).one()
    alerts = select(func.count()).select_from(LiveAlert).where(or_(
        LiveAlert.transcript_id.in_(ids), (LiveAlert.transcript_id.is_(None)) & (LiveAlert.created_at < cutoff)))
    return Reach(reviews=session.scalar(select(func.count()).select_from(reviews.subquery())) or 0,
                 appeals=n_appeals or 0, open_appeals=n_open or 0, alerts=session.scalar(alerts) or 0)


def purged_before(*, session: Session) -> date | None:
    """The latest day a purge deleted everything before (None: never purged)."""
    value = session.scalar(select(Meta.value).where(Meta.key == PURGED_BEFORE))
    return date.fromisoformat(value) if value else None


def record_purge(*, session: Session, before: date) -> date:
    """Record a purge of the days before ``before``; an earlier day than one recorded leaves it (the days
    before that one are gone all the same). Returns the day recorded."""
    meta = session.get(Meta, PURGED_BEFORE)
    if meta is None:
        session.add(Meta(key=PURGED_BEFORE, value=before.isoformat()))
        return before
    kept = max(before, date.fromisoformat(meta.value))
    meta.value = kept.isoformat()
    return kept
