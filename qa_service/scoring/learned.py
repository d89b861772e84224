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
from dataclasses import replace

from qa_service.domain import Finding, Severity, Transcript, Utterance
from qa_service.scoring.base import ScoringContext, charged
from qa_service.scoring.detectors.detector import excess

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
    review use none of ``cap``.

    Where the cap cuts a finding, or is used up so that later turns cost nothing, its message says so
    with the figures (:func:`cap_note`). Was: every graded finding said only "按检测器的可能性扣分", so a
    turn at p 0.99 costing −2.7 beside one at p 0.86 costing −10.9 read as a scoring error.

    "其后的同类语句不再扣分" is said once, where the cap is used up, and only when a turn did go uncharged
    for it: a later turn (not skipped, not sent to review) that would cost half a point or more, or the
    turn that used it up cut to under half a point (the last finding charged then says it). A ``skip``
    turn that uses the cap up (charged by a rule instead) says nothing here. Was: the last finding charged
    said it whenever the cap was reached, with no later turn over the floor, or when a skip turn reached it."""
    exempt = context.unsure_turns(transcript)
    det = context.detections
    whole = {i: excess(p, GRADED_FLOOR) for i, p in det.turns.get(head, {}).items()}

    def worth(i: int) -> bool:  # a finding, were there no cap
        return abs(round(points_per_unit * whole[i], 1)) >= MIN_GRADED_POINTS

    chargeable = [i for i in whole if i not in exempt and i not in skip and worth(i)]
    found, units, used = [], 0.0, 0.0
    for i, p, amount in det.graded(head, GRADED_FLOOR, cap, exempt=exempt):
        f = None if i in skip else graded_finding(
            context, utterance_at(transcript, i), dimension=dimension, rule_id=rule_id,
            points_per_unit=points_per_unit, amount=amount, probability=p, message=message)
        was = used
        used += 0.0 if i in exempt else amount
        cut = amount < whole[i] - CAP_EPSILON
        reached = i not in exempt and i not in skip and was < cap - CAP_EPSILON <= used  # used up at this turn
        later = reached and any(j > i for j in chargeable)
        if f is not None:
            if cut or later:
                full_points = round(points_per_unit * whole[i], 1) if cut else None
                f = replace(f, message=f.message + cap_note(cap, points_per_unit, f.points, full_points, later))
            found.append(f)
            units += amount
        elif reached and found and (later or (cut and worth(i))):
            # the cut turn costs under half a point (no finding): the last one charged says the cap is used up
            found[-1] = replace(found[-1], message=found[-1].message + cap_note(cap, points_per_unit, None, None, True))
    return found, units


#: Units compared within this are equal (a cap reached by sums of floats).
CAP_EPSILON = 1e-9


def cap_note(cap: float, points_per_unit: float, points: float | None, full_points: float | None,
             later: bool) -> str:
    """What a graded finding's message adds when the conversation's cap of ``cap`` units cut it (it costs
    ``points`` where its probability is worth ``full_points``) or is used up (``later``: the turns after it
    cost nothing)."""
    out = f"；已达本会话该项扣分上限（{cap:g} 个单位，每单位 {abs(points_per_unit):g} 分）"
    if full_points is not None and points is not None:
        out += f"{charged(points)}（按可能性应扣 {abs(full_points):g} 分）"
    return out + ("，其后的同类语句不再扣分" if later else "")


def utterance_at(transcript: Transcript, index: int) -> Utterance:
    return next(u for u in transcript.utterances if u.index == index)


def spoken(transcript: Transcript, role) -> list[Utterance]:
    """Non-empty utterances of ``role``, in order."""
    return [u for u in transcript.utterances if u.role == role and u.text.strip()]
