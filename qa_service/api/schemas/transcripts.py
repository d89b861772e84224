"""Transcripts in and out: ingest answers, a stored transcript with its report, list pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from qa_service.domain import Channel, Role, TranscriptStatus
from qa_service.ingest.schema import TranscriptCreate, UtteranceCreate

__all__ = ["TranscriptCreate", "UtteranceCreate"]


class TranscriptAccepted(BaseModel):
    id: int
    source: str
    external_id: str
    status: TranscriptStatus
    duplicate: bool = False
    warnings: list[str] = Field(default_factory=list, description=(
        "Said of a stored transcript, which is scored all the same: that its scenario has no rule pack and the "
        "default pack (QA_SCORING__DEFAULT_PACK) scores it"))


class TranscriptConflictRead(BaseModel):
    """The 409 of ``POST /v1/transcripts``: what is stored under the (source, external_id), and the first field
    whose value differs (null when it could not be told)."""

    detail: str
    id: int = Field(description="The stored transcript's id")
    source: str
    external_id: str
    field: str | None = Field(None, description="The first field that differs: utterances, metadata, team …")


class RefusalRead(BaseModel):
    """A refusal in one line (404, 409, 410 …): ``detail`` says why, ``field`` names the field to blame."""

    detail: str
    field: str | None = None


class BatchCreate(BaseModel):
    transcripts: list[Any] = Field(description="Transcript objects, each validated on its own")


class BatchItemResult(BaseModel):
    index: int
    status: Literal["accepted", "duplicate", "rejected"]
    id: int | None = None
    source: str | None = None
    external_id: str | None = None
    errors: list[dict[str, Any]] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list, description=(
        "Said of a stored transcript, which is scored all the same: that its scenario has no rule pack and the "
        "default pack (QA_SCORING__DEFAULT_PACK) scores it"))


class BatchResult(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    queued: bool = Field(description="False when the queue was unreachable; the reconciler will queue them")
    items: list[BatchItemResult]
    warnings: list[str] = Field(default_factory=list, description="Its items' warnings, each once")


class UtteranceRead(BaseModel):
    seq: int  # public name of the utterance's index (the code calls it ``index``)
    role: Role
    text: str
    start_ms: int | None = None
    end_ms: int | None = None
    asr_confidence: float | None = None


class FindingRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int | None = Field(None, description="Stored findings' id (for review verdicts); null in dry runs")
    dimension: str
    rule_id: str
    utterance_index: int
    span: tuple[int, int]
    quote: str
    points: float
    severity: str
    role: str | None = None
    message: str = ""
    fatal: bool = False
    probability: float | None = Field(None, description="A learned detector's confidence (null for a rule's finding)")
    model: str | None = Field(None, description="The detector's model and version (qa-detectors@2)")
    uncertain: bool = Field(False, description="Sent to human review instead of costing points (low ASR "
                                               "confidence, or a borderline detector call)")


class FlagRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    reason: str
    severity: str
    detail: str = ""


class ReportRead(BaseModel):
    score: float
    fatal: bool = False
    dimensions: dict[str, float]
    dimension_details: dict[str, dict[str, Any]]
    weights: dict[str, float]
    scorer_versions: dict[str, str]
    rule_pack: str | None = None
    rule_pack_version: str | None = None
    rule_pack_hash: str | None = None
    scorecard_version: str | None = Field(None, description="The scorecard (weights and points) the score used")
    created_at: datetime
    findings: list[FindingRead]
    flags: list[FlagRead]


class TranscriptRead(BaseModel):
    id: int
    source: str
    external_id: str
    channel: Channel
    agent_id: str | None
    team: str | None
    queue: str | None
    scenario: str | None
    started_at: datetime | None
    received_at: datetime
    status: TranscriptStatus
    attempts: int
    last_error: str | None
    metadata: dict[str, Any]
    utterances: list[UtteranceRead]
    report: ReportRead | None


class TranscriptSummary(BaseModel):
    id: int
    source: str
    external_id: str
    channel: Channel
    agent_id: str | None
    team: str | None
    status: TranscriptStatus
    started_at: datetime | None
    received_at: datetime
    score: float | None
    flags: list[str]


class TranscriptPage(BaseModel):
    items: list[TranscriptSummary]
    total: int
    limit: int
    offset: int
    next_before_id: int | None = Field(
        None, description="Pass as before_id for the next page (keyset: as fast on page 10,000 as on page 1); "
                          "null on the last page")
