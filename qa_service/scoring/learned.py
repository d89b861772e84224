"""Findings made by the learned detectors: the turn they point at (quoted verbatim, from the speaker
who said it), what they cost, the detector's probability and model version — or, when the probability
sits too close to the detector's threshold, a review item that costs nothing.

Graded findings (:func:`graded_finding`) cost in proportion to how likely the detectors find
something, turn by turn: each agent turn that may be rude or dismissive, each customer turn that may be
negative, and how unlikely it is that the issue was resolved, above :data:`GRADED_FLOOR` (a turn at
``GRADED_FLOOR`` or under costs nothing, one at probability 1 costs the full points). There is no
threshold to sit near, so no uncertainty band; the ASR gate still applies to the turn they quote.
"""

from __future__ import annotations

from collections.abc import Collection

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


#: Probabilities at or under this cost nothing in a graded finding.
GRADED_FLOOR = 0.1
#: A graded finding that would cost less than this is not made (no half-point noise in a report).
MIN_GRADED_POINTS = 0.5


def graded_finding(context: ScoringContext, utterance: Utterance, *, dimension: str, rule_id: str,
                   points_per_unit: float, amount: float, probability: float, message: str,
                   severity: Severity = Severity.minor) -> Finding | None:
    """A finding on ``utterance`` costing ``points_per_unit`` × ``amount`` (units: its probability's excess
    over :data:`GRADED_FLOOR`), or None when that is under :data:`MIN_GRADED_POINTS`."""
    points = round(points_per_unit * amount, 1)
    if abs(points) < MIN_GRADED_POINTS:
        return None
    quote = utterance.text[:QUOTE_CHARS]
    detections = context.detections
    return Finding(dimension=dimension, rule_id=rule_id, utterance_index=utterance.index, span=(0, len(quote)),
                   quote=quote, points=points, severity=severity, role=utterance.role, message=message,
                   probability=round(probability, 4), model=detections.model if detections else None)


def graded_turns(context: ScoringContext, transcript: Transcript, head: str, cap: float, *, dimension: str,
                 rule_id: str, points_per_unit: float, message: str,
                 skip: Collection[int] = ()) -> tuple[list[Finding], float]:
    """A graded finding for each turn where ``head`` is likely above the floor (together at most ``cap``
    units; turns in ``skip`` are charged elsewhere), and the units those findings charge (the report's
    metric for this item, before the ASR gate and the dimension's cap). Turns the ASR gate will send to
    review use none of ``cap``."""
    found, units = [], 0.0
    for i, p, amount in context.detections.graded(head, GRADED_FLOOR, cap, exempt=context.unsure_turns(transcript)):
        f = None if i in skip else graded_finding(
            context, utterance_at(transcript, i), dimension=dimension, rule_id=rule_id,
            points_per_unit=points_per_unit, amount=amount, probability=p, message=message)
        if f is not None:
            found.append(f)
            units += amount
    return found, units


def utterance_at(transcript: Transcript, index: int) -> Utterance:
    return next(u for u in transcript.utterances if u.index == index)


def spoken(transcript: Transcript, role) -> list[Utterance]:
    """Non-empty utterances of ``role``, in order."""
    return [u for u in transcript.utterances if u.role == role and u.text.strip()]
