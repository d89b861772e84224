"""Findings made by the learned detectors: the turn they point at (quoted verbatim, from the speaker
who said it), what they cost, the detector's probability and model version — or, when the probability
sits too close to the detector's threshold, a review item that costs nothing.
"""

from __future__ import annotations

from dataclasses import replace

from qa_service.domain import Finding, Severity, Transcript, Utterance
from qa_service.scoring.base import ScoringContext

QUOTE_CHARS = 120


def learned_finding(context: ScoringContext, utterance: Utterance, *, dimension: str, rule_id: str,
                    points: float, message: str, probability: float, threshold: float,
                    severity: Severity = Severity.major) -> Finding:
    """A finding on ``utterance`` (quoted from its start); borderline probabilities cost nothing and go to review."""
    quote = utterance.text[:QUOTE_CHARS]
    detections = context.detections
    uncertain = bool(points) and context.borderline(probability, threshold)
    return Finding(dimension=dimension, rule_id=rule_id, utterance_index=utterance.index, span=(0, len(quote)),
                   quote=quote, points=0.0 if uncertain else points, severity=severity, role=utterance.role,
                   message=message, probability=round(probability, 4),
                   model=detections.model if detections else None, uncertain=uncertain)


def capped(findings: list[Finding], cap: float) -> list[Finding]:
    """Learned findings with their points cut so that together they cost at most ``cap``."""
    used, out = 0.0, []
    for f in findings:
        pts = -min(abs(f.points), max(cap - used, 0.0))
        used += abs(pts)
        out.append(f if pts == f.points else replace(f, points=round(pts, 2)))
    return out


def utterance_at(transcript: Transcript, index: int) -> Utterance:
    return next(u for u in transcript.utterances if u.index == index)


def spoken(transcript: Transcript, role) -> list[Utterance]:
    """Non-empty utterances of ``role``, in order."""
    return [u for u in transcript.utterances if u.role == role and u.text.strip()]
