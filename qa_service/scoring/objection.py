"""Objection handling (异议处理): objection → the agent's response → the customer's outcome.

The pack's detect rules find the parts: ``objection.<type>`` on customer turns (price, refuse,
delay, quality, policy, complaint …), ``response.<category>`` on agent turns (acknowledge,
explain, solution, alternative) and ``outcome.accept`` on customer turns. For each objection,
the next ``respond_within`` agent turns are read:

- handled: acknowledgement/empathy plus an explanation, a solution or an alternative;
- partial: only one of the two (costs ``points_partial``);
- unhandled: none of it, or no agent turn at all (costs ``points_unhandled``, raises a flag).

The outcome reads the customer's next ``outcome_within`` turns: escalated (threatens to complain
after the answer), repeated (the same objection again), accepted, continued, or ended.
Each objection is stored as a structured record in ``metrics.objections``.
"""

from __future__ import annotations

from dataclasses import dataclass

from qa_service.domain import DimensionScore, Finding, Flag, Role, Severity, Transcript
from qa_service.rules.engine import PackMatch
from qa_service.scoring.base import ScoringContext
from qa_service.scoring.rulebased import RuleDimensionScorer, dimension_score, rule_outcome

ACKNOWLEDGE = frozenset({"acknowledge", "empathy"})
RESOLVE = frozenset({"explain", "solution", "alternative"})
ESCALATION_TYPE = "complaint"
QUOTE_CHARS = 80


@dataclass(slots=True)
class Objection:
    turn: int
    types: list[str]
    span: tuple[int, int]
    quote: str
    rule_id: str


class ObjectionScorer(RuleDimensionScorer):
    name = "objection"
    version = "1"
    default_weight = 1.0

    def detect(self, match: PackMatch) -> list[Objection]:
        """Customer objections in turn order; a customer's run of messages counts once per type."""
        found: dict[int, Objection] = {}
        for rule in match.tagged("objection."):
            kind = rule.spec.tag.split(".", 1)[1]
            for t, spans in match.hits.get(rule.id, {}).items():
                turn = match.turns[t]
                if t in found:
                    if kind not in found[t].types:
                        found[t].types.append(kind)
                    continue
                span, quote = turn.quote(spans[0] if spans else (0, len(turn.norm.text)))
                found[t] = Objection(t, [kind], span, quote, rule.id)
        merged: list[Objection] = []
        for obj in sorted(found.values(), key=lambda o: o.turn):
            prev = merged[-1] if merged else None
            if prev and not any(match.turns[k].role == Role.agent for k in range(prev.turn + 1, obj.turn)) \
                    and set(obj.types) <= set(prev.types):
                continue
            merged.append(obj)
        return merged

    def score(self, transcript: Transcript, context: ScoringContext) -> DimensionScore:
        match = context.match
        settings = match.pack.spec.objection
        rules_out = rule_outcome(match, self.name)
        responses = {rule.spec.tag.split(".", 1)[1]: match.hits.get(rule.id, {}) for rule in match.tagged("response.")}
        response_turns: dict[int, set[str]] = {}
        for category, hits in responses.items():
            for t in hits:
                response_turns.setdefault(t, set()).add(category)
        accept_turns = {t for rule in match.tagged("outcome.accept") for t in match.hits.get(rule.id, {})}
        objections = self.detect(match)
        objection_types_at = {o.turn: set(o.types) for o in objections}

        records, findings, flags = [], list(rules_out.findings), list(rules_out.flags)
        used = 0.0
        agent_turns = [t.index for t in match.turns if t.role == Role.agent and t.norm.text]
        customer_turns = [t.index for t in match.turns if t.role == Role.customer and t.norm.text]
        for obj in objections:
            window = [t for t in agent_turns if t > obj.turn][: settings.respond_within]
            categories = set().union(*(response_turns.get(t, set()) for t in window)) if window else set()
            if categories & ACKNOWLEDGE and categories & RESOLVE:
                handling = "handled"
            elif categories:
                handling = "partial"
            else:
                handling = "unhandled"
            response_turn = next((t for t in window if response_turns.get(t)), window[0] if window else None)
            after = response_turn if response_turn is not None else obj.turn
            later = [t for t in customer_turns if t > after][: settings.outcome_within]
            later_types = set().union(*(objection_types_at.get(t, set()) for t in later)) if later else set()
            if ESCALATION_TYPE in later_types and ESCALATION_TYPE not in obj.types:
                outcome = "escalated"
            elif later_types & set(obj.types):
                outcome = "repeated"
            elif any(t in accept_turns for t in later):
                outcome = "accepted"
            elif later:
                outcome = "continued"
            else:
                outcome = "ended"
            records.append({
                "type": obj.types[0], "types": obj.types, "utterance_index": match.turns[obj.turn].utterance.index,
                "quote": obj.quote, "rule_id": obj.rule_id,
                "response": None if response_turn is None else {
                    "utterance_index": match.turns[response_turn].utterance.index,
                    "quote": match.turns[response_turn].utterance.text[:QUOTE_CHARS],
                    "categories": sorted(categories),
                },
                "handling": handling, "outcome": outcome,
            })
            if handling != "handled":
                points = settings.points_unhandled if handling == "unhandled" else settings.points_partial
                points = -min(abs(points), settings.cap - used)
                used += abs(points)
                label = "、".join(obj.types)
                findings.append(Finding(
                    dimension=self.name, rule_id=f"objection.{handling}", utterance_index=match.turns[obj.turn].utterance.index,
                    span=obj.span, quote=obj.quote, points=round(points, 2),
                    severity=Severity.major if handling == "unhandled" else Severity.minor, role=Role.customer,
                    message=(f"客户异议（{label}）未得到回应" if handling == "unhandled" else
                             f"客户异议（{label}）回应不完整：需先认同/安抚，再解释或给出方案"),
                ))
        unhandled = [r for r in records if r["handling"] == "unhandled"]
        if unhandled:
            flags.append(Flag("objection_unhandled", Severity.major,
                              f"{len(unhandled)} 个客户异议未处理：{unhandled[0]['quote']}"))
        if any(r["outcome"] == "escalated" for r in records):
            first = next(r for r in records if r["outcome"] == "escalated")
            flags.append(Flag("escalation_threat", Severity.major, f"处理后客户仍升级投诉：{first['quote']}"))
        return DimensionScore(
            name=self.name, score=dimension_score(match.pack.spec.scorecard.start, findings), version=self.version,
            findings=findings, flags=flags,
            metrics={
                "rules_fired": rules_out.fired,
                "objections": records,
                "count": len(records),
                "handled": sum(r["handling"] == "handled" for r in records),
                "unhandled": len(unhandled),
            },
        )
