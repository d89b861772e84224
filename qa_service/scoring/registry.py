"""Versioned scorer names → factories ("negativity.v1"), plus ``module:attr`` import paths."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from qa_service.config import ScoringSettings
from qa_service.errors import ScorerNotFound
from qa_service.rules.schema import DIMENSIONS
from qa_service.scoring.base import Scorer
from qa_service.text import Analyzer, segmentation_words


@dataclass(slots=True)
class ScorerSetup:
    """What a factory may use: the scoring settings and the rule book's analyzer (read it, share it when it
    segments as a scorer needs; its words never change: a scorer wanting other words makes its own)."""

    settings: ScoringSettings
    analyzer: Analyzer


ScorerFactory = Callable[[ScorerSetup], Scorer]
_FACTORIES: dict[str, ScorerFactory] = {}


def register(name: str) -> Callable[[ScorerFactory], ScorerFactory]:
    """Decorator: ``@register("politeness.v1")``. Bump the version when the output changes meaning."""

    def deco(factory: ScorerFactory) -> ScorerFactory:
        _FACTORIES[name] = factory
        return factory

    return deco


def registered_names() -> list[str]:
    return sorted(_FACTORIES)


def dimension_names(scorers: list[str]) -> frozenset[str] | None:
    """The QA dimensions these configured scorers report, plus the built-in ones: a registered name's stem
    (``politeness.v2`` → politeness), a plugin's ``name`` attribute. None when a plugin's dimension cannot
    be known before it is built (a factory function): then any ``qa.<name>`` is accepted."""
    names = set(DIMENSIONS)
    for scorer in scorers:
        if scorer in _FACTORIES:
            names.add(scorer.rsplit(".v", 1)[0])
            continue
        try:
            name = getattr(resolve(scorer), "name", None)
        except ScorerNotFound:
            continue  # the pipeline reports it when it is built
        if not isinstance(name, str):
            return None
        names.add(name)
    return frozenset(names)


def resolve(name: str) -> ScorerFactory:
    """A registered name, or ``package.module:attr`` naming a factory or a Scorer class."""
    if name in _FACTORIES:
        return _FACTORIES[name]
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            obj = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ScorerNotFound(f"scorer {name!r} could not be imported: {exc}") from exc
        return obj
    raise ScorerNotFound(
        f"unknown scorer {name!r}; registered: {', '.join(registered_names())} "
        "(or give an import path such as mypkg.scorers:MyScorer)"
    )


@register("negativity.v1")
def _negativity_v1(ctx: ScorerSetup) -> Scorer:
    from qa_service.scoring.negativity import NegativityScorer, load_lexicon

    negative = load_lexicon(ctx.settings.negative_lexicon, "negative.txt")
    positive = load_lexicon(ctx.settings.positive_lexicon, "positive.txt")
    # The rule book's analyzer when it segments with these lexicons' words (the shipped ones): one jieba
    # dictionary and one token cache in the process; else the scorer's own (never a changed shared one).
    shared = ctx.analyzer if ctx.analyzer.words == segmentation_words(negative, positive) else None
    return NegativityScorer(analyzer=shared, negative_words=negative, positive_words=positive,
                            problem_words=load_lexicon(ctx.settings.problem_lexicon, "problem.txt"))


@register("sentiment.v1")
def _sentiment_v1(ctx: ScorerSetup) -> Scorer:
    from qa_service.scoring.sentiment import SentimentScorer

    return SentimentScorer(backend_spec=ctx.settings.sentiment_model)


@register("politeness.v1")
def _politeness_v1(ctx: ScorerSetup) -> Scorer:
    from qa_service.scoring.politeness import PolitenessScorer

    return PolitenessScorer()


@register("compliance.v1")
def _compliance_v1(ctx: ScorerSetup) -> Scorer:
    from qa_service.scoring.compliance import ComplianceScorer

    return ComplianceScorer()


@register("objection.v1")
def _objection_v1(ctx: ScorerSetup) -> Scorer:
    from qa_service.scoring.objection import ObjectionScorer

    return ObjectionScorer()


@register("timing.v1")
def _timing_v1(ctx: ScorerSetup) -> Scorer:
    from qa_service.scoring.timing import TimingScorer

    return TimingScorer()


@register("politeness.v2")
def _politeness_v2(ctx: ScorerSetup) -> Scorer:
    from qa_service.scoring.politeness import PolitenessScorerV2

    return PolitenessScorerV2()


@register("objection.v2")
def _objection_v2(ctx: ScorerSetup) -> Scorer:
    from qa_service.scoring.objection import ObjectionScorerV2

    return ObjectionScorerV2()


@register("sentiment.v2")
def _sentiment_v2(ctx: ScorerSetup) -> Scorer:
    from qa_service.scoring.mood import MoodScorer

    return MoodScorer()
