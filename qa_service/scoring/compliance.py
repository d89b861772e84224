"""Compliance (合规用语): required disclosures per scenario and forbidden wording, with fatal items.

Rules tagged ``disclosure`` are required statements (录音告知, 身份核验, 风险提示, 核实订单);
``forbidden`` ones are wording that must not be used (abuse, blaming, 推诿, promises such as
保证收益, leaking personal data). Negation is applied by the engine: 我们不保证收益 is compliant.
"""

from __future__ import annotations

from qa_service.domain import Transcript
from qa_service.rules.engine import PackMatch
from qa_service.rules.schema import RuleKind
from qa_service.scoring.rulebased import RuleDimensionScorer, RuleOutcome


class ComplianceScorer(RuleDimensionScorer):
    name = "compliance"
    version = "1"
    default_weight = 0.0  # weighed by the pack's scorecard, else not at all

    def metrics(self, transcript: Transcript, match: PackMatch, outcome: RuleOutcome) -> dict:
        disclosures = [r for r in match.rules_for(self.name) if r.spec.kind == RuleKind.required]
        return {
            "disclosures_required": len(disclosures),
            "disclosures_missing": [r.id for r in disclosures if match.fired(r)],
            "violations": sum(n for rid, n in outcome.fired.items()
                              if match.pack.rule(rid).spec.kind == RuleKind.hit
                              and match.pack.rule(rid).spec.points < 0),
            "fatal": [rid for rid in outcome.fired if match.pack.rule(rid).spec.fatal],
        }
