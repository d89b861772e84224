"""Train the shipped sentiment + emotion model from ../shared/data (fixed seed, CPU or GPU).

Two stages, both multi-task (polarity on the five binary review corpora, emotion on
smp2020_ewect and nlpcc2013_emotion folded to six classes):
1. the lexical branch: logistic regressions on TF-IDF-weighted hashed character 1–3-grams,
   C chosen on dev, copied into the model's EmbeddingBag;
2. the encoder branch: a small character transformer trained on top (lexical branch frozen)
   to correct it; the epoch kept is the best on dev, "epoch 0" (lexical only) included.
Model selection uses the dev split only (mean polarity accuracy over the binary corpora,
emotion macro-F1 as a tie-breaker); the test split is never seen.

Usage:
    python scripts/train_sentiment.py --data ../shared/data --out models/sentiment-zh
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sentiment_data import BINARY, load  # noqa: E402

from qa_service.scoring.sentiment_hf import HybridSentimentConfig, HybridSentimentModel, save_model  # noqa: E402
from qa_service.scoring.sentiment_model import EMOTIONS, Featurizer  # noqa: E402


def build_vocab(texts: list[str], size: int, min_count: int) -> list[str]:
    counts = Counter(ch for t in texts for ch in Featurizer.normalise(t))
    chars = [ch for ch, n in counts.most_common(size - 2) if n >= min_count]
    return ["[PAD]", "[UNK]", *chars]


def batches(items: list[tuple], batch_size: int, shuffle: bool, rng: random.Random):
    """Length-bucketed batches: sort within chunks of 50 batches, then shuffle the batches."""
    order = list(range(len(items)))
    if shuffle:
        rng.shuffle(order)
    chunk = batch_size * 50
    out = []
    for i in range(0, len(order), chunk):
        part = sorted(order[i : i + chunk], key=lambda j: len(items[j][0]))
        out += [part[k : k + batch_size] for k in range(0, len(part), batch_size)]
    if shuffle:
        rng.shuffle(out)
    return out


@torch.no_grad()
def evaluate(model, feat, items, device, batch_size=512, encoded=None, lexical_only=False) -> dict:
    model.eval()
    pol_pred, emo_pred = [], []
    for i in range(0, len(items), batch_size):
        chunk = items[i : i + batch_size]
        inputs = feat.collate([encoded[t] if encoded else feat.encode(t) for t, *_ in chunk], device)
        if lexical_only:
            logits = model.lexical_logits(inputs["ngram_ids"], inputs["ngram_weights"], inputs["ngram_offsets"])
            pol, emo = logits[:, :2], logits[:, 2:]
        else:
            pol, emo = model(**inputs)
        pol_pred += pol.argmax(-1).tolist()
        emo_pred += emo.argmax(-1).tolist()
    per_corpus = {}
    for corpus in BINARY:
        idx = [i for i, it in enumerate(items) if it[3] == corpus and it[1] >= 0]
        if idx:
            per_corpus[corpus] = float(np.mean([pol_pred[i] == items[i][1] for i in idx]))
    emo_idx = [i for i, it in enumerate(items) if it[2] >= 0]
    f1s = []
    for k in range(len(EMOTIONS)):
        tp = sum(1 for i in emo_idx if emo_pred[i] == k and items[i][2] == k)
        fp = sum(1 for i in emo_idx if emo_pred[i] == k and items[i][2] != k)
        fn = sum(1 for i in emo_idx if emo_pred[i] != k and items[i][2] == k)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    emo_acc = float(np.mean([emo_pred[i] == items[i][2] for i in emo_idx])) if emo_idx else 0.0
    model.train()
    return {"polarity_acc": per_corpus, "polarity_mean": float(np.mean(list(per_corpus.values()))),
            "emotion_acc": emo_acc, "emotion_macro_f1": float(np.mean(f1s))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("models/sentiment-zh"))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--ngram-buckets", type=int, default=1 << 19)
    parser.add_argument("--max-chars", type=int, default=64)
    parser.add_argument("--c-grid", default="2,4,8,16", help="LogisticRegression C values tried on dev")
    parser.add_argument("--vocab", type=int, default=6000)
    parser.add_argument("--emotion-weight", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--limit", type=int, default=0, help="Use only this many training examples (smoke test)")
    args = parser.parse_args()

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    emo_index = {e: i for i, e in enumerate(EMOTIONS)}

    examples = load(args.data)
    def as_items(split):
        return [(e.text, -1 if e.polarity is None else e.polarity,
                 -1 if e.emotion is None else emo_index[e.emotion], e.corpus)
                for e in examples if e.split == split]
    train, dev = as_items("train"), as_items("dev")
    if args.limit:
        train = random.Random(args.seed).sample(train, min(args.limit, len(train)))
        dev = random.Random(args.seed).sample(dev, min(args.limit, len(dev)))
    vocab = build_vocab([t for t, *_ in train], args.vocab, min_count=3)
    config = HybridSentimentConfig(
        vocab_size=len(vocab), hidden_size=args.hidden, num_layers=args.layers, num_heads=4,
        ffn_size=args.hidden * 2, max_chars=args.max_chars, ngram_buckets=args.ngram_buckets,
    )
    t0 = time.time()
    feat = Featurizer.for_config(vocab, config)
    # idf from the training texts (sklearn's smooth idf), then TF-IDF features for all texts.
    texts = sorted({t for t, *_ in train + dev})
    counted = {t: feat.counts(Featurizer.normalise(t)) for t in texts}
    df = np.zeros(config.ngram_buckets, dtype=np.float64)
    train_texts = {t for t, *_ in train}
    for t in train_texts:
        df[counted[t][0]] += 1
    feat.idf = (np.log((1 + len(train_texts)) / (1 + df)) + 1).astype(np.float32)
    encoded = {t: feat.encode(t) for t in texts}
    print(f"featurised {len(encoded)} texts in {time.time() - t0:.0f}s", flush=True)

    def matrix(items):
        rows = [encoded[t] for t, *_ in items]
        indptr = np.concatenate([[0], np.cumsum([len(i) for _, i, _ in rows])])
        return sparse.csr_matrix((np.concatenate([w for _, _, w in rows]), np.concatenate([i for _, i, _ in rows]),
                                  indptr), shape=(len(rows), config.ngram_buckets))

    model = HybridSentimentModel(config)
    model.idf.copy_(torch.from_numpy(feat.idf))
    lexical_w = torch.zeros(config.ngram_buckets, 2 + len(EMOTIONS))
    lexical_b = torch.zeros(2 + len(EMOTIONS))
    lexical_report = {}
    for task, col, classes in (("polarity", 1, 2), ("emotion", 2, len(EMOTIONS))):
        tr = [it for it in train if it[col] >= 0]
        dv = [it for it in dev if it[col] >= 0]
        xtr, ytr, xdv, ydv = matrix(tr), [it[col] for it in tr], matrix(dv), [it[col] for it in dv]
        best_c, best_acc, best_clf = None, -1.0, None
        for c in [float(x) for x in args.c_grid.split(",")]:
            clf = LogisticRegression(C=c, max_iter=3000).fit(xtr, ytr)
            acc = float(np.mean(clf.predict(xdv) == np.array(ydv)))
            print(f"lexical {task}: C={c} dev acc {acc:.4f}", flush=True)
            if acc > best_acc:
                best_c, best_acc, best_clf = c, acc, clf
        lexical_report[task] = {"C": best_c, "dev_acc": best_acc}
        coef, intercept = torch.from_numpy(best_clf.coef_).float(), torch.from_numpy(best_clf.intercept_).float()
        offset = 0 if task == "polarity" else 2
        if classes == 2:  # binary LR has one logit: split it symmetrically over two classes
            lexical_w[:, offset] = -coef[0] / 2
            lexical_w[:, offset + 1] = coef[0] / 2
            lexical_b[offset], lexical_b[offset + 1] = -intercept[0] / 2, intercept[0] / 2
        else:
            lexical_w[:, offset : offset + classes] = coef.T
            lexical_b[offset : offset + classes] = intercept
    with torch.no_grad():
        model.lexical.weight.copy_(lexical_w)
        model.lexical_bias.copy_(lexical_b)
    model.lexical.weight.requires_grad_(False)
    model.lexical_bias.requires_grad_(False)
    model = model.to(args.device)
    print(f"lexical branch fitted in {time.time() - t0:.0f}s: {lexical_report}", flush=True)

    metrics = evaluate(model, feat, dev, args.device, encoded=encoded, lexical_only=True)
    history = [{"epoch": 0, "lexical_only": True, **metrics}]
    print(f"epoch 0 (lexical only): dev polarity mean {metrics['polarity_mean']:.4f} emotion macro-F1 "
          f"{metrics['emotion_macro_f1']:.3f}", flush=True)
    best = metrics["polarity_mean"] + 0.01 * metrics["emotion_macro_f1"]
    best_state = None  # None: lexical only
    if args.layers > 0 and args.epochs > 0:
        params = [p for p in model.parameters() if p.requires_grad]
        print(f"encoder params {sum(p.numel() for p in params) / 1e6:.2f}M; device {args.device}", flush=True)
        opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
        steps_per_epoch = math.ceil(len(train) / args.batch_size)
        total = steps_per_epoch * args.epochs
        warmup = steps_per_epoch // 2
        pol_loss = nn.CrossEntropyLoss(ignore_index=-1)
        emo_loss = nn.CrossEntropyLoss(ignore_index=-1)
        step = 0
        for epoch in range(args.epochs):
            for idx in batches(train, args.batch_size, True, rng):
                chunk = [train[i] for i in idx]
                inputs = feat.collate([encoded[t] for t, *_ in chunk], args.device)
                pol_y = torch.tensor([c[1] for c in chunk], device=args.device)
                emo_y = torch.tensor([c[2] for c in chunk], device=args.device)
                pol, emo = model(**inputs)
                loss = torch.zeros((), device=args.device)
                if (pol_y >= 0).any():
                    loss = loss + pol_loss(pol, pol_y)
                if (emo_y >= 0).any():
                    loss = loss + args.emotion_weight * emo_loss(emo, emo_y)
                step += 1
                scale = step / warmup if step < warmup else 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))
                for g in opt.param_groups:
                    g["lr"] = args.lr * scale
                opt.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
            metrics = evaluate(model, feat, dev, args.device, encoded=encoded)
            score = metrics["polarity_mean"] + 0.01 * metrics["emotion_macro_f1"]
            history.append({"epoch": epoch + 1, **metrics})
            print(f"epoch {epoch + 1}: dev polarity mean {metrics['polarity_mean']:.4f} "
                  f"{ {k: round(v, 4) for k, v in metrics['polarity_acc'].items()} } emotion acc "
                  f"{metrics['emotion_acc']:.3f} macro-F1 {metrics['emotion_macro_f1']:.3f}  {time.time() - t0:.0f}s",
                  flush=True)
            if score > best:
                best = score
                best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}

    model = model.to("cpu")
    if best_state is not None:
        model.load_state_dict(best_state)
    else:  # the encoder never beat the lexical branch on dev: ship the lexical model alone
        config.num_layers = 0
        lexical_only = HybridSentimentModel(config)
        lexical_only.load_state_dict({k: v for k, v in model.state_dict().items()
                                      if k.split(".")[0] in ("lexical", "lexical_bias", "idf")})
        model = lexical_only
    model = model.half()  # fp16 on disk (the n-gram table dominates); loaded as fp32
    save_model(model, feat, args.out, meta={
        "args": {k: str(v) for k, v in vars(args).items()}, "dev_history": history,
        "best_dev": max(history, key=lambda h: h["polarity_mean"] + 0.01 * h["emotion_macro_f1"]),
        "lexical": lexical_report,
        "train_examples": len(train), "seconds": round(time.time() - t0),
    })
    size = sum(f.stat().st_size for f in args.out.iterdir()) / 1e6
    print(f"saved to {args.out} ({size:.1f} MB)")


if __name__ == "__main__":
    main()
