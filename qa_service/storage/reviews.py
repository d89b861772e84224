"""Review repository: reviews, verdicts, manual findings, appeals and audit events — persistence only.

What enters the queue, who may change what and how the final score follows are decided in
``review/service.py``; these functions read and write rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, cast, exists, func, select
from sqlalchemy.orm import Session, selectinload

from qa_service.domain import AppealStatus, ReviewStatus, Severity
from qa_service.storage.tables import (
    Appeal,
    AuditEvent,
    Finding,
    ManualFinding,
    Report,
    Review,
    Transcript,
    Verdict,
    utcnow,
)

OPEN = (ReviewStatus.queued.value, ReviewStatus.in_review.value)
SEVERITY_ORDER = [s.value for s in Severity]


# --- audit ---------------------------------------------------------------------------------------------------

def add_audit_event(session: Session, *, actor: str, action: str, review: Review | None, entity: str,
                    entity_id: int | None, before: dict[str, Any] | None = None,
                    after: dict[str, Any] | None = None) -> None:
    session.add(AuditEvent(at=utcnow(), actor=actor, action=action, review_id=review.id if review else None,
                           transcript_id=review.transcript_id if review else None, entity=entity,
                           entity_id=entity_id, before=before, after=after))


def audit_trail(*, session: Session, review_id: int | None = None, transcript_id: int | None = None,
                team: str | None = None, limit: int = 500) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id).limit(limit)
    if team is not None:
        query = query.join(Transcript, Transcript.id == AuditEvent.transcript_id).where(Transcript.team_id == team)
    if review_id is not None:
        query = query.where(AuditEvent.review_id == review_id)
    if transcript_id is not None:
        query = query.where(AuditEvent.transcript_id == transcript_id)
    return list(session.scalars(query))


# --- reading one -----------------------------------------------------------------------------------------------

def get(*, session: Session, review_id: int) -> Review | None:
    """A review with everything a reader needs loaded (verdicts, manual findings, appeals, transcript, report)."""
    return session.scalars(
        select(Review).where(Review.id == review_id).options(
            selectinload(Review.verdicts), selectinload(Review.manual_findings), selectinload(Review.appeals),
            selectinload(Review.transcript).options(
                selectinload(Transcript.utterances),
                selectinload(Transcript.report).options(selectinload(Report.findings), selectinload(Report.flags))),
        )).one_or_none()


def id_for_transcript(*, session: Session, transcript_id: int) -> int | None:
    return session.scalar(select(Review.id).where(Review.transcript_id == transcript_id))


def for_transcripts(*, session: Session, transcript_ids: Sequence[int]) -> dict[int, Review]:
    """The review rows of these transcripts (those that have one)."""
    if not transcript_ids:
        return {}
    return {r.transcript_id: r for r in session.scalars(select(Review).where(Review.transcript_id.in_(transcript_ids)))}


def team_of(*, session: Session, review_id: int) -> tuple[bool, str | None]:
    """(exists, team) of a review's transcript."""
    row = session.execute(select(Transcript.team_id).join(Review, Review.transcript_id == Transcript.id)
                          .where(Review.id == review_id)).one_or_none()
    return (row is not None, row[0] if row else None)


def get_appeal(*, session: Session, appeal_id: int) -> Appeal | None:
    return session.get(Appeal, appeal_id)


# --- writing ---------------------------------------------------------------------------------------------------

def create(*, session: Session, transcript_id: int, reasons: list[str], severity: str, priority: int,
           machine_score: float | None, machine_fatal: bool, sample_week: str | None = None) -> Review:
    now = utcnow()
    review = Review(transcript_id=transcript_id, status=ReviewStatus.queued.value, reasons=reasons,
                    severity=severity, priority=priority, sample_week=sample_week, machine_score=machine_score,
                    machine_fatal=machine_fatal, created_at=now, updated_at=now)
    session.add(review)
    return review


# --- the queue -------------------------------------------------------------------------------------------------

@dataclass(slots=True)
class QueueFilter:
    status: str | None = "open"  # open | queued | in_review | done | all
    team: str | None = None
    agent_id: str | None = None
    rule: str | None = None
    reason: str | None = None
    severity: str | None = None  # at least this severity
    since: datetime | None = None
    until: datetime | None = None
    score_min: float | None = None
    score_max: float | None = None
    assigned_to: str | None = None
    unassigned: bool | None = None


def _filtered(query, flt: QueueFilter):
    when = func.coalesce(Transcript.started_at, Transcript.received_at)
    if flt.status == "open":
        query = query.where(Review.status.in_(OPEN))
    elif flt.status and flt.status != "all":
        query = query.where(Review.status == flt.status)
    if flt.team:
        query = query.where(Transcript.team_id == flt.team)
    if flt.agent_id:
        query = query.where(Transcript.agent_id == flt.agent_id)
    if flt.rule:
        query = query.where(exists().where(Finding.report_id == Report.id, Finding.rule_id == flt.rule))
    if flt.reason:
        query = query.where(cast(Review.reasons, String).like(f'%"{flt.reason}"%'))
    if flt.severity:
        query = query.where(Review.severity.in_(SEVERITY_ORDER[SEVERITY_ORDER.index(flt.severity):]))
    if flt.since:
        query = query.where(when >= flt.since)
    if flt.until:
        query = query.where(when < flt.until)
    score = func.coalesce(Review.final_score, Review.machine_score)
    if flt.score_min is not None:
        query = query.where(score >= flt.score_min)
    if flt.score_max is not None:
        query = query.where(score <= flt.score_max)
    if flt.assigned_to:
        query = query.where(Review.assigned_to == flt.assigned_to)
    if flt.unassigned:
        query = query.where(Review.assigned_to.is_(None))
    return query


QUEUE_ORDER = (Review.priority, Review.created_at, Review.id)


def list_queue(*, session: Session, flt: QueueFilter, limit: int, offset: int
               ) -> tuple[list[tuple[Review, Transcript]], int]:
    """Open reviews most urgent first (fatal, then by severity, oldest first); done ones newest first."""
    base = select(Review, Transcript).join(Transcript, Transcript.id == Review.transcript_id).outerjoin(
        Report, Report.transcript_id == Transcript.id)
    base = _filtered(base, flt)
    total = session.scalar(select(func.count()).select_from(base.with_only_columns(Review.id).subquery()))
    order = [Review.completed_at.desc(), Review.id.desc()] if flt.status == "done" else list(QUEUE_ORDER)
    rows = session.execute(base.order_by(*order).limit(limit).offset(offset)).all()
    return [(r, t) for r, t in rows], total or 0


def unassigned_ids(*, session: Session, flt: QueueFilter, limit: int) -> list[int]:
    base = select(Review.id).join(Transcript, Transcript.id == Review.transcript_id).outerjoin(
        Report, Report.transcript_id == Transcript.id)
    query = _filtered(base, replace(flt, unassigned=True)).order_by(*QUEUE_ORDER).limit(limit)
    return list(session.scalars(query))


def list_by_ids(*, session: Session, review_ids: Sequence[int]) -> list[Review]:
    """These reviews in queue order."""
    return list(session.scalars(select(Review).where(Review.id.in_(review_ids)).order_by(*QUEUE_ORDER)))


def open_load(*, session: Session, reviewers: Sequence[str], excluding: Sequence[int]) -> dict[str, int]:
    """Open reviews per reviewer, not counting ``excluding``."""
    rows = session.execute(select(Review.assigned_to, func.count()).where(
        Review.assigned_to.in_(reviewers), Review.status.in_(OPEN), Review.id.not_in(excluding))
        .group_by(Review.assigned_to))
    return {name: n for name, n in rows}


def sample_candidates(*, session: Session, since: datetime, until: datetime) -> list[tuple]:
    """Scored transcripts with an agent in [since, until): (id, agent, started, received, score, fatal,
    review id, review's sample week)."""
    when = func.coalesce(Transcript.started_at, Transcript.received_at)
    return list(session.execute(
        select(Transcript.id, Transcript.agent_id, Transcript.started_at, Transcript.received_at,
               Report.score, Report.fatal, Review.id, Review.sample_week)
        .join(Report, Report.transcript_id == Transcript.id)
        .outerjoin(Review, Review.transcript_id == Transcript.id)
        .where(Transcript.agent_id.is_not(None), when >= since, when < until)
    ).all())


# --- appeals ---------------------------------------------------------------------------------------------------

def list_appeals(*, session: Session, status: str | None = None, team: str | None = None,
                 agent_id: str | None = None, limit: int = 100, offset: int = 0
                 ) -> tuple[list[tuple[Appeal, Review, Transcript]], int]:
    base = (select(Appeal, Review, Transcript).join(Review, Review.id == Appeal.review_id)
            .join(Transcript, Transcript.id == Review.transcript_id))
    if status:
        base = base.where(Appeal.status == status)
    if team:
        base = base.where(Transcript.team_id == team)
    if agent_id:
        base = base.where(Transcript.agent_id == agent_id)
    total = session.scalar(select(func.count()).select_from(base.with_only_columns(Appeal.id).subquery()))
    rows = session.execute(base.order_by(Appeal.created_at, Appeal.id).limit(limit).offset(offset)).all()
    return [tuple(r) for r in rows], total or 0


# --- calibration -----------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CalibrationRows:
    verdicts: list[tuple[str, str, str]]  # (rule id, dimension, verdict)
    misses: list[tuple[str | None, str]]  # (rule id, dimension) of manual findings
    done: list[tuple]  # (machine score, machine fatal, final score, final fatal, report pass mark)
    reviews: int


def calibration_rows(*, session: Session, team: str | None = None, since: datetime | None = None,
                     until: datetime | None = None) -> CalibrationRows:
    """Verdicts, misses and done reviews' scores of the reviews in scope."""
    when = func.coalesce(Transcript.started_at, Transcript.received_at)
    conds = []
    if team:
        conds.append(Transcript.team_id == team)
    if since:
        conds.append(when >= since)
    if until:
        conds.append(when < until)
    scope = select(Review.id).join(Transcript, Transcript.id == Review.transcript_id).where(and_(True, *conds))
    ids = select(scope.subquery().c.id)
    verdicts = session.execute(select(Verdict.rule_id, Verdict.dimension, Verdict.verdict)
                               .where(Verdict.review_id.in_(ids))).all()
    misses = session.execute(select(ManualFinding.rule_id, ManualFinding.dimension)
                             .where(ManualFinding.review_id.in_(ids), ManualFinding.withdrawn_at.is_(None))).all()
    done = session.execute(
        select(Review.machine_score, Review.machine_fatal, Review.final_score, Review.final_fatal, Report.pass_mark)
        .join(Report, Report.transcript_id == Review.transcript_id)
        .where(Review.id.in_(ids), Review.status == ReviewStatus.done.value)).all()
    reviews = session.scalar(select(func.count()).select_from(scope.subquery())) or 0
    return CalibrationRows([tuple(v) for v in verdicts], [tuple(m) for m in misses], [tuple(d) for d in done],
                           reviews)


def score_pairs(*, session: Session, team: str | None = None, since: datetime | None = None,
                until: datetime | None = None) -> list[tuple[float, float]]:
    """(machine score, final score) of done reviews in scope."""
    when = func.coalesce(Transcript.started_at, Transcript.received_at)
    query = (select(Review.machine_score, Review.final_score).join(Transcript, Transcript.id == Review.transcript_id)
             .where(Review.status == ReviewStatus.done.value, Review.final_score.is_not(None),
                    Review.machine_score.is_not(None)))
    if team:
        query = query.where(Transcript.team_id == team)
    if since:
        query = query.where(when >= since)
    if until:
        query = query.where(when < until)
    return [(float(m), float(f)) for m, f in session.execute(query)]


def counts(*, session: Session) -> dict[str, int]:
    out = dict(session.execute(select(Review.status, func.count()).group_by(Review.status)).all())
    out["appeals_open"] = session.scalar(
        select(func.count()).select_from(Appeal).where(Appeal.status == AppealStatus.open.value)) or 0
    return out
