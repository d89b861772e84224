"""Live alert rules (``rules/alerts/*.yaml``): when a live conversation should page a supervisor.

Each alert names one condition — a rule pack rule that hit on the newest turn (on its own side's turns,
or on another's: ``role:``), any fatal rule, or a threshold on a live metric held for N turns in a row —
or several under ``any:`` (one page when any of them fires), with a severity, a cooldown per
conversation, the teams it applies to (all when omitted) and the message supervisors read.
Files are validated with coded errors like rule packs (L001 unreadable, L002 a key breaks the schema,
L003 a duplicate id, L004 a ``rule:`` no pack defines, L005 a ``rule:`` the live checks never read, L010
an example that fires elsewhere), carry examples that
``qa rules check`` runs through the live checks, and are reloaded when they change.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from qa_service.errors import RuleError, RulePackError
from qa_service.rules.loader import ReloadingBook, display_path, misnamed_yaml, read_yaml_mapping
from qa_service.rules.schema import Rule, RuleKind

log = logging.getLogger(__name__)


#: Live metrics an alert can put a threshold on: name → (what it is, which turns it is measured on).
METRICS: dict[str, tuple[str, str]] = {
    "customer_anger": ("客户愤怒（质检检测模型，0–1）", "customer"),
    "customer_negative": ("客户负面情绪（质检检测模型，0–1）", "customer"),
    "escalation": ("客户投诉/升级威胁（质检检测模型，0–1）", "customer"),
    "agent_rude": ("坐席粗鲁、推诿（质检检测模型，0–1）", "agent"),
    "agent_negative_words": ("坐席负面用语个数（负面词库）", "agent"),
    "reply_wait_s": ("客户等待坐席回复的秒数（实时计时）", "wait"),
    "silence_s": ("通话中两句之间的静默秒数", "any"),
    "predicted_satisfaction": ("预测满意度（0–100，按目前为止的对话）", "any"),
    "resolution_likelihood": ("预测问题解决概率（0–1，按目前为止的对话）", "any"),
}
#: Metrics of the conversation so far, not of the turn they are read on: an alert on one rests on (and quotes)
#: the customer's latest turn, not the agent's apology that happened to come last.
CONVERSATION_METRICS = frozenset({"predicted_satisfaction", "resolution_likelihood"})
Severity = Literal["info", "minor", "major", "critical"]
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Condition(Strict):
    """Exactly one of ``rule`` (optionally read on another ``role``'s turns), ``fatal_rule``, ``metric`` (with
    ``at_least`` or ``at_most``) or ``any`` (a list of such conditions: the alert fires when one of them does)."""

    rule: str | None = Field(None, description="A rule pack rule id (pack.rule) that hit on the newest turn")
    role: Literal["agent", "customer"] | None = Field(
        None, description="With rule: read the rule's wording on this side's turns instead of its own side's "
                          "(general.abuse, the agent's abuse, said by the customer)")
    fatal_rule: bool = Field(False, description="Any fatal rule hit on the newest turn")
    metric: str | None = Field(None, description="A live metric (see METRICS)")
    at_least: float | None = None
    at_most: float | None = None
    any: list[Condition] | None = Field(None, description="Fires when any of these conditions does (one page)")
    times: int = Field(1, ge=1, le=20, description="Turns in a row the threshold must hold (timers: 1)")
    min_turns: int = Field(0, ge=0, description="Only once the conversation has this many turns")
    channel: Literal["chat", "call"] | None = Field(None, description="Only on this channel")

    @model_validator(mode="after")
    def _one_kind(self) -> Condition:
        kinds = [self.rule is not None, self.fatal_rule, self.metric is not None, self.any is not None]
        if sum(kinds) != 1:
            raise ValueError("name exactly one of rule, fatal_rule: true, metric, or any: [conditions]")
        if self.metric is not None:
            if self.metric not in METRICS:
                raise ValueError(f"unknown metric {self.metric!r}; known: {', '.join(METRICS)}")
            if (self.at_least is None) == (self.at_most is None):
                raise ValueError(f"metric {self.metric!r} needs exactly one of at_least or at_most")
        elif self.at_least is not None or self.at_most is not None:
            raise ValueError("at_least / at_most go with a metric")
        if self.role is not None and self.rule is None:
            raise ValueError("role goes with rule: (the side whose turns the rule's wording is read on)")
        if self.any is not None:
            if not self.any:
                raise ValueError("any: needs at least one condition")
            if any(c.any is not None for c in self.any):
                raise ValueError("any: inside any: — list every condition in one any:")
            if self.times != 1:
                raise ValueError("times goes with a metric (put it on the metric inside any:)")
        return self

    def holds(self, value: float) -> bool:
        return value >= self.at_least if self.at_least is not None else value <= self.at_most  # type: ignore[operator]

    @property
    def measured_on(self) -> str:
        """customer | agent | any | wait (the turns a metric is read on); rules: any."""
        return METRICS[self.metric][1] if self.metric else "any"

    @property
    def reading(self) -> str | None:
        """The rule hit a ``rule:`` condition waits for: the rule's id, or ``id@role`` when it is read on
        another side's turns (``live.checks`` reads it so)."""
        if self.rule is None:
            return None
        return self.rule if self.role is None else f"{self.rule}@{self.role}"

    def branches(self, key: str) -> list[tuple[str, Condition]]:
        """(streak key, condition) of each condition that can fire: itself under ``key`` (an alert's id), or
        each of ``any`` under ``key#k``."""
        if self.any is None:
            return [(key, self)]
        return [(f"{key}#{k}", c) for k, c in enumerate(self.any)]


class ExampleTurn(Strict):
    role: Literal["agent", "customer", "bot"]
    text: str
    wait_s: float | None = Field(None, ge=0, description="Seconds since the turn before (timing metrics)")


class Example(Strict):
    """A conversation and the turn (0-based) where the alert first fires, or null for never."""

    turns: list[ExampleTurn] = Field(min_length=1)
    fires_at: int | None

    @model_validator(mode="after")
    def _in_range(self) -> Example:
        if self.fires_at is not None and not 0 <= self.fires_at < len(self.turns):
            raise ValueError(f"fires_at {self.fires_at} is not a turn of the example (0..{len(self.turns) - 1})")
        return self


class AlertRule(Strict):
    id: str
    when: Condition
    severity: Severity = "major"
    cooldown_s: float = Field(300.0, ge=0, description="Not raised again on the same conversation this soon")
    teams: list[str] | None = Field(None, description="Only these teams' conversations (default: every team)")
    message: str = Field(min_length=1, max_length=500)
    owner: str | None = None
    examples: list[Example] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError("lower-case letters, digits, '.', '_' and '-' only, at most 100")
        return v

    def applies_to(self, team: str | None, channel: str) -> bool:
        return (self.teams is None or team in self.teams) and self.when.channel in (None, channel)


class AlertFile(Strict):
    version: int = 1
    alerts: list[AlertRule] = Field(default_factory=list)


def named_rules(alert: AlertRule) -> list[Condition]:
    """The ``rule:`` conditions of an alert (its own, or those in its ``any:``)."""
    return [c for _, c in alert.when.branches(alert.id) if c.rule is not None]


def role_readings(rules: Iterable[AlertRule]) -> set[tuple[str, str]]:
    """(rule id, role) of every ``rule:`` the alerts read on a side other than the rule's own (``role:``)."""
    return {(c.rule, c.role) for alert in rules for c in named_rules(alert) if c.role is not None}


def wait_threshold(alert: AlertRule) -> float | None:
    """The shortest wait (``reply_wait_s`` ≥ X) an alert fires on, or None: the timer looks for such waits."""
    return min((c.at_least for _, c in alert.when.branches(alert.id)
                if c.metric == "reply_wait_s" and c.at_least is not None), default=None)


def live_problem(spec: Rule) -> tuple[str, str] | None:
    """Why the live checks never report a rule's hits (problem, fix), or None. They read every ``hit`` and
    ``detect`` rule on each new turn; a ``required`` rule fires on what is missing from the whole
    conversation, and a rule with a ``window`` looks at its first or last turns: both are judged by the
    full report once the conversation has ended."""
    if spec.kind == RuleKind.required:
        problem = ("is a required rule (it fires on what was never said, judged on the whole conversation when it "
                   "ends), so it never fires live")
        return problem, "name a hit or detect rule (kind: hit | detect), or a metric"
    if spec.window is not None:
        where = f"first: {spec.window.first}" if spec.window.first else f"last: {spec.window.last}"
        problem = (f"looks only at a window of the conversation ({where}), which the live checks leave to the "
                   "full report, so it never fires live")
        return problem, "name a rule without a window, or a metric"
    return None


def rule_problems(rules: dict[str, AlertRule], known: Mapping[str, Rule]) -> list[tuple[AlertRule, str, str, str]]:
    """(alert, code, problem, fix) for each ``rule:`` that could never fire: L004 it names no rule of the
    packs (``known``: id → rule), L005 the live checks never read that rule (:func:`live_problem`)."""
    out = []
    for alert in rules.values():
        for cond in named_rules(alert):
            spec = known.get(cond.rule)
            if spec is None:
                out.append((alert, "L004", f"rule {cond.rule!r} is in no rule pack",
                            "name a rule `qa rules list` shows"))
            elif (problem := live_problem(spec)) is not None:
                out.append((alert, "L005", f"rule {cond.rule!r} {problem[0]}", problem[1]))
    return out


def load_alerts(directory: Path, known_rules: Mapping[str, Rule] | None = None) -> dict[str, AlertRule]:
    """Every alert rule in ``directory/*.yaml``; raises :class:`RulePackError` listing every problem
    (with ``known_rules``, the packs' rules by id, an alert naming another rule is one, L004, and so is one
    naming a rule the live checks never read, L005)."""
    errors: list[RuleError] = misnamed_yaml(directory, "L001", "alert rules") if Path(directory).is_dir() else []
    found: dict[str, tuple[AlertRule, str]] = {}
    for path in sorted(Path(directory).glob("*.yaml")) if Path(directory).is_dir() else []:
        where = display_path(path)
        _, raw, error = read_yaml_mapping(path, "L001", "an alert file must be a mapping with an `alerts:` list",
                                          "start the file with `alerts:` and a list of alerts")
        if error:
            errors.append(error)
            continue
        try:
            spec = AlertFile.model_validate(raw)
        except ValidationError as exc:
            for e in exc.errors():
                loc = ".".join(str(p) for p in e["loc"])
                errors.append(RuleError("L002", where, f"{loc}: {e['msg']}",
                                        "see docs/live.md for the alert keys and metrics"))
            continue
        for alert in spec.alerts:
            if alert.id in found:
                errors.append(RuleError("L003", where, f"alert id {alert.id!r} is also in {found[alert.id][1]}",
                                        "give every alert its own id", alert.id))
            else:
                found[alert.id] = (alert, where)
    rules = {k: v for k, (v, _) in found.items()}
    for alert, code, problem, fix in rule_problems(rules, known_rules) if known_rules is not None else []:
        errors.append(RuleError(code, found[alert.id][1], problem, fix, alert.id))
    if errors:
        raise RulePackError(errors)
    return rules


class AlertBook(ReloadingBook[dict[str, AlertRule]]):
    """The alert rules, reloaded when a file changes; a broken edit keeps the last good set (and is logged).
    ``known_rules`` (the packs' rule ids, read at each load) makes an alert naming another rule an error
    here too, not only in ``qa rules check``; a folder that is not there is logged (no alert would fire)."""

    def __init__(self, directory: Path, check_every_s: float = 0.0,
                 known_rules: Callable[[], Mapping[str, Rule]] | None = None):
        def load(d: Path) -> dict[str, AlertRule]:
            if not Path(d).is_dir():
                log.warning("no alert rules: %s is not a folder (QA_LIVE__ALERTS_DIR); live QA raises no alerts", d)
            return load_alerts(d, known_rules() if known_rules else None)

        super().__init__(directory, load, "alert rules", check_every_s)
