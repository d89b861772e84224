"""Versioned scorer names → factories ("negativity.v1"), plus ``module:attr`` import paths."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass

from qa_service.config import ScoringSettings
from qa_service.domain import DIMENSION_NAME, DIMENSIONS
from qa_service.errors import ScorerInvalid, ScorerNotFound
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
    (``politeness.v2`` → politeness), a plugin class's ``name`` attribute. None when a plugin's dimension cannot
    be known before it is built (a factory function): then any dimension is accepted."""
    names = set(DIMENSIONS)
    for scorer in scorers:
        if scorer in _FACTORIES:
            names.add(scorer.rsplit(".v", 1)[0])
            continue
        try:
            name = getattr(_imported(scorer), "name", None)
        except ScorerNotFound:
            continue  # the pipeline reports it when it is built
        if not isinstance(name, str):
            return None
        names.add(name)
    return frozenset(names)


def _imported(name: str) -> object:
    """What ``package.module:attr`` names (ScorerNotFound for a name that is not one, or not importable)."""
    if ":" not in name:
        raise ScorerNotFound(
            f"unknown scorer {name!r}; registered: {', '.join(registered_names())} "
            "(or give an import path such as mypkg.scorers:MyScorer)"
        )
    module_name, _, attr = name.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ScorerNotFound(f"scorer {name!r} could not be imported: {exc}") from exc


def resolve(name: str) -> ScorerFactory:
    """A registered name, or ``package.module:attr`` naming a Scorer class or a factory.

    A class is built as the shipped scorers are, with no arguments (or with the :class:`ScorerSetup` when its
    constructor takes exactly one); anything else callable is a factory, called with the setup.
    """
    if name in _FACTORIES:
        return _FACTORIES[name]
    obj = _imported(name)
    if isinstance(obj, type):
        return _class_factory(name, obj)
    if not callable(obj):
        raise ScorerInvalid(f"scorer {name!r} names a {type(obj).__name__}, not a Scorer class or a factory")
    return obj


def _class_factory(name: str, cls: type) -> ScorerFactory:
    """How a plugin's Scorer class is built: ``cls()``, or ``cls(setup)`` when its constructor needs one argument."""
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):  # a builtin or C class: nothing to read, build it bare
        return lambda setup: cls()
    try:
        signature.bind()
        return lambda setup: cls()
    except TypeError:
        pass
    try:
        signature.bind(object())
        return lambda setup: cls(setup)
    except TypeError:
        raise ScorerInvalid(
            f"scorer {name!r}: its constructor {cls.__name__}{signature} cannot be called with no arguments "
            "nor with the ScorerSetup alone; give it defaults for the rest (or name a factory taking the setup)"
        ) from None


def scorer_problems(scorer: object) -> list[str]:
    """What ``scorer`` lacks of the :class:`Scorer` protocol (empty when it keeps it)."""
    problems = []
    name = getattr(scorer, "name", None)
    if not isinstance(name, str) or not DIMENSION_NAME.fullmatch(name):
        problems.append(f"name {name!r} is not a dimension name (snake_case, e.g. 'empathy')"
                        if name is not None else "no name (the dimension it scores, e.g. 'empathy')")
    version = getattr(scorer, "version", None)
    if not isinstance(version, str) or not version:
        problems.append(f"version {version!r} is not a string such as '1'" if version is not None
                        else "no version (a string such as '1', recorded in every report)")
    weight = getattr(scorer, "default_weight", None)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 1:
        problems.append(f"default_weight {weight!r} is not a number from 0 to 1" if weight is not None else
                        "no default_weight (the share of the score, 0 to 1, it takes in a pack whose scorecard "
                        "does not weigh its dimension)")
    for method in ("initialize", "score"):
        if not callable(getattr(scorer, method, None)):
            problems.append(f"no {method}() method")
    return problems


def build(name: str, setup: ScorerSetup) -> Scorer:
    """The scorer ``name`` (:func:`resolve`) built with ``setup``, checked against the :class:`Scorer` protocol.

    Raises:
        ScorerNotFound: the name is neither registered nor importable.
        ScorerInvalid: what was built does not keep the protocol (each thing missing named), or a registered
            name's version is not the one the scorer reports.
    """
    scorer = resolve(name)(setup)
    problems = scorer_problems(scorer)
    if problems:
        raise ScorerInvalid(f"scorer {name!r} ({type(scorer).__qualname__}) does not keep the Scorer protocol "
                            f"(qa_service/scoring/base.py): {'; '.join(problems)}")
    if name in _FACTORIES and f"{scorer.name}.v{scorer.version}" != name:
        raise ScorerInvalid(f"scorer {name!r} builds {scorer.name}.v{scorer.version}: register it under the "
                            "name and version it reports (reports record the latter)")
    return scorer


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
