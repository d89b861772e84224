"""Rule packs and the rule dry run."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, model_validator

from qa_service.api.schemas.transcripts import FindingRead, FlagRead
from qa_service.domain import Channel, Transcript
from qa_service.ingest.schema import UtteranceCreate, to_domain


class RuleSummary(BaseModel):
    id: str
    dimension: str
    role: str
    kind: str
    severity: str
    points: float
    cap: float | None
    fatal: bool
    tag: str | None
    flag: str | None = Field(None, description="the flag reason the rule raises when it fires")
    message: str


class PackRead(BaseModel):
    name: str
    version: str
    scenario: str
    title: str
    hash: str
    include: list[str]
    weights: dict[str, float]
    flag_below: float
    scorecard_version: str | None = Field(None, description="the scorecard's version (its `version:`, or the included "
                                                            "pack's it inherits), as reports record it; null when unset")
    flag_labels: dict[str, str] = Field(default_factory=dict, description="the pack's `flag_labels:`: what the UI "
                                                                          "calls its rules' flags")
    rules: list[RuleSummary]
    reload_error: str | None = Field(None, description="why the rule files on disk are not what is loaded: the "
                                                      "last edit was refused (coded errors) and the packs shown "
                                                      "stay active; null when the files are what is loaded")
    exclude: list[str] = Field(default_factory=list, description="the included packs' rules this pack leaves out "
                                                                 "(its exclude:)")
    warnings: list[str] = Field(default_factory=list, description="what `qa rules check` notes on the pack (a phrase "
                                "holding '，', weights not summing to 100, …), and an edit to it that kept its "
                                "version (since this process loaded it): none stops the pack from scoring")


class DryRunTranscript(BaseModel):
    source: str | None = Field(None, description="the source whose redaction overrides (QA_PII__SOURCES) apply, "
                                                "as they would at ingest; default: the global QA_PII__* settings")
    channel: Channel = Channel.chat
    scenario: str | None = None
    utterances: list[UtteranceCreate] = Field(min_length=1, max_length=5000, description="at most "
                                              "QA_API__RULE_TEST_MAX_UTTERANCES turns (500 by default)")

    def to_domain(self) -> Transcript:
        return to_domain(self.utterances, source=self.source or "", channel=self.channel, scenario=self.scenario)


class RuleTestRequest(BaseModel):
    """Which pack to try: an active one by name, a whole draft pack as YAML, or one draft rule in a pack."""

    pack: str | None = Field(None, description="an active pack (default: the transcript's scenario, else the default)")
    pack_yaml: str | None = Field(None, max_length=500_000, description="a draft pack, as the YAML file would be")
    rule: dict[str, Any] | None = Field(None, description="one draft rule (YAML keys), added to or replacing one in `pack`")
    transcript: DryRunTranscript

    @model_validator(mode="after")
    def _one_source(self) -> RuleTestRequest:
        if self.pack_yaml is not None and (self.pack is not None or self.rule is not None):
            raise ValueError("give pack_yaml alone, or pack and/or rule")
        return self


class RuleHit(BaseModel):
    rule_id: str
    dimension: str
    kind: str
    utterance_index: int
    role: str | None
    span: tuple[int, int]
    quote: str
    message: str


class ExampleCheck(BaseModel):
    rule_id: str
    example: str | list[str]
    expected: str
    ok: bool


class RuleTestResult(BaseModel):
    pack: str
    version: str
    hash: str
    hits: list[RuleHit]
    score: float
    dimensions: dict[str, float]
    weights: dict[str, float]
    findings: list[FindingRead]
    flags: list[FlagRead]
    metrics: dict[str, dict[str, Any]]
    examples: list[ExampleCheck]
