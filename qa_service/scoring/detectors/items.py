"""Conversation items read from every head at once: the detectors' second stage.

A conversation-level item can depend on more than its own head. Reviewers call "the customer ends
negative" from how the whole conversation went, not only from its last two turns; "an objection was
left unhandled" is likelier where the customer kept complaining and never ended satisfied. Each item
here is a small logistic regression over a fixed list of summaries of the first stage's
probabilities (the strongest turns, sums, the last customer turns, the conversation heads), fitted on
out-of-fold detections of the training conversations (``scripts/train_detectors.py``) and stored in
the model's ``config.json`` under ``items`` (a few dozen numbers each).

A model directory without ``items`` still loads, and the scorers then read the single heads as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: The summaries, in the order the items' weights are stored.
FEATURES = (
    "end_neg", "end_pos", "res_no", "res_yes", "neg_last", "neg_last2", "ang_last2", "neg_max", "neg_2nd",
    "neg_sum", "obj_max", "obj_2nd", "obj_sum", "obj_n", "esc_max", "esc_2nd", "ang_max", "rude_max",
    "unh_max", "unh_sum", "part_max", "n_objections", "log_turns",
)
#: The items a model may carry (the name under ``Detections.conversation`` and ``thresholds``).
ENDS_NEGATIVE = "ends_negative"
OBJECTION_UNHANDLED = "objection_unhandled"


def _nth(values, n: int) -> float:
    s = sorted(values, reverse=True)
    return s[n] if len(s) > n else 0.0


def summaries(customer_turns: Sequence[int], det) -> np.ndarray:
    """The FEATURES of one conversation's first-stage ``Detections`` (``customer_turns``: the indices
    of its non-empty customer turns, in order)."""
    turns = det.turns
    neg, obj, esc = turns.get("negative", {}), turns.get("objection", {}), turns.get("escalation", {})
    ang, rude = turns.get("angry", {}), turns.get("rude", {})
    end, res = det.conversation.get("end_sentiment", {}), det.conversation.get("resolved", {})
    last2 = list(customer_turns[-2:])
    unh = [o.unhandled for o in det.objections]
    values = {
        "end_neg": end.get("negative", 0.0), "end_pos": end.get("positive", 0.0),
        "res_no": res.get("no", 0.0), "res_yes": res.get("yes", 0.0),
        "neg_last": neg.get(last2[-1], 0.0) if last2 else 0.0,
        "neg_last2": max((neg.get(i, 0.0) for i in last2), default=0.0),
        "ang_last2": max((ang.get(i, 0.0) for i in last2), default=0.0),
        "neg_max": _nth(neg.values(), 0), "neg_2nd": _nth(neg.values(), 1), "neg_sum": sum(neg.values()),
        "obj_max": _nth(obj.values(), 0), "obj_2nd": _nth(obj.values(), 1), "obj_sum": sum(obj.values()),
        "obj_n": float(sum(p >= 0.3 for p in obj.values())),
        "esc_max": _nth(esc.values(), 0), "esc_2nd": _nth(esc.values(), 1), "ang_max": _nth(ang.values(), 0),
        "rude_max": _nth(rude.values(), 0),
        "unh_max": max(unh, default=0.0), "unh_sum": sum(unh),
        "part_max": max((o.handling.get("partial", 0.0) for o in det.objections), default=0.0),
        "n_objections": float(len(det.objections)), "log_turns": float(np.log1p(len(customer_turns))),
    }
    return np.array([values[f] for f in FEATURES], dtype=np.float64)


@dataclass(slots=True)
class Item:
    """One second-stage item: P(yes) = sigmoid(coef · (min(x, clip) − mean) / scale + bias).

    ``clip`` is each summary's 99th percentile in the training conversations: sums and counts grow
    with a conversation's length, and a very long one must not be read past what the fit has seen."""

    name: str
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    bias: float
    threshold: float
    clip: np.ndarray

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """P(yes) for each row of ``x`` (rows of FEATURES)."""
        z = ((np.minimum(np.atleast_2d(x), self.clip) - self.mean) / self.scale) @ self.coef + self.bias
        return 1.0 / (1.0 + np.exp(-z))

    def to_json(self) -> dict:
        return {"features": list(FEATURES), **{k: getattr(self, k).round(6).tolist() for k in VECTORS},
                "bias": round(float(self.bias), 6), "threshold": self.threshold}

    @classmethod
    def from_json(cls, name: str, spec: dict) -> Item:
        if list(spec["features"]) != list(FEATURES):
            raise ValueError(f"item {name!r} was fitted on other features than this version reads")
        vectors = {k: np.array(spec[k], dtype=np.float64) for k in VECTORS}
        if any(v.shape != (len(FEATURES),) for v in vectors.values()):
            raise ValueError(f"item {name!r}: each of {', '.join(VECTORS)} must hold {len(FEATURES)} numbers")
        return cls(name, bias=float(spec["bias"]), threshold=float(spec["threshold"]), **vectors)


VECTORS = ("mean", "scale", "coef", "clip")  # an item's per-feature numbers, as config.json stores them
