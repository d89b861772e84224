"""/v1/reviews, /v1/appeals, /v1/calibration, /v1/audit: the human side of QA.

Flagged transcripts enter the queue when scored; the sampling plan adds a random share of everyone
else. A reviewer confirms or rejects each machine finding (机检正确/错误), may add findings the
machine missed, and closes the review; the final score is recomputed from that (the machine score is
kept). Agents appeal (申诉) a kept finding within the window; a lead decides once. Every change is
in the audit trail. Calibration turns verdicts into per-rule precision and Cohen's κ.

Who acts is the API key's name; with access control off, each write names its actor in ``by``.
Roles: reviewers judge, sample, assign, decide appeals and calibrate; supervisors (team-scoped)
read their team's reviews and file appeals for their agents; admin does everything.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from sqlalchemy import select

from qa_service.api.auth import Appellant, QARead, ReviewWrite, actor, check_team, scope_team
from qa_service.api.deps import ROW_ID_MAX, RowId, SessionDep, SessionsDep, SettingsDep
from qa_service.api.schemas import FindingRead
from qa_service.api.routes.rules import rulebook
from qa_service.errors import AccessDenied, ReviewError, RulePackError
from qa_service.performance.period import FORMATS, Period, parse_period
from qa_service.storage import reviews as repo
from qa_service.storage.db import session_scope
from qa_service.storage.keys import Principal
from qa_service.storage.tables import Appeal, AuditEvent, Review, Transcript

router = APIRouter(tags=["review"])

Actor = Annotated[str | None, Field(
    min_length=1, max_length=200,
    description="Who does this; required while access control is off (with keys, the key's name is used)")]
Severity = Literal["info", "minor", "major", "critical"]


# --- schemas ---------------------------------------------------------------------------------------------------

class ReviewSummary(BaseModel):
    id: int
    transcript_id: int
    agent_id: str | None
    team: str | None
    channel: str
    started_at: datetime | None
    status: Literal["queued", "in_review", "done"]
    reasons: list[str] = Field(description="Flag reasons that queued it, or `sample` / `manual`")
    severity: str
    priority: int = Field(description="0 first (fatal items), 5 last (samples)")
    assigned_to: str | None
    machine_score: float | None
    machine_fatal: bool
    final_score: float | None
    final_fatal: bool | None
    created_at: datetime
    completed_at: datetime | None


class ReviewPage(BaseModel):
    items: list[ReviewSummary]
    total: int
    limit: int
    offset: int


class ReviewedFinding(FindingRead):
    id: int
    verdict: Literal["confirmed", "rejected"] | None = Field(description="null: not judged yet")
    verdict_comment: str | None = None
    verdict_by: str | None = None
    overturned_by_appeal: int | None = Field(None, description="The accepted appeal that rejected it")


class ManualFindingRead(BaseModel):
    id: int
    dimension: str
    rule_id: str | None
    utterance_index: int
    span: tuple[int, int]
    quote: str
    points: float
    severity: str
    message: str
    fatal: bool
    added_by: str
    created_at: datetime
    withdrawn: bool = Field(description="An accepted appeal withdrew it")


class AppealRead(BaseModel):
    id: int
    review_id: int
    transcript_id: int
    agent_id: str | None
    team: str | None
    finding_id: int | None
    manual_finding_id: int | None
    rule_id: str | None
    quote: str
    points: float
    reason: str
    appellant: str
    status: Literal["open", "accepted", "rejected"]
    decided_by: str | None
    decision_comment: str | None
    created_at: datetime
    decided_at: datetime | None


class ReviewRead(ReviewSummary):
    sample_week: str | None
    comment: str | None
    completed_by: str | None
    appeal_deadline: datetime | None = Field(description="Appeals are accepted until then (done reviews)")
    machine_dimensions: dict[str, float]
    final_dimensions: dict[str, float] | None
    weights: dict[str, float]
    pass_mark: float
    findings: list[ReviewedFinding]
    manual_findings: list[ManualFindingRead]
    appeals: list[AppealRead]


class OpenReview(BaseModel):
    transcript_id: int = Field(ge=1)
    by: Actor = None


class SampleRequest(BaseModel):
    period: str = Field(description=f"Whose transcripts: {FORMATS}", examples=["2026-W44"])
    percent: float | None = Field(None, ge=0, le=100, description="Default QA_REVIEW__SAMPLE_PERCENT")
    minimum: int | None = Field(None, ge=0, description="Default QA_REVIEW__SAMPLE_MIN_PER_AGENT")
    by: Actor = None


class SampleRead(BaseModel):
    period: str
    agent_weeks: int
    candidates: int = Field(description="Scored transcripts not yet in the queue")
    added: int


class AssignRequest(BaseModel):
    reviewers: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(min_length=1, max_length=200)
    mode: Literal["manual", "round_robin"] = "round_robin"
    review_ids: list[int] | None = Field(None, max_length=5000, description="These reviews; else unassigned "
                                                                             "open ones matching the filters")
    limit: int = Field(100, ge=1, le=5000, description="How many unassigned reviews to deal out (no review_ids)")
    team: str | None = None
    agent_id: str | None = None
    reason: str | None = None
    by: Actor = None


class AssignRead(BaseModel):
    assigned: dict[str, str] = Field(description="review id → reviewer")


class VerdictRequest(BaseModel):
    verdict: Literal["confirmed", "rejected"] = Field(description="confirmed = 机检正确, rejected = 机检错误")
    comment: str | None = Field(None, max_length=2000)
    by: Actor = None


class ManualFindingRequest(BaseModel):
    dimension: str = Field(min_length=1, max_length=50)
    utterance_index: int = Field(ge=0)
    span: tuple[int, int] | None = Field(None, description="[start, end) in the utterance; else `quote` is found")
    quote: str | None = Field(None, max_length=2000, description="Verbatim text of the utterance")
    points: float = Field(ge=-100, le=100, description="negative deducts, positive is a bonus")
    message: str = Field(min_length=1, max_length=500)
    severity: Severity = "minor"
    fatal: bool = False
    rule_id: str | None = Field(None, max_length=200, description="The rule that should have fired (a miss)")
    by: Actor = None


class CompleteRequest(BaseModel):
    comment: str | None = Field(None, max_length=2000)
    confirm_rest: bool = Field(False, description="Confirm every finding not judged yet")
    by: Actor = None


class AppealRequest(BaseModel):
    finding_id: int | None = None
    manual_finding_id: int | None = None
    reason: str = Field(min_length=1, max_length=2000)
    by: Actor = None


class AppealDecision(BaseModel):
    decision: Literal["accepted", "rejected"]
    comment: str | None = Field(None, max_length=2000)
    by: Actor = None


class AppealPage(BaseModel):
    items: list[AppealRead]
    total: int
    limit: int
    offset: int


class AuditRead(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    review_id: int | None
    transcript_id: int | None
    entity: str
    entity_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class TallyRead(BaseModel):
    reviewed: int = Field(description="Machine findings with a verdict")
    confirmed: int
    rejected: int
    missed: int = Field(description="Manual findings reviewers added (machine misses)")
    precision: float | None = Field(description="confirmed / reviewed")


class RuleTally(TallyRead):
    rule_id: str
    owner: str | None


class DimensionTally(TallyRead):
    dimension: str


class AgreementRead(BaseModel):
    n: int = Field(description="Done reviews compared")
    both_fail: int
    both_pass: int
    machine_only_fail: int
    human_only_fail: int
    observed: float | None = Field(description="p_o: share where machine and reviewer agree on pass/fail")
    expected: float | None = Field(description="p_e: agreement expected by chance")
    kappa: float | None = Field(description="Cohen's κ = (p_o − p_e) / (1 − p_e); null when p_e = 1")


class CalibrationRead(BaseModel):
    period: str | None
    team: str | None
    reviews: int
    precision_threshold: float
    min_reviewed: int
    rules: list[RuleTally]
    dimensions: list[DimensionTally]
    agreement: AgreementRead
    low_precision: list[RuleTally] = Field(description="Rules for their owner to fix, worst first")


# --- helpers ---------------------------------------------------------------------------------------------------

def _period(text: str | None, field: str = "period") -> Period | None:
    if text is None:
        return None
    try:
        return parse_period(text)
    except ValueError as exc:
        raise RequestValidationError([{"loc": ["query", field], "type": "value_error", "msg": str(exc)}]) from None


def _bounds(period: Period | None, tz: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    if period is None:
        return None, None
    return period.bounds(tz)


def summary(review: Review, transcript: Transcript) -> ReviewSummary:
    return ReviewSummary(
        id=review.id, transcript_id=review.transcript_id, agent_id=transcript.agent_id, team=transcript.team_id,
        channel=transcript.channel, started_at=transcript.started_at, status=review.status,
        reasons=list(review.reasons or []), severity=review.severity, priority=review.priority,
        assigned_to=review.assigned_to, machine_score=review.machine_score, machine_fatal=review.machine_fatal,
        final_score=review.final_score, final_fatal=review.final_fatal, created_at=review.created_at,
        completed_at=review.completed_at,
    )


def appeal_read(a: Appeal, review: Review, transcript: Transcript) -> AppealRead:
    return AppealRead(
        id=a.id, review_id=a.review_id, transcript_id=review.transcript_id, agent_id=transcript.agent_id,
        team=transcript.team_id, finding_id=a.finding_id, manual_finding_id=a.manual_finding_id, rule_id=a.rule_id,
        quote=a.quote, points=a.points, reason=a.reason, appellant=a.appellant, status=a.status,
        decided_by=a.decided_by, decision_comment=a.decision_comment, created_at=a.created_at,
        decided_at=a.decided_at,
    )


def review_read(review: Review, settings) -> ReviewRead:
    t = review.transcript
    report = t.report
    verdicts = {v.finding_id: v for v in review.verdicts if v.finding_id is not None}
    findings = []
    for f in report.findings if report else []:
        v = verdicts.get(f.id)
        findings.append(ReviewedFinding(
            id=f.id, dimension=f.dimension, rule_id=f.rule_id, utterance_index=f.utterance_seq,
            span=(f.span_start, f.span_end), quote=f.quote, points=f.points, severity=f.severity, role=f.role,
            message=f.message, fatal=f.fatal, verdict=v.verdict if v else None, verdict_comment=v.comment if v else None,
            verdict_by=v.reviewer if v else None, overturned_by_appeal=v.appeal_id if v else None))
    deadline = (review.completed_at + timedelta(days=settings.review.appeal_window_days)
                if review.completed_at else None)
    dims = report.dimensions if report else {}
    return ReviewRead(
        **summary(review, t).model_dump(),
        sample_week=review.sample_week, comment=review.comment, completed_by=review.completed_by,
        appeal_deadline=deadline,
        machine_dimensions={n: d.get("score") for n, d in dims.items()},
        final_dimensions=review.final_dims,
        weights=report.weights if report else {},
        pass_mark=(report.pass_mark if report and report.pass_mark is not None else settings.review.pass_mark),
        findings=findings,
        manual_findings=[ManualFindingRead(
            id=m.id, dimension=m.dimension, rule_id=m.rule_id, utterance_index=m.utterance_seq,
            span=(m.span_start, m.span_end), quote=m.quote, points=m.points, severity=m.severity,
            message=m.message, fatal=m.fatal, added_by=m.added_by, created_at=m.created_at,
            withdrawn=m.withdrawn_at is not None) for m in review.manual_findings],
        appeals=[appeal_read(a, review, t) for a in review.appeals],
    )


def _transcript_team(session, transcript_id: int) -> str | None:
    return session.scalar(select(Transcript.team_id).where(Transcript.id == transcript_id))


def _review_team(session, review_id: int) -> str | None:
    return session.scalar(select(Transcript.team_id).join(Review, Review.transcript_id == Transcript.id)
                          .where(Review.id == review_id))


def _check_review(session, principal: Principal, review_id: int) -> None:
    if principal.team is not None:
        check_team(principal, _review_team(session, review_id))


def _reread(sessions, review_id: int, settings) -> ReviewRead:
    with session_scope(sessions) as session:
        return review_read(repo.get(session=session, review_id=review_id), settings)


def audit_read(e: AuditEvent) -> AuditRead:
    return AuditRead(id=e.id, at=e.at, actor=e.actor, action=e.action, review_id=e.review_id,
                     transcript_id=e.transcript_id, entity=e.entity, entity_id=e.entity_id, before=e.before,
                     after=e.after)


# --- the queue -------------------------------------------------------------------------------------------------

@router.get("/v1/reviews", response_model=ReviewPage)
def list_reviews(
    session: SessionDep,
    settings: SettingsDep,
    principal: QARead,
    status_: Annotated[Literal["open", "queued", "in_review", "done", "all"], Query(alias="status")] = "open",
    team: str | None = None,
    agent_id: str | None = None,
    rule: Annotated[str | None, Query(description="Reports with a finding of this rule id")] = None,
    reason: Annotated[str | None, Query(description="Queued for this reason (a flag reason, sample, manual)")] = None,
    severity: Annotated[Severity | None, Query(description="At least this severity")] = None,
    since: Annotated[datetime | None, Query(description="started_at (or received_at) >= since")] = None,
    until: Annotated[datetime | None, Query(description="started_at (or received_at) < until")] = None,
    period: Annotated[str | None, Query(description=f"Instead of since/until: {FORMATS}")] = None,
    score_min: Annotated[float | None, Query(ge=0, le=100)] = None,
    score_max: Annotated[float | None, Query(ge=0, le=100)] = None,
    assigned_to: str | None = None,
    unassigned: bool | None = None,
    limit: Annotated[int, Query(ge=1)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ReviewPage:
    """The review queue: open reviews most urgent first (fatal, then severity, oldest first)."""
    if limit > settings.api.page_size_max:
        raise RequestValidationError([{"loc": ["query", "limit"], "type": "less_than_equal",
                                       "msg": f"must be <= {settings.api.page_size_max}"}])
    if period is not None:
        since, until = _bounds(_period(period), ZoneInfo(settings.performance.timezone))
    flt = repo.QueueFilter(status=status_, team=scope_team(principal, team), agent_id=agent_id, rule=rule, reason=reason, severity=severity,
                           since=since, until=until, score_min=score_min, score_max=score_max,
                           assigned_to=assigned_to, unassigned=unassigned)
    rows, total = repo.list_queue(session=session, flt=flt, limit=limit, offset=offset)
    return ReviewPage(items=[summary(r, t) for r, t in rows], total=total, limit=limit, offset=offset)


@router.post("/v1/reviews", response_model=ReviewRead, status_code=status.HTTP_201_CREATED,
             responses={200: {"description": "Already in the queue: that review"}})
def open_review(body: OpenReview, sessions: SessionsDep, settings: SettingsDep, response: Response,
                principal: QARead) -> ReviewRead:
    """Put any scored transcript in the queue by hand (reason `manual`)."""
    by = actor(principal, body.by)
    with session_scope(sessions) as session:
        if principal.team is not None:
            check_team(principal, _transcript_team(session, body.transcript_id))
        review, created = repo.open_review(session=session, transcript_id=body.transcript_id, by=by)
        review_id = review.id
    if not created:
        response.status_code = status.HTTP_200_OK
    return _reread(sessions, review_id, settings)


@router.post("/v1/reviews/sample", response_model=SampleRead)
def sample_reviews(body: SampleRequest, sessions: SessionsDep, settings: SettingsDep, principal: ReviewWrite
                   ) -> SampleRead:
    """The sampling plan: a random share of each agent's not-yet-queued transcripts per ISO week.

    Seeded by week and agent, so running it again for the same period adds nothing.
    """
    by = actor(principal, body.by)
    if principal.team is not None:
        raise AccessDenied(403, "the sampling plan covers every team; run it with a key that is not team-scoped")
    try:
        period = parse_period(body.period)
    except ValueError as exc:
        raise RequestValidationError([{"loc": ["body", "period"], "type": "value_error", "msg": str(exc)}]) from None
    r = settings.review
    with session_scope(sessions) as session:
        result = repo.sample(session=session, period=period, tz=ZoneInfo(settings.performance.timezone),
                             percent=body.percent if body.percent is not None else r.sample_percent,
                             minimum=body.minimum if body.minimum is not None else r.sample_min_per_agent,
                             by=by)
    return SampleRead(period=result.period, agent_weeks=result.agent_weeks, candidates=result.candidates,
                      added=result.added)


@router.post("/v1/reviews/assign", response_model=AssignRead)
def assign_reviews(body: AssignRequest, sessions: SessionsDep, principal: ReviewWrite) -> AssignRead:
    """Assign reviews to reviewers: `manual` (one reviewer) or `round_robin` (fewest open reviews next)."""
    by = actor(principal, body.by)
    with session_scope(sessions) as session:
        ids = body.review_ids
        if ids is None:
            flt = repo.QueueFilter(team=scope_team(principal, body.team), agent_id=body.agent_id, reason=body.reason)
            ids = repo.unassigned_ids(session=session, flt=flt, limit=body.limit)
        else:
            for review_id in ids:
                _check_review(session, principal, review_id)
        out = repo.assign(session=session, review_ids=ids, reviewers=body.reviewers, mode=body.mode, by=by)
    return AssignRead(assigned={str(k): v for k, v in out.items()})


@router.get("/v1/reviews/{review_id}", response_model=ReviewRead)
def get_review(review_id: RowId, session: SessionDep, settings: SettingsDep, principal: QARead) -> ReviewRead:
    """A review: machine findings with their verdicts, manual findings, machine and final scores, appeals."""
    _check_review(session, principal, review_id)
    return review_read(repo.get(session=session, review_id=review_id), settings)


@router.get("/v1/transcripts/{transcript_id}/review", response_model=ReviewRead)
def get_transcript_review(transcript_id: RowId, session: SessionDep, settings: SettingsDep, principal: QARead
                          ) -> ReviewRead:
    """The review of a transcript (404 when it is not in the queue; POST /v1/reviews puts it there)."""
    if principal.team is not None:
        check_team(principal, _transcript_team(session, transcript_id))
    review = repo.for_transcript(session=session, transcript_id=transcript_id)
    if review is None:
        raise ReviewError(404, f"transcript {transcript_id} has no review; POST /v1/reviews to open one",
                               "transcript_id")
    return review_read(review, settings)


@router.put("/v1/reviews/{review_id}/findings/{finding_id}/verdict", response_model=ReviewRead)
def set_verdict(review_id: RowId, finding_id: RowId, body: VerdictRequest, sessions: SessionsDep,
                settings: SettingsDep, principal: ReviewWrite) -> ReviewRead:
    """Confirm (机检正确) or reject (机检错误) one machine finding; the final score follows at once."""
    by = actor(principal, body.by)
    with session_scope(sessions) as session:
        _check_review(session, principal, review_id)
        repo.set_verdict(session=session, review_id=review_id, finding_id=finding_id, verdict=body.verdict,
                         comment=body.comment, by=by)
    return _reread(sessions, review_id, settings)


@router.post("/v1/reviews/{review_id}/manual-findings", response_model=ReviewRead,
             status_code=status.HTTP_201_CREATED)
def add_manual_finding(review_id: RowId, body: ManualFindingRequest, sessions: SessionsDep,
                       settings: SettingsDep, principal: ReviewWrite) -> ReviewRead:
    """Add a finding the machine missed, quoting the utterance verbatim (by `span` or `quote`)."""
    by = actor(principal, body.by)
    with session_scope(sessions) as session:
        _check_review(session, principal, review_id)
        repo.add_manual(session=session, review_id=review_id, dimension=body.dimension,
                        utterance_index=body.utterance_index, points=body.points, message=body.message,
                        severity=body.severity, fatal=body.fatal, rule_id=body.rule_id, span=body.span,
                        quote=body.quote, by=by)
    return _reread(sessions, review_id, settings)


@router.delete("/v1/reviews/{review_id}/manual-findings/{manual_id}", response_model=ReviewRead)
def remove_manual_finding(review_id: RowId, manual_id: RowId, sessions: SessionsDep, settings: SettingsDep,
                          principal: ReviewWrite,
                          by: Annotated[str | None, Query(min_length=1, max_length=200)] = None) -> ReviewRead:
    """Take back a manual finding before the review is done."""
    by = actor(principal, by)
    with session_scope(sessions) as session:
        _check_review(session, principal, review_id)
        repo.remove_manual(session=session, review_id=review_id, manual_id=manual_id, by=by)
    return _reread(sessions, review_id, settings)


@router.post("/v1/reviews/{review_id}/complete", response_model=ReviewRead)
def complete_review(review_id: RowId, body: CompleteRequest, sessions: SessionsDep,
                    settings: SettingsDep, principal: ReviewWrite) -> ReviewRead:
    """Close the review: the final score stands (appeals may still change it within the window)."""
    by = actor(principal, body.by)
    with session_scope(sessions) as session:
        _check_review(session, principal, review_id)
        repo.complete(session=session, review_id=review_id, by=by, comment=body.comment,
                      confirm_rest=body.confirm_rest)
    return _reread(sessions, review_id, settings)


@router.get("/v1/reviews/{review_id}/audit", response_model=list[AuditRead])
def review_audit(review_id: RowId, session: SessionDep, principal: QARead) -> list[AuditRead]:
    """Every change to the review, oldest first: who, when, what, before and after."""
    _check_review(session, principal, review_id)
    repo.get(session=session, review_id=review_id)
    return [audit_read(e) for e in repo.audit_trail(session=session, review_id=review_id)]


@router.get("/v1/audit", response_model=list[AuditRead])
def audit(session: SessionDep, principal: QARead,
          transcript_id: Annotated[int | None, Query(ge=1, le=ROW_ID_MAX)] = None,
          limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> list[AuditRead]:
    """The audit trail (of one transcript when asked), oldest first."""
    if transcript_id is not None and principal.team is not None:
        check_team(principal, _transcript_team(session, transcript_id))
    return [audit_read(e) for e in repo.audit_trail(session=session, transcript_id=transcript_id, limit=limit,
                                                    team=principal.team)]


# --- appeals ---------------------------------------------------------------------------------------------------

@router.post("/v1/reviews/{review_id}/appeals", response_model=AppealRead, status_code=status.HTTP_201_CREATED)
def create_appeal(review_id: RowId, body: AppealRequest, sessions: SessionsDep, settings: SettingsDep,
                  principal: Appellant) -> AppealRead:
    """申诉: appeal one kept finding of a done review, within QA_REVIEW__APPEAL_WINDOW_DAYS.

    Agents appeal through their supervisor (the key is team-scoped: their own team's reviews only).
    """
    by = actor(principal, body.by)
    with session_scope(sessions) as session:
        _check_review(session, principal, review_id)
        appeal = repo.create_appeal(session=session, review_id=review_id, finding_id=body.finding_id,
                                    manual_finding_id=body.manual_finding_id, reason=body.reason, by=by,
                                    window_days=settings.review.appeal_window_days)
        review = session.get(Review, review_id)
        return appeal_read(appeal, review, review.transcript)


@router.get("/v1/appeals", response_model=AppealPage)
def list_appeals(session: SessionDep, principal: QARead, status_: Annotated[Literal["open", "accepted", "rejected"] | None,
                                                         Query(alias="status")] = None,
                 team: str | None = None, agent_id: str | None = None,
                 limit: Annotated[int, Query(ge=1, le=500)] = 100,
                 offset: Annotated[int, Query(ge=0)] = 0) -> AppealPage:
    """Appeals, oldest first (`status=open` for the lead's inbox)."""
    rows, total = repo.list_appeals(session=session, status=status_, team=scope_team(principal, team), agent_id=agent_id, limit=limit,
                                    offset=offset)
    return AppealPage(items=[appeal_read(a, r, t) for a, r, t in rows], total=total, limit=limit, offset=offset)


@router.post("/v1/appeals/{appeal_id}/decision", response_model=AppealRead)
def decide_appeal(appeal_id: RowId, body: AppealDecision, sessions: SessionsDep, principal: ReviewWrite
                  ) -> AppealRead:
    """A QA lead accepts (the finding no longer counts) or rejects the appeal; either way it is closed for good."""
    by = actor(principal, body.by)
    with session_scope(sessions) as session:
        if principal.team is not None:
            review_id = session.scalar(select(Appeal.review_id).where(Appeal.id == appeal_id))
            check_team(principal, _review_team(session, review_id) if review_id else None)
        appeal, review = repo.decide_appeal(session=session, appeal_id=appeal_id, decision=body.decision,
                                            comment=body.comment, by=by)
        return appeal_read(appeal, review, review.transcript)


# --- calibration -----------------------------------------------------------------------------------------------

def calibration_read(session, request: Request, settings, period: Period | None, team: str | None
                     ) -> CalibrationRead:
    since, until = _bounds(period, ZoneInfo(settings.performance.timezone))
    r = settings.review
    cal, n = repo.calibration(session=session, pass_mark=r.pass_mark, team=team, since=since, until=until)
    try:
        owners = rulebook(request, settings).owners()
    except RulePackError:  # pragma: no cover - a broken pack still leaves the figures readable
        owners = {}

    def rule(rule_id: str) -> RuleTally:
        t = cal.rules[rule_id]
        return RuleTally(rule_id=rule_id, owner=owners.get(rule_id), reviewed=t.reviewed, confirmed=t.confirmed,
                         rejected=t.rejected, missed=t.missed, precision=t.precision)

    rules = sorted((rule(rid) for rid in cal.rules), key=lambda x: (x.precision if x.precision is not None else 2,
                                                                    -x.reviewed, x.rule_id))
    a = cal.agreement
    return CalibrationRead(
        period=period.label if period else None, team=team, reviews=n, precision_threshold=r.precision_threshold,
        min_reviewed=r.min_reviewed, rules=rules,
        dimensions=[DimensionTally(dimension=d, reviewed=t.reviewed, confirmed=t.confirmed, rejected=t.rejected,
                                   missed=t.missed, precision=t.precision) for d, t in sorted(cal.dimensions.items())],
        agreement=AgreementRead(n=a.n, both_fail=a.tp, both_pass=a.tn, machine_only_fail=a.fp,
                                human_only_fail=a.fn, observed=a.accuracy if a.n else None,
                                expected=a.expected, kappa=a.kappa),
        low_precision=[rule(rid) for rid in cal.low_precision(r.precision_threshold, r.min_reviewed)],
    )


@router.get("/v1/calibration", response_model=CalibrationRead)
def calibration(request: Request, session: SessionDep, settings: SettingsDep, principal: ReviewWrite,
                period: Annotated[str | None, Query(description=f"Conversations of: {FORMATS}")] = None,
                team: str | None = None) -> CalibrationRead:
    """Machine vs reviewers: precision per rule and dimension, misses, Cohen's κ on pass/fail, rules to fix."""
    return calibration_read(session, request, settings, _period(period), scope_team(principal, team))

