"""Experiment (dev split only): where should the heads' decision thresholds be chosen?

Today each threshold is the one that maximises F1 on the dev split (325 conversations). For the rare
items that is a handful of positives (rude: 6 dev conversations), so the choice is noisy. The
alternative: choose it on out-of-fold detections of the 2,449 training conversations (heads refitted on
the other folds, ``stack_items.py``), where rude has ~45 conversations. Compared on dev, each
threshold chosen without the conversations it is scored on: on the other half of dev (both ways,
pooled) against on the out-of-fold training conversations. The figure with the threshold chosen on all
of dev (what ships, optimistic) is printed for reference. The test split is never read.

    python scripts/experiments/thresholds_oof.py --data ../shared/data
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack_items import detections, half_f1, td  # noqa: E402

CONVERSATION = {  # head -> whether a labelled conversation has it (the max over its turns decides)
    "objection": lambda lab: bool(lab["objections"]),
    "apology": lambda lab: bool(lab["apology_turns"]),
    "rude": lambda lab: bool(lab["rude"]),
    "escalation": lambda lab: bool(lab["escalation_turns"]),
    "negative": lambda lab: bool(lab["negative_turns"]),
    "angry": lambda lab: bool(lab["angry_turns"]),
}


def f1_at(scores, truth, th: float) -> float:
    pred = np.asarray(scores) >= th
    t = np.asarray(truth)
    tp, fp, fn = int((pred & t).sum()), int((pred & ~t).sum()), int((~pred & t).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def main() -> int:
    train, dev, oof, dev_dets, final = detections(__doc__)
    ids = [c.id for c in dev]
    print(f"\n{'head (conversation level)':26s}{'dev +':>6}{'train +':>8}{'shipped th':>11}{'oof th':>8}"
          f"{'dev-half th':>13}{'oof th':>8}{'all dev th':>12}")
    for head, has in CONVERSATION.items():
        s_tr = [max(oof[c.id].turns.get(head, {}).values(), default=0.0) for c in train]
        y_tr = [has(c.label) for c in train]
        s_dv = np.array([max(dev_dets[c.id].turns.get(head, {}).values(), default=0.0) for c in dev])
        y_dv = np.array([has(c.label) for c in dev])
        th_oof, _ = td.best_threshold(s_tr, y_tr)
        _, f1_dev = td.best_threshold(list(s_dv), list(y_dv))
        print(f"{head:26s}{int(y_dv.sum()):>6}{sum(y_tr):>8}{final.heads[head].threshold:>11}{th_oof:>8}"
              f"{half_f1(s_dv, y_dv, ids):>13.3f}{f1_at(s_dv, y_dv, th_oof):>8.3f}{f1_dev:>12.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
