"""Review repository: the queue, verdicts, manual findings, appeals and the audit trail.

Every change writes an ``audit_events`` row (actor, action, before, after) in the same
transaction, and recomputes the review's final score (review/score.py).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, cast, exists, func, select
from sqlalchemy.orm import Session, selectinload

from qa_service.domain import QAReport
from qa_service.errors import ReviewError
from qa_service.performance.period import Period
from qa_service.review.calibration import Calibration, calibrate
from qa_service.review.queue import (
    MANUAL_REASON,
    SAMPLE_PRIORITY,
    SAMPLE_REASON,
    SEVERITY_ORDER,
    draw,
    queue_entry,
)
from qa_service.review.score import Item, fails, final_score
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

OPEN = ("queued", "in_review")


# --- audit ---------------------------------------------------------------------------------------------------

def audit(session: Session, *, actor: str, action: str, review: Review | None, entity: str,
          entity_id: int | None, before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
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


def _state(review: Review) -> dict[str, Any]:
    return {"status": review.status, "assigned_to": review.assigned_to, "final_score": review.final_score,
            "final_fatal": review.final_fatal}


# --- entering the queue --------------------------------------------------------------------------------------

def enqueue_scored(*, session: Session, transcript_id: int, report: QAReport) -> None:
    """Called when a report is stored: a flagged transcript enters the queue (or updates its queued entry).

    A review already under way or done is left as it is; the re-score is written to its audit trail.
    """
    review = session.scalars(select(Review).where(Review.transcript_id == transcript_id)).one_or_none()
    flags = [(f.reason, f.severity.value) for f in report.flags]
    if review is None:
        if not flags:
            return
        entry = queue_entry(flags)
        now = utcnow()
        session.add(Review(transcript_id=transcript_id, status="queued", reasons=entry.reasons,
                           severity=entry.severity, priority=entry.priority, machine_score=report.score,
                           machine_fatal=report.fatal, created_at=now, updated_at=now))
        return
    before = {"machine_score": review.machine_score, "reasons": list(review.reasons)}
    if review.status == "queued":
        extra = [r for r in review.reasons if r in (SAMPLE_REASON, MANUAL_REASON)]
        entry = queue_entry(flags) if flags else None
        review.reasons = sorted(set((entry.reasons if entry else []) + extra)) or [SAMPLE_REASON]
        review.severity = entry.severity if entry else "info"
        review.priority = entry.priority if entry else SAMPLE_PRIORITY
        review.machine_score, review.machine_fatal, review.updated_at = report.score, report.fatal, utcnow()
        review.final_score = review.final_fatal = review.final_dims = None
        review.verdicts.clear()
        review.manual_findings.clear()
    audit(session, actor="system", action="rescored", review=review, entity="review", entity_id=review.id,
          before=before, after={"machine_score": report.score, "reasons": [r for r, _ in flags]})


def open_review(*, session: Session, transcript_id: int, by: str) -> tuple[Review, bool]:
    """Put any scored transcript in the queue by hand; returns (review, created)."""
    review = session.scalars(select(Review).where(Review.transcript_id == transcript_id)).one_or_none()
    if review is not None:
        return review, False
    report = session.scalars(select(Report).where(Report.transcript_id == transcript_id)).one_or_none()
    if report is None:
        if session.get(Transcript, transcript_id) is None:
            raise ReviewError(404, f"transcript {transcript_id} not found", "transcript_id")
        raise ReviewError(409, f"transcript {transcript_id} is not scored yet; review it once it is",
                          "transcript_id")
    now = utcnow()
    review = Review(transcript_id=transcript_id, status="queued", reasons=[MANUAL_REASON], severity="info",
                    priority=SAMPLE_PRIORITY, machine_score=report.score, machine_fatal=report.fatal,
                    created_at=now, updated_at=now)
    session.add(review)
    session.flush()
    audit(session, actor=by, action="queued", review=review, entity="review", entity_id=review.id,
          after={"reasons": [MANUAL_REASON]})
    return review, True


@dataclass(frozen=True, slots=True)
class SampleResult:
    period: str
    candidates: int
    added: int
    agent_weeks: int


def sample(*, session: Session, period: Period, tz: ZoneInfo, percent: float, minimum: int, by: str) -> SampleResult:
    """The sampling plan: add ``percent`` (≥ ``minimum``) of each agent's unqueued transcripts per ISO week."""
    lo, hi = period.bounds(tz)
    when = func.coalesce(Transcript.started_at, Transcript.received_at)
    rows = session.execute(
        select(Transcript.id, Transcript.agent_id, Transcript.started_at, Transcript.received_at,
               Report.score, Report.fatal, Review.id, Review.sample_week)
        .join(Report, Report.transcript_id == Transcript.id)
        .outerjoin(Review, Review.transcript_id == Transcript.id)
        .where(Transcript.agent_id.is_not(None), when >= lo, when < hi)
    ).all()
    pool: dict[tuple[str, str], list[int]] = defaultdict(list)
    already: dict[tuple[str, str], int] = defaultdict(int)
    facts: dict[int, tuple[float, bool]] = {}
    for tid, agent, started, received, score, fatal, review_id, sample_week in rows:
        day = (started or received).astimezone(tz).date()
        if day not in period:
            continue
        iso = day.isocalendar()
        week = f"{iso.year}-W{iso.week:02d}"
        if review_id is None:
            pool[(agent, week)].append(tid)
            facts[tid] = (score, bool(fatal))
        elif sample_week == week:
            already[(agent, week)] += 1
    now = utcnow()
    added = 0
    for (agent, week), ids in sorted(pool.items()):
        for tid in draw(ids, already=already[(agent, week)], percent=percent, minimum=minimum,
                        seed=f"{week}/{agent}"):
            score, fatal = facts[tid]
            session.add(Review(transcript_id=tid, status="queued", reasons=[SAMPLE_REASON], severity="info",
                               priority=SAMPLE_PRIORITY, sample_week=week, machine_score=score,
                               machine_fatal=fatal, created_at=now, updated_at=now))
            added += 1
    session.flush()
    if added:
        audit(session, actor=by, action="sampled", review=None, entity="plan", entity_id=None,
              after={"period": period.label, "percent": percent, "minimum": minimum, "added": added})
    return SampleResult(period.label, sum(len(v) for v in pool.values()), added, len(pool))


# --- the queue -----------------------------------------------------------------------------------------------

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


def list_queue(*, session: Session, flt: QueueFilter, limit: int, offset: int
               ) -> tuple[list[tuple[Review, Transcript]], int]:
    """Open reviews most urgent first (fatal, then by severity, oldest first); done ones newest first."""
    base = select(Review, Transcript).join(Transcript, Transcript.id == Review.transcript_id).outerjoin(
        Report, Report.transcript_id == Transcript.id)
    base = _filtered(base, flt)
    total = session.scalar(select(func.count()).select_from(base.with_only_columns(Review.id).subquery()))
    if flt.status == "done":
        order = [Review.completed_at.desc(), Review.id.desc()]
    else:
        order = [Review.priority, Review.created_at, Review.id]
    rows = session.execute(base.order_by(*order).limit(limit).offset(offset)).all()
    return [(r, t) for r, t in rows], total or 0


def assign(*, session: Session, review_ids: list[int], reviewers: list[str], mode: str, by: str) -> dict[int, str]:
    """Assign reviews: ``manual`` gives them all to ``reviewers[0]``; ``round_robin`` deals them out in
    queue order, each next one to the reviewer with the fewest open reviews (ties: list order)."""
    if not reviewers:
        raise ReviewError(422, "name at least one reviewer", "reviewers")
    if mode == "manual" and len(reviewers) != 1:
        raise ReviewError(422, "manual assignment takes exactly one reviewer; use mode round_robin for several",
                          "reviewers")
    reviews = list(session.scalars(select(Review).where(Review.id.in_(review_ids))
                                   .order_by(Review.priority, Review.created_at, Review.id)))
    missing = sorted(set(review_ids) - {r.id for r in reviews})
    if missing:
        raise ReviewError(404, f"reviews not found: {missing}", "review_ids")
    closed = [r.id for r in reviews if r.status == "done"]
    if closed:
        raise ReviewError(409, f"reviews already done cannot be reassigned: {closed}", "review_ids")
    load = dict.fromkeys(reviewers, 0)
    for name, n in session.execute(select(Review.assigned_to, func.count()).where(
            Review.assigned_to.in_(reviewers), Review.status.in_(OPEN), Review.id.not_in(review_ids))
            .group_by(Review.assigned_to)):
        load[name] = n
    out = {}
    now = utcnow()
    for review in reviews:
        who = min(reviewers, key=lambda r: (load[r], reviewers.index(r)))
        load[who] += 1
        before = _state(review)
        review.assigned_to, review.assigned_at, review.updated_at = who, now, now
        audit(session, actor=by, action="assigned", review=review, entity="review", entity_id=review.id,
              before=before, after=_state(review))
        out[review.id] = who
    return out


def unassigned_ids(*, session: Session, flt: QueueFilter, limit: int) -> list[int]:
    flt = replace(flt, unassigned=True)
    base = select(Review.id).join(Transcript, Transcript.id == Review.transcript_id).outerjoin(
        Report, Report.transcript_id == Transcript.id)
    query = _filtered(base, flt).order_by(Review.priority, Review.created_at, Review.id).limit(limit)
    return list(session.scalars(query))


# --- one review ----------------------------------------------------------------------------------------------

def get(*, session: Session, review_id: int) -> Review:
    review = session.scalars(
        select(Review).where(Review.id == review_id).options(
            selectinload(Review.verdicts), selectinload(Review.manual_findings), selectinload(Review.appeals),
            selectinload(Review.transcript).options(
                selectinload(Transcript.utterances),
                selectinload(Transcript.report).options(selectinload(Report.findings), selectinload(Report.flags))),
        )).one_or_none()
    if review is None:
        raise ReviewError(404, f"review {review_id} not found", "review_id")
    return review


def for_transcript(*, session: Session, transcript_id: int) -> Review | None:
    rid = session.scalar(select(Review.id).where(Review.transcript_id == transcript_id))
    return get(session=session, review_id=rid) if rid is not None else None


def _report(review: Review) -> Report:
    report = review.transcript.report
    if report is None:
        raise ReviewError(409, f"transcript {review.transcript_id} has no report (being re-scored?)")
    return report


def refresh_final(review: Review) -> None:
    """Recompute the review's final score from its report, verdicts, manual findings and appeals."""
    report = _report(review)
    verdict = {v.finding_id: v.verdict for v in review.verdicts if v.finding_id is not None}
    kept, rejected = [], []
    for f in report.findings:
        (rejected if verdict.get(f.id) == "rejected" else kept).append(Item(f.dimension, f.points, f.fatal))
    manual = [Item(m.dimension, m.points, m.fatal) for m in review.manual_findings if m.withdrawn_at is None]
    result = final_score(machine_score=report.score, machine_fatal=report.fatal, dimensions=report.dimensions,
                         kept=kept, rejected=rejected, manual=manual)
    review.final_score, review.final_fatal, review.final_dims = result.score, result.fatal, result.dimensions


def _writable(review: Review, by: str) -> None:
    if review.status == "done":
        raise ReviewError(409, f"review {review.id} is done (by {review.completed_by}); findings change now only "
                               "through an appeal")
    if review.status == "queued":
        review.status = "in_review"
    if review.assigned_to is None:
        review.assigned_to, review.assigned_at = by, utcnow()
    review.updated_at = utcnow()


def set_verdict(*, session: Session, review_id: int, finding_id: int, verdict: str, comment: str | None,
                by: str) -> Review:
    review = get(session=session, review_id=review_id)
    finding = next((f for f in _report(review).findings if f.id == finding_id), None)
    if finding is None:
        raise ReviewError(404, f"finding {finding_id} is not in review {review_id}'s report", "finding_id")
    before_state = _state(review)
    _writable(review, by)
    current = next((v for v in review.verdicts if v.finding_id == finding_id), None)
    before = {"verdict": current.verdict, "comment": current.comment} if current else None
    if current is None:
        current = Verdict(review_id=review.id, finding_id=finding.id, dimension=finding.dimension,
                          rule_id=finding.rule_id, points=finding.points, fatal=finding.fatal,
                          verdict=verdict, reviewer=by)
        review.verdicts.append(current)
    current.verdict, current.comment, current.reviewer, current.decided_at = verdict, comment, by, utcnow()
    refresh_final(review)
    session.flush()
    audit(session, actor=by, action=f"finding_{verdict}", review=review, entity="finding", entity_id=finding.id,
          before={**(before or {}), **before_state},
          after={"verdict": verdict, "comment": comment, "rule_id": finding.rule_id, **_state(review)})
    return review


def locate(text: str, *, span: tuple[int, int] | None, quote: str | None) -> tuple[int, int]:
    """The verbatim span of a manual finding: as given, else where ``quote`` occurs, else the whole turn."""
    if span is not None:
        a, b = span
        if not (0 <= a < b <= len(text)):
            raise ReviewError(422, f"span [{a}, {b}) is outside the utterance (0–{len(text)})", "span")
        return a, b
    if quote:
        at = text.find(quote)
        if at < 0:
            raise ReviewError(422, f"quote {quote!r} is not in the utterance; quote it verbatim or give a span",
                              "quote")
        return at, at + len(quote)
    return 0, len(text)


def add_manual(*, session: Session, review_id: int, dimension: str, utterance_index: int, points: float,
               message: str, severity: str, fatal: bool, rule_id: str | None, span: tuple[int, int] | None,
               quote: str | None, by: str) -> tuple[Review, ManualFinding]:
    review = get(session=session, review_id=review_id)
    report = _report(review)
    if dimension not in report.dimensions:
        raise ReviewError(422, f"dimension {dimension!r} is not in this report; one of {sorted(report.dimensions)}",
                          "dimension")
    utterance = next((u for u in review.transcript.utterances if u.seq == utterance_index), None)
    if utterance is None:
        raise ReviewError(422, f"utterance_index {utterance_index} is not in transcript {review.transcript_id} "
                               f"(0–{len(review.transcript.utterances) - 1})", "utterance_index")
    a, b = locate(utterance.text, span=span, quote=quote)
    before_state = _state(review)
    _writable(review, by)
    manual = ManualFinding(review_id=review.id, dimension=dimension, rule_id=rule_id, utterance_seq=utterance.seq,
                           span_start=a, span_end=b, quote=utterance.text[a:b], points=points, severity=severity,
                           message=message, fatal=fatal, added_by=by, created_at=utcnow())
    review.manual_findings.append(manual)
    refresh_final(review)
    session.flush()
    audit(session, actor=by, action="manual_added", review=review, entity="manual_finding", entity_id=manual.id,
          before=before_state, after={"dimension": dimension, "rule_id": rule_id, "utterance_index": utterance.seq,
                                      "quote": manual.quote, "points": points, "fatal": fatal, **_state(review)})
    return review, manual


def remove_manual(*, session: Session, review_id: int, manual_id: int, by: str) -> Review:
    review = get(session=session, review_id=review_id)
    manual = next((m for m in review.manual_findings if m.id == manual_id), None)
    if manual is None:
        raise ReviewError(404, f"manual finding {manual_id} is not in review {review_id}", "manual_finding_id")
    before_state = _state(review)
    _writable(review, by)
    review.manual_findings.remove(manual)
    refresh_final(review)
    session.flush()
    audit(session, actor=by, action="manual_removed", review=review, entity="manual_finding", entity_id=manual_id,
          before={"quote": manual.quote, "points": manual.points, **before_state}, after=_state(review))
    return review


def complete(*, session: Session, review_id: int, by: str, comment: str | None, confirm_rest: bool) -> Review:
    review = get(session=session, review_id=review_id)
    report = _report(review)
    judged = {v.finding_id for v in review.verdicts}
    rest = [f for f in report.findings if f.id not in judged]
    if rest and not confirm_rest:
        raise ReviewError(409, f"findings without a verdict: {[f.id for f in rest]}; judge them, or send "
                               "confirm_rest: true to confirm them all", "confirm_rest")
    before_state = _state(review)
    _writable(review, by)
    for f in rest:
        review.verdicts.append(Verdict(review_id=review.id, finding_id=f.id, dimension=f.dimension,
                                       rule_id=f.rule_id, points=f.points, fatal=f.fatal, verdict="confirmed",
                                       reviewer=by, decided_at=utcnow()))
    refresh_final(review)
    review.status, review.completed_at, review.completed_by, review.comment = "done", utcnow(), by, comment
    session.flush()
    audit(session, actor=by, action="completed", review=review, entity="review", entity_id=review.id,
          before=before_state, after={**_state(review), "comment": comment, "confirmed_rest": len(rest),
                                      "machine_score": review.machine_score})
    return review


# --- appeals -------------------------------------------------------------------------------------------------

def create_appeal(*, session: Session, review_id: int, finding_id: int | None, manual_finding_id: int | None,
                  reason: str, by: str, window_days: float) -> Appeal:
    review = get(session=session, review_id=review_id)
    if review.status != "done":
        raise ReviewError(409, f"review {review_id} is not done yet; appeal once the reviewer has closed it")
    deadline = review.completed_at + timedelta(days=window_days)
    if utcnow() > deadline:
        raise ReviewError(409, f"the appeal window closed at {deadline.isoformat()} "
                               f"({window_days:g} days after the review; QA_REVIEW__APPEAL_WINDOW_DAYS)")
    if (finding_id is None) == (manual_finding_id is None):
        raise ReviewError(422, "name exactly one of finding_id or manual_finding_id", "finding_id")
    if finding_id is not None:
        verdict = next((v for v in review.verdicts if v.finding_id == finding_id), None)
        if verdict is None:
            raise ReviewError(404, f"finding {finding_id} is not in review {review_id}", "finding_id")
        if verdict.verdict != "confirmed":
            raise ReviewError(409, f"finding {finding_id} was rejected by the reviewer: it costs nothing to appeal",
                              "finding_id")
        finding = next(f for f in _report(review).findings if f.id == finding_id)
        target = {"rule_id": finding.rule_id, "quote": finding.quote, "points": finding.points}
        taken = [a for a in review.appeals if a.finding_id == finding_id]
    else:
        manual = next((m for m in review.manual_findings if m.id == manual_finding_id), None)
        if manual is None or manual.withdrawn_at is not None:
            raise ReviewError(404, f"manual finding {manual_finding_id} is not in review {review_id}",
                              "manual_finding_id")
        target = {"rule_id": manual.rule_id, "quote": manual.quote, "points": manual.points}
        taken = [a for a in review.appeals if a.manual_finding_id == manual_finding_id]
    if taken:
        raise ReviewError(409, f"this finding was already appealed (appeal {taken[0].id}, {taken[0].status}); "
                               "an appeal is decided once, for good", "finding_id")
    appeal = Appeal(review_id=review.id, finding_id=finding_id, manual_finding_id=manual_finding_id, reason=reason,
                    appellant=by, status="open", created_at=utcnow(), **target)
    review.appeals.append(appeal)
    session.flush()
    audit(session, actor=by, action="appeal_opened", review=review, entity="appeal", entity_id=appeal.id,
          after={"reason": reason, "finding_id": finding_id, "manual_finding_id": manual_finding_id, **target})
    return appeal


def decide_appeal(*, session: Session, appeal_id: int, decision: str, comment: str | None, by: str
                  ) -> tuple[Appeal, Review]:
    appeal = session.get(Appeal, appeal_id)
    if appeal is None:
        raise ReviewError(404, f"appeal {appeal_id} not found", "appeal_id")
    if appeal.status != "open":
        raise ReviewError(409, f"appeal {appeal_id} was {appeal.status} by {appeal.decided_by} on "
                               f"{appeal.decided_at.isoformat()}; it is closed for good")
    if by == appeal.appellant:
        raise ReviewError(409, "the appellant cannot decide their own appeal; a team lead does", "by")
    review = get(session=session, review_id=appeal.review_id)
    before = _state(review)
    appeal.status, appeal.decided_by, appeal.decision_comment, appeal.decided_at = decision, by, comment, utcnow()
    if decision == "accepted":
        if appeal.finding_id is not None:
            verdict = next(v for v in review.verdicts if v.finding_id == appeal.finding_id)
            verdict.verdict, verdict.appeal_id = "rejected", appeal.id
        else:
            manual = next(m for m in review.manual_findings if m.id == appeal.manual_finding_id)
            manual.withdrawn_at = utcnow()
        refresh_final(review)
        review.updated_at = utcnow()
    session.flush()
    audit(session, actor=by, action=f"appeal_{decision}", review=review, entity="appeal", entity_id=appeal.id,
          before={**before, "appeal": "open"}, after={**_state(review), "appeal": decision, "comment": comment})
    return appeal, review


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


# --- calibration ---------------------------------------------------------------------------------------------

def calibration(*, session: Session, pass_mark: float, team: str | None = None, since: datetime | None = None,
                until: datetime | None = None) -> tuple[Calibration, int]:
    """Calibration over reviews (their verdicts, misses, and done reviews' pass/fail); returns (figures, reviews)."""
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
        .where(Review.id.in_(ids), Review.status == "done")).all()
    pairs = [(fails(ms, mf, pm if pm is not None else pass_mark), fails(fs, ff, pm if pm is not None else pass_mark))
             for ms, mf, fs, ff, pm in done]
    reviewed = session.scalar(select(func.count()).select_from(scope.subquery())) or 0
    return calibrate(verdicts, misses, pairs), reviewed


def final_rows(*, session: Session, transcript_ids: list[int]) -> dict[int, Review]:
    """Done reviews of these transcripts (for final-score performance figures)."""
    if not transcript_ids:
        return {}
    return {r.transcript_id: r for r in session.scalars(
        select(Review).where(Review.transcript_id.in_(transcript_ids), Review.status == "done"))}


def counts(*, session: Session) -> dict[str, int]:
    out = dict(session.execute(select(Review.status, func.count()).group_by(Review.status)).all())
    out["appeals_open"] = session.scalar(select(func.count()).select_from(Appeal).where(Appeal.status == "open")) or 0
    return out

