"""/v1/reviews, /v1/appeals, /v1/calibration, /v1/audit: the human side of QA.

Flagged transcripts enter the queue when scored; the sampling plan adds a random share of everyone
else. A reviewer confirms or rejects each machine finding (机检正确/错误), may add findings the
machine missed, and closes the review; the final score is recomputed from that (the machine score is
kept). Agents appeal (申诉) a kept finding within the window; a lead decides once. Every change is
in the audit trail. Calibration turns verdicts into per-rule precision and Cohen's κ.

Who acts is the API key's name; with access control off, each write names its actor in ``by``.
Roles: reviewers judge, sample, assign, decide appeals and calibrate; supervisors (team-scoped)
read their team's reviews and file appeals for their agents; admin does everything. The policy is
``review/service.py``; these routes validate, call it and present the result.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator

from qa_service.api import presenters
from qa_service.api.auth import (Appellant, AuditReader, PerformanceRead, QARead, ReviewWrite, actor, admits,
                                  check_team, scope_team)
from qa_service.api.deps import (
    AgentQuery,
    OFFSET_MAX, Instant, ReadSessionDep, RowId, RuntimeDep, SessionDep, SettingsDep, period_param, typed,
)
from qa_service.api.ids import Id
from qa_service.api.schemas.reviews import TAKE_OVER
from qa_service.api.schemas import (
    AppealDecision,
    AppealPage,
    AppealRead,
    AppealRequest,
    AssignRead,
    AssignRequest,
    AuditRead,
    CalibrationRead,
    CompleteRequest,
    ManualFindingRequest,
    OpenReview,
    ReviewPage,
    ReviewRead,
    SampleRead,
    SampleRequest,
    Severity,
    TakeOverRequest,
    VerdictRequest,
)
from qa_service.access.service import label_value
from qa_service.errors import Forbidden
from qa_service.performance.audit import PERFORMANCE_ENTITIES
from qa_service.period import FORMATS
from qa_service.review import listing, service
from qa_service.review.calibration_report import calibration_report
from qa_service.review.service import ManualFindingSpec
from qa_service.storage import reviews as repo
from qa_service.storage import transcripts as transcript_repo

router = APIRouter(tags=["review"])


# --- the queue -------------------------------------------------------------------------------------------------

@router.get("/v1/reviews", response_model=ReviewPage)
def list_reviews(
    session: SessionDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
    principal: QARead,
    status_: Annotated[Literal["open", "queued", "in_review", "done", "all"], Query(alias="status")] = "open",
    team: str | None = None,
    agent_id: AgentQuery = None,
    rule: Annotated[str | None, Query(description="Reports with a finding of this rule id")] = None,
    reason: Annotated[str | None, Query(description="Queued for this reason (a flag reason, sample, manual)")] = None,
    severity: Annotated[Severity | None, Query(description="At least this severity")] = None,
    since: Annotated[datetime | None, Query(description="started_at (or received_at) >= since"), Instant] = None,
    until: Annotated[datetime | None, Query(description="started_at (or received_at) < until"), Instant] = None,
    period: Annotated[str | None, Query(description=f"Instead of since/until: {FORMATS}")] = None,
    score_min: Annotated[float | None, Query(ge=0, le=100)] = None,
    score_max: Annotated[float | None, Query(ge=0, le=100)] = None,
    assigned_to: str | None = None,
    unassigned: bool | None = None,
    limit: Annotated[int, Query(ge=1)] = 50,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
) -> ReviewPage:
    """The review queue: open reviews most urgent first (fatal, then severity, oldest first)."""
    if limit > settings.api.page_size_max:
        raise RequestValidationError([{"loc": ["query", "limit"], "type": "less_than_equal",
                                       "msg": f"must be <= {settings.api.page_size_max}"}])
    query = listing.QueueQuery(status=status_, team=scope_team(principal, team), agent_id=agent_id, rule=rule,
                               reason=reason, severity=severity, since=since, until=until, period=period,
                               score_min=score_min, score_max=score_max, assigned_to=assigned_to,
                               unassigned=unassigned)
    flt, problems = listing.queue_filter(query, session=session, rulebook=runtime.rulebook, timezone=runtime.timezone)
    if problems:
        raise problems[0]
    rows, total = listing.list_queue(session=session, flt=flt, limit=limit, offset=offset)
    return ReviewPage(items=[presenters.review_summary(r, t) for r, t in rows], total=total, limit=limit,
                      offset=offset)


@router.post("/v1/reviews", response_model=ReviewRead, status_code=status.HTTP_201_CREATED,
             responses={200: {"description": "Already in the queue: that review"}})
def open_review(body: OpenReview, runtime: RuntimeDep, response: Response, principal: QARead) -> ReviewRead:
    """Put any scored transcript in the queue by hand (reason `manual`)."""
    by = actor(principal, body.by)
    with runtime.session() as session:
        review, created = service.open_review(session=session, transcript_id=body.transcript_id, by=by,
                                              team=principal.team)
        if not created:
            response.status_code = status.HTTP_200_OK
        return presenters.review_read(review, runtime.settings.review)


@router.post("/v1/reviews/sample", response_model=SampleRead)
def sample_reviews(body: SampleRequest, runtime: RuntimeDep, principal: ReviewWrite) -> SampleRead:
    """The sampling plan: a random share of each agent's not-yet-queued transcripts per ISO week.

    Seeded by week and agent, so running it again for the same period adds nothing.
    """
    by = actor(principal, body.by)
    if principal.team is not None:
        raise Forbidden("the sampling plan covers every team; run it with a key that is not team-scoped")
    period = period_param(body.period, ("body", "period"))
    r = runtime.settings.review
    with runtime.session() as session:
        result = service.sample(session=session, period=period,
                                percent=body.percent if body.percent is not None else r.sample_percent,
                                minimum=body.minimum if body.minimum is not None else r.sample_min_per_agent,
                                by=by)
    return SampleRead(period=result.period, agent_weeks=result.agent_weeks, candidates=result.candidates,
                      added=result.added)


@router.post("/v1/reviews/assign", response_model=AssignRead)
def assign_reviews(body: AssignRequest, runtime: RuntimeDep, principal: ReviewWrite) -> AssignRead:
    """Assign reviews to reviewers: `manual` (one reviewer) or `round_robin` (fewest open reviews next)."""
    by = actor(principal, body.by)
    with runtime.session() as session:
        flt, problems = listing.queue_filter(
            listing.QueueQuery(team=scope_team(principal, body.team), agent_id=body.agent_id, reason=body.reason),
            session=session, rulebook=runtime.rulebook, timezone=runtime.timezone, source="body")
        if problems:
            raise problems[0]
        out = service.assign(session=session, reviewers=body.reviewers, mode=body.mode, by=by,
                             review_ids=body.review_ids, flt=flt, limit=body.limit, team=principal.team,
                             known_names=principal.key_id is not None)
    return AssignRead(assigned={str(k): v for k, v in out.items()})


@router.get("/v1/reviews/{review_id}", response_model=ReviewRead)
def get_review(review_id: RowId, session: SessionDep, settings: SettingsDep, principal: QARead) -> ReviewRead:
    """A review: machine findings with their verdicts, manual findings, machine and final scores, appeals."""
    review = service.get(session=session, review_id=review_id, team=principal.team)
    return presenters.review_read(review, settings.review)


@router.get("/v1/transcripts/{transcript_id}/review", response_model=ReviewRead)
def get_transcript_review(transcript_id: RowId, session: SessionDep, settings: SettingsDep, principal: QARead
                          ) -> ReviewRead:
    """The review of a transcript (404 when it is not in the queue; POST /v1/reviews puts it there)."""
    review = service.for_transcript(session=session, transcript_id=transcript_id, team=principal.team)
    return presenters.review_read(review, settings.review)


@router.put("/v1/reviews/{review_id}/findings/{finding_id}/verdict", response_model=ReviewRead)
def set_verdict(review_id: RowId, finding_id: RowId, body: VerdictRequest, runtime: RuntimeDep,
                principal: ReviewWrite) -> ReviewRead:
    """Confirm (机检正确) or reject (机检错误) one machine finding; the final score follows at once."""
    by = actor(principal, body.by)
    with runtime.session() as session:
        review = service.set_verdict(session=session, review_id=review_id, finding_id=finding_id,
                                     verdict=body.verdict, comment=typed(runtime, body.comment), by=by,
                                     team=principal.team, take_over=body.take_over,
                                     assignee_only=principal.key_id is not None)
        return presenters.review_read(review, runtime.settings.review)


@router.post("/v1/reviews/{review_id}/manual-findings", response_model=ReviewRead,
             status_code=status.HTTP_201_CREATED,
             responses={200: {"description": "The same finding by the same reviewer is in force already: that one"}})
def add_manual_finding(review_id: RowId, body: ManualFindingRequest, runtime: RuntimeDep, principal: ReviewWrite,
                       response: Response) -> ReviewRead:
    """Add a finding the machine missed, quoting the utterance verbatim (by `span` or `quote`).

    Sent again unchanged by the same reviewer (a retry), it is the first one: 200, nothing added."""
    by = actor(principal, body.by)
    spec = ManualFindingSpec(**{**body.model_dump(exclude={"by", "take_over"}),
                                "message": typed(runtime, body.message)})
    with runtime.session() as session:
        review, _, created = service.add_manual(session=session, review_id=review_id, spec=spec, by=by,
                                                team=principal.team, book=runtime.rulebook, take_over=body.take_over,
                                                assignee_only=principal.key_id is not None)
        if not created:
            response.status_code = status.HTTP_200_OK
        return presenters.review_read(review, runtime.settings.review)


@router.delete("/v1/reviews/{review_id}/manual-findings/{manual_id}", response_model=ReviewRead)
def remove_manual_finding(review_id: RowId, manual_id: RowId, runtime: RuntimeDep, principal: ReviewWrite,
                          by: Annotated[str | None, Query(min_length=1, max_length=200),
                                        AfterValidator(label_value)] = None,
                          take_over: Annotated[bool, Query(description=TAKE_OVER)] = False) -> ReviewRead:
    """Take back a manual finding before the review is done."""
    by = actor(principal, by)
    with runtime.session() as session:
        review = service.remove_manual(session=session, review_id=review_id, manual_id=manual_id, by=by,
                                       team=principal.team, take_over=take_over,
                                       assignee_only=principal.key_id is not None)
        return presenters.review_read(review, runtime.settings.review)


@router.post("/v1/reviews/{review_id}/take-over", response_model=ReviewRead)
def take_over_review(review_id: RowId, body: TakeOverRequest, runtime: RuntimeDep, principal: ReviewWrite
                     ) -> ReviewRead:
    """Take an open review over from the reviewer it is assigned to (接手复核), audited as `taken_over`;
    then its verdicts, manual findings and completion are yours to make."""
    by = actor(principal, body.by)
    with runtime.session() as session:
        review = service.take_over(session=session, review_id=review_id, by=by, team=principal.team)
        return presenters.review_read(review, runtime.settings.review)


@router.post("/v1/reviews/{review_id}/complete", response_model=ReviewRead)
def complete_review(review_id: RowId, body: CompleteRequest, runtime: RuntimeDep, principal: ReviewWrite
                    ) -> ReviewRead:
    """Close the review: the final score stands (appeals may still change it within the window)."""
    by = actor(principal, body.by)
    with runtime.session() as session:
        review = service.complete(session=session, review_id=review_id, by=by, comment=typed(runtime, body.comment),
                                  confirm_rest=body.confirm_rest, team=principal.team, take_over=body.take_over,
                                  assignee_only=principal.key_id is not None)
        return presenters.review_read(review, runtime.settings.review)


@router.get("/v1/reviews/{review_id}/audit", response_model=list[AuditRead])
def review_audit(review_id: RowId, session: SessionDep, principal: QARead) -> list[AuditRead]:
    """Every change to the review, oldest first: who, when, what, before and after."""
    service.get(session=session, review_id=review_id, team=principal.team)
    return [presenters.audit_read(e) for e in repo.audit_trail(session=session, review_id=review_id)]


AuditEntity = Literal["review", "finding", "manual_finding", "appeal", "plan", "kpis", "appraisals", "transcripts",
                      "retention"]


@router.get("/v1/audit", response_model=list[AuditRead])
def audit(session: SessionDep, principal: AuditReader,
          transcript_id: Annotated[Id | None, Query()] = None,
          limit: Annotated[int, Query(ge=1, le=5000)] = 500,
          entity: Annotated[AuditEntity | None, Query(
              description="Only events of this kind: review, finding, manual_finding, appeal, plan (sampling), "
                          "kpis (KPI imports and deletions), appraisals (appraisal exports), transcripts "
                          "(erasures on request), retention (qa purge runs)")] = None,
          action: Annotated[str | None, Query(
              description="Only this action (completed, finding_confirmed, kpis_imported, kpis_deleted, "
                          "appraisals_exported, transcripts_erased, purged …)", max_length=50)] = None) -> list[AuditRead]:
    """The audit trail (of one transcript when asked, of one kind or action), oldest first. KPI and appraisal
    events (`kpis`, `appraisals`) carry performance data — a KPI deletion the rows' figures — and are read by the
    keys that read KPIs (hr, supervisor, admin): a reviewer's listing leaves them out, and `entity=kpis` is a 403
    for it; an hr key reads those events only. A team-scoped key sees its team's transcripts' events and the KPI
    and appraisal events that record its team (`after.team`: an export or deletion for that team)."""
    only, leave_out = _audit_kinds(principal, entity, transcript_id)
    if transcript_id is not None:
        check_team(principal, transcript_repo.team_of(session=session, transcript_id=transcript_id)[1])
    events = repo.audit_trail(session=session, transcript_id=transcript_id, limit=limit, team=principal.team,
                              entity=entity, action=action, only=only, leave_out=leave_out,
                              team_recorded=PERFORMANCE_ENTITIES)
    return [presenters.audit_read(e) for e in events]


def _audit_kinds(principal, entity: str | None, transcript_id: int | None
                 ) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
    """(the only entities the caller reads, or None: any; those left out of its listing), 403 for an entity or
    transcript it may not read. Was: any reviewer key read the figures of deleted KPI rows, which it may not
    list (`GET /v1/kpis` is a 403), and hr, whose events they are, could not read them at all."""
    performance, qa = admits(PerformanceRead, principal), admits(QARead, principal)
    if entity in PERFORMANCE_ENTITIES and not performance:
        raise Forbidden(f"role {principal.role} may not read the {entity} events of the audit trail: KPI and "
                        "appraisal events are read by hr, supervisor and admin keys")
    if not qa and (transcript_id is not None or (entity is not None and entity not in PERFORMANCE_ENTITIES)):
        raise Forbidden(f"role {principal.role} reads only the KPI and appraisal events of the audit trail "
                        "(entity=kpis or entity=appraisals)")
    if not performance:
        return None, PERFORMANCE_ENTITIES
    return (None if qa else PERFORMANCE_ENTITIES), ()


# --- appeals ---------------------------------------------------------------------------------------------------

@router.post("/v1/reviews/{review_id}/appeals", response_model=AppealRead, status_code=status.HTTP_201_CREATED)
def create_appeal(review_id: RowId, body: AppealRequest, runtime: RuntimeDep, principal: Appellant) -> AppealRead:
    """申诉: appeal one kept finding of a done review, within QA_REVIEW__APPEAL_WINDOW_DAYS.

    Agents appeal through their supervisor (the key is team-scoped: their own team's reviews only).
    """
    by = actor(principal, body.by)
    with runtime.session() as session:
        appeal = service.create_appeal(session=session, review_id=review_id, finding_id=body.finding_id,
                                       manual_finding_id=body.manual_finding_id, reason=typed(runtime, body.reason), by=by,
                                       window_days=runtime.settings.review.appeal_window_days,
                                       team=principal.team)
        review = service.get(session=session, review_id=review_id)
        return presenters.appeal_read(appeal, review, review.transcript)


@router.get("/v1/appeals", response_model=AppealPage)
def list_appeals(session: SessionDep, principal: QARead,
                 status_: Annotated[Literal["open", "accepted", "rejected"] | None, Query(alias="status")] = None,
                 team: str | None = None, agent_id: AgentQuery = None,
                 limit: Annotated[int, Query(ge=1, le=500)] = 100,
                 offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0) -> AppealPage:
    """Appeals, oldest first (`status=open` for the lead's inbox)."""
    rows, total = repo.list_appeals(session=session, status=status_, team=scope_team(principal, team),
                                    agent_id=agent_id, limit=limit, offset=offset)
    return AppealPage(items=[presenters.appeal_read(a, r, t) for a, r, t in rows], total=total, limit=limit,
                      offset=offset)


@router.post("/v1/appeals/{appeal_id}/decision", response_model=AppealRead)
def decide_appeal(appeal_id: RowId, body: AppealDecision, runtime: RuntimeDep, principal: ReviewWrite
                  ) -> AppealRead:
    """A QA lead accepts (the finding no longer counts) or rejects the appeal; either way it is closed for good."""
    by = actor(principal, body.by)
    with runtime.session() as session:
        appeal, review = service.decide_appeal(session=session, appeal_id=appeal_id, decision=body.decision,
                                               comment=typed(runtime, body.comment), by=by, team=principal.team)
        return presenters.appeal_read(appeal, review, review.transcript)


# --- calibration -----------------------------------------------------------------------------------------------

@router.get("/v1/calibration", response_model=CalibrationRead)
def calibration(runtime: RuntimeDep, session: ReadSessionDep, principal: ReviewWrite,
                period: Annotated[str | None, Query(description=f"Conversations of: {FORMATS}")] = None,
                team: str | None = None) -> CalibrationRead:
    """Machine vs reviewers: precision per rule and dimension, misses, Cohen's κ on pass/fail, rules to fix."""
    report = calibration_report(session=session, runtime=runtime,
                                        period=period_param(period) if period else None,
                                        team=scope_team(principal, team))
    return presenters.calibration_read(report, runtime.settings.review)
