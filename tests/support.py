"""Scorers used only by tests, loaded by import path (``tests.support:SlowScorer``) like a user's own."""

from __future__ import annotations

import time

from qa_service.domain import DimensionScore, Transcript


class SlowScorer:
    """Takes a few seconds, so a test can kill the worker mid-job."""

    name = "slow"
    version = "1"
    default_weight = 0.0
    seconds = 4.0

    def __init__(self, ctx=None):
        pass

    def initialize(self) -> None:
        pass

    def score(self, transcript: Transcript, context=None) -> DimensionScore:
        return self.score_batch([transcript])[0]

    def score_batch(self, transcripts, contexts=None) -> list[DimensionScore]:
        """One pause per batch (a worker scores a chunk in one batch), then every transcript's score."""
        time.sleep(self.seconds)
        return [DimensionScore(name=self.name, score=100.0, version=self.version) for _ in transcripts]


class ExplodingScorer:
    """Fails on any transcript that mentions POISON: a poison message."""

    name = "exploding"
    version = "1"
    default_weight = 0.0

    def __init__(self, ctx=None):
        pass

    def initialize(self) -> None:
        pass

    def score(self, transcript: Transcript, context=None) -> DimensionScore:
        if any("POISON" in u.text for u in transcript.utterances):
            raise ValueError("cannot score a transcript that mentions POISON")
        return DimensionScore(name=self.name, score=100.0, version=self.version)
