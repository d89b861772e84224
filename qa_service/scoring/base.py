"""The Scorer protocol: a name, a version, and one method from transcript to DimensionScore."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from qa_service.domain import DimensionScore, Transcript


@runtime_checkable
class Scorer(Protocol):
    name: str
    version: str
    default_weight: float

    def initialize(self) -> None:
        """Load models, dictionaries and automata; called once before the first ``score``."""

    def score(self, transcript: Transcript) -> DimensionScore:
        """Score one transcript on this dimension."""
