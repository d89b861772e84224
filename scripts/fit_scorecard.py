"""Fit the default scorecard so the score ranks conversations the way a QA reviewer rates them.

An interpretable fit, not a black box: the score is 100 minus what each learned finding costs. Bounded
least squares (scipy's ``lsq_linear``: every cost ≥ 0, the QA standard's own items ≥ ``FLOOR``) finds the
cost of each item on the overall score that best matches the reviewers' overall quality (5 → 100, 4 → 85,
3 → 70, 2 → 50, 1 → 30); each cost becomes points in its dimension given the dimension weights below.
Most items are calls (a finding or not, counted up to a cap); three are graded, costing in proportion to
how likely each turn is what they look for, above a floor (``qa_service/scoring/learned.py``): the agent's
rude / dismissive turns, the customer's negative turns, and the issue not resolved — the units the
report's metrics carry. Prints the fit, its Spearman on the dev split (held out), and the
YAML to put in the rule packs (`detectors:` and `scorecard: weights`).

What it is fitted on (``--fit-on``):
- ``oof`` (default): the golden train split and the training-only labels, 2,449 conversations, each scored
  by detectors trained *without it* (``--folds`` cross-fitting: every head refitted on the other folds
  with the C and class weighting in ``models/qa-detectors/training.json``, the shipped thresholds).
  The costs are fitted on calls made as the scorer will make them on unseen text, and dev stays a
  holdout for the fit;
- ``dev``: the dev split scored by the shipped detectors (the first fit; 325 conversations);
- ``labels``: every conversation of ``--labels``, scored by the shipped detectors — a QA team's own
  labelled conversations in the ``qa eval`` format (docs/agreement.md), to fit the points to how *its*
  reviewers rate. Nothing is held out then: read the cross-validated Spearman it prints, and prefer a
  few hundred conversations at least (the golden fit used 2,449).

    pip install -c requirements/lock.txt -e '.[train]'
    python scripts/fit_scorecard.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import lsq_linear

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa_service.config import ScoringSettings  # noqa: E402
from qa_service.evaluation.labels import read_labels  # noqa: E402
from qa_service.stats import spearman  # noqa: E402
from qa_service.evaluation.run import BATCH, corpus_index, transcript_of  # noqa: E402
from qa_service.scoring.detectors.detector import Detector  # noqa: E402
from qa_service.scoring.detectors.model import DetectorModel  # noqa: E402
from qa_service.scoring.pipeline import Pipeline  # noqa: E402

TARGET = {5: 100.0, 4: 85.0, 3: 70.0, 2: 50.0, 1: 30.0}
# item → (dimension, how many of it count at most)
ITEMS = {"greeting_missing": ("politeness", 1), "closing_missing": ("politeness", 1),
         "no_empathy": ("politeness", 1), "rude": ("politeness", 2), "objection_unhandled": ("objection", 3),
         "objection_partial": ("objection", 2), "customer_ends_negative": ("sentiment", 1),
         "customer_not_satisfied": ("sentiment", 1),
         "escalation": ("sentiment", 1), "customer_angry": ("sentiment", 1), "customer_negative_repeated": ("sentiment", 1),
         "attitude_risk": ("politeness", None), "customer_negativity": ("sentiment", None),
         "unresolved": ("objection", None)}
# Graded items: the amount their finding is proportional to, read from the report's metrics (dimension, key).
GRADED = {"attitude_risk": ("politeness", "attitude_load"), "customer_negativity": ("sentiment", "negativity_load"),
          "unresolved": ("objection", "unresolved_load")}
# Items of the QA standard that cost at least this much on the overall score whatever the fit says: a
# reviewer deducts for a missing greeting or closing, no empathy, a rude turn or an unhandled objection
# even where those calls add little to the ranking.
FLOOR = {"greeting_missing": 2.0, "closing_missing": 2.0, "no_empathy": 2.0, "rude": 2.0, "objection_unhandled": 2.0}
# Dimension weights of the default scorecard (chat: timing does not apply and the rest renormalise). A
# dimension's score stops at 0, so its weight must leave room for what its findings cost together:
# with the graded items the sentiment findings cost up to about 35 points of the overall score
# (sentiment 30 clipped 198 of the 2,449 fitted conversations; it was 25 before the out-of-fold fit).
WEIGHTS = {"politeness": 30, "compliance": 15, "objection": 15, "negativity": 5, "timing": 5, "sentiment": 35}
RULE_IDS = {"greeting_missing": "detector.greeting-missing", "closing_missing": "detector.closing-missing",
            "no_empathy": "detector.no-empathy", "objection_unhandled": "detector.objection-unhandled",
            "objection_partial": "detector.objection-partial",
            "customer_ends_negative": "detector.customer-ends-negative",
            "customer_not_satisfied": "detector.customer-not-satisfied", "escalation": "detector.escalation",
            "customer_angry": "detector.customer-angry",
            "customer_negative_repeated": "detector.customer-negative-repeated"}


def item_counts(report) -> list[float]:
    """How often each item was called in a report (uncertain calls count: the fit is about the calls)."""
    rules = [f.rule_id for f in report.findings]
    counts = {k: rules.count(rid) for k, rid in RULE_IDS.items()}
    counts["rude"] = sum(1 for r in rules if r == "detector.rude" or ".rude" in r)
    counts |= {k: report.dimensions[dim].metrics[key] for k, (dim, key) in GRADED.items()}
    return [counts[k] if cap is None else min(counts[k], cap) for k, (_, cap) in ITEMS.items()]


def fit(x: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Non-negative costs (at least :data:`FLOOR` for the standard's items), least squares."""
    lower = np.array([FLOOR.get(k, 0.0) for k in ITEMS])
    cost = lsq_linear(x, target, bounds=(lower, np.full(len(ITEMS), np.inf))).x
    return np.where(x.any(axis=0), cost, lower)  # an item never called: the data say nothing, keep its floor


def counts_of(pipeline: Pipeline, labels: list[dict], corpora) -> tuple[list[list[float]], list[int]]:
    rows, quality = [], []
    for start in range(0, len(labels), BATCH):
        chunk = labels[start:start + BATCH]
        for label, report in zip(chunk, pipeline.score_many([transcript_of(x, corpora) for x in chunk])):
            rows.append(item_counts(report))
            quality.append(label["quality"])
    return rows, quality


def out_of_fold(data_dir: Path, folds: int, corpora) -> tuple[list[list[float]], list[int]]:
    """Item counts of every training conversation, called by detectors that never saw it: the first-stage
    heads refitted on the other folds, and the second stage refitted on the other folds' out-of-fold
    summaries (the shipped thresholds)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import train_detectors as td

    shipped = ROOT / "models" / "qa-detectors"
    final = DetectorModel.load(shipped)
    chosen = json.loads((shipped / "training.json").read_text(encoding="utf-8"))["heads"]
    convos = [c for c in td.load(data_dir, extra=True) if c.split == "train"]
    examples = td.examples(convos)
    models = [td.fold_heads(examples, convos, f, chosen, final, folds) for f in range(folds)]
    summaries = td.oof_summaries(convos, models) if final.items else {}
    rows, quality = [], []
    for f, model in enumerate(models):
        rest = [c for c in convos if td.fold_of(c.id, folds) != f]
        for name, item in final.items.items():
            x = np.stack([summaries[c.id] for c in rest])
            model.items[name] = td.fit_item(name, x, np.array([td.ITEMS[name](c.label) for c in rest]), item.threshold)
        pipeline = Pipeline.from_settings(ScoringSettings())
        pipeline.detector = Detector(model=model)
        held = [c.label for c in convos if td.fold_of(c.id, folds) == f]
        r, q = counts_of(pipeline.initialize(), held, corpora)
        rows += r
        quality += q
        print(f"fold {f + 1}/{folds}: {len(held)} conversations called by detectors trained on the others")
    return rows, quality


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--labels", type=Path, default=ROOT / "data/golden/labels.jsonl")
    p.add_argument("--fit-on", choices=("oof", "dev", "labels"), default="oof")
    p.add_argument("--folds", type=int, default=5)
    args = p.parse_args()
    corpora = corpus_index(args.data)
    labels = list(read_labels(args.labels))
    dev = [r for r in labels if r.get("split") == "dev"] if args.fit_on != "labels" else []
    shipped = Pipeline.from_settings(ScoringSettings()).initialize()
    dev_rows, dev_quality = counts_of(shipped, dev, corpora)
    if args.fit_on == "oof":
        rows, quality = out_of_fold(args.data, args.folds, corpora)
    elif args.fit_on == "labels":
        rows, quality = counts_of(shipped, [r for r in labels if r.get("quality")], corpora)
        if len(rows) < 300:
            print(f"only {len(rows)} labelled conversations with a quality grade: the fit will be noisy")
    else:
        rows, quality = dev_rows, dev_quality
    x = np.array(rows, dtype=float)
    y = np.array([TARGET[q] for q in quality])
    cost = fit(x, 100.0 - y)
    fitted = 100.0 - x @ cost
    rho = spearman(list(fitted), quality)
    folds = np.array_split(np.random.RandomState(0).permutation(len(y)), 5)
    held = np.zeros(len(y))
    for f in folds:
        rest = np.setdiff1d(np.arange(len(y)), f)
        held[f] = 100.0 - x[f] @ fit(x[rest], 100.0 - y[rest])
    print(f"5-fold cross-validated Spearman on the fitted rows: {spearman(list(held), quality):.3f}")
    if dev_rows:
        dev_fitted = 100.0 - np.array(dev_rows, dtype=float) @ cost
        print(f"Spearman on dev ({len(dev_quality)} conversations"
              f"{', held out' if args.fit_on == 'oof' else ', the fitted rows themselves'}): "
              f"{spearman(list(dev_fitted), dev_quality):.3f}")
    chat = {d: w for d, w in WEIGHTS.items() if d != "timing"}
    share = {d: w / sum(chat.values()) for d, w in chat.items()}
    print(f"{len(y)} conversations fitted ({args.fit_on}); Spearman(fitted score, quality) {rho:.3f}; "
          f"rms error {np.sqrt(np.mean((fitted - y) ** 2)):.1f} points")
    print("\nitem                      calls  cost on the score  points in its dimension")
    points = {}
    for (item, (dim, _)), c, n in zip(ITEMS.items(), cost, x.sum(axis=0)):
        points[item] = -round(min(c / share[dim], 100.0), 1)
        print(f"{item:24s} {int(n):6d}  {c:17.1f}  {points[item]:8.1f} ({dim})")
    dims = sorted(share)
    lost = np.array([[sum(-points[item] * row[j] for j, (item, (d, _)) in enumerate(ITEMS.items()) if d == dim)
                      for dim in dims] for row in x])
    print("dimension points lost per conversation, 99th percentile (a dimension stops at 0): "
          + ", ".join(f"{d} {np.percentile(lost[:, i], 99):.0f}" for i, d in enumerate(dims))
          + f"; conversations clipped: {int(np.sum((lost > 100).any(axis=1)))}")
    for q in sorted(set(quality)):
        sel = [f for f, qq in zip(fitted, quality) if qq == q]
        print(f"quality {q}: mean fitted score {np.mean(sel):.1f} (n {len(sel)})")
    print("\nYAML:\nscorecard:\n  weights: {" + ", ".join(f"{d}: {w}" for d, w in WEIGHTS.items()) + "}")
    print("detectors: {" + ", ".join(f"{k}: {v}" for k, v in points.items()) + "}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
