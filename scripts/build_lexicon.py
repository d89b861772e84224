"""Build candidate negative/positive word lists from the labelled review corpora.

Method: weighted log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi
and Quinn 2008, "Fightin' Words") over jieba tokens, negative vs positive documents,
pooled over the five binary corpora in ``../shared/data``. Words whose z-score passes
``--min-z`` and that occur in at least ``--min-docs`` documents become candidates;
the shipped lists in ``qa_service/lexicons/`` were then reviewed by hand
(domain nouns such as 酒店/房间 and function words removed), see the header of each file.

Usage:
    python scripts/build_lexicon.py --data ../shared/data --out /tmp/lexicon
"""

from __future__ import annotations

import argparse
import csv
import math
from collections import Counter
from pathlib import Path

import jieba

CORPORA = (
    "chnsenticorp",
    "chnsenticorp_htl_all",
    "waimai_10k",
    "online_shopping_10_cats",
    "weibo_senti_100k_sample",
)


def _is_word(token: str) -> bool:
    return len(token) >= 1 and all("\u4e00" <= ch <= "\u9fff" for ch in token)


def count_documents(data_dir: Path) -> tuple[Counter, Counter, int, int]:
    """Document frequencies of jieba tokens in negative and positive reviews."""
    tokenizer = jieba.Tokenizer()
    neg, pos = Counter(), Counter()
    n_neg = n_pos = 0
    for name in CORPORA:
        with open(data_dir / name / f"{name}.csv", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                tokens = {t for t in tokenizer.lcut(row["text"] or "") if _is_word(t)}
                if row["label"] == "0":
                    neg.update(tokens)
                    n_neg += 1
                else:
                    pos.update(tokens)
                    n_pos += 1
    return neg, pos, n_neg, n_pos


def log_odds_z(neg: Counter, pos: Counter, prior_scale: float = 10.0) -> dict[str, float]:
    """z-scores of the log-odds ratio (negative minus positive) with a Dirichlet prior."""
    total = neg + pos
    n_total = sum(total.values())
    n_neg, n_pos = sum(neg.values()), sum(pos.values())
    a0 = prior_scale * len(total)
    z = {}
    for word, count in total.items():
        a_w = prior_scale * len(total) * count / n_total
        l_neg = math.log((neg[word] + a_w) / (n_neg + a0 - neg[word] - a_w))
        l_pos = math.log((pos[word] + a_w) / (n_pos + a0 - pos[word] - a_w))
        var = 1.0 / (neg[word] + a_w) + 1.0 / (pos[word] + a_w)
        z[word] = (l_neg - l_pos) / math.sqrt(var)
    return z


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("/tmp/lexicon"))
    parser.add_argument("--min-z", type=float, default=4.0)
    parser.add_argument("--min-docs", type=int, default=15)
    parser.add_argument("--top", type=int, default=1200)
    args = parser.parse_args()

    neg, pos, n_neg, n_pos = count_documents(args.data)
    z = log_odds_z(neg, pos)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, sign in (("negative", 1), ("positive", -1)):
        ranked = sorted(
            (w for w in z if sign * z[w] >= args.min_z and neg[w] + pos[w] >= args.min_docs),
            key=lambda w: -sign * z[w],
        )[: args.top]
        with open(args.out / f"{name}_candidates.tsv", "w", encoding="utf-8") as fh:
            fh.write("word\tz\tneg_docs\tpos_docs\n")
            for w in ranked:
                fh.write(f"{w}\t{z[w]:.1f}\t{neg[w]}\t{pos[w]}\n")
        print(f"{name}: {len(ranked)} candidates -> {args.out / (name + '_candidates.tsv')}")
    print(f"documents: {n_neg} negative, {n_pos} positive")


if __name__ == "__main__":
    main()
