"""Review policy: what enters the queue, sampling, assignment, verdicts, appeals, audit, calibration.

Every function takes the caller's ``session`` (the caller owns the transaction) and, where a key may
be team-scoped, the ``team`` it is limited to: touching another team's review is ``Forbidden``.
Every change writes an audit event in the same transaction and recomputes the final score
(``review/score.py``). Errors are domain errors (``NotFound``, ``Conflict``, ``Invalid``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from qa_service.domain import AppealStatus, QAReport, ReviewStatus, VerdictKind
from qa_service.access.service import check_assignees, check_team, missing
from qa_service.errors import Conflict, Invalid, NotFound
from qa_service.review.appeals import appeal_target
from qa_service.review.manual import ManualFindingSpec, quoted, same_manual
from qa_service.review.queue import MANUAL_REASON, SAMPLE_PRIORITY, SAMPLE_REASON, draw, queue_entry
from qa_service.review.score import Item, final_score
from qa_service.storage import facts as facts_repo
from qa_service.storage import reports as report_repo
from qa_service.storage import reviews as repo
from qa_service.storage import transcripts as transcript_repo
from qa_service.storage.tables import Appeal, ManualFinding, Report, Review, Transcript, Verdict, utcnow
from qa_service.text import same_name

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from qa_service.period import Period
    from qa_service.rules.book import RuleBook


def _state(review: Review) -> dict[str, Any]:
    return {"status": review.status, "assigned_to": review.assigned_to, "final_score": review.final_score,
            "final_fatal": review.final_fatal}


# --- entering the queue --------------------------------------------------------------------------------------

def enqueue_scored_many(*, session: Session, reports: Mapping[int, QAReport]) -> None:
    """Reports were stored: flagged transcripts enter the queue (or update their queued entries).

    A review already under way or done is left as it is; the re-score is written to its audit trail.
    """
    existing = repo.for_transcripts(session=session, transcript_ids=list(reports))
    scopes = facts_repo.scopes(session, [t for t, r in reports.items() if r.flags and t not in existing])
    new = []
    for transcript_id, report in reports.items():
        flags = [(f.reason, f.severity.value) for f in report.flags]
        review = existing.get(transcript_id)
        if review is None:
            if flags:
                entry = queue_entry(flags)
                new.append(repo.NewReview(transcript_id, entry.reasons, entry.severity, entry.priority, report.score,
                                          report.fatal, report.pass_mark, scopes.get(transcript_id, (None, None))))
        else:
            _rescored(session, review, report, flags)
    if new:
        repo.create_many(session=session, reviews=new)


def _rescored(session: Session, review: Review, report: QAReport, flags: list[tuple[str, str]]) -> None:
    """A transcript already in review was scored again: a queued entry follows the new report; one under
    way or done keeps its verdicts (they followed their findings: ``storage.reviews.relink``) and its
    machine and final figures — and a done one's figures in the period aggregates — follow the new report."""
    before = {"machine_score": review.machine_score, "reasons": list(review.reasons)}
    same = (review.machine_score, review.machine_fatal) == (report.score, report.fatal)
    review.machine_score, review.machine_fatal, review.updated_at = report.score, report.fatal, utcnow()
    review.pass_mark = report.pass_mark
    if review.status == ReviewStatus.queued.value:
        extra = [r for r in review.reasons if r in (SAMPLE_REASON, MANUAL_REASON)]
        entry = queue_entry(flags) if flags else None
        review.reasons = sorted(set((entry.reasons if entry else []) + extra)) or [SAMPLE_REASON]
        review.severity = entry.severity if entry else "info"
        review.priority = entry.priority if entry else SAMPLE_PRIORITY
        review.final_score = review.final_fatal = review.final_dims = None
        review.verdicts.clear()
        review.manual_findings.clear()
    else:
        refresh_final(review)
        if review.status == ReviewStatus.done.value:
            _final_facts(session, review)
    after = {"machine_score": report.score, "reasons": [r for r, _ in flags]}
    if not (same and sorted(review.reasons) == sorted(before["reasons"])):  # not a retried write's same report
        repo.add_audit_event(session, actor="system", action="rescored", review=review, entity="review",
                             entity_id=review.id, before=before, after=after)


def open_review(*, session: Session, transcript_id: int, by: str, team: str | None = None) -> tuple[Review, bool]:
    """Put any scored transcript in the queue by hand; returns (review, created)."""
    found, transcript_team = transcript_repo.team_of(session=session, transcript_id=transcript_id)
    if not found:
        raise missing(team, f"transcript {transcript_id} not found", "transcript_id")
    check_team(team, transcript_team)
    repo.lock_for_change(session=session, table=Transcript.__table__, row_id=transcript_id)  # one review each
    existing = repo.id_for_transcript(session=session, transcript_id=transcript_id)
    if existing is not None:
        return get(session=session, review_id=existing), False
    report = report_repo.get_for_transcript(session=session, transcript_id=transcript_id)
    if report is None:
        raise Conflict(f"transcript {transcript_id} is not scored yet; review it once it is", "transcript_id")
    review = repo.create(session=session, transcript_id=transcript_id, reasons=[MANUAL_REASON], severity="info",
                         priority=SAMPLE_PRIORITY, machine_score=report.score, machine_fatal=report.fatal,
                         pass_mark=report.pass_mark, scope=facts_repo.scopes(session, [transcript_id]).get(
                             transcript_id, (None, None)))
    session.flush()
    repo.add_audit_event(session, actor=by, action="queued", review=review, entity="review", entity_id=review.id,
                         after={"reasons": [MANUAL_REASON]})
    return get(session=session, review_id=review.id), True


@dataclass(frozen=True, slots=True)
class SampleResult:
    period: str
    candidates: int
    added: int
    agent_weeks: int


def sample(*, session: Session, period: Period, percent: float, minimum: int, by: str) -> SampleResult:
    """The sampling plan: add ``percent`` (≥ ``minimum``) of each agent's unqueued transcripts per ISO week."""
    pool: dict[tuple[str, str], list[int]] = defaultdict(list)
    already: dict[tuple[str, str], int] = defaultdict(int)
    candidates: dict[int, repo.Candidate] = {}
    for c in repo.sample_candidates(session=session, start=period.start, end=period.end):
        iso = c.day.isocalendar()
        week = f"{iso.year}-W{iso.week:02d}"
        if c.review_id is None:
            pool[(c.agent_id, week)].append(c.transcript_id)
            candidates[c.transcript_id] = c
        elif c.sample_week == week:
            already[(c.agent_id, week)] += 1
    added = 0
    for (agent, week), ids in sorted(pool.items()):
        for tid in draw(ids, already=already[(agent, week)], percent=percent, minimum=minimum,
                        seed=f"{week}/{agent}"):
            c = candidates[tid]
            repo.create(session=session, transcript_id=tid, reasons=[SAMPLE_REASON], severity="info",
                        priority=SAMPLE_PRIORITY, sample_week=week, machine_score=c.score, machine_fatal=c.fatal,
                        pass_mark=c.pass_mark, scope=(c.day, c.team_id))
            added += 1
    session.flush()
    if added:
        repo.add_audit_event(session, actor=by, action="sampled", review=None, entity="plan", entity_id=None,
                             after={"period": period.label, "percent": percent, "minimum": minimum, "added": added})
    return SampleResult(period.label, sum(len(v) for v in pool.values()), added, len(pool))


def assign(*, session: Session, reviewers: list[str], mode: str, by: str, review_ids: list[int] | None = None,
           flt: repo.QueueFilter | None = None, limit: int = 100, team: str | None = None,
           known_names: bool = False) -> dict[int, str]:
    """Assign reviews: ``manual`` gives them all to ``reviewers[0]``; ``round_robin`` deals them out in
    queue order, each next one to the reviewer with the fewest open reviews (ties: list order).

    Without ``review_ids``, the first ``limit`` unassigned open reviews matching ``flt`` are dealt.
    ``known_names`` (access control on): every reviewer must be a key that can open every review it may be
    dealt (``access.service.check_assignees``); off, names are free text.
    """
    if not reviewers:
        raise Invalid("name at least one reviewer", "reviewers")
    if mode == "manual" and len(reviewers) != 1:
        raise Invalid("manual assignment takes exactly one reviewer; use mode round_robin for several", "reviewers")
    if review_ids is None:
        flt = flt or repo.QueueFilter()
        flt.team = team if team is not None else flt.team
        review_ids = repo.unassigned_ids(session=session, flt=flt, limit=limit)
    reviews = repo.list_by_ids(session=session, review_ids=review_ids)
    for review in reviews:  # before naming missing ids: a scoped key learns nothing of other teams' ids
        check_team(team, review.transcript.team_id)
    absent = sorted(set(review_ids) - {r.id for r in reviews})
    if absent:
        raise missing(team, f"reviews not found: {absent}", "review_ids")
    closed = [r.id for r in reviews if r.status == ReviewStatus.done.value]
    if closed:
        raise Conflict(f"reviews already done cannot be reassigned: {closed}", "review_ids")
    if known_names:
        check_assignees(session=session, names=reviewers, teams={r.id: r.transcript.team_id for r in reviews})
    load = dict.fromkeys(reviewers, 0) | repo.open_load(session=session, reviewers=reviewers, excluding=review_ids)
    out = {}
    now = utcnow()
    for review in reviews:
        who = min(reviewers, key=lambda r: (load[r], reviewers.index(r)))
        load[who] += 1
        before = _state(review)
        review.assigned_to, review.assigned_at, review.updated_at = who, now, now
        repo.add_audit_event(session, actor=by, action="assigned", review=review, entity="review",
                             entity_id=review.id, before=before, after=_state(review))
        out[review.id] = who
    return out


# --- one review ----------------------------------------------------------------------------------------------

def _for_change(*, session: Session, review_id: int, team: str | None = None) -> Review:
    """The review, locked for this transaction's change (``storage.reviews.lock_for_change``): without
    it two requests both passed the checks, and the second write hit a unique constraint (a 500) or
    undid the first (a verdict landing after the review closed, an appeal decided twice)."""
    repo.lock_for_change(session=session, table=Review.__table__, row_id=review_id)
    return get(session=session, review_id=review_id, team=team)


def get(*, session: Session, review_id: int, team: str | None = None) -> Review:
    review = repo.get(session=session, review_id=review_id)
    if review is None:
        raise missing(team, f"review {review_id} not found", "review_id")
    check_team(team, review.transcript.team_id)
    return review


def for_transcript(*, session: Session, transcript_id: int, team: str | None = None) -> Review:
    found, transcript_team = transcript_repo.team_of(session=session, transcript_id=transcript_id)
    check_team(team, transcript_team if found else None)
    review_id = repo.id_for_transcript(session=session, transcript_id=transcript_id)
    if review_id is None:
        raise NotFound(f"transcript {transcript_id} has no review; POST /v1/reviews to open one", "transcript_id")
    return get(session=session, review_id=review_id)


def _report(review: Review) -> Report:
    report = review.transcript.report
    if report is None:
        raise Conflict(f"transcript {review.transcript_id} has no report (being re-scored?)")
    return report


def refresh_final(review: Review) -> None:
    """Recompute the review's final score from its report, verdicts, manual findings and appeals."""
    report = _report(review)
    verdict = {v.finding_id: v.verdict for v in review.verdicts if v.finding_id is not None}
    kept, rejected = [], []
    for f in report.findings:
        (rejected if verdict.get(f.id) == VerdictKind.rejected.value else kept).append(
            Item(f.dimension, f.points, f.fatal))
    manual = [Item(m.dimension, m.points, m.fatal) for m in review.manual_findings if m.withdrawn_at is None]
    result = final_score(machine_score=report.score, machine_fatal=report.fatal, dimensions=report.dimensions,
                         kept=kept, rejected=rejected, manual=manual)
    review.final_score, review.final_fatal, review.final_dims = result.score, result.fatal, result.dimensions


def _final_facts(session: Session, review: Review) -> None:
    """A done review's final figures replace the machine's where period aggregates want them."""
    done = review.status == ReviewStatus.done.value
    facts_repo.set_final(session, review.transcript_id, score=review.final_score if done else None,
                         fatal=review.final_fatal, dims=review.final_dims)


def _writable(review: Review, by: str) -> None:
    if review.status == ReviewStatus.done.value:
        raise Conflict(f"review {review.id} is done (by {review.completed_by}); findings change now only "
                       "through an appeal")
    if review.status == ReviewStatus.queued.value:
        review.status = ReviewStatus.in_review.value
    if review.assigned_to is None:
        review.assigned_to, review.assigned_at = by, utcnow()
    review.updated_at = utcnow()


def _held_elsewhere(review: Review, by: str, assignee_only: bool, take_over: bool, what: str) -> bool:
    """Whether an open review is assigned to someone other than ``by``. With ``assignee_only`` (access control
    on) such a review is a 409 naming its assignee unless ``take_over``: then the caller passes it to ``by``
    (``_take``, audited as ``taken_over``) before changing it. Was: only closing was guarded, and any reviewer
    judged findings or added deductions on a review assigned to someone else, under their own name."""
    holder = review.assigned_to if review.status != ReviewStatus.done.value else None
    elsewhere = holder is not None and not same_name(holder, by)
    if elsewhere and assignee_only and not take_over:
        raise Conflict(f"review {review.id} is assigned to {holder}; send take_over: true to {what} in their "
                       "place (recorded in the audit trail as a take-over)", "take_over")
    return elsewhere and take_over


def _take(session: Session, review: Review, by: str) -> None:
    before = _state(review)
    review.assigned_to, review.assigned_at, review.updated_at = by, utcnow(), utcnow()
    repo.add_audit_event(session, actor=by, action="taken_over", review=review, entity="review",
                         entity_id=review.id, before=before, after=_state(review))


def take_over(*, session: Session, review_id: int, by: str, team: str | None = None) -> Review:
    """Pass an open review to ``by`` (from whoever holds it; an unassigned one is simply assigned)."""
    review = _for_change(session=session, review_id=review_id, team=team)
    if review.status == ReviewStatus.done.value:
        raise Conflict(f"review {review_id} is done (by {review.completed_by}); there is nothing to take over")
    if review.assigned_to is None or not same_name(review.assigned_to, by):
        _take(session, review, by)
        session.flush()
    return review


def set_verdict(*, session: Session, review_id: int, finding_id: int, verdict: VerdictKind | str,
                comment: str | None, by: str, team: str | None = None, take_over: bool = False,
                assignee_only: bool = False) -> Review:
    verdict = VerdictKind(verdict).value
    review = _for_change(session=session, review_id=review_id, team=team)
    finding = next((f for f in _report(review).findings if f.id == finding_id), None)
    if finding is None:
        raise NotFound(f"finding {finding_id} is not in review {review_id}'s report", "finding_id")
    current = next((v for v in review.verdicts if v.finding_id == finding_id), None)
    if (current is not None and review.status != ReviewStatus.done.value
            and (current.verdict, current.comment, current.reviewer) == (verdict, comment, by)):
        return review  # sent again unchanged (a double submit): nothing changes, nothing to audit
    if _held_elsewhere(review, by, assignee_only, take_over, "judge its findings"):
        _take(session, review, by)
    before_state = _state(review)
    _writable(review, by)
    before = {"verdict": current.verdict, "comment": current.comment} if current else None
    if current is None:
        current = Verdict(review_id=review.id, day=review.day, team_id=review.team_id, finding_id=finding.id,
                          dimension=finding.dimension,
                          rule_id=finding.rule_id, points=finding.points, fatal=finding.fatal,
                          verdict=verdict, reviewer=by)
        review.verdicts.append(current)
    current.verdict, current.comment, current.reviewer, current.decided_at = verdict, comment, by, utcnow()
    refresh_final(review)
    session.flush()
    repo.add_audit_event(session, actor=by, action=f"finding_{verdict}", review=review, entity="finding",
                         entity_id=finding.id, before={**(before or {}), **before_state},
                         after={"verdict": verdict, "comment": comment, "rule_id": finding.rule_id, **_state(review)})
    return review


def add_manual(*, session: Session, review_id: int, spec: ManualFindingSpec, by: str, team: str | None = None,
               book: RuleBook | None = None, take_over: bool = False,
               assignee_only: bool = False) -> tuple[Review, ManualFinding, bool]:
    """Add a manual finding; returns (review, finding, created). The same finding sent again by the same
    reviewer while the first stands (a retry) is that first one, not a second deduction. ``book``: the
    loaded rule packs, whose rules that read customer turns let a deduction quote one (``manual.quoted``)."""
    review = _for_change(session=session, review_id=review_id, team=team)
    report = _report(review)
    if spec.dimension not in report.dimensions:
        raise Invalid(f"dimension {spec.dimension!r} is not in this report; one of {sorted(report.dimensions)}",
                      "dimension")
    utterance, a, b = quoted(review, spec, book)
    if review.status != ReviewStatus.done.value and (same := next(
            (m for m in review.manual_findings if same_manual(m, spec, utterance.text[a:b], by)), None)):
        return review, same, False
    if _held_elsewhere(review, by, assignee_only, take_over, "add a finding"):
        _take(session, review, by)
    before_state = _state(review)
    _writable(review, by)
    manual = ManualFinding(review_id=review.id, day=review.day, team_id=review.team_id, dimension=spec.dimension,
                           rule_id=spec.rule_id,
                           utterance_index=utterance.index, span_start=a, span_end=b, quote=utterance.text[a:b],
                           points=spec.points, severity=spec.severity, message=spec.message, fatal=spec.fatal,
                           added_by=by, created_at=utcnow())
    review.manual_findings.append(manual)
    refresh_final(review)
    session.flush()
    repo.add_audit_event(session, actor=by, action="manual_added", review=review, entity="manual_finding",
                         entity_id=manual.id, before=before_state,
                         after={"dimension": spec.dimension, "rule_id": spec.rule_id,
                                "utterance_index": utterance.index, "quote": manual.quote, "points": spec.points,
                                "fatal": spec.fatal, **_state(review)})
    return review, manual, True


def remove_manual(*, session: Session, review_id: int, manual_id: int, by: str, team: str | None = None,
                  take_over: bool = False, assignee_only: bool = False) -> Review:
    review = _for_change(session=session, review_id=review_id, team=team)
    manual = next((m for m in review.manual_findings if m.id == manual_id), None)
    if manual is None:
        raise NotFound(f"manual finding {manual_id} is not in review {review_id}", "manual_finding_id")
    if _held_elsewhere(review, by, assignee_only, take_over, "remove a finding"):
        _take(session, review, by)
    before_state = _state(review)
    _writable(review, by)
    review.manual_findings.remove(manual)
    refresh_final(review)
    session.flush()
    repo.add_audit_event(session, actor=by, action="manual_removed", review=review, entity="manual_finding",
                         entity_id=manual_id, before={"quote": manual.quote, "points": manual.points, **before_state},
                         after=_state(review))
    return review


def complete(*, session: Session, review_id: int, by: str, comment: str | None, confirm_rest: bool,
             team: str | None = None, take_over: bool = False, assignee_only: bool = False) -> Review:
    """Close a review; ``assignee_only`` and ``take_over`` as for a verdict (``_held_elsewhere``). Was: anyone
    closed anyone's review, confirming its unjudged findings under their name."""
    review = _for_change(session=session, review_id=review_id, team=team)
    report = _report(review)
    elsewhere = _held_elsewhere(review, by, assignee_only, take_over, "complete it")
    judged = {v.finding_id for v in review.verdicts}
    rest = [f for f in report.findings if f.id not in judged]
    if rest and not confirm_rest:
        raise Conflict(f"findings without a verdict: {[f.id for f in rest]}; judge them, or send "
                       "confirm_rest: true to confirm them all", "confirm_rest")
    if elsewhere:
        _take(session, review, by)
    before_state = _state(review)
    _writable(review, by)
    for f in rest:
        review.verdicts.append(Verdict(review_id=review.id, day=review.day, team_id=review.team_id,
                                       finding_id=f.id, dimension=f.dimension,
                                       rule_id=f.rule_id, points=f.points, fatal=f.fatal,
                                       verdict=VerdictKind.confirmed.value, reviewer=by, decided_at=utcnow()))
    refresh_final(review)
    review.status, review.completed_at = ReviewStatus.done.value, utcnow()
    review.completed_by, review.comment = by, comment
    _final_facts(session, review)
    session.flush()
    repo.add_audit_event(session, actor=by, action="completed", review=review, entity="review",
                         entity_id=review.id, before=before_state,
                         after={**_state(review), "comment": comment, "confirmed_rest": len(rest),
                                "machine_score": review.machine_score})
    return review


def appeal_deadline(review: Review, window_days: float) -> datetime | None:
    return review.completed_at + timedelta(days=window_days) if review.completed_at else None


# --- appeals -------------------------------------------------------------------------------------------------

def create_appeal(*, session: Session, review_id: int, finding_id: int | None, manual_finding_id: int | None,
                  reason: str, by: str, window_days: float, team: str | None = None) -> Appeal:
    review = _for_change(session=session, review_id=review_id, team=team)
    if review.status != ReviewStatus.done.value:
        raise Conflict(f"review {review_id} is not done yet; appeal once the reviewer has closed it")
    deadline = appeal_deadline(review, window_days)
    if utcnow() > deadline:
        raise Conflict(f"the appeal window closed at {deadline.isoformat()} "
                       f"({window_days:g} days after the review; QA_REVIEW__APPEAL_WINDOW_DAYS)")
    if (finding_id is None) == (manual_finding_id is None):
        raise Invalid("name exactly one of finding_id or manual_finding_id", "finding_id")
    target = appeal_target(review, _report(review).findings if finding_id is not None else [], finding_id,
                           manual_finding_id)
    appeal = Appeal(review_id=review.id, finding_id=finding_id, manual_finding_id=manual_finding_id, reason=reason,
                    appellant=by, status=AppealStatus.open.value, created_at=utcnow(), **target)
    review.appeals.append(appeal)
    session.flush()
    repo.add_audit_event(session, actor=by, action="appeal_opened", review=review, entity="appeal",
                         entity_id=appeal.id, after={"reason": reason, "finding_id": finding_id,
                                                     "manual_finding_id": manual_finding_id, **target})
    return appeal


def decide_appeal(*, session: Session, appeal_id: int, decision: AppealStatus | str, comment: str | None, by: str,
                  team: str | None = None) -> tuple[Appeal, Review]:
    decision = AppealStatus(decision).value
    appeal = repo.get_appeal(session=session, appeal_id=appeal_id)
    if appeal is None:
        raise missing(team, f"appeal {appeal_id} not found", "appeal_id")
    review = _for_change(session=session, review_id=appeal.review_id, team=team)
    session.refresh(appeal)  # as it stands now that this transaction holds the review
    if appeal.status != AppealStatus.open.value:
        raise Conflict(f"appeal {appeal_id} was {appeal.status} by {appeal.decided_by} on "
                       f"{appeal.decided_at.isoformat()}; it is closed for good")
    if same_name(by, appeal.appellant):  # an appellant's name stored before names were checked, in another case
        raise Conflict("the appellant cannot decide their own appeal; a team lead does", "by")
    verdict = next((v for v in review.verdicts if appeal.finding_id is not None and v.finding_id == appeal.finding_id),
                   None)
    manual = next((m for m in review.manual_findings if m.id == appeal.manual_finding_id), None)
    if decision == AppealStatus.accepted.value and verdict is None and manual is None:
        raise Conflict(f"appeal {appeal_id}'s finding is no longer in the report (the transcript was scored again "
                       "and the new report has no such finding): reject it, or add a manual finding", "decision")
    before = _state(review)
    appeal.status, appeal.decided_by, appeal.decision_comment, appeal.decided_at = decision, by, comment, utcnow()
    if decision == AppealStatus.accepted.value:
        if verdict is not None:
            verdict.verdict, verdict.appeal_id = VerdictKind.rejected.value, appeal.id
        else:
            manual.withdrawn_at = utcnow()
        refresh_final(review)
        review.updated_at = utcnow()
        _final_facts(session, review)
    session.flush()
    repo.add_audit_event(session, actor=by, action=f"appeal_{decision}", review=review, entity="appeal",
                         entity_id=appeal.id, before={**before, "appeal": AppealStatus.open.value},
                         after={**_state(review), "appeal": decision, "comment": comment})
    return appeal, review


def queue_counts(*, session: Session, team: str | None = None) -> Mapping[str, int]:
    """Open reviews and open appeals (the UI's badges); ``team``: that team's only (a scoped key's)."""
    c = repo.counts(session=session, team=team)
    return {"open": c.get(ReviewStatus.queued.value, 0) + c.get(ReviewStatus.in_review.value, 0),
            "appeals_open": c.get("appeals_open", 0)}
