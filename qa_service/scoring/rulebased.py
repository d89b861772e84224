"""Turning a pack's rule hits into findings, points and flags (shared by the rule dimensions).

Points per rule: each hit moves ``points`` until the rule's ``cap`` (default: one hit's worth) is
used up; later hits are still reported as evidence, at 0 points. A required rule that found
nothing in its window costs its points once, quoting the turn where it was expected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from qa_service.domain import DimensionScore, Finding, Flag, Severity, Transcript
from qa_service.rules.engine import PackMatch, Turn
from qa_service.rules.loader import PackRule
from qa_service.rules.schema import RuleKind
from qa_service.scoring.base import ScoringContext, capped

MISSING_QUOTE_CHARS = 60


@dataclass(slots=True)
class RuleOutcome:
    findings: list[Finding] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    fired: dict[str, int] = field(default_factory=dict)  # rule id → hits (1 for a missing requirement)


def turn_finding(rule: PackRule, turn: Turn, span: tuple[int, int], points: float, *,
                 dimension: str | None = None, message: str | None = None) -> Finding:
    (a, b), quote = turn.quote(span)
    return Finding(
        dimension=dimension or rule.spec.dimension, rule_id=rule.id, utterance_index=turn.utterance.index,
        span=(a, b), quote=quote, points=points, severity=Severity(rule.spec.severity),
        role=turn.role, message=message or rule.spec.message, fatal=rule.spec.fatal,
    )


def whole_turn_finding(rule: PackRule, turn: Turn, points: float, *, message: str | None = None,
                       dimension: str | None = None) -> Finding:
    text = turn.utterance.text
    quote = text[:MISSING_QUOTE_CHARS]
    return Finding(
        dimension=dimension or rule.spec.dimension, rule_id=rule.id, utterance_index=turn.utterance.index,
        span=(0, len(quote)), quote=quote, points=points, severity=Severity(rule.spec.severity),
        role=turn.role, message=message or rule.spec.message, fatal=rule.spec.fatal,
    )


def rule_outcome(match: PackMatch, dimension: str,
                 settle: Callable[[list[Finding]], list[Finding]] | None = None) -> RuleOutcome:
    """Findings and flags of the pack's ``hit`` and ``required`` rules for one dimension. ``settle`` (the ASR
    gate, :meth:`ScoringContext.settle`) is applied to each rule's findings before its flag is raised: a rule
    whose findings all went to review as ``uncertain`` raises no flag."""
    out = RuleOutcome()
    for rule in match.rules_for(dimension):
        spec = rule.spec
        if not match.fired(rule):
            continue
        if spec.kind == RuleKind.detect:
            if spec.flag:  # detectors raise their flag (escalation_threat) but move no points
                t, spans = next(iter(sorted(match.hits[rule.id].items())))
                quote = match.turns[t].quote(spans[0])[1] if spans else match.turns[t].utterance.text[:30]
                out.flags.append(Flag(spec.flag, Severity(spec.severity), f"{spec.message}（{rule.id}：{quote}）"))
            continue
        found: list[Finding] = []
        if spec.kind == RuleKind.required:
            found.append(whole_turn_finding(rule, match.missing_turn(rule), spec.points))
            out.fired[rule.id] = 1
        else:
            hits = match.hits[rule.id]
            out.fired[rule.id] = len(hits)
            for t in sorted(hits):
                turn = match.turns[t]
                span = hits[t][0] if hits[t] else (0, len(turn.norm.text))
                found.append(turn_finding(rule, turn, span, spec.points))
        if settle is not None:
            found = settle(found)  # before the cap: a hit sent to review uses none of it
        found = capped(found, spec.cap if spec.cap is not None else abs(spec.points))
        out.findings += found
        first = next((f for f in found if not f.uncertain), None)
        if spec.flag and first is not None:
            out.flags.append(Flag(spec.flag, Severity(spec.severity), f"{spec.message}（{rule.id}: {first.quote}）"))
    return out


def dimension_score(start: float, findings: list[Finding]) -> float:
    return round(max(0.0, min(100.0, start + sum(f.points for f in findings))), 2)


class RuleDimensionScorer:
    """A dimension scored by the pack's rules; subclasses add their metrics."""

    name = ""
    version = "1"
    default_weight = 0.0  # weighed by the pack's scorecard, else not at all

    def initialize(self) -> None:
        """Nothing to load: the rule book compiles the packs."""

    def score(self, transcript: Transcript, context: ScoringContext) -> DimensionScore:
        match = context.match
        outcome = rule_outcome(match, self.name, partial(context.settle, transcript))
        start = match.pack.spec.scorecard.start
        return DimensionScore(
            name=self.name, score=dimension_score(start, outcome.findings), version=self.version, start=start,
            findings=outcome.findings, flags=outcome.flags,
            metrics={"rules_fired": outcome.fired, **self.metrics(transcript, match, outcome)},
        )

    def metrics(self, transcript: Transcript, match: PackMatch, outcome: RuleOutcome) -> dict:
        return {}


def tag_state(match: PackMatch, tag: str) -> bool | None:
    """For metrics: did the rules tagged ``tag`` find what they look for (None: no such rule / window)?

    A required rule "finds" when it did not fire; a hit/detect rule finds when it hit.
    """
    rules = [r for r in match.pack.rules if r.spec.tag == tag]
    states = []
    for rule in rules:
        if not match.scopes.get(rule.id):
            continue
        if rule.spec.kind == RuleKind.required:
            states.append(not match.fired(rule))
        else:
            states.append(bool(match.hits[rule.id]))
    return any(states) if states else None
