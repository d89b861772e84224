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

from dataclasses import dataclass, replace
from functools import partial

from qa_service.domain import DimensionScore, Finding, Flag, Role, Severity, Transcript
from qa_service.rules.engine import PackMatch
from qa_service.rules.schema import RuleKind
from qa_service.errors import ConfigError
from qa_service.scoring.base import DETECTOR_CAP, ScoringContext, capped
from qa_service.scoring.detectors.detector import excess
from qa_service.scoring.detectors.items import OBJECTION_UNHANDLED
from qa_service.scoring.learned import GRADED_FLOOR, graded_finding, learned_finding, spoken
from qa_service.scoring.rulebased import RuleDimensionScorer, dimension_score, rule_outcome
from qa_service.scoring.titles import OBJECTION_TAGS, TITLES, objection_name

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


def _outcome(obj: Objection, later: list[int], later_types: set[str], accept_turns: set[int]) -> str:
    """What the customer did next: escalated, repeated the objection, accepted, went on, or ended."""
    if ESCALATION_TYPE in later_types and ESCALATION_TYPE not in obj.types:
        return "escalated"
    if later_types & set(obj.types):
        return "repeated"
    if any(t in accept_turns for t in later):
        return "accepted"
    return "continued" if later else "ended"


class ObjectionScorer(RuleDimensionScorer):
    name = "objection"
    version = "1"
    default_weight = 0.0  # weighed by the pack's scorecard, else not at all

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
        rules_out = rule_outcome(match, self.name, partial(context.settle, transcript))
        responses = {rule.spec.tag.split(".", 1)[1]: match.hits.get(rule.id, {}) for rule in match.tagged("response.")}
        response_turns: dict[int, set[str]] = {}
        for category, hits in responses.items():
            for t in hits:
                response_turns.setdefault(t, set()).add(category)
        accept_turns = {t for rule in match.tagged("outcome.accept") for t in match.hits.get(rule.id, {})}
        objections = self.detect(match)
        objection_types_at = {o.turn: set(o.types) for o in objections}

        records, findings, flags = [], [], list(rules_out.flags)
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
            outcome = _outcome(obj, later, later_types, accept_turns)
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
                points = -abs(settings.points_unhandled if handling == "unhandled" else settings.points_partial)
                label = "、".join(objection_name(t, OBJECTION_TAGS) for t in obj.types)
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
        findings = rules_out.findings + capped(context.settle(transcript, findings), settings.cap)  # cap after the gate
        return DimensionScore(
            name=self.name, score=dimension_score(match.pack.spec.scorecard.start, findings), version=self.version,
            start=match.pack.spec.scorecard.start, findings=findings, flags=flags,
            metrics={
                "rules_fired": rules_out.fired,
                "objections": records,
                "count": len(records),
                "handled": sum(r["handling"] == "handled" for r in records),
                "unhandled": len(unhandled),
            },
        )


def unhandled_calls(det) -> list[tuple[float, float] | None]:
    """For each detected objection, the (probability, threshold) it is called unhandled at, or None.

    Each objection's own P(not handled) decides, unless the model has the second stage's
    ``objection_unhandled`` item (P(the conversation has an objection left unhandled), read from all the
    heads): then that decides whether any is, and the likeliest one carries the call — at the item's
    probability, or at its own when that is further above its threshold; another one is called too when
    its own P(not handled) reaches the handling threshold."""
    th_no = det.thresholds["handling"]
    own = [(o.unhandled, th_no) if o.unhandled >= th_no else None for o in det.objections]
    item = det.conversation.get(OBJECTION_UNHANDLED)
    if item is None or not det.objections:
        return own
    p, th = item["yes"], det.thresholds[OBJECTION_UNHANDLED]
    if p < th:
        return [None] * len(own)
    likeliest = max(range(len(own)), key=lambda k: det.objections[k].unhandled)
    mine = own[likeliest]
    if mine is None or mine[0] - mine[1] < p - th:  # the surer of the two calls (a borderline one goes to review)
        own[likeliest] = (p, th)
    return own


def dismissive_turns(match: PackMatch) -> dict[int, str]:
    """Agent turns a rude- or forbidden-tagged hit rule fired on (推诿, 指责, 生硬), with the first such rule."""
    out: dict[int, str] = {}
    for rule in match.pack.rules:
        if rule.spec.tag in ("rude", "forbidden") and rule.spec.kind == RuleKind.hit:
            for t in match.hits.get(rule.id, {}):
                out.setdefault(t, rule.id)
    return out


def _dismissed(record: dict, rule: str, unsure: bool, transcript: Transcript, context: ScoringContext,
               dimension: str) -> tuple[dict, Finding]:
    """An objection the detectors called handled or partly handled, answered with words a rule calls
    dismissive: not handled, as the standard says of a brush-off (这不归我管，你自己去问快递), decided by the rule.
    ``unsure``: the answer was heard below the ASR gate, or it may be no objection at all: to review."""
    first = next(u for u in transcript.utterances if u.index == record["utterance_index"])
    quote = first.text[:QUOTE_CHARS]
    record = {**record, "handling": "unhandled", "dismissed_by": rule}
    points = context.match.pack.spec.detectors.objection_unhandled
    return record, Finding(
        dimension=dimension, rule_id="objection.answer-dismissive", utterance_index=first.index,
        span=(0, len(quote)), quote=quote, points=0.0 if unsure else points, severity=Severity.major,
        role=first.role, message=f"客户异议（{objection_name(record['type'])}）的答复推诿或生硬（{rule}），未处理",
        uncertain=unsure)


class ObjectionScorerV2(RuleDimensionScorer):
    """Objection handling with the learned detectors: customer objections found the way a QA reviewer
    finds them (disputes, grievances, "the fix did not work"), each read with the agent turns that answer
    it and judged handled, partly handled or unhandled. The pack's objection-dimension hit rules still
    count. Each objection is a structured record in ``metrics.objections``."""

    name = "objection"
    version = "2"
    HANDLING = {"yes": "handled", "partial": "partial", "no": "unhandled"}

    def score(self, transcript: Transcript, context: ScoringContext) -> DimensionScore:
        det = context.detections
        if det is None:
            raise ConfigError("objection.v2 needs the learned detectors (QA_SCORING__DETECTOR_MODEL is none)")
        match = context.match
        rules_out = rule_outcome(match, self.name, partial(context.settle, transcript))
        records, learned = [], []
        dismissive = dismissive_turns(match)
        for o, call in zip(det.objections, unhandled_calls(det)):
            record, finding = self._judge(o, call, transcript, context)
            answer = next((t for t in o.answers if t in dismissive), None)
            if answer is not None and record["handling"] != "unhandled":
                unsure = answer in context.unsure_turns(transcript) or context.borderline(
                    o.probability, det.thresholds["objection"])
                record, finding = _dismissed(record, dismissive[answer], unsure, transcript, context, self.name)
            records.append(record)
            if finding is not None:
                learned.append(finding)
        unresolved = 1.0 - det.conversation["resolved"].get("yes", 0.0)
        load, agent = excess(unresolved, GRADED_FLOOR), spoken(transcript, Role.agent)
        graded = agent and spoken(transcript, Role.customer) and graded_finding(  # no customer, no issue
            context, agent[-1], dimension=self.name, rule_id="detector.unresolved",
            points_per_unit=match.pack.spec.detectors.unresolved, amount=load, probability=unresolved,
            message=TITLES["detector.unresolved"])
        learned += [graded] if graded else []
        load = load if graded else 0.0
        findings = rules_out.findings + capped(context.settle(transcript, learned), match.pack.spec.detectors.cap,
                                                  explain=DETECTOR_CAP)
        flags = list(rules_out.flags)
        certain = [f for f in findings if f.rule_id in ("detector.objection-unhandled", "objection.answer-dismissive")
                   and not f.uncertain]
        if certain:
            flags.append(Flag("objection_unhandled", Severity.major,
                              f"{len(certain)} 个客户异议未处理：{certain[0].quote[:40]}"))
        return DimensionScore(
            name=self.name, score=dimension_score(match.pack.spec.scorecard.start, findings), version=self.version,
            start=match.pack.spec.scorecard.start, findings=findings, flags=flags,
            metrics={"rules_fired": rules_out.fired, "objections": records, "count": len(records),
                     "handled": sum(r["handling"] == "handled" for r in records),
                     "unhandled": sum(r["handling"] == "unhandled" for r in records),
                     "unresolved_probability": round(unresolved, 4), "unresolved_load": round(load, 4)},
        )

    def _judge(self, o, call: tuple[float, float] | None, transcript: Transcript,
               context: ScoringContext) -> tuple[dict, Finding | None]:
        """One detected objection: its record, and the finding when it was not (fully) handled (``call``:
        the probability and threshold it was called unhandled at, None when it was not)."""
        det, pts = context.detections, context.match.pack.spec.detectors
        first = next(u for u in transcript.utterances if u.index == o.turns[0])
        unhandled = call is not None
        handling = "unhandled" if unhandled else self.HANDLING[max(("yes", "partial"), key=o.handling.get)]
        record = {
            "type": o.type, "types": [o.type], "utterance_index": o.turns[0], "turns": o.turns,
            "quote": first.text[:QUOTE_CHARS], "probability": round(o.probability, 4), "handling": handling,
            "handling_probabilities": {self.HANDLING[k]: round(v, 4) for k, v in o.handling.items()},
            "response": {"utterance_index": o.answers[0]} if o.answers else None,
        }
        if handling == "handled":
            return record, None
        f = learned_finding(
            context, first, dimension=self.name, rule_id=f"detector.objection-{handling}",
            points=pts.objection_unhandled if unhandled else pts.objection_partial,
            probability=call[0] if unhandled else o.handling["partial"], threshold=call[1] if unhandled else 0.0,
            message=(f"客户异议（{objection_name(o.type)}）未得到处理：未认同/安抚并给出解释或方案" if unhandled else
                     f"客户异议（{objection_name(o.type)}）只处理了一部分：解释或方案未覆盖客户的诉求"))
        if f.points and context.borderline(o.probability, det.thresholds["objection"]):
            f = replace(f, points=0.0, uncertain=True)  # not sure it was an objection at all
        return record, f
