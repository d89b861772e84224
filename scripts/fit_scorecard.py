"""Fit the default scorecard so the score ranks conversations the way a QA reviewer rates them.

An interpretable fit, not a black box: the score is 100 minus what each learned finding costs. Bounded
least squares (scipy's ``lsq_linear``: every cost ≥ 0, the QA standard's own items ≥ ``FLOOR``) finds the
cost of each item on the overall score that best matches the reviewers' overall quality (5 → 100, 4 → 85,
3 → 70, 2 → 50, 1 → 30); each cost becomes points in its dimension given the dimension weights below.
Most items are calls (a finding or not, counted up to a cap); three are graded, costing in proportion to
how likely each turn is what they look for, above a floor (``qa_service/scoring/learned.py``): the agent's
rude / dismissive turns, the customer's negative turns, and the issue not resolved — the units the
report's metrics carry. Prints the fit, its Spearman on the dev split (held out), and the
YAML to put in the rule pack (`detectors:`, with the pack's own `scorecard: weights` they assume).

The pack (``--pack``; default: the one the labels' scenario selects when they all select one, else
``QA_SCORING__DEFAULT_PACK``, general) is read from the loaded settings' rule folder
(``QA_SCORING__RULES_DIR``), every conversation is scored with it, and each fitted cost on the overall
score becomes points in its dimension under *that pack's* weights (chat: timing does not apply, the rest
renormalise). A cost is at most a whole dimension (``MAX_POINTS``): where the fit wants more it is said,
the item held there and the rest refitted, and every figure printed after the item table is what the YAML
delivers (points as rounded, each dimension stopping at 0). Was: the general pack's weights hard-coded,
the shipped ``rules/`` whatever ``QA_SCORING__RULES_DIR`` said, and a cost clipped at 100 points in silence
while the means and Spearman printed were the unclipped fit's.

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

from qa_service.config import ScoringSettings, get_settings  # noqa: E402
from qa_service.errors import Invalid  # noqa: E402
from qa_service.evaluation.labels import read_labels  # noqa: E402
from qa_service.stats import spearman  # noqa: E402
from qa_service.evaluation.run import BATCH, corpus_index, transcript_of  # noqa: E402
from qa_service.ingest.service import redact_unstored  # noqa: E402
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
# The weights come from the pack's scorecard (general's: politeness 30, compliance 15, objection 15,
# negativity 5, timing 5, sentiment 35). A dimension's score stops at 0, so its weight must leave room for
# what its findings cost together: with the graded items the sentiment findings cost up to about 35 points
# of the overall score (sentiment 30 clipped 198 of the 2,449 fitted conversations; 25 before the
# out-of-fold fit).
MAX_POINTS = 100.0  # points: the most one finding (or one unit of a graded item) costs in its dimension
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


def shares_of(weights: dict[str, float]) -> dict[str, float]:
    """Each dimension's share of the overall score on chat: timing does not apply, the rest renormalise."""
    chat = {d: float(w) for d, w in weights.items() if d != "timing"}
    total = sum(chat.values())
    return {d: (w / total if total else 0.0) for d, w in chat.items()}


def most_cost(share: dict[str, float]) -> np.ndarray:
    """The most each item can cost on the overall score: :data:`MAX_POINTS` at its dimension's share (0
    where the pack weighs the dimension 0: its points would change nothing)."""
    return np.array([MAX_POINTS * share.get(dim, 0.0) for dim, _ in ITEMS.values()])


def fit(x: np.ndarray, target: np.ndarray, upper: np.ndarray | None = None) -> np.ndarray:
    """Non-negative costs (at least :data:`FLOOR` for the standard's items, at most ``upper``), least squares."""
    upper = np.full(len(ITEMS), np.inf) if upper is None else upper
    lower = np.minimum([FLOOR.get(k, 0.0) for k in ITEMS], upper)
    cost = np.zeros(len(ITEMS))
    free = upper > 0  # an item of a dimension weighing 0 costs nothing
    if free.any():
        cost[free] = lsq_linear(x[:, free], target, bounds=(lower[free], np.maximum(upper[free], lower[free] + 1e-9))).x
    return np.where(x.any(axis=0), cost, lower)  # an item never called: the data say nothing, keep its floor


def fit_capped(x: np.ndarray, target: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The costs the YAML can deliver, and the ones an unbounded fit wanted: where an item wants more than
    ``upper``, every item is held to its bound and the rest refitted."""
    wanted = fit(x, target)
    return (fit(x, target, upper) if np.any(wanted > upper + 1e-9) else wanted), wanted


def delivered(x: np.ndarray, points: dict[str, float], share: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """What the printed points deliver per conversation: the score (each dimension stopping at 0) and the
    points each dimension loses before it stops (conversation × sorted dimension)."""
    dims = sorted(share)
    lost = np.array([[sum(-points[item] * row[j] for j, (item, (d, _)) in enumerate(ITEMS.items()) if d == dim)
                      for dim in dims] for row in x]).reshape(len(x), len(dims))
    score = 100.0 - np.minimum(lost, 100.0) @ np.array([share[d] for d in dims])
    return score, lost


def counts_of(pipeline: Pipeline, labels: list[dict], corpora, pack: str) -> tuple[list[list[float]], list[int]]:
    """Item counts of every labelled conversation, scored with ``pack`` (whatever its scenario) on the text the
    service would store (personal data redacted first, as ``qa eval`` scores it)."""
    rows, quality = [], []
    compiled = pipeline.rulebook.packs[pack]
    settings = get_settings()
    for start in range(0, len(labels), BATCH):
        chunk = labels[start:start + BATCH]
        transcripts = [redact_unstored(transcript_of(x, corpora), settings) for x in chunk]
        contexts = pipeline.contexts(transcripts, [compiled] * len(chunk))
        for label, report in zip(chunk, pipeline.score_many(transcripts, contexts)):
            rows.append(item_counts(report))
            quality.append(label["quality"])
    return rows, quality


def out_of_fold(data_dir: Path, folds: int, corpora, scoring: ScoringSettings, pack: str
                ) -> tuple[list[list[float]], list[int]]:
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
        pipeline = Pipeline.from_settings(scoring)
        pipeline.detector = Detector(model=model)
        held = [c.label for c in convos if td.fold_of(c.id, folds) == f]
        r, q = counts_of(pipeline.initialize(), held, corpora, pack)
        rows += r
        quality += q
        print(f"fold {f + 1}/{folds}: {len(held)} conversations called by detectors trained on the others")
    return rows, quality



def choose_pack(pipeline: Pipeline, asked: str | None, labels: list[dict], corpora) -> str:
    """``--pack``, else the pack the labels' scenario selects when they all select one, else the default."""
    book = pipeline.rulebook
    if asked is not None:
        if asked not in book.packs:
            raise SystemExit(f"fit_scorecard: no pack {asked!r} in {book.directory} "
                             f"(packs: {', '.join(sorted(book.packs))}; QA_SCORING__RULES_DIR sets the folder)")
        return asked
    chosen = {book.pack_for(transcript_of(x, corpora)).pack.name for x in labels}
    if len(chosen) == 1:
        return chosen.pop()
    print(f"the labels' scenarios select packs {', '.join(sorted(chosen))}: fitting for the default pack "
          f"{book.default_pack} (--pack to choose)")
    return book.default_pack


def cross_validated(x: np.ndarray, y: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Each row's fitted score from a fit on the other 4 folds."""
    folds = np.array_split(np.random.RandomState(0).permutation(len(y)), 5)
    held = np.zeros(len(y))
    for f in folds:
        rest = np.setdiff1d(np.arange(len(y)), f)
        held[f] = 100.0 - x[f] @ fit_capped(x[rest], 100.0 - y[rest], upper)[0]
    return held


def print_items(x: np.ndarray, cost: np.ndarray, wanted: np.ndarray, share: dict[str, float],
                upper: np.ndarray) -> dict[str, float]:
    """The item table, each cost as its rounded points deliver it; returns the points to put in
    ``detectors:``. An item the fit wanted past :data:`MAX_POINTS` is said to be clipped."""
    print("\nitem                      calls  cost on the score  points in its dimension")
    points = {}
    for (item, (dim, _)), c, w, most, n in zip(ITEMS.items(), cost, wanted, upper, x.sum(axis=0)):
        points[item] = -round(c / share[dim], 1) if share.get(dim) else 0.0
        note = ""
        if not share.get(dim):
            note = f"  ({dim} weighs 0 in this pack: its points change nothing)"
        elif w > most + 1e-9:
            note = (f"  clipped: the fit wanted {w:.1f} on the score; {-MAX_POINTS:.0f} points, the most a finding "
                    f"costs in its dimension, deliver {most:.1f} ({dim} is {share[dim]:.1%} of the score)")
        print(f"{item:24s} {int(n):6d}  {-points[item] * share.get(dim, 0.0):17.1f}  {points[item]:8.1f} ({dim}){note}")
    return points


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--labels", type=Path, default=ROOT / "data/golden/labels.jsonl")
    p.add_argument("--fit-on", choices=("oof", "dev", "labels"), default="oof")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--pack", help="the rule pack to fit (its weights, its rules); default: the one the labels' "
                                  "scenario selects, else QA_SCORING__DEFAULT_PACK")
    args = p.parse_args(argv)
    scoring = get_settings().scoring  # QA_SCORING__RULES_DIR and the rest, as qa score reads them
    labels = list(read_labels(args.labels))
    try:  # the corpora only for labels that carry no text of their own
        corpora = corpus_index(args.data) if any(not r.get("utterances") for r in labels) else {}
    except Invalid as exc:  # a --data folder that is not there or holds none of the corpora
        print(exc, file=sys.stderr)
        return 2
    graded = [r for r in labels if r.get("quality")]
    dev = [r for r in labels if r.get("split") == "dev"] if args.fit_on != "labels" else []
    shipped = Pipeline.from_settings(scoring).initialize()
    pack = choose_pack(shipped, args.pack, graded if args.fit_on == "labels" else dev or graded, corpora)
    compiled = shipped.rulebook.packs[pack]
    weights = dict(compiled.pack.spec.scorecard.weights)
    print(f"pack {pack} v{compiled.pack.version} ({compiled.pack.path}, rules from {shipped.rulebook.directory}); "
          "weights " + ", ".join(f"{d} {w:g}" for d, w in weights.items()))
    dev_rows, dev_quality = counts_of(shipped, dev, corpora, pack)
    if args.fit_on == "oof":
        rows, quality = out_of_fold(args.data, args.folds, corpora, scoring, pack)
    elif args.fit_on == "labels":
        rows, quality = counts_of(shipped, graded, corpora, pack)
        if len(rows) < 300:
            print(f"only {len(rows)} labelled conversations with a quality grade: the fit will be noisy")
    else:
        rows, quality = dev_rows, dev_quality
    report(np.array(rows, dtype=float), quality, shares_of(weights), weights, args.fit_on,
           np.array(dev_rows, dtype=float), dev_quality)
    return 0


def report(x: np.ndarray, quality: list[int], share: dict[str, float], weights: dict[str, float], fit_on: str,
           dev_x: np.ndarray, dev_quality: list[int]) -> None:
    """Fit, print the fit as the YAML delivers it, and the YAML."""
    y = np.array([TARGET[q] for q in quality])
    upper = most_cost(share)
    cost, wanted = fit_capped(x, 100.0 - y, upper)
    print(f"5-fold cross-validated Spearman on the fitted rows: {spearman(list(cross_validated(x, y, upper)), quality):.3f}")
    points = print_items(x, cost, wanted, share, upper)
    if np.any(wanted > upper + 1e-9):
        print("clipped items are held at their most and the other items refitted around them")
    fitted, lost = delivered(x, points, share)
    print("\nas the YAML delivers it (the points as printed, each dimension stopping at 0):")
    if len(dev_x):
        dev_fitted = delivered(dev_x, points, share)[0]
        print(f"Spearman on dev ({len(dev_quality)} conversations"
              f"{', held out' if fit_on == 'oof' else ', the fitted rows themselves'}): "
              f"{spearman(list(dev_fitted), dev_quality):.3f}")
    print(f"{len(y)} conversations fitted ({fit_on}); Spearman(fitted score, quality) "
          f"{spearman(list(fitted), quality):.3f}; rms error {np.sqrt(np.mean((fitted - y) ** 2)):.1f} points")
    dims = sorted(share)
    print("dimension points lost per conversation, 99th percentile (a dimension stops at 0): "
          + ", ".join(f"{d} {np.percentile(lost[:, i], 99):.0f}" for i, d in enumerate(dims))
          + f"; conversations clipped: {int(np.sum((lost > 100).any(axis=1)))}")
    if np.any(lost > 100):
        print("a dimension that stops at 0 charges less than its findings add up to: the fit above does not "
              "model that, so the scores here are above its; a larger weight for that dimension leaves room")
    for q in sorted(set(quality)):
        sel = [f for f, qq in zip(fitted, quality) if qq == q]
        print(f"quality {q}: mean fitted score {np.mean(sel):.1f} (n {len(sel)})")
    print("\nYAML (the points hold under these weights, the pack's own: change a weight, fit again):\nscorecard:\n"
          "  weights: {" + ", ".join(f"{d}: {w:g}" for d, w in weights.items()) + "}")
    print("detectors: {" + ", ".join(f"{k}: {v}" for k, v in points.items()) + "}")


if __name__ == "__main__":
    sys.exit(main())
