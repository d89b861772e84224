"""The scorer contract: a name, a version, and ``score(transcript, context) -> DimensionScore``.

The pipeline computes what several scorers share once per transcript — the rule pack chosen for
it and that pack's match — and hands it over in a :class:`ScoringContext`. A scorer that gains
from scoring many transcripts at once (a model) also implements :class:`BatchScorer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable

from qa_service.domain import DimensionScore, Finding, Transcript
from qa_service.rules.engine import CompiledPack, PackMatch
from qa_service.scoring.detectors.detector import Detections


@dataclass(frozen=True, slots=True)
class Gate:
    """When a finding is sent to review (flag ``uncertain``, 0 points) instead of costing points."""

    min_asr_confidence: float = 0.0  # a hit in an utterance the recogniser was less sure of than this
    band: float = 0.0  # a model probability within this distance of its detector's threshold


@dataclass(frozen=True, slots=True)
class ScoringContext:
    """Per-transcript work shared by the scorers: the chosen pack, its rule hits, the learned detections,
    and the gate that decides which findings are too uncertain to cost points."""

    pack: CompiledPack
    match: PackMatch
    detections: Detections | None = None
    gate: Gate = field(default_factory=Gate)

    def borderline(self, probability: float, threshold: float) -> bool:
        """A model call too close to its threshold to cost points."""
        return abs(probability - threshold) < self.gate.band

    def unsure_turns(self, transcript: Transcript) -> set[int]:
        """Utterances the recogniser was less sure of than the gate: their findings go to review."""
        return {u.index for u in transcript.utterances
                if u.asr_confidence is not None and u.asr_confidence < self.gate.min_asr_confidence}

    def settle(self, transcript: Transcript, findings: list[Finding]) -> list[Finding]:
        """The findings, with those quoting an utterance of low ASR confidence turned into review items."""
        low = self.unsure_turns(transcript)
        if not low:
            return findings
        return [replace(f, points=0.0, uncertain=True) if f.utterance_index in low and f.points else f
                for f in findings]


def capped(findings: list[Finding], cap: float, *, explain: str | None = None) -> list[Finding]:
    """The findings, in order, with their points cut so that together they move at most ``cap`` points
    (deductions and bonuses alike). Apply it after :meth:`ScoringContext.settle`: a finding sent to review
    costs nothing, so it uses none of the cap, and a certain hit after it still costs its points.
    ``explain`` (what the cap is, e.g. "本维度检测器扣分上限"): a finding the cap cut says so in its message,
    with the points it kept (:func:`cap_cut_note`)."""
    used, out = 0.0, []
    for f in findings:
        size = min(abs(f.points), max(cap - used, 0.0))
        used += size
        pts = round(size if f.points > 0 else -size, 2) + 0.0  # + 0.0: no -0.0 once capped
        if pts == f.points:
            out.append(f)
            continue
        out.append(replace(f, points=pts, message=cap_cut_note(f.message, f.points, pts, f"{explain}（{cap:g} 分）")
                           if explain else f.message))
    return out


def charged(points: float) -> str:
    """How a cap note states the points a finding keeps: "，仅扣 2.9 分" (or "仅加" for a bonus)."""
    return f"，仅{'加' if points > 0 else '扣'} {abs(points):g} 分"


def cap_cut_note(message: str, was: float, points: float, cap: str) -> str:
    """``message`` of a finding that ``cap`` (its name and figure) cut from ``was`` to ``points``.

    An earlier cap's note stating ``was`` (:func:`charged`) gets this cap's name beside its own and the
    final figure in place of ``was``, so the message states one figure, the points charged. Was: a graded
    finding the conversation's unit cap cut to −2.9 and the dimension's detector cap then to 0 read
    "…仅扣 2.9 分（按可能性应扣 12.9 分）；已达本维度检测器扣分上限（33 分），仅扣 0 分"."""
    head, said, tail = message.rpartition(charged(was))
    if said and "；已达" in head:
        return f"{head}、{cap}{charged(points)}{tail}"
    return f"{message}；已达{cap}{charged(points)}"


#: What a learned finding cut by the pack's ``detectors: cap`` says it met.
DETECTOR_CAP = "本维度检测器扣分上限"


# Every flag reason a scorer or the pipeline raises of itself (rule packs add their rules' ``flag`` names:
# RuleBook.flags()). A reason filter tells a reason nothing has been flagged for yet (an empty page) from
# a typo (a 422) by it; tests/scoring/test_flag_reasons.py keeps it in step with the Flag("…") calls.
FLAG_REASONS = frozenset({
    "no_agent_reply", "nothing_to_judge", "uncertain", "fatal_rule", "low_score",  # the pipeline
    "agent_rude", "objection_unhandled", "escalation_threat", "customer_ends_negative", "customer_angry",
    "anger_rising", "agent_negative_language", "customer_negative", "frequent_interruptions",
})


@runtime_checkable
class Scorer(Protocol):
    """One QA dimension. ``name``: the dimension (snake_case; the key of its score in reports, of its weight in a
    scorecard, of ``qa.<name>`` in an appraisal scheme); ``version``: a string recorded in every report (the
    registered name is ``<name>.v<version>``); ``default_weight``: the share of the score (0 to 1) it takes in a
    pack whose scorecard does not weigh its dimension (the built-in scorers: 0). ``scoring.registry.build``
    checks all of it, and the two methods, when the pipeline is built."""

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
