"""Evaluate sentiment backends on the held-out test split of ../shared/data, side by side.

Per binary corpus: accuracy and macro-F1 for the shipped model (hybrid), its lexical branch
alone, a TF-IDF + logistic-regression reference fitted here on the train split, and snownlp;
emotion accuracy / macro-F1 on smp2020_ewect and nlpcc2013_emotion; and sentences/s for each
backend over the same sentences with the same number of torch threads.

Usage: python scripts/eval_sentiment.py --data ../shared/data [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sentiment_data import BINARY, EMOTION, load  # noqa: E402

from qa_service.scoring.sentiment_backend import HybridBackend, SnowNLPBackend, default_model_dir  # noqa: E402
from qa_service.scoring.sentiment_model import EMOTIONS  # noqa: E402


def macro_f1(y_true, y_pred, labels) -> float:
    f1s = []
    for k in labels:
        tp = sum(1 for t, p in zip(y_true, y_pred) if t == k and p == k)
        fp = sum(1 for t, p in zip(y_true, y_pred) if t != k and p == k)
        fn = sum(1 for t, p in zip(y_true, y_pred) if t == k and p != k)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(f1s))


class TfidfReference:
    """TF-IDF over characters 1–3 + logistic regression (the strongest figure in issue 4's leads)."""

    name = "tfidf-lr (reference)"

    def __init__(self, train):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        self.vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True)
        x = self.vec.fit_transform([e.text for e in train])
        self.clf = LogisticRegression(C=4, max_iter=3000).fit(x, [e.polarity for e in train])

    def positive_probs(self, texts):
        return self.clf.predict_proba(self.vec.transform(texts))[:, 1].tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--model", type=Path, default=None, help="model dir (default: the shipped one)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--snownlp-limit", type=int, default=0, help="score only N test sentences with snownlp")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    examples = load(args.data)
    test = [e for e in examples if e.split == "test" and e.polarity is not None]
    emo_test = [e for e in examples if e.split == "test" and e.emotion is not None]
    texts = [e.text for e in test]
    model_dir = args.model or default_model_dir()

    probs, speed = {}, {}
    for backend in (HybridBackend(model_dir), HybridBackend(model_dir, lexical_only=True)):
        backend.predict(texts[:200])  # warm-up
        t0 = time.perf_counter()
        probs[backend.name] = [p.positive_prob for p in backend.predict(texts)]
        speed[backend.name] = len(texts) / (time.perf_counter() - t0)
    ref = TfidfReference([e for e in examples if e.split == "train" and e.polarity is not None])
    t0 = time.perf_counter()
    probs[ref.name] = ref.positive_probs(texts)
    speed[ref.name] = len(texts) / (time.perf_counter() - t0)
    snow_idx = list(range(len(test)))
    if args.snownlp_limit:  # the same share of every corpus
        share = min(1.0, args.snownlp_limit / len(test))
        snow_idx = [i for c in BINARY for i in [j for j in snow_idx if test[j].corpus == c][
            : max(1, round(share * sum(e.corpus == c for e in test)))]]
    snow = SnowNLPBackend()
    t0 = time.perf_counter()
    snow_probs = [p.positive_prob for p in snow.predict([texts[i] for i in snow_idx])]
    speed["snownlp"] = len(snow_idx) / (time.perf_counter() - t0)
    probs["snownlp"] = [None] * len(test)
    for i, p in zip(snow_idx, snow_probs):
        probs["snownlp"][i] = p

    names = list(probs)
    print(f"\nheld-out test split (hash of text, 10% per corpus); torch threads {args.threads}; model {model_dir}")
    print(f"{'corpus':<26}{'n':>6}  " + "  ".join(f"{n:>22}" for n in names))
    means = {n: [] for n in names}
    for corpus in BINARY:
        idx = [i for i, e in enumerate(test) if e.corpus == corpus]
        cells = []
        for n in names:
            pairs = [(test[i].polarity, int(probs[n][i] >= 0.5)) for i in idx if probs[n][i] is not None]
            acc = float(np.mean([t == p for t, p in pairs]))
            f1 = macro_f1([t for t, _ in pairs], [p for _, p in pairs], (0, 1))
            means[n].append(acc)
            cells.append(f"acc {acc:.4f} F1 {f1:.4f}")
        print(f"{corpus:<26}{len(idx):>6}  " + "  ".join(f"{c:>22}" for c in cells))
    print(f"{'mean accuracy over corpora':<32}" + "  ".join(f"{np.mean(means[n]):>22.4f}" for n in names))
    print(f"{'sentences/s':<32}" + "  ".join(f"{speed[n]:>22,.0f}" for n in names))
    print(f"{'speed vs snownlp':<32}" + "  ".join(f"{speed[n] / speed['snownlp']:>21.1f}x" for n in names))

    print("\nemotion (six classes; nlpcc2013 folded: like/happiness→happy, disgust/anger→angry)")
    hybrid = HybridBackend(model_dir)
    for corpus in EMOTION:
        sub = [e for e in emo_test if e.corpus == corpus]
        pred = [p.emotion for p in hybrid.predict([e.text for e in sub])]
        acc = float(np.mean([p == e.emotion for p, e in zip(pred, sub)]))
        print(f"  {corpus:<22} n={len(sub):>5}  acc {acc:.4f}  macro-F1 "
              f"{macro_f1([e.emotion for e in sub], pred, EMOTIONS):.4f}")


if __name__ == "__main__":
    main()
