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
    "qq": "[QQ号]",
    "passport": "[证件号]",
}
PII_PLACEHOLDER = re.compile("|".join(re.escape(p) for p in PII_PLACEHOLDERS.values()))


#: The built-in QA dimensions, in report order: the shipped scorers' names, each with its own columns in the
#: derived fact tables (a new one needs a migration), a UI label, scorecard weights and rules. A plugin
#: scorer (QA_SCORING__SCORERS) adds its own dimension beside them (scoring.registry.dimension_names).
DIMENSIONS = ("politeness", "compliance", "objection", "negativity", "timing", "sentiment")
DIMENSION_NAME = re.compile(r"^[a-z][a-z0-9_]*$")  # a dimension's (a scorer's) name: snake_case


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


class ReviewStatus(str, Enum):
    queued = "queued"
    in_review = "in_review"
    done = "done"


class AppealStatus(str, Enum):
    open = "open"
    accepted = "accepted"
    rejected = "rejected"


class VerdictKind(str, Enum):
    confirmed = "confirmed"  # 机检正确
    rejected = "rejected"  # 机检错误


class Severity(str, Enum):
    info = "info"
    minor = "minor"
    major = "major"
    critical = "critical"


@dataclass(frozen=True, slots=True)
class Utterance:
    index: int  # position in the transcript, from 0 (public JSON: `seq` on utterances, `utterance_index` on findings)
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
    utterance_index: int
    span: tuple[int, int]
    quote: str
    points: float
    severity: Severity = Severity.minor
    role: Role | None = None
    message: str = ""
    fatal: bool = False
    probability: float | None = None  # a learned detector's confidence; None for a rule's finding
    model: str | None = None  # the detector's model name and version, for a learned finding
    uncertain: bool = False  # sent to review instead of costing points (low ASR confidence, borderline model)

    def as_dict(self) -> dict[str, Any]:
        """The finding in its public JSON shape (the one mapping used by storage, the API and the CLI)."""
        out = {
            "dimension": self.dimension, "rule_id": self.rule_id, "utterance_index": self.utterance_index,
            "span": list(self.span), "quote": self.quote, "points": self.points, "severity": self.severity.value,
            "role": self.role.value if self.role else None, "message": self.message, "fatal": self.fatal,
        }
        out["probability"] = self.probability
        out["model"] = self.model
        out["uncertain"] = self.uncertain
        return out


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
    start: float | None = None  # the score is clamp(start + its findings' points) (None: it is not)


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
    scorecard_version: str | None = None  # the scorecard (weights and points) the score was computed with

    @property
    def findings(self) -> list[Finding]:
        return [f for d in self.dimensions.values() for f in d.findings]

    def dimension_details(self) -> dict[str, dict[str, Any]]:
        """Per dimension: score, scorer version, weight used, applicability, metrics, time spent."""
        return {
            name: {
                "score": round(dim.score, 2),
                "version": f"{dim.name}.v{dim.version}",
                "weight": round(self.weights.get(name, 0.0), 4),
                "applicable": dim.applicable,
                **({"start": dim.start} if dim.start is not None else {}),
                "metrics": dim.metrics,
                "timing_ms": round(self.stage_ms.get(name, 0.0), 3),
            }
            for name, dim in self.dimensions.items()
        }

    def as_dict(self) -> dict[str, Any]:
        """The report in the API's ``report`` shape (offline scoring, rule dry runs)."""
        return {
            "score": self.score,
            "fatal": self.fatal,
            "dimensions": {name: round(d.score, 2) for name, d in self.dimensions.items()},
            "dimension_details": self.dimension_details(),
            "weights": self.weights,
            "scorer_versions": self.scorer_versions,
            "rule_pack": self.rule_pack,
            "rule_pack_version": self.rule_pack_version,
            "rule_pack_hash": self.rule_pack_hash,
            "scorecard_version": self.scorecard_version,
            "findings": [f.as_dict() for f in self.findings],
            "flags": [{"reason": f.reason, "severity": f.severity.value, "detail": f.detail} for f in self.flags],
        }

    @property
    def flags(self) -> list[Flag]:
        """Every flag once per reason (the most severe one kept)."""
        order = list(Severity)
        best: dict[str, Flag] = {}
        for flag in [*self.report_flags, *(f for d in self.dimensions.values() for f in d.flags)]:
            if flag.reason not in best or order.index(flag.severity) > order.index(best[flag.reason].severity):
                best[flag.reason] = flag
        return list(best.values())
