"""The scorer contract: a name, a version, and ``score(transcript, context) -> DimensionScore``.

The pipeline computes what several scorers share once per transcript — the rule pack chosen for
it and that pack's match — and hands it over in a :class:`ScoringContext`. A scorer that gains
from scoring many transcripts at once (a model) also implements :class:`BatchScorer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from qa_service.domain import DimensionScore, Transcript
from qa_service.rules.engine import CompiledPack, PackMatch


@dataclass(frozen=True, slots=True)
class ScoringContext:
    """Per-transcript work shared by the scorers: the chosen pack and its rule hits."""

    pack: CompiledPack
    match: PackMatch


@runtime_checkable
class Scorer(Protocol):
    name: str
    version: str
    default_weight: float

    def initialize(self) -> None:
        """Load models, dictionaries and automata; called once before the first ``score``."""

    def score(self, transcript: Transcript, context: ScoringContext) -> DimensionScore:
        """Score one transcript on this dimension."""


@runtime_checkable
class BatchScorer(Scorer, Protocol):
    """A scorer that scores several transcripts in one call (one model batch instead of many)."""

    def score_batch(self, transcripts: Sequence[Transcript], contexts: Sequence[ScoringContext]
                    ) -> list[DimensionScore]:
        """Score each transcript; the same results as calling ``score`` on each."""
