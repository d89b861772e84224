"""Plugin scorers, loaded by import path as ``QA_SCORING__SCORERS`` names them
(``tests.scoring.plugin_scorers:Verbosity``): the examples docs/development.md's "Add a scorer" shows, run by
tests/scoring/test_plugins.py."""

from __future__ import annotations

from qa_service.domain import DimensionScore, Finding, Role, Severity, Transcript
from qa_service.scoring.base import ScoringContext
from qa_service.scoring.registry import ScorerSetup
from qa_service.scoring.rulebased import RuleDimensionScorer

LIMIT = 200  # characters: no scorer (QA_SCORING__SCORERS naming it is refused)


class Verbosity:
    """verbosity: an agent turn longer than ``limit`` characters costs 2 points (at most 10)."""

    name = "verbosity"  # the dimension: the key of its score, of its scorecard weight, of qa.verbosity
    version = "1"  # reports record verbosity.v1
    default_weight = 0.1  # its share of the score where a pack's scorecard does not weigh verbosity

    def __init__(self, limit: int = LIMIT):  # cheap: built when the pipeline is
        self.limit = limit

    def initialize(self) -> None:
        """Load models or dictionaries here, once, before the first transcript (nothing to load)."""

    def score(self, transcript: Transcript, context: ScoringContext) -> DimensionScore:
        findings = [Finding(dimension=self.name, rule_id="verbosity.long-turn", utterance_index=u.index,
                            span=(0, len(u.text)), quote=u.text[:30], points=-2.0, severity=Severity.minor,
                            role=u.role, message=f"坐席单次发言超过 {self.limit} 字")
                    for u in transcript.utterances if u.role == Role.agent and len(u.text) > self.limit]
        findings = context.settle(transcript, findings)[:5]
        return DimensionScore(name=self.name, score=100.0 + sum(f.points for f in findings), version=self.version,
                              start=100.0, findings=findings, metrics={"long_turns": len(findings)})


def short_verbosity(setup: ScorerSetup) -> Verbosity:
    """A factory: called with the setup (the scoring settings, the rule book's analyzer)."""
    return Verbosity(limit=20)


class Manners(RuleDimensionScorer):
    """manners: scored by the rule packs' rules of ``dimension: manners``, as the built-in rule dimensions are."""

    name = "manners"
    version = "1"
    default_weight = 0.0  # weighed only where a scorecard names it


class Brevity:
    """The probe's plugin: no default_weight."""

    name = "brevity"
    version = "1"

    def initialize(self) -> None:
        pass

    def score(self, transcript: Transcript, context: ScoringContext) -> DimensionScore:
        return DimensionScore(name=self.name, score=50.0, version=self.version)


class TwoArguments(Verbosity):
    def __init__(self, setup: ScorerSetup, limit: int):
        super().__init__(limit)
