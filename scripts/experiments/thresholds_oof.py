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

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack_items import ROOT, half_f1, out_of_fold, td  # noqa: E402

from qa_service.scoring.detectors.model import DetectorModel  # noqa: E402

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
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = p.parse_args()
    shipped = ROOT / "models" / "qa-detectors"
    final = DetectorModel.load(shipped)
    chosen = json.loads((shipped / "training.json").read_text(encoding="utf-8"))["heads"]
    convos = [c for c in td.load(args.data, extra=True) if c.split in ("train", "dev")]
    train = [c for c in convos if c.split == "train"]
    dev = [c for c in convos if c.split == "dev"]
    oof = out_of_fold(convos, train, final, chosen)
    dev_dets = dict(zip((c.id for c in dev), td.detect(final, dev)))
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
