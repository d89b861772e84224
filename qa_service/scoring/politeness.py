"""Politeness (礼貌用语): greeting, closing, courtesy terms, empathy; rude or dismissive wording.

The rules live in the packs (tags ``greeting``, ``closing``, ``courtesy``, ``empathy``, ``rude``);
this module adds the figures a QA lead reads at a glance.
"""

from __future__ import annotations

from functools import partial

from qa_service.domain import DimensionScore, Flag, Role, Severity, Transcript
from qa_service.errors import ConfigError
from qa_service.rules.engine import PackMatch
from qa_service.rules.loader import RulePack
from qa_service.rules.schema import RuleKind
from qa_service.scoring.base import DETECTOR_CAP, ScoringContext, capped
from qa_service.scoring.learned import graded_turns, learned_finding, spoken, utterance_at
from qa_service.scoring.rulebased import RuleDimensionScorer, RuleOutcome, dimension_score, rule_outcome, tag_state
from qa_service.scoring.titles import TITLES

#: Units of ``attitude_risk`` a conversation can cost at most (a unit: one agent turn surely rude).
ATTITUDE_CAP = 2.0
#: The shipped rules ``politeness.v2``'s learned greeting/closing detectors stand in for (by id: a pack's own
#: required greeting or closing rule, such as "say the bank's name first", is another requirement and keeps
#: costing its points), with the detector finding that takes each one's place.
REPLACED_RULES = {"general.greeting-missing": "detector.greeting-missing",
                  "general.closing-missing": "detector.closing-missing"}


def replaced_rules(pack: RulePack) -> dict[str, str]:
    """Rule id → the detector finding that replaces it under ``politeness.v2``, for the pack's rules."""
    return {r.id: REPLACED_RULES[r.id] for r in pack.rules
            if r.id in REPLACED_RULES and r.spec.kind == RuleKind.required}


class PolitenessScorer(RuleDimensionScorer):
    name = "politeness"
    version = "1"
    default_weight = 0.0  # weighed by the pack's scorecard, else not at all

    def metrics(self, transcript: Transcript, match: PackMatch, outcome: RuleOutcome) -> dict:
        agent_turns = [t for t in match.turns if t.role.value == "agent" and t.norm.text]
        courtesy_turns: set[int] = set()
        for rule in match.pack.rules:
            if rule.spec.tag == "courtesy":
                courtesy_turns |= set(match.hits.get(rule.id, {}))
        counts = {tag: sum(len(match.hits.get(r.id, {})) for r in match.pack.rules if r.spec.tag == tag)
                  for tag in ("empathy", "rude")}
        return {
            "greeting": tag_state(match, "greeting"),
            "closing": tag_state(match, "closing"),
            "courtesy_turn_share": round(len(courtesy_turns) / len(agent_turns), 3) if agent_turns else None,
            "empathy": counts["empathy"],
            "rude": counts["rude"],
        }


class PolitenessScorerV2(PolitenessScorer):
    """Politeness with the learned detectors: greeting and closing as a QA reviewer judges them (the
    detectors replace the packs' required greeting/closing rules), apology/empathy owed to an upset
    customer, and rude, dismissive or blaming turns the wording rules do not list. The other rules
    (courtesy, forbidden and rude wording) keep deciding."""

    version = "2"

    def score(self, transcript: Transcript, context: ScoringContext) -> DimensionScore:
        det = context.detections
        if det is None:
            raise ConfigError("politeness.v2 needs the learned detectors (QA_SCORING__DETECTOR_MODEL is none)")
        match = context.match
        outcome = rule_outcome(match, self.name, partial(context.settle, transcript))
        replaced = replaced_rules(match.pack)
        rules = [f for f in outcome.findings if f.rule_id not in replaced]
        rude_rules = {r.id for r in match.pack.rules if r.spec.tag == "rude"}  # by tag, whatever the rule's id
        rule_rude = {f.utterance_index for f in rules if f.rule_id in rude_rules}
        learned, calls = self._learned(transcript, context, rule_rude)
        findings = rules + capped(context.settle(transcript, learned), match.pack.spec.detectors.cap,
                                explain=DETECTOR_CAP)
        flags = list(outcome.flags)
        if any(f.rule_id == "detector.rude" and not f.uncertain for f in findings):
            flags.append(Flag("agent_rude", Severity.major, "坐席存在推诿、生硬拒绝或指责客户的表达"))
        metrics = {"rules_fired": outcome.fired, **self.metrics(transcript, match, outcome), **calls}
        return DimensionScore(name=self.name, score=dimension_score(match.pack.spec.scorecard.start, findings),
                              start=match.pack.spec.scorecard.start, version=self.version, findings=findings, flags=flags, metrics=metrics)

    def _learned(self, transcript: Transcript, context: ScoringContext, rule_rude: set[int]) -> tuple[list, dict]:
        det, pts = context.detections, context.match.pack.spec.detectors
        agent = spoken(transcript, Role.agent)
        greeting = det.conversation["greeting"]["yes"]
        closing = det.conversation["closing"]["yes"]
        apology, rude, negative = det.hits("apology"), det.hits("rude"), det.hits("negative")
        out = []
        if agent and greeting < det.thresholds["greeting"]:
            out.append(learned_finding(context, agent[0], dimension=self.name, rule_id="detector.greeting-missing",
                                       points=pts.greeting_missing, probability=1 - greeting,
                                       threshold=1 - det.thresholds["greeting"], severity=Severity.minor,
                                       message=TITLES["detector.greeting-missing"]))
        if agent and closing < det.thresholds["closing"]:
            out.append(learned_finding(context, agent[-1], dimension=self.name, rule_id="detector.closing-missing",
                                       points=pts.closing_missing, probability=1 - closing,
                                       threshold=1 - det.thresholds["closing"], severity=Severity.minor,
                                       message=TITLES["detector.closing-missing"]))
        if negative and not apology:
            first, p = negative[0]
            answer = next((u for u in agent if u.index > first), agent[-1] if agent else None)
            if answer is not None:
                out.append(learned_finding(context, answer, dimension=self.name, rule_id="detector.no-empathy",
                                           points=pts.no_empathy, probability=p, threshold=det.thresholds["negative"],
                                           message=TITLES["detector.no-empathy"]))
        for i, p in rude:
            if i not in rule_rude:
                out.append(learned_finding(context, utterance_at(transcript, i), dimension=self.name,
                                           rule_id="detector.rude", points=pts.rude, probability=p,
                                           threshold=det.thresholds["rude"],
                                           message=TITLES["detector.rude"]))
        graded, load = graded_turns(context, transcript, "rude", ATTITUDE_CAP, dimension=self.name,
                                    rule_id="detector.attitude-risk", points_per_unit=pts.attitude_risk,
                                    message=TITLES["detector.attitude-risk"], skip=rule_rude)
        out += graded
        calls = {"greeting": greeting >= det.thresholds["greeting"], "closing": closing >= det.thresholds["closing"],
                 "greeting_probability": round(greeting, 4), "closing_probability": round(closing, 4),
                 "apology_turns": [i for i, _ in apology], "rude_turns": sorted({i for i, _ in rude} | rule_rude),
                 "attitude_load": round(load, 4)}
        return out, calls
