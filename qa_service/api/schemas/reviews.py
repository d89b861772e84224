"""The review queue, verdicts, manual findings, appeals, audit events, calibration."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from qa_service.access.service import label_value
from qa_service.api.ids import Id
from qa_service.api.schemas.transcripts import FindingRead
from qa_service.period import FORMATS
from qa_service.ingest.schema import storable_text
from qa_service.text import comment_or_none, written

Actor = Annotated[str | None, Field(
    min_length=1, max_length=200,
    description="Who does this; required while access control is off (with keys, the key's name is used); "
                "no space at either end, as a key's name"),
    AfterValidator(label_value)]
Severity = Literal["info", "minor", "major", "critical"]
# Free text a step requires says something (a reason of spaces, U+3000 or U+200B is refused as "" is);
# an optional comment that says nothing is none.
# Both free text stored as sent: no NUL or other control character (PostgreSQL takes no NUL; a 500 before).
Said = Annotated[str, AfterValidator(storable_text), AfterValidator(written)]
Comment = Annotated[str | None, Field(max_length=2000), AfterValidator(storable_text), AfterValidator(comment_or_none)]
# A filter naming a team, agent or reason: a label, as a key's team is.
Label = Annotated[str | None, Field(min_length=1, max_length=200), AfterValidator(label_value)]
# An agent id: as sent, matched in either width as ?agent_id= is (text.id_forms, in the repository).
AgentLabel = Annotated[str | None, Field(min_length=1, max_length=200), AfterValidator(label_value)]


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
    model_config = ConfigDict(from_attributes=True)

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
    transcript_id: Id
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
    reviewers: list[Annotated[str, Field(min_length=1, max_length=200), AfterValidator(label_value)]] = Field(
        min_length=1, max_length=200)
    mode: Literal["manual", "round_robin"] = "round_robin"
    review_ids: list[Id] | None = Field(None, max_length=5000, description="These reviews; else unassigned "
                                                                             "open ones matching the filters")
    limit: int = Field(100, ge=1, le=5000, description="How many unassigned reviews to deal out (no review_ids)")
    team: Label = None
    agent_id: AgentLabel = None
    reason: Label = None
    by: Actor = None


class AssignRead(BaseModel):
    assigned: dict[str, str] = Field(description="review id → reviewer")


TAKE_OVER = ("Act on a review assigned to another reviewer, taking it over (with access control on, else a 409 "
             "naming the assignee; recorded in the audit trail as a take-over)")


class VerdictRequest(BaseModel):
    verdict: Literal["confirmed", "rejected"] = Field(description="confirmed = 机检正确, rejected = 机检错误")
    comment: Comment = None
    take_over: bool = Field(False, description=TAKE_OVER)
    by: Actor = None


class TakeOverRequest(BaseModel):
    by: Actor = None


class ManualFindingRequest(BaseModel):
    dimension: Annotated[str, Field(min_length=1, max_length=50), AfterValidator(storable_text)]
    utterance_index: int = Field(ge=0)
    span: tuple[int, int] | None = Field(None, description="[start, end) in the utterance; else `quote` is found")
    quote: str | None = Field(None, min_length=1, max_length=2000,
                              description="Verbatim text of the utterance (omit both for the whole turn)")
    points: float = Field(ge=-100, le=100, description="negative deducts, positive is a bonus")
    message: Said = Field(min_length=1, max_length=500)
    severity: Severity = "minor"
    fatal: bool = False
    rule_id: Annotated[str | None, Field(max_length=200, description="The rule that should have fired (a miss)"),
                       AfterValidator(storable_text)] = None
    take_over: bool = Field(False, description=TAKE_OVER)
    by: Actor = None


class CompleteRequest(BaseModel):
    comment: Comment = None
    confirm_rest: bool = Field(False, description="Confirm every finding not judged yet")
    take_over: bool = Field(False, description="Complete a review assigned to another reviewer in their place "
                                               "(with access control on, else a 409 naming the assignee)")
    by: Actor = None


class AppealRequest(BaseModel):
    finding_id: Id | None = None
    manual_finding_id: Id | None = None
    reason: Said = Field(min_length=1, max_length=2000)
    by: Actor = None


class AppealDecision(BaseModel):
    decision: Literal["accepted", "rejected"]
    comment: Comment = None
    by: Actor = None


class AppealPage(BaseModel):
    items: list[AppealRead]
    total: int
    limit: int
    offset: int


class AuditRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

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
    reviews: int = Field(description="Done reviews in scope: every figure here is counted from these")
    reviews_open: int = Field(0, description="Reviews in scope still queued or in review (counted in no figure)")
    precision_threshold: float
    min_reviewed: int
    rules: list[RuleTally]
    dimensions: list[DimensionTally]
    agreement: AgreementRead
    low_precision: list[RuleTally] = Field(description="Rules for their owner to fix, worst first")
