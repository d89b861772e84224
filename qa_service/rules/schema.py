"""The rule-pack schema: YAML in ``rules/`` is validated against these models (unknown keys rejected).

A condition is one mapping with exactly one operator::

    phrases: [保证收益, 稳赚不赔]            # Aho-Corasick phrase set
    regex: '百分(之)?百'  exclude: [...]     # regex, dropped when an exclusion matches the turn
    tokens: [这, 不归|不是, 我管]            # consecutive jieba tokens (``a|b`` alternatives, ``gap``)
    any: [...]  all: [...]  none: [...]  not: {...}  at_least: 2 + of: [...]
    after: {rule: some-rule} + within: 3 + match: {...}   # anchored to another hit (also ``before``)

Leaves take ``negation``: ``affirmed`` (default; 我们不保证收益 does not match 保证收益),
``negated`` (only 不满意, not 没有不满意) or ``any``.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from enum import Enum
from typing import Annotated, Any, Literal

import regex
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from qa_service.domain import DIMENSION_NAME, DIMENSIONS, Role
from qa_service.rules.patterns import compile_pattern
from qa_service.text import label_problem, normalize

RULE_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
PACK_NAME = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)*$")
FLAG_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
FLAG_LABEL_MAX_CHARS = 40


def known_dimensions(info: ValidationInfo) -> Collection[str] | None:
    """The dimensions a pack may weigh and give rules to: the loader's ``dimensions`` (the built-in ones and the
    configured scorers': ``scoring.registry.dimension_names``; None: any), else the built-in ones."""
    context = info.context or {}
    return context["dimensions"] if "dimensions" in context else DIMENSIONS


def unknown_dimensions(names: Collection[str], known: Collection[str] | None) -> str | None:
    """Why ``names`` are not all dimensions one can weigh or write rules for, or None."""
    unknown = sorted(set(names) - set(known)) if known is not None else []
    if not unknown:
        return None
    builtin = [d for d in DIMENSIONS if d in known]
    plugins = sorted(set(known) - set(DIMENSIONS))
    return (f"unknown dimension(s) {unknown}; known: {', '.join(builtin + plugins)} (a plugin scorer's "
            "dimension is known once QA_SCORING__SCORERS configures the scorer)")


class Strict(BaseModel):
    # NaN and ±inf are refused everywhere: NaN passes every bound (NaN < 0 is false) and scores 100.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Negation(str, Enum):
    affirmed = "affirmed"
    negated = "negated"
    any = "any"


class RuleRole(str, Enum):
    agent = "agent"
    customer = "customer"
    any = "any"


class RuleKind(str, Enum):
    hit = "hit"  # every matching turn is a finding
    required = "required"  # a finding when nothing in the window matches
    detect = "detect"  # no finding; used by a dimension (objection types, responses) or for metrics


class AnchorCount(str, Enum):
    """What ``within: K`` of an anchor counts. ``utterances`` (the default, as shipped): every utterance of
    the transcript, either side's, filler-only ones (嗯) included; ``agent`` / ``customer`` / ``any``: only
    that role's turns (``any``: both sides'), filler-only turns left out, as a rule's scope leaves them."""

    utterances = "utterances"
    agent = "agent"
    customer = "customer"
    any = "any"


class Condition(Strict):
    phrases: list[Annotated[str, Field(min_length=1)]] | None = None
    regex: str | None = None
    exclude: list[str] = Field(default_factory=list)
    tokens: list[Annotated[str, Field(min_length=1)]] | None = None
    gap: int = Field(0, ge=0, le=5, description="tokens allowed between the listed ones")
    negation: Negation = Negation.affirmed
    any: list[Condition] | None = None
    all: list[Condition] | None = None
    none: list[Condition] | None = None
    not_: Condition | None = Field(None, alias="not")
    at_least: int | None = Field(None, ge=1)
    of: list[Condition] | None = None
    after: Anchor | None = None
    before: Anchor | None = None
    within: int = Field(3, ge=1, le=50, description="turns after/before the anchor")
    count: AnchorCount = Field(AnchorCount.utterances, description="what within counts: every utterance, or "
                                                                     "one role's non-filler turns")
    match: Condition | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)

    @model_validator(mode="after")
    def _one_operator(self) -> Condition:
        ops = [name for name in ("phrases", "regex", "tokens", "any", "all", "none", "not_", "at_least", "after", "before")
               if getattr(self, name) is not None]
        if len(ops) != 1:
            shown = [o.rstrip("_") for o in ops] or ["nothing"]
            raise ValueError(
                f"a condition needs exactly one operator (phrases, regex, tokens, any, all, none, not, at_least, "
                f"after, before); found {', '.join(shown)} — split it with all: [...] or any: [...]"
            )
        op = ops[0]
        _check_not_blank(self)
        if op == "at_least" and not self.of:
            raise ValueError("at_least needs of: [conditions]")
        if self.of is not None and op != "at_least":
            raise ValueError("of: only goes with at_least")
        if op in ("after", "before") and self.match is None:
            raise ValueError(f"{op} needs match: {{condition}} — what must be said within {self.within} turns")
        if self.match is not None and op not in ("after", "before"):
            raise ValueError("match: only goes with after/before")
        if "count" in self.model_fields_set and op not in ("after", "before"):
            raise ValueError("count: only goes with after/before (what within: K counts)")
        if self.exclude and op != "regex":
            raise ValueError("exclude: only goes with regex (use none: [...] otherwise)")
        for pattern in ([self.regex] if self.regex else []) + list(self.exclude):
            try:
                compile_pattern(pattern)
            except regex.error as exc:
                raise ValueError(f"invalid regex {pattern!r}: {exc}") from exc
        if self.tokens is not None and any(" " in t for t in self.tokens):
            raise ValueError("tokens: one token per list item (split words into separate items)")
        for name in ("any", "all", "none"):
            if getattr(self, name) == []:
                raise ValueError(f"{name}: needs at least one condition")
        return self


def _check_not_blank(cond: Condition) -> None:
    """An empty pattern, phrase list or phrase never means what its author meant: ``regex: ''`` matches
    everywhere (and nothing is quoted), ``phrases: []`` and ``phrases: [' ']`` match nothing."""
    if cond.regex is not None and not cond.regex.strip():
        raise ValueError(f"invalid regex {cond.regex!r}: an empty pattern matches everywhere — write what must be said")
    for pattern in cond.exclude:
        if not pattern.strip():
            raise ValueError(f"invalid regex {pattern!r} in exclude: an empty pattern excludes every turn")
    for name in ("phrases", "tokens"):
        items = getattr(cond, name)
        if items == []:
            raise ValueError(f"{name}: needs at least one entry")
        for item in items or ():
            if not normalize(item).text:
                raise ValueError(f"{name}: {item!r} is blank once spaces and fillers (嗯/啊/呃) are dropped, "
                                 "so it never matches")


class Anchor(Strict):
    """What a condition is anchored to: another rule's hits, or an inline condition for a role."""

    rule: str | None = None
    condition: Condition | None = None
    role: RuleRole = RuleRole.any

    @model_validator(mode="after")
    def _one(self) -> Anchor:
        if (self.rule is None) == (self.condition is None):
            raise ValueError("an anchor names either rule: <id> or condition: {...}")
        return self


Condition.model_rebuild()


class Window(Strict):
    """Which turns of the rule's role it looks at: the first N, the last N, or all."""

    first: int | None = Field(None, ge=1)
    last: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one(self) -> Window:
        if (self.first is None) == (self.last is None):
            raise ValueError("a window is either first: N or last: N")
        return self


Example = str | list[str]
SPEAKER_PREFIXES = {"客户": Role.customer, "用户": Role.customer, "顾客": Role.customer,
                    "坐席": Role.agent, "客服": Role.agent}


def example_turn(line: str) -> tuple[Role, str] | None:
    """``坐席：您好`` → (agent, 您好); None when the line names no known speaker."""
    head, sep, text = line.replace("：", ":", 1).partition(":")
    if not sep or head.strip() not in SPEAKER_PREFIXES:
        return None
    return SPEAKER_PREFIXES[head.strip()], text.strip()


class Examples(Strict):
    match: list[Example] = Field(default_factory=list)
    no_match: list[Example] = Field(default_factory=list)

    @model_validator(mode="after")
    def _speakers(self) -> Examples:
        for key in ("match", "no_match"):
            for i, example in enumerate(getattr(self, key)):
                if isinstance(example, list):
                    if not example:
                        raise ValueError(f"{key}[{i}]: a list example needs at least one turn")
                    bad = next((line for line in example if example_turn(line) is None), None)
                    if bad is not None:
                        raise ValueError(f"{key}[{i}]: example turn {bad!r} must start with 客户： or 坐席： "
                                         f"(also 用户/顾客/客服)")
        return self


#: Tags a dimension reads (``objection.<type>`` and ``response.<category>`` take any suffix); any other tag
#: is allowed (metrics, detector features) but ``qa rules check`` notes it, as it is most often a typo.
READ_TAGS = frozenset({"greeting", "closing", "courtesy", "empathy", "rude", "disclosure", "forbidden",
                       "outcome.accept"})


def tag_is_read(tag: str) -> bool:
    return tag in READ_TAGS or tag.startswith(("objection.", "response."))


class Rule(Strict):
    id: str
    dimension: str = Field(pattern=DIMENSION_NAME.pattern, description="a built-in dimension or a configured scorer's")
    role: RuleRole = RuleRole.agent
    kind: RuleKind = RuleKind.hit
    match: Condition
    window: Window | None = None
    severity: Literal["info", "minor", "major", "critical"] = "minor"
    points: float = Field(0.0, ge=-100, le=100, description="per hit: negative deducts, positive is a bonus")
    cap: float | None = Field(None, gt=0, le=100, description="most points this rule moves in one conversation")
    fatal: bool = False
    flag: str | None = Field(None, pattern=FLAG_NAME.pattern)
    tag: str | None = Field(None, pattern=r"^[a-z_]+(\.[a-z_]+)?$")
    message: str = Field(min_length=1)
    owner: str | None = Field(None, max_length=200, description="who answers for this rule (default: the pack's)")
    examples: Examples

    @field_validator("dimension")
    @classmethod
    def _dimension(cls, v: str, info: ValidationInfo) -> str:
        problem = unknown_dimensions([v], known_dimensions(info))
        if problem:
            raise ValueError(problem)
        return v

    @field_validator("id")
    @classmethod
    def _kebab(cls, v: str) -> str:
        if not RULE_ID.match(v):
            raise ValueError(f"rule id {v!r} must be kebab-case (lower-case letters, digits, single hyphens)")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if not self.examples.match or not self.examples.no_match:
            raise ValueError("examples need at least one match and one no_match")
        if self.kind == RuleKind.required and self.points > 0:
            raise ValueError("a required rule deducts when missing: points must be ≤ 0")
        if self.kind == RuleKind.detect and (self.points or self.fatal):
            raise ValueError("a detect rule moves no points and cannot be fatal (use kind: hit)")
        if self.fatal and self.role == RuleRole.customer:
            raise ValueError("fatal items judge the agent: role must be agent")
        if self.fatal and self.points > 0:  # the report showed the fatal finding as +100 on a score of 0
            raise ValueError(f"a fatal item zeroes the score, so its points cannot be a bonus ({self.points:g}): "
                             "write points: -100 (or drop fatal: true for a bonus)")
        return self


class Scorecard(Strict):
    weights: dict[str, float]
    version: str | None = Field(None, max_length=50, description="recorded in every report scored with it "
                                                                 "(e.g. the fit it came from)")
    start: float = Field(100.0, ge=0, le=100, description="each dimension starts here before deductions and bonuses")
    flag_below: float = Field(60.0, ge=0, le=100, description="flag low_score when the final score is under this")

    @field_validator("weights")
    @classmethod
    def _weights(cls, v: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        problem = unknown_dimensions(v, known_dimensions(info))
        if problem:
            raise ValueError(problem)
        if any(w < 0 for w in v.values()) or sum(v.values()) <= 0:
            raise ValueError("weights must be ≥ 0 and sum to more than 0")
        return v


class ObjectionSettings(Strict):
    respond_within: int = Field(2, ge=1, le=10, description="agent turns after the objection that may answer it")
    outcome_within: int = Field(2, ge=1, le=10, description="customer turns after the answer read for the outcome")
    points_unhandled: float = Field(-10.0, le=0)
    points_partial: float = Field(-4.0, le=0)
    cap: float = Field(30.0, gt=0)


class NegativitySettings(Strict):
    extra_negative: list[str] = Field(default_factory=list)
    ignore: list[str] = Field(default_factory=list, description="lexicon words not counted in this scenario")
    points_per_agent_word: float = Field(-3.0, le=0)
    cap: float = Field(30.0, gt=0)


class TimingSettings(Strict):
    first_response_ms: int = Field(30_000, gt=0, description="chat: slower first answers cost points")
    reply_ms: int = Field(60_000, gt=0, description="chat: an agent reply slower than this is a finding")
    silence_ms: int = Field(5_000, gt=0, description="call: a gap longer than this is a silence (停顿)")
    overlap_ms: int = Field(300, ge=0, description="call: the agent starting this much before the customer ends interrupts")
    speech_rate_cpm: tuple[int, int] = Field((180, 330), description="call: agent chars per minute band")
    points_slow_first_response: float = Field(-5.0, le=0)
    points_slow_reply: float = Field(-2.0, le=0)
    points_silence: float = Field(-2.0, le=0)
    points_interruption: float = Field(-3.0, le=0)
    points_speech_rate: float = Field(-3.0, le=0)
    cap: float = Field(30.0, gt=0)


class DetectorPoints(Strict):
    """What a learned detector's finding costs in its dimension (points ≤ 0), and the confidence band
    around each detector's threshold inside which a finding goes to review instead of costing points.

    The defaults were fitted (least squares, every cost ≥ 0 and the QA standard's own items at least 2
    points of the overall score) on the golden set so that the score ranks conversations the way a QA
    reviewer rates them: on the 2,449 training conversations as detectors that never saw them call them
    (five-fold cross-fitting), the dev split held out (``scripts/fit_scorecard.py``; figures in
    models/qa-detectors/README.md). ``customer_not_satisfied`` and ``customer_ends_negative`` exclude
    each other: a conversation ends one way. The graded items cost per unit: a unit is one turn surely
    what they look for (``qa_service/scoring/learned.py``).
    """

    greeting_missing: float = Field(-20.1, le=0, description="politeness: no greeting in the first two agent turns")
    closing_missing: float = Field(-6.7, le=0, description="politeness: no closing in the last two agent turns")
    no_empathy: float = Field(-11.4, le=0, description="politeness: the customer was upset, the agent never "
                                                       "apologised or empathised")
    rude: float = Field(-6.7, le=0, description="politeness: each rude, dismissive or blaming agent turn")
    objection_unhandled: float = Field(-13.3, le=0, description="objection: each objection left unhandled")
    objection_partial: float = Field(0.0, le=0, description="objection: each objection handled only in part")
    customer_ends_negative: float = Field(-40.1, le=0, description="sentiment: the customer ends upset")
    customer_not_satisfied: float = Field(-35.5, le=0, description="sentiment: the customer ends neither upset nor "
                                                                 "satisfied (no thanks, no acceptance)")
    escalation: float = Field(-6.5, le=0, description="sentiment: the customer threatens to complain or escalate")
    customer_angry: float = Field(-15.5, le=0, description="sentiment: the customer is angry at least once")
    customer_negative_repeated: float = Field(0.0, le=0, description="sentiment: the customer is upset in two "
                                                                      "or more turns")
    attitude_risk: float = Field(-29.5, le=0, description="politeness (graded): each agent turn that may be rude or "
                                                         "dismissive, times its probability's excess over 0.1 (at most "
                                                         "2 units a conversation)")
    customer_negativity: float = Field(-12.9, le=0, description="sentiment (graded): each customer turn that may be "
                                                              "negative, times its probability's excess over 0.1 (at most "
                                                              "3 units)")
    unresolved: float = Field(-47.8, le=0, description="objection (graded): times the excess over 0.1 of the "
                                                      "probability that the issue was not resolved")
    cap: float = Field(100.0, gt=0, description="most a dimension loses to detector findings")


class RulePackSpec(Strict):
    """One YAML file."""

    name: str
    version: str = Field(min_length=1, max_length=50)
    scenario: str = Field(min_length=1)
    title: str = ""
    description: str = ""
    owner: str | None = Field(None, max_length=200, description="who answers for the pack's rules (calibration)")
    include: list[str] = Field(default_factory=list, description="packs whose rules this one inherits")
    exclude: list[str] = Field(default_factory=list, description="rules of the included packs this one leaves out "
                                                                 "(pack-qualified ids: general.over-promise)")
    scorecard: Scorecard | None = None
    objection: ObjectionSettings = Field(default_factory=ObjectionSettings)
    negativity: NegativitySettings = Field(default_factory=NegativitySettings)
    timing: TimingSettings = Field(default_factory=TimingSettings)
    detectors: DetectorPoints = Field(default_factory=DetectorPoints)
    rules: list[Rule] = Field(default_factory=list)
    # after rules: its check reads the rules' flags
    flag_labels: dict[str, str] = Field(default_factory=dict, description="flag name → what the UI calls it "
                                        "({overpromise: 过度承诺}); each a flag of this pack's own rules")

    @field_validator("flag_labels")
    @classmethod
    def _flag_labels(cls, v: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        """Each label names a flag a rule of this pack raises (a label for any other is a typo, or belongs in the
        included pack whose rule raises it) with printable words."""
        for name, text in v.items():
            if not FLAG_NAME.match(name):
                raise ValueError(f"{name!r} is not a flag name (lower-case letters, digits and _, as a rule's flag:)")
            problem = "is blank" if not text.strip() else label_problem(text, FLAG_LABEL_MAX_CHARS)
            if problem:
                raise ValueError(f"the label of {name!r} {problem}")
        if "rules" not in info.data:  # the rules did not validate: their errors say so
            return v
        raised = sorted({r.flag for r in info.data["rules"] if r.flag})
        unknown = [name for name in v if name not in raised]
        if unknown:
            raise ValueError(f"{', '.join(map(repr, unknown))} {'is' if len(unknown) == 1 else 'are'} raised by no rule "
                             f"of this pack (its rules raise: {', '.join(raised) or 'no flag'}; an included pack's flag is "
                             "labelled in that pack)")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not PACK_NAME.match(v):
            raise ValueError(f"pack name {v!r} must be snake_case (it prefixes rule ids: {v}.rule-id)")
        return v

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, v: Any) -> Any:
        if isinstance(v, float):  # YAML reads 1.10 as the number 1.1: the version recorded would be wrong
            raise ValueError(f"version {v!r} was written as a number; quote it (version: \"{v}\" as you meant it, "
                             "e.g. \"1.10\")")
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v
