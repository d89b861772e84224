"""Plain domain types every layer shares; no I/O, no framework imports."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any


# 数据脱敏: what ingest puts where personal data was (qa_service/ingest/pii.py). Scorers read them
# as carrying no meaning: a turn that is only a phone number says nothing about a mood.
PII_PLACEHOLDERS = {
    "email": "[邮箱]",
    "order": "[订单号]",
    "id_card": "[身份证号]",
    "bank_card": "[银行卡号]",
    "mobile": "[手机号]",
    "landline": "[座机号]",
}
PII_PLACEHOLDER = re.compile("|".join(re.escape(p) for p in PII_PLACEHOLDERS.values()))


class Role(str, Enum):
    agent = "agent"
    customer = "customer"
    bot = "bot"
    system = "system"


class Channel(str, Enum):
    chat = "chat"
    call = "call"


class TranscriptStatus(str, Enum):
    received = "received"
    queued = "queued"
    scoring = "scoring"
    scored = "scored"
    failed = "failed"


class Severity(str, Enum):
    info = "info"
    minor = "minor"
    major = "major"
    critical = "critical"


@dataclass(frozen=True, slots=True)
class Utterance:
    seq: int
    role: Role
    text: str
    start_ms: int | None = None
    end_ms: int | None = None
    asr_confidence: float | None = None


@dataclass(frozen=True, slots=True)
class Transcript:
    utterances: tuple[Utterance, ...]
    id: int | None = None
    source: str = ""
    external_id: str = ""
    channel: Channel = Channel.chat
    agent_id: str | None = None
    team: str | None = None
    scenario: str | None = None
    started_at: datetime | None = None

    def by_role(self, role: Role) -> list[Utterance]:
        return [u for u in self.utterances if u.role == role]


@dataclass(frozen=True, slots=True)
class Finding:
    """One piece of evidence: where, what was said verbatim, and what it cost."""

    dimension: str
    rule_id: str
    utterance_seq: int
    span: tuple[int, int]
    quote: str
    points: float
    severity: Severity = Severity.minor
    role: Role | None = None
    message: str = ""
    fatal: bool = False


@dataclass(frozen=True, slots=True)
class Flag:
    reason: str
    severity: Severity
    detail: str = ""


@dataclass(slots=True)
class DimensionScore:
    name: str
    score: float
    version: str
    findings: list[Finding] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    applicable: bool = True  # False: nothing to judge (timing without timestamps); left out of the score


@dataclass(slots=True)
class QAReport:
    score: float
    dimensions: dict[str, DimensionScore]
    weights: dict[str, float]
    scorer_versions: dict[str, str]
    rule_pack: str | None = None
    rule_pack_version: str | None = None
    rule_pack_hash: str | None = None
    duration_ms: float = 0.0
    stage_ms: dict[str, float] = field(default_factory=dict)
    fatal: bool = False
    report_flags: list[Flag] = field(default_factory=list)  # scorecard-level: fatal_rule, low_score
    pass_mark: float | None = None  # the scorecard's flag_below: under it a conversation fails

    @property
    def findings(self) -> list[Finding]:
        return [f for d in self.dimensions.values() for f in d.findings]

    @property
    def flags(self) -> list[Flag]:
        """Every flag once per reason (the most severe one kept)."""
        order = list(Severity)
        best: dict[str, Flag] = {}
        for flag in [*self.report_flags, *(f for d in self.dimensions.values() for f in d.flags)]:
            if flag.reason not in best or order.index(flag.severity) > order.index(best[flag.reason].severity):
                best[flag.reason] = flag
        return list(best.values())
