"""Experiment (dev split only): do conversation-level items gain from a second stage that reads all the
turn heads together, instead of one head each?

Today a conversation's items come from one head each: "customer objection" is the strongest objection
turn, "objection left unhandled" the strongest P(not handled) of the detected objections, "ends
negative" the end-sentiment head's P(negative), "escalation" the strongest escalation turn. The second
stage here is a small logistic regression over a dozen summaries of every head's probabilities (the
strongest and second strongest turn, sums, the last customer turns' negativity, P(unresolved) …).

It is trained on out-of-fold detections of the training conversations (five folds by dialogue id, each
called by heads refitted on the other four, at the shipped C and class weighting), and compared on dev
with the single head it would replace. Thresholds are chosen on one half of the dev conversations and
applied to the other, both ways, pooled (so neither side's figure is tuned on what it is scored on).
The test split is never read.

    python scripts/experiments/stack_items.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import train_detectors as td  # noqa: E402

from qa_service.scoring.detectors.items import FEATURES, summaries  # noqa: E402
from qa_service.scoring.detectors.model import DetectorModel  # noqa: E402


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def out_of_fold(convos, train, final: DetectorModel, chosen: dict) -> dict[str, object]:
    """The detections of every training conversation, by heads that never saw it (train_detectors.py)."""
    examples = td.examples(convos)
    dets = {}
    for f in range(td.FOLDS):
        held = [c for c in train if td.fold_of(c.id) == f]
        for c, d in zip(held, td.detect(td.fold_heads(examples, convos, f, chosen, final), held)):
            dets[c.id] = d
        log(f"fold {f + 1}/{td.FOLDS}: {len(held)} conversations")
    return dets


ITEMS = {
    # item: (label of a conversation, the single head's score used today)
    "customer objection": (lambda lab: bool(lab["objections"]), "obj_max"),
    "objection left unhandled": (lambda lab: any(o["handled"] == "no" for o in lab["objections"]), "unh_max"),
    "customer ends negative": (lambda lab: lab["end_sentiment"] == "negative", "end_neg"),
    "escalation threat": (lambda lab: bool(lab["escalation_turns"]), "esc_max"),
    "customer negative (any turn)": (lambda lab: bool(lab["negative_turns"]), "neg_max"),
    "resolved = no": (lambda lab: lab["resolved"] == "no", "res_no"),
}


def half_f1(scores: np.ndarray, truth: np.ndarray, ids: list[str]) -> float:
    """Threshold chosen on one half of dev, applied to the other, both ways; F1 of the pooled calls."""
    half = np.array([int(hashlib.sha1(f"half|{i}".encode()).hexdigest()[:8], 16) % 2 for i in ids])
    tp = fp = fn = 0
    for h in (0, 1):
        th, _ = td.best_threshold(list(scores[half != h]), list(truth[half != h]))
        pred = scores[half == h] >= th
        t = truth[half == h]
        tp += int((pred & t).sum())
        fp += int((pred & ~t).sum())
        fn += int((~pred & t).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def detections(doc: str):
    """The experiments' common start: ``--data``, then the train and dev conversations with their
    out-of-fold (train) and shipped-model (dev) detections, each a dict by dialogue id."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = p.parse_args()
    shipped = ROOT / "models" / "qa-detectors"
    final = DetectorModel.load(shipped)
    chosen = json.loads((shipped / "training.json").read_text(encoding="utf-8"))["heads"]
    convos = [c for c in td.load(args.data, extra=True) if c.split in ("train", "dev")]
    train = [c for c in convos if c.split == "train"]
    dev = [c for c in convos if c.split == "dev"]
    log(f"{len(train)} train, {len(dev)} dev")
    oof = out_of_fold(convos, train, final, chosen)
    return train, dev, oof, dict(zip((c.id for c in dev), td.detect(final, dev))), final


def main() -> int:
    train, dev, oof, dev_dets, _ = detections(__doc__)
    xtr = np.stack([summaries(c.view.customer_turns, oof[c.id]) for c in train])
    xdv = np.stack([summaries(c.view.customer_turns, dev_dets[c.id]) for c in dev])
    names = list(FEATURES)
    ids = [c.id for c in dev]
    print(f"\n{'item':32s}{'dev +':>6}{'single head':>13}{'second stage':>14}   (dev F1, half-split thresholds)")
    for item, (label, single) in ITEMS.items():
        ytr = np.array([label(c.label) for c in train])
        ydv = np.array([label(c.label) for c in dev])
        base = half_f1(xdv[:, names.index(single)], ydv, ids)
        best, scores = None, []
        for c in (0.1, 0.3, 1.0, 3.0):
            scaler = StandardScaler().fit(xtr)
            clf = LogisticRegression(C=c, max_iter=2000).fit(scaler.transform(xtr), ytr)
            s = clf.predict_proba(scaler.transform(xdv))[:, 1]
            f1 = half_f1(s, ydv, ids)
            scores.append(f"{f1:.3f}")
            if best is None or f1 > best[0]:
                best = (f1, c, clf)
        f1, c, clf = best
        print(f"{item:32s}{int(ydv.sum()):>6}{base:>13.3f}{f1:>14.3f}   (C {c}; at C 0.1 / 0.3 / 1 / 3: {' / '.join(scores)})")
        weights = sorted(zip(names, clf.coef_[0]), key=lambda t: -abs(t[1]))[:5]
        print("      " + ", ".join(f"{n} {w:+.2f}" for n, w in weights))
    return 0


if __name__ == "__main__":
    sys.exit(main())
