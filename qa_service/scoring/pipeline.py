"""Pipeline: run every configured scorer over a transcript and combine them into a QAReport."""

from __future__ import annotations

import time

from qa_service.config import ScoringSettings
from qa_service.domain import QAReport, Transcript
from qa_service.scoring.base import Scorer
from qa_service.scoring.registry import ScoringContext, resolve
from qa_service.scoring.text import Analyzer


class Pipeline:
    """Scorers plus the weights the scorecard uses (normalised to sum to 1, recorded in each report)."""

    def __init__(self, scorers: list[Scorer], weights: dict[str, float] | None = None):
        if not scorers:
            raise ValueError("a pipeline needs at least one scorer")
        self.scorers = scorers
        raw = {s.name: (weights or {}).get(s.name, s.default_weight) for s in scorers}
        total = sum(raw.values()) or 1.0
        self.weights = {name: w / total for name, w in raw.items()}
        self._initialized = False

    @classmethod
    def from_settings(cls, settings: ScoringSettings) -> Pipeline:
        ctx = ScoringContext(settings=settings, analyzer=Analyzer())
        return cls([resolve(name)(ctx) for name in settings.scorers])

    @property
    def versions(self) -> dict[str, str]:
        return {s.name: f"{s.name}.v{s.version}" for s in self.scorers}

    def initialize(self) -> Pipeline:
        """Load every scorer's resources once (the worker calls this before taking jobs)."""
        if not self._initialized:
            for scorer in self.scorers:
                scorer.initialize()
            self._initialized = True
        return self

    def score(self, transcript: Transcript) -> QAReport:
        return self.score_many([transcript])[0]

    def score_many(self, transcripts: list[Transcript]) -> list[QAReport]:
        """Score several transcripts; scorers with ``score_many`` (the model ones) batch across them."""
        self.initialize()
        t0 = time.perf_counter()
        per_scorer: dict[str, list] = {}
        stage_ms: dict[str, float] = {}
        for scorer in self.scorers:
            t = time.perf_counter()
            many = getattr(scorer, "score_many", None)
            per_scorer[scorer.name] = many(transcripts) if many else [scorer.score(x) for x in transcripts]
            stage_ms[scorer.name] = (time.perf_counter() - t) * 1000 / max(len(transcripts), 1)
        duration_ms = (time.perf_counter() - t0) * 1000 / max(len(transcripts), 1)
        reports = []
        for i in range(len(transcripts)):
            dimensions = {name: results[i] for name, results in per_scorer.items()}
            overall = sum(self.weights[name] * dim.score for name, dim in dimensions.items())
            reports.append(QAReport(
                score=round(max(0.0, min(100.0, overall)), 2),
                dimensions=dimensions,
                weights=dict(self.weights),
                scorer_versions=self.versions,
                duration_ms=duration_ms,
                stage_ms=dict(stage_ms),
            ))
        return reports
