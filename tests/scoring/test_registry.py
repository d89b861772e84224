"""Every registered scorer builds, satisfies the contract, and names its version as reports record it."""

from __future__ import annotations

from qa_service.config import ScoringSettings
from qa_service.rules.book import RuleBook
from qa_service.scoring.base import BatchScorer, Scorer
from qa_service.scoring.pipeline import Pipeline
from qa_service.scoring.registry import ScorerSetup, registered_names, resolve
from qa_service.text import Analyzer

EXPECTED = {"compliance.v1", "negativity.v1", "objection.v1", "politeness.v1", "sentiment.v1", "timing.v1"}


def test_registry_lists_every_scorer_with_its_version():
    names = registered_names()
    assert EXPECTED <= set(names), names
    setup = ScorerSetup(ScoringSettings(), Analyzer())
    for name in names:
        scorer = resolve(name)(setup)
        assert isinstance(scorer, Scorer), name
        assert f"{scorer.name}.v{scorer.version}" == name  # what every report's scorer_versions records
    assert isinstance(resolve("sentiment.v1")(setup), BatchScorer)


def test_registry_default_pipeline_records_versions_in_reports():
    settings = ScoringSettings()
    pipeline = Pipeline.from_settings(settings, RuleBook(settings.pack_dir))
    assert set(pipeline.versions.values()) == set(settings.scorers)
