"""Predicted satisfaction vs. the annotators' satisfaction (S) on stc3_dch1, held out by hash.

stc3_dch1 dialogues carry 19 annotators' customer-satisfaction scores (S, in [-2, 2]). This
script computes sentiment.v1's conversation features for each labelled dialogue, fits the
satisfaction weights by least squares on one half (hash of the id) and reports the Spearman
correlation with the mean S on the other half, next to single-feature baselines.
`--write` stores the fitted weights in qa_service/scoring/satisfaction.json (used by the scorer).

Usage: python scripts/eval_satisfaction.py --data ../shared/data [--write]
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

from qa_service.domain import Role, Transcript, Utterance
from qa_service.scoring.sentiment import FEATURES, SATISFACTION_FILE, SentimentScorer, satisfaction_features


def spearman(a, b) -> float:
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    scorer = SentimentScorer(satisfaction=False)  # the weights are what this script fits
    scorer.initialize()
    rows, ys, held = [], [], []
    with open(args.data / "stc3_dch1" / "stc3_dch1.jsonl", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            quality = rec["meta"].get("quality_mean")
            turns = [t for t in rec["turns"] if (t.get("text") or "").strip()]
            if not quality or not any(t["role"] == "customer" for t in turns):
                continue
            t = Transcript(utterances=tuple(Utterance(i, Role(x["role"]), x["text"]) for i, x in enumerate(turns)))
            result = scorer.score(t)
            rows.append(satisfaction_features(result.metrics))
            ys.append(quality["S"])
            held.append(int(hashlib.sha1(rec["id"].encode()).hexdigest()[:8], 16) % 2 == 1)
    x, y, held = np.array(rows), np.array(ys), np.array(held)
    fit = ~held
    design = np.column_stack([x[fit], np.ones(fit.sum())])
    coef, *_ = np.linalg.lstsq(design, y[fit], rcond=None)
    pred = np.column_stack([x[held], np.ones(held.sum())]) @ coef

    print(f"stc3_dch1 dialogues with S labels: {len(y)} (fit {fit.sum()}, held out {held.sum()})")
    print(f"Spearman with mean S on the held-out half: fitted linear model {spearman(pred, y[held]):.3f}")
    for i, name in enumerate(FEATURES):
        print(f"  single feature {name:<22} {spearman(x[held, i], y[held]):+.3f}")
    weights = {"features": list(FEATURES), "coef": [round(float(c), 5) for c in coef[:-1]],
               "intercept": round(float(coef[-1]), 5),
               "fitted_on": f"stc3_dch1, {fit.sum()} dialogues (sha1(id) even), target mean S in [-2, 2]",
               "heldout_spearman": round(spearman(pred, y[held]), 4)}
    print(json.dumps(weights, ensure_ascii=False))
    if args.write:
        SATISFACTION_FILE.write_text(json.dumps(weights, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {SATISFACTION_FILE}")


if __name__ == "__main__":
    main()
