"""Politeness (礼貌用语): greeting, closing, courtesy terms, empathy; rude or dismissive wording.

The rules live in the packs (tags ``greeting``, ``closing``, ``courtesy``, ``empathy``, ``rude``);
this module adds the figures a QA lead reads at a glance.
"""

from __future__ import annotations

from qa_service.domain import Transcript
from qa_service.rules.engine import PackMatch
from qa_service.scoring.rulebased import RuleDimensionScorer, RuleOutcome, tag_state


class PolitenessScorer(RuleDimensionScorer):
    name = "politeness"
    version = "1"
    default_weight = 1.0

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
