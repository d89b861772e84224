"""The final (human-reviewed) score of a conversation, recomputed from the machine's report.

A rejected machine finding gives back the points it moved in its dimension; a manual finding moves
its own points there; each dimension stays within 0–100. A dimension scored as its start plus its
findings' points (the report's details carry ``start``; reports stored before they did are taken to
start at 100 when their figures say so) is added up again from that start, so points the 0–100 bounds
had swallowed stay swallowed or come back as the judged findings say: rejecting a fatal −100 among
two −5s leaves 90, not 100, and rejecting a bonus that the 100 ceiling never let count changes
nothing. The overall score moves by the report's weights times each dimension's change, so a review
that changes nothing leaves the machine score exactly as it was. A kept fatal finding (machine, confirmed or not yet judged, or manual) makes the
final score 0; rejecting the only fatal finding restores the weighted score.

A conversation fails when it has a kept fatal item or its score is under the pass mark (the
scorecard's ``flag_below``); calibration compares machine and final pass/fail.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Item:
    """A finding as it counts toward the final score."""

    dimension: str
    points: float
    fatal: bool = False


@dataclass(frozen=True, slots=True)
class FinalScore:
    score: float
    fatal: bool
    dimensions: dict[str, float]


def _clamp(x: float) -> float:
    return max(0.0, min(100.0, x))


def _unclamped(score: float, start: float | None, points: float) -> float:
    """The dimension's score before the 0–100 bounds: its start plus its findings' points when it is scored
    so (without a stored start, 100 when that gives its score), else its score."""
    if start is None and round(_clamp(100.0 + points), 2) == round(score, 2):
        start = 100.0
    return score if start is None else start + points


def final_score(*, machine_score: float, machine_fatal: bool, dimensions: Mapping[str, Mapping[str, Any]],
                kept: Iterable[Item], rejected: Iterable[Item], manual: Iterable[Item]) -> FinalScore:
    """``dimensions``: the report's stored details ({name: {"score", "weight", "applicable"}})."""
    kept, rejected, manual = list(kept), list(rejected), list(manual)
    delta: dict[str, float] = {}
    machine: dict[str, float] = {}  # each dimension's machine findings' points, judged or not
    for item in kept + rejected:
        machine[item.dimension] = machine.get(item.dimension, 0.0) + item.points
    for item in rejected:
        delta[item.dimension] = delta.get(item.dimension, 0.0) - item.points
    for item in manual:
        delta[item.dimension] = delta.get(item.dimension, 0.0) + item.points
    final_dims: dict[str, float] = {}
    weighted = 0.0  # the machine's unfatal weighted score
    change = 0.0
    for name, d in dimensions.items():
        before = float(d.get("score") or 0.0)
        raw = _unclamped(before, d.get("start"), machine.get(name, 0.0))
        after = round(_clamp(raw + delta.get(name, 0.0)), 2)
        weight = float(d.get("weight") or 0.0) if d.get("applicable", True) else 0.0
        weighted += weight * before
        change += weight * (after - before)
        final_dims[name] = after
    base = round(_clamp(weighted), 2) if machine_fatal else machine_score
    fatal = any(i.fatal for i in kept) or any(i.fatal for i in manual)
    score = 0.0 if fatal else round(_clamp(base + change), 2)
    return FinalScore(score=score, fatal=fatal, dimensions=final_dims)


def fails(score: float | None, fatal: bool | None, pass_mark: float) -> bool:
    return bool(fatal) or (score is not None and score < pass_mark)
