"""Experiment (dev split only): do cheap feature variants move the linear turn heads?

Variants, each against the shipped featuriser in the same run, each head at its shipped C and class
weighting (``models/qa-detectors/training.json``) and at half and double that C (the best of the three
is reported for every variant alike), decision threshold chosen on dev (so every figure is optimistic
by the same amount):

* ``base``: the shipped features (``examples.turn_example``).
* ``c4``: plus character 4-grams of the turn.
* ``nb``: naive-Bayes log-count-ratio scaling of every feature column (Wang & Manning 2012), fitted on
  the training rows; deployable as the same linear head (the scaling folds into the weights).
* ``clusters``: plus distributional clusters of the turn's character bigrams (PPMI over neighbouring
  characters, SVD to 128 dimensions, k-means at 256 and 1,024 clusters) learnt from our own unlabelled
  text: every dialogue in ``../shared/data`` except the golden dev and test ones, and every review /
  weibo text. Reads the way Brown clusters are used beside n-grams in classic semi-supervised tagging.

The test split is never read (its dialogue ids are used only to keep its text out of the clusters).

    python scripts/experiments/feature_variants.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from scipy.sparse import coo_matrix, csr_matrix, diags
from sklearn.cluster import MiniBatchKMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.preprocessing import normalize

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import train_detectors as td  # noqa: E402
from golden import all_dialogues  # noqa: E402

from qa_service.scoring.detectors import examples as ex  # noqa: E402
from qa_service.scoring.detectors.detector import AGENT_HEADS, CUSTOMER_HEADS  # noqa: E402
from qa_service.scoring.detectors.features import bag, ngram_ids, normalise, token_ids  # noqa: E402

_MIX = np.uint64(0x9E3779B97F4A7C15)
_PRIME = np.uint64(1_000_003)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def four_grams(text: str, buckets: int) -> np.ndarray:
    if len(text) < 4:
        return np.zeros(0, dtype=np.int64)
    cp = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    with np.errstate(over="ignore"):
        h = np.full(len(cp) - 3, np.uint64(0x51ED2701), dtype=np.uint64)
        for k in range(4):
            h = h * _PRIME + cp[k:len(cp) - 3 + k]
        return np.unique(((h * _MIX) >> np.uint64(20)) % np.uint64(buckets)).astype(np.int64)


# ---------------------------------------------------------------------------------------- clusters

def unlabelled_texts(data_dir: Path) -> list[str]:
    held_out = set()
    for line in (ROOT / "data/golden/labels.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if rec.get("split") in ("dev", "test"):
            held_out.add(rec["id"])
    out = []
    for rid, rec in all_dialogues(data_dir).items():
        if rid not in held_out:
            out += [t for t in (normalise(x.get("text") or "") for x in rec["turns"]) if t]
    for f in sorted(data_dir.glob("*/*.csv")):
        with open(f, encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                text = (row.get("text") or "")[:2000]
                out += [normalise(text[i:i + 150]) for i in range(0, len(text), 150)]
    return [t for t in out if t]


def bigram_clusters(texts: list[str], dims: int, ks: tuple[int, ...], seed: int = 0) -> dict[str, tuple[int, ...]]:
    """Character bigram -> its cluster id at each k."""
    chars = Counter(ch for t in texts for ch in t)
    cvocab = {ch: i for i, (ch, n) in enumerate(chars.most_common()) if n >= 5}
    grams = Counter(t[i:i + 2] for t in texts for i in range(len(t) - 1))
    gvocab = {g: i for i, (g, n) in enumerate(grams.most_common()) if n >= 5}
    log(f"{len(texts)} texts, {sum(map(len, texts)) / 1e6:.1f} M chars; {len(cvocab)} chars, {len(gvocab)} bigrams")
    rows, cols = [], []
    offsets = (-2, -1, 2, 3)  # the characters around bigram t[i:i+2]
    nc = len(cvocab)
    for t in texts:
        for i in range(len(t) - 1):
            g = gvocab.get(t[i:i + 2])
            if g is None:
                continue
            for s, off in enumerate(offsets):
                j = i + off
                c = cvocab.get(t[j]) if 0 <= j < len(t) else None
                if c is not None:
                    rows.append(g)
                    cols.append(s * nc + c)
    m = coo_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                   shape=(len(gvocab), len(offsets) * nc)).tocsr()
    total = m.sum()
    row = np.asarray(m.sum(axis=1)).ravel()
    col = np.asarray(m.sum(axis=0)).ravel() ** 0.75
    col = col / col.sum()
    m = m.tocoo()
    pmi = np.log(m.data * 1.0 / total) - np.log(row[m.row] / total) - np.log(col[m.col])
    keep = pmi > 0
    ppmi = csr_matrix((pmi[keep], (m.row[keep], m.col[keep])), shape=m.shape)
    vec = normalize(TruncatedSVD(dims, random_state=seed).fit_transform(ppmi))
    log(f"PPMI {ppmi.shape} nnz {ppmi.nnz}; SVD {dims}")
    labels = [MiniBatchKMeans(k, random_state=seed, n_init=3, batch_size=4096).fit_predict(vec) for k in ks]
    inv = sorted(gvocab, key=gvocab.get)
    return {g: tuple(int(lab[i]) for lab in labels) for i, g in enumerate(inv)}


def cluster_ids(text: str, clusters: dict, slot: str, buckets: int) -> np.ndarray:
    toks = {f"{slot}{k}:{c}" for i in range(len(text) - 1) for k, c in enumerate(clusters.get(text[i:i + 2], ()))}
    return token_ids(sorted(toks), buckets)


# ------------------------------------------------------------------------------------------- heads

def turn_rows(convos, variant: str, clusters: dict | None, buckets: int):
    """head -> (bags, y, conversation index) for the turn heads."""
    out = {h: ([], [], []) for h in (*CUSTOMER_HEADS, *AGENT_HEADS)}
    for k, c in enumerate(convos):
        lab, v = c.label, c.view
        sets = {"objection": {t for o in lab["objections"] for t in o["turns"]},
                "negative": set(lab["negative_turns"]), "angry": set(lab["angry_turns"]),
                "escalation": set(lab["escalation_turns"]), "apology": set(lab["apology_turns"]),
                "rude": {r["turn"] for r in lab["rude"]}}
        for heads, turns in ((CUSTOMER_HEADS, v.customer_turns), (AGENT_HEADS, v.agent_turns)):
            for i in turns:
                b = ex.turn_example(v, i, c.tags.get(i, ()), buckets)
                extra = []
                if variant == "c4":
                    extra.append(four_grams(v.texts[i], buckets))
                elif variant == "clusters":
                    prev = v.previous(i)
                    extra.append(cluster_ids(v.texts[i], clusters, "t", buckets))
                    extra.append(cluster_ids(v.texts[prev] if prev is not None else "", clusters, "p", buckets))
                if extra:  # re-bag: the shipped three slots, then the new ones, each 1/sqrt(size)
                    prev = v.previous(i)
                    from qa_service.scoring.detectors.features import position_tokens
                    b = bag([ngram_ids(v.texts[i], "turn", buckets),
                             ngram_ids(v.texts[prev] if prev is not None else "", "prev", buckets),
                             token_ids([*position_tokens(v, i), *(f"tag:{t}" for t in c.tags.get(i, ()))], buckets),
                             *extra])
                for h in heads:
                    out[h][0].append(b)
                    out[h][1].append(int(i in sets[h]))
                    out[h][2].append(k)
    return out


def nb_scale(x: csr_matrix, y: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    xb = x.copy()
    xb.data[:] = 1.0
    p = alpha + np.asarray(xb[y == 1].sum(axis=0)).ravel()
    q = alpha + np.asarray(xb[y == 0].sum(axis=0)).ravel()
    r = np.log((p / p.sum()) / (q / q.sum()))
    return np.abs(r) / np.abs(r).mean()  # a per-feature scale (sign left to the regression)


def f1_at_best(scores, truth) -> tuple[float, float]:
    th, f1 = td.best_threshold(list(scores), list(truth))
    return f1, th


def evaluate(rows, convos, shipped: dict, nb: bool) -> dict[str, tuple[float, float | None]]:
    from sklearn.linear_model import LogisticRegression
    res = {}
    train_k = {k for k, c in enumerate(convos) if c.split == "train"}
    for h, (bags, y, where) in rows.items():
        y = np.array(y)
        tr = np.array([j for j, k in enumerate(where) if k in train_k])
        dv = np.array([j for j, k in enumerate(where) if k not in train_k])
        x = td.matrix(bags)
        if nb:
            x = x @ diags(nb_scale(x[tr], y[tr]))
            x = csr_matrix(x)
        best = None
        for mult in (0.5, 1.0, 2.0):
            clf = LogisticRegression(C=shipped[h]["C"] * mult, max_iter=3000, solver="liblinear",
                                     class_weight="balanced" if shipped[h]["balanced"] else None)
            clf.fit(x[tr], y[tr])
            p = clf.predict_proba(x[dv])[:, 1]
            f1, _ = f1_at_best(p, y[dv] == 1)
            conv = None
            if h in ("objection", "escalation", "rude", "apology"):
                per, truth = {}, {}
                for j, pj in zip(dv, p):
                    per[where[j]] = max(per.get(where[j], 0.0), pj)
                    truth[where[j]] = truth.get(where[j], False) or bool(y[j])
                ks = sorted(k for k in range(len(convos)) if k not in train_k)
                conv, _ = f1_at_best([per.get(k, 0.0) for k in ks], [truth.get(k, False) for k in ks])
            if best is None or f1 > best[0]:
                best = (f1, conv, mult)
        res[h] = best
    return res


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--variants", default="base,c4,nb,clusters")
    args = p.parse_args()
    shipped = json.loads((ROOT / "models/qa-detectors/training.json").read_text(encoding="utf-8"))["heads"]
    convos = [c for c in td.load(args.data, extra=True) if c.split in ("train", "dev")]
    log(f"{sum(c.split == 'train' for c in convos)} train, {sum(c.split == 'dev' for c in convos)} dev conversations")
    clusters = None
    variants = args.variants.split(",")
    if "clusters" in variants:
        clusters = bigram_clusters(unlabelled_texts(args.data), 128, (256, 1024))
    table = {}
    for variant in variants:
        t0 = time.time()
        base = "base" if variant == "nb" else variant
        rows = turn_rows(convos, base, clusters, td.BUCKETS)
        table[variant] = evaluate(rows, convos, shipped, nb=variant == "nb")
        log(f"{variant}: {time.time() - t0:.0f} s")
        for h, (f1, conv, mult) in table[variant].items():
            print(f"  {h:11s} turn F1 {f1:.3f}" + (f"  conversation F1 {conv:.3f}" if conv is not None else "")
                  + f"  (C x{mult})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
