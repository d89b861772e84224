"""Fit the default scorecard so the score ranks conversations the way a QA reviewer rates them.

An interpretable fit, not a black box: the score is 100 minus what each learned finding costs. Non-negative
least squares (scipy) finds, on the golden set's dev split, the cost of each item on the overall score
that best matches the reviewers' overall quality (5 → 100, 4 → 85, 3 → 70, 2 → 50, 1 → 30); each cost
becomes points in its dimension given the dimension weights below. Prints the fit, its dev Spearman, and
the YAML to put in the rule packs (`detectors:` and `scorecard: weights`).

    python scripts/fit_scorecard.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa_service.config import ScoringSettings  # noqa: E402
from qa_service.evaluation.labels import read_labels  # noqa: E402
from qa_service.stats import spearman  # noqa: E402
from qa_service.evaluation.run import BATCH, corpus_index, transcript_of  # noqa: E402
from qa_service.scoring.pipeline import Pipeline  # noqa: E402

TARGET = {5: 100.0, 4: 85.0, 3: 70.0, 2: 50.0, 1: 30.0}
# item → (dimension, how many of it count at most)
ITEMS = {"greeting_missing": ("politeness", 1), "closing_missing": ("politeness", 1),
         "no_empathy": ("politeness", 1), "rude": ("politeness", 2), "objection_unhandled": ("objection", 3),
         "objection_partial": ("objection", 2), "customer_ends_negative": ("sentiment", 1),
         "escalation": ("sentiment", 1), "customer_angry": ("sentiment", 1), "customer_negative_repeated": ("sentiment", 1)}
# Dimension weights of the default scorecard (chat: timing does not apply and the rest renormalise).
WEIGHTS = {"politeness": 35, "compliance": 15, "objection": 25, "negativity": 5, "timing": 5, "sentiment": 20}
RULE_IDS = {"greeting_missing": "detector.greeting-missing", "closing_missing": "detector.closing-missing",
            "no_empathy": "detector.no-empathy", "objection_unhandled": "detector.objection-unhandled",
            "objection_partial": "detector.objection-partial",
            "customer_ends_negative": "detector.customer-ends-negative", "escalation": "detector.escalation",
            "customer_angry": "detector.customer-angry",
            "customer_negative_repeated": "detector.customer-negative-repeated"}


def item_counts(report) -> list[float]:
    """How often each item was called in a report (uncertain calls count: the fit is about the calls)."""
    rules = [f.rule_id for f in report.findings]
    counts = {k: rules.count(rid) for k, rid in RULE_IDS.items()}
    counts["rude"] = sum(1 for r in rules if r == "detector.rude" or ".rude" in r)
    return [min(counts[k], cap) for k, (_, cap) in ITEMS.items()]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--labels", type=Path, default=ROOT / "data/golden/labels.jsonl")
    p.add_argument("--split", default="dev")
    args = p.parse_args()
    labels = [r for r in read_labels(args.labels) if r.get("split") == args.split]
    corpora = corpus_index(args.data)
    pipeline = Pipeline.from_settings(ScoringSettings()).initialize()
    rows, quality = [], []
    for start in range(0, len(labels), BATCH):
        chunk = labels[start:start + BATCH]
        for label, report in zip(chunk, pipeline.score_many([transcript_of(x, corpora) for x in chunk])):
            rows.append(item_counts(report))
            quality.append(label["quality"])
    x = np.array(rows, dtype=float)
    y = np.array([TARGET[q] for q in quality])
    cost, residual = nnls(x, 100.0 - y)
    fitted = 100.0 - x @ cost
    rho = spearman(list(fitted), quality)
    folds = np.array_split(np.random.RandomState(0).permutation(len(y)), 5)
    held = np.zeros(len(y))
    for f in folds:
        rest = np.setdiff1d(np.arange(len(y)), f)
        held[f] = 100.0 - x[f] @ nnls(x[rest], 100.0 - y[rest])[0]
    print(f"5-fold cross-validated Spearman on {args.split}: {spearman(list(held), quality):.3f}")
    chat = {d: w for d, w in WEIGHTS.items() if d != "timing"}
    share = {d: w / sum(chat.values()) for d, w in chat.items()}
    print(f"{len(labels)} {args.split} conversations; Spearman(fitted score, quality) {rho:.3f}; "
          f"rms error {np.sqrt(np.mean((fitted - y) ** 2)):.1f} points")
    print("\nitem                      calls  cost on the score  points in its dimension")
    points = {}
    for (item, (dim, _)), c, n in zip(ITEMS.items(), cost, x.sum(axis=0)):
        points[item] = -round(min(c / share[dim], 100.0), 1)
        print(f"{item:24s} {int(n):6d}  {c:17.1f}  {points[item]:8.1f} ({dim})")
    for q in sorted(set(quality)):
        sel = [f for f, qq in zip(fitted, quality) if qq == q]
        print(f"quality {q}: mean fitted score {np.mean(sel):.1f} (n {len(sel)})")
    print("\nYAML:\nscorecard:\n  weights: {" + ", ".join(f"{d}: {w}" for d, w in WEIGHTS.items()) + "}")
    print("detectors: {" + ", ".join(f"{k}: {v}" for k, v in points.items()) + "}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
