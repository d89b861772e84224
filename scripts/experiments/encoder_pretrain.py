"""Experiment (dev split only): a small character BERT, MLM-pretrained on our own unlabelled text, then
fine-tuned as multi-task turn heads, against the shipped linear detectors (models/qa-detectors).

Three steps (one script):

  pack   (here, needs qa_service + ../shared/data): the unlabelled corpus (every dataset in ../shared/data,
         dialogues of the golden dev/test splits left out), the labelled train (+train_extra) and dev turn
         examples exactly as scripts/train_detectors.py / the detectors see them (TurnView: normalised text,
         non-empty turns, the other side's previous turn), and the shipped linear heads' dev probabilities.
         The test split is skipped as labels are read; it is never built, scored or evaluated.
  train  (needs torch + transformers only; runs from the pack): char vocab, MLM pretraining for a fixed time,
         multi-task fine-tuning, dev table (encoder / linear / ensemble), model saved to $OUT or /tmp/exp_encoder.
  bench  CPU turns/s, one thread, batch 64, for the saved model and a 2-layer/hidden-128 variant.

    python scripts/experiments/encoder_pretrain.py pack
    python scripts/experiments/encoder_pretrain.py train --pretrain-seconds 300
    python scripts/experiments/encoder_pretrain.py bench --model /tmp/exp_encoder
    python scripts/experiments/encoder_pretrain.py all --pretrain-seconds 20 --epochs 1 --layers 2 --hidden 128
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import math
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DEFAULT_PACK = HERE / "pack.json.gz"
CUSTOMER_HEADS = ("objection", "negative", "angry", "escalation")
AGENT_HEADS = ("apology", "rude")
HEADS = CUSTOMER_HEADS + AGENT_HEADS
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[C]", "[A]"]
PAD, UNK, CLS, SEP, MASK, ROLE_C, ROLE_A = range(len(SPECIALS))


def log(msg: str) -> None:
    print(msg, flush=True)
    out = os.environ.get("EXP_LOG")
    if out:
        with open(out, "a", encoding="utf-8") as fh:
            fh.write(msg + "\n")


# ----------------------------------------------------------------------------------------------- pack

def build_pack(data_dir: Path, pack: Path, include_dev_in_pretrain: bool) -> None:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "scripts"))
    from golden import all_dialogues  # scripts/golden.py

    from qa_service.config import DEFAULT_RULES_DIR
    from qa_service.domain import Role, Transcript, Utterance
    from qa_service.rules.book import RuleBook
    from qa_service.scoring.detectors import examples as ex
    from qa_service.scoring.detectors.detector import DEFAULT_MODEL_DIR, turn_tags
    from qa_service.scoring.detectors.features import TurnView, normalise
    from qa_service.scoring.detectors.model import DetectorModel

    t0 = time.time()
    dialogues = all_dialogues(data_dir)  # the four dialogue corpora, id -> record
    labels, held_out = [], set()
    for f in (ROOT / "data/golden/labels.jsonl", ROOT / "data/golden/train_extra.jsonl"):
        for line in f.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            split = rec.get("split", "train")
            if split == "test":
                held_out.add(rec["id"])  # only its id, to keep its text out of pretraining
                continue
            if split == "dev" and not include_dev_in_pretrain:
                held_out.add(rec["id"])
            labels.append((split, rec))
    # unlabelled text: dialogues (turn sequences), then every sentiment / emotion CSV
    pre_dialogues = []
    for rid, rec in dialogues.items():
        if rid in held_out:
            continue
        turns = [("a" if t["role"] == "agent" else "c", normalise(t.get("text") or "")) for t in rec["turns"]]
        turns = [t for t in turns if t[1]]
        if turns:
            pre_dialogues.append(turns)
    pre_texts = []
    for f in sorted(data_dir.glob("*/*.csv")):
        with open(f, encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                t = normalise_long(row.get("text") or "", normalise)
                if t:
                    pre_texts.append(t)
    log(f"pretraining corpus: {len(pre_dialogues)} dialogues ({sum(map(len, pre_dialogues))} turns), "
        f"{len(pre_texts)} review/weibo texts; held out of it: {len(held_out)} golden "
        f"{'test' if include_dev_in_pretrain else 'dev+test'} dialogues")
    # labelled turn examples, as train_detectors.examples() builds the turn heads' rows
    book = RuleBook(DEFAULT_RULES_DIR).load()
    linear = DetectorModel.load(DEFAULT_MODEL_DIR)
    examples = []
    for split, lab in labels:
        turns = dialogues[lab["id"]]["turns"]
        t = Transcript(utterances=tuple(Utterance(i, Role(x["role"]), x.get("text") or "")
                                        for i, x in enumerate(turns)))
        v = TurnView.of(t)
        tags = turn_tags(book.pack_for(t).match(t)) if split == "dev" else {}
        sets = {"objection": {i for o in lab["objections"] for i in o["turns"]},
                "negative": set(lab["negative_turns"]), "angry": set(lab["angry_turns"]),
                "escalation": set(lab["escalation_turns"]), "apology": set(lab["apology_turns"]),
                "rude": {r["turn"] for r in lab["rude"]}}
        for heads, idx, role in ((CUSTOMER_HEADS, v.customer_turns, "c"), (AGENT_HEADS, v.agent_turns, "a")):
            for i in idx:
                prev = v.previous(i)
                e = {"split": split, "conv": lab["id"], "turn": i, "role": role, "text": v.texts[i],
                     "prev": v.texts[prev] if prev is not None else "",
                     "y": {h: int(i in sets[h]) for h in heads}}
                if split == "dev":
                    bag = ex.turn_example(v, i, tags.get(i, ()), linear.buckets)
                    e["linear"] = {h: float(linear.heads[h].probabilities([bag])[0, 0]) for h in heads}
                examples.append(e)
    n_tr = sum(e["split"] == "train" for e in examples)
    log(f"labelled turns: {n_tr} train, {len(examples) - n_tr} dev; pack built in {time.time() - t0:.0f} s")
    with gzip.open(pack, "wt", encoding="utf-8") as fh:
        json.dump({"pre_dialogues": pre_dialogues, "pre_texts": pre_texts, "examples": examples,
                   "held_out_of_pretraining": "dev+test" if not include_dev_in_pretrain else "test"},
                  fh, ensure_ascii=False)
    log(f"wrote {pack} ({pack.stat().st_size / 1e6:.1f} MB)")


def normalise_long(text: str, normalise) -> str:
    """normalise() cuts at 160 chars; reviews can be longer: normalise in pieces."""
    return "".join(normalise(text[k:k + 150]) for k in range(0, min(len(text), 1200), 150))


# ---------------------------------------------------------------------------------------------- vocab

def build_vocab(pack: dict, min_count: int) -> list[str]:
    c = Counter()
    for d in pack["pre_dialogues"]:
        for _, t in d:
            c.update(t)
    for t in pack["pre_texts"]:
        c.update(t)
    for e in pack["examples"]:
        if e["split"] == "train":
            c.update(e["text"])
            c.update(e["prev"])
    return SPECIALS + sorted(ch for ch, n in c.items() if n >= min_count and ch not in SPECIALS)


def encode(text: str, stoi: dict) -> list[int]:
    return [stoi.get(ch, UNK) for ch in text]


def pretrain_samples(pack: dict, stoi: dict, max_len: int) -> list[tuple[list[int], list[int]]]:
    """(ids, token types): dialogues as windows of consecutive turns [CLS] [R] t1 [SEP] [R] t2 [SEP] …
    (types alternate per turn, as prev/turn in fine-tuning); other texts as [CLS] text [SEP] chunks."""
    out = []
    for d in pack["pre_dialogues"]:
        ids, tt, k = [CLS], [0], 0
        for role, t in d:
            piece = [ROLE_C if role == "c" else ROLE_A] + encode(t, stoi)[: max_len - 3] + [SEP]
            if len(ids) + len(piece) > max_len and len(ids) > 1:
                out.append((ids, tt))
                ids, tt, k = [CLS], [0], 0
            ids += piece
            tt += [k % 2] * len(piece)
            k += 1
        if len(ids) > 1:
            out.append((ids[:max_len], tt[:max_len]))
    for t in pack["pre_texts"]:
        e = encode(t, stoi)
        for s in range(0, len(e), max_len - 2):
            chunk = e[s:s + max_len - 2]
            if len(chunk) >= 4:
                out.append(([CLS] + chunk + [SEP], [0] * (len(chunk) + 2)))
    return out


def turn_input(e: dict, stoi: dict, max_len: int, min_ctx: int = 16) -> tuple[list[int], list[int]]:
    """[CLS] [R'] prev [SEP] [R] turn [SEP]; the turn keeps its start, the context keeps its end."""
    avail = max_len - 5
    t, p = encode(e["text"], stoi), encode(e["prev"], stoi)
    t = t[: max(avail - min(min_ctx, len(p)), 1)]
    p = p[len(p) - (avail - len(t)):] if avail - len(t) > 0 and p else []
    r_turn = ROLE_C if e["role"] == "c" else ROLE_A
    r_prev = ROLE_A if e["role"] == "c" else ROLE_C
    ids = [CLS, r_prev] + p + [SEP, r_turn] + t + [SEP]
    tt = [0] * (len(p) + 3) + [1] * (len(t) + 2)
    return ids, tt


# ---------------------------------------------------------------------------------------------- model

def make_config(vocab_size: int, layers: int, hidden: int, heads: int, max_len: int):
    from transformers import BertConfig
    return BertConfig(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                      num_attention_heads=heads, intermediate_size=4 * hidden, max_position_embeddings=max_len,
                      type_vocab_size=2, pad_token_id=PAD, hidden_dropout_prob=0.1,
                      attention_probs_dropout_prob=0.1)


def turn_model_class():
    from torch import nn
    from transformers import BertModel

    class TurnModel(nn.Module):
        """BERT encoder, [CLS] state → one logit per turn head (customer heads for customer turns, agent
        heads for agent turns; the loss masks the heads of the other role)."""

        def __init__(self, config, bert=None):
            super().__init__()
            self.bert = bert if bert is not None else BertModel(config, add_pooling_layer=False)
            self.drop = nn.Dropout(0.1)
            self.head = nn.Linear(config.hidden_size, len(HEADS))

        def forward(self, ids, tt, mask):
            h = self.bert(input_ids=ids, token_type_ids=tt, attention_mask=mask).last_hidden_state[:, 0]
            return self.head(self.drop(h))

    return TurnModel


def pad_batch(rows, device):
    import torch
    n = max(len(r[0]) for r in rows)
    ids = torch.full((len(rows), n), PAD, dtype=torch.long)
    tt = torch.zeros((len(rows), n), dtype=torch.long)
    for k, (a, b) in enumerate(rows):
        ids[k, :len(a)] = torch.tensor(a)
        tt[k, :len(b)] = torch.tensor(b)
    return ids.to(device), tt.to(device), (ids != PAD).long().to(device)


def pretrain(mlm, samples, vocab_size, seconds, batch, lr, device, amp):
    """MLM (15 %: 80 % [MASK], 10 % random, 10 % kept) for a fixed wall-clock budget; cosine by time."""
    import torch
    if seconds <= 0:
        return {"steps": 0, "seconds": 0}
    mlm.train()
    opt = torch.optim.AdamW(mlm.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.98), eps=1e-6)
    lens = np.array([len(s[0]) for s in samples])
    order = np.argsort(lens, kind="stable")
    # length-bucketed batches (less padding), shuffled
    batches = [order[k:k + batch] for k in range(0, len(order), batch)]
    ids_all = [torch.tensor(s[0]) for s in samples]
    tt_all = [torch.tensor(s[1]) for s in samples]
    warm, step, t0, seen, last_log, loss_ema = 500, 0, time.time(), 0, 0.0, None
    rng = random.Random(0)
    epoch = 0
    while True:
        rng.shuffle(batches)
        for b in batches:
            el = time.time() - t0
            if el >= seconds:
                log(f"pretrain: {step} steps, {seen} sequences ({seen / len(samples):.1f} passes), "
                    f"{el:.0f} s, final MLM loss (EMA) {loss_ema if loss_ema is None else round(loss_ema, 3)}")
                return {"steps": step, "sequences": seen, "passes": round(seen / len(samples), 2),
                        "seconds": round(el), "mlm_loss": loss_ema}
            frac = el / seconds
            for g in opt.param_groups:
                g["lr"] = lr * min(1.0, (step + 1) / warm) * 0.5 * (1 + math.cos(math.pi * frac))
            n = max(len(ids_all[i]) for i in b)
            ids = torch.full((len(b), n), PAD, dtype=torch.long)
            tt = torch.zeros((len(b), n), dtype=torch.long)
            for k, i in enumerate(b):
                ids[k, :len(ids_all[i])] = ids_all[i]
                tt[k, :len(tt_all[i])] = tt_all[i]
            ids, tt = ids.to(device, non_blocking=True), tt.to(device, non_blocking=True)
            att = (ids != PAD).long()
            cand = ids >= len(SPECIALS)
            sel = (torch.rand(ids.shape, device=device) < 0.15) & cand
            labels = ids[sel]
            inp = ids.clone()
            r = torch.rand(labels.shape, device=device)
            rep = torch.where(r < 0.8, torch.full_like(labels, MASK),
                              torch.where(r < 0.9, torch.randint(len(SPECIALS), vocab_size, labels.shape,
                                                                 device=device), labels))
            inp[sel] = rep
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
                h = mlm.bert(input_ids=inp, token_type_ids=tt, attention_mask=att).last_hidden_state
                logits = mlm.cls(h[sel])
                loss = torch.nn.functional.cross_entropy(logits.float(), labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(mlm.parameters(), 1.0)
            opt.step()
            step += 1
            seen += len(b)
            if step % 20 == 0:
                lv = loss.item()
                loss_ema = lv if loss_ema is None else 0.9 * loss_ema + 0.1 * lv
            if time.time() - last_log > max(10.0, seconds / 10):
                last_log = time.time()
                log(f"  pretrain step {step} epoch {epoch} {time.time() - t0:.0f} s loss {loss_ema}")
        epoch += 1


def predict(model, rows, device, amp, batch=256):
    import torch
    model.eval()
    order = np.argsort([len(r[0]) for r in rows], kind="stable")
    out = np.zeros((len(rows), len(HEADS)), dtype=np.float32)
    with torch.no_grad():
        for k in range(0, len(rows), batch):
            idx = order[k:k + batch]
            ids, tt, att = pad_batch([rows[i] for i in idx], device)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
                logits = model(ids, tt, att)
            out[idx] = torch.sigmoid(logits.float()).cpu().numpy()
    return out


def finetune(model, tr_rows, tr_y, tr_m, dev_rows, dev_y, dev_m, epochs, batch, lr, device, amp, name):
    import torch
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    steps = epochs * math.ceil(len(tr_rows) / batch)
    warm = max(1, int(0.06 * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (steps - s) / max(1, steps - warm)))
    y_t, m_t = torch.tensor(tr_y, dtype=torch.float32), torch.tensor(tr_m, dtype=torch.float32)
    rng = np.random.default_rng(1)
    t0 = time.time()
    for ep in range(epochs):
        model.train()
        perm = rng.permutation(len(tr_rows))
        # bucket by length inside chunks of 50 batches (less padding, still shuffled)
        chunks = [perm[k:k + 50 * batch] for k in range(0, len(perm), 50 * batch)]
        batches = []
        for c in chunks:
            c = c[np.argsort([len(tr_rows[i][0]) for i in c], kind="stable")]
            batches += [c[k:k + batch] for k in range(0, len(c), batch)]
        rng.shuffle(batches)
        tot = 0.0
        for b in batches:
            ids, tt, att = pad_batch([tr_rows[i] for i in b], device)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
                logits = model(ids, tt, att)
            yb, mb = y_t[b].to(device), m_t[b].to(device)
            loss = (torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), yb, reduction="none")
                    * mb).sum() / mb.sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            tot += loss.item() * len(b)
        p = predict(model, dev_rows, device, amp)
        f1s = {h: best_f1(p[dev_m[:, j] > 0, j], dev_y[dev_m[:, j] > 0, j])[1] for j, h in enumerate(HEADS)}
        log(f"  {name} epoch {ep + 1}/{epochs} train loss {tot / len(tr_rows):.4f} ({time.time() - t0:.0f} s) "
            f"dev best-F1 " + " ".join(f"{h} {f:.3f}" for h, f in f1s.items()))
    return predict(model, dev_rows, device, amp)


# ----------------------------------------------------------------------------------------- evaluation

GRID = np.round(np.arange(0.05, 0.96, 0.01), 2)  # as scripts/train_detectors.py best_threshold


def counts(p, y, th):
    pred = p >= th
    return int((pred & (y == 1)).sum()), int((pred & (y == 0)).sum()), int((~pred & (y == 1)).sum())


def prf(tp, fp, fn):
    pr = tp / (tp + fp) if tp + fp else 0.0
    rc = tp / (tp + fn) if tp + fn else 0.0
    return pr, rc, (2 * pr * rc / (pr + rc) if pr + rc else 0.0)


def best_f1(p, y):
    best = (0.5, -1.0)
    for th in GRID:
        f = prf(*counts(p, y, th))[2]
        if f > best[1]:
            best = (float(th), f)
    return best


def evaluate(p, y, half):
    """Best-threshold P/R/F1 on all of dev, and the 2-fold figure: threshold chosen on one half of the dev
    conversations, applied to the other, tp/fp/fn pooled over both directions."""
    th, _ = best_f1(p, y)
    tp, fp, fn = counts(p, y, th)
    pr, rc, f1 = prf(tp, fp, fn)
    pooled = np.zeros(3, dtype=int)
    ths = []
    for a in (0, 1):
        t_a, _ = best_f1(p[half == a], y[half == a])
        ths.append(t_a)
        pooled += counts(p[half != a], y[half != a], t_a)
    return {"th": th, "p": pr, "r": rc, "f1": f1, "tp": tp, "fp": fp, "fn": fn,
            "f1_2fold": prf(*pooled)[2], "ths_2fold": ths}


# ---------------------------------------------------------------------------------------------- train

def train(args) -> int:
    import torch
    from safetensors.torch import save_file
    from transformers import BertForMaskedLM

    out = Path(os.environ.get("OUT") or "/tmp/exp_encoder")
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("EXP_LOG", str(out / "log.txt"))
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    amp = device.type == "cuda"
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    log(f"torch {torch.__version__} device {device} "
        f"{torch.cuda.get_device_name() if device.type == 'cuda' else ''} args {vars(args)}")
    t0 = time.time()
    with gzip.open(args.pack, "rt", encoding="utf-8") as fh:
        pack = json.load(fh)
    assert all(e["split"] in ("train", "dev") for e in pack["examples"])
    vocab = build_vocab(pack, args.min_count)
    stoi = {ch: k for k, ch in enumerate(vocab)}
    samples = pretrain_samples(pack, stoi, args.max_len)
    n_tok = sum(len(s[0]) for s in samples)
    n_chars = sum(len(t) for d in pack["pre_dialogues"] for _, t in d) + sum(map(len, pack["pre_texts"]))
    log(f"vocab {len(vocab)} (min count {args.min_count}); pretraining: {len(pack['pre_dialogues'])} dialogues + "
        f"{len(pack['pre_texts'])} texts = {n_chars / 1e6:.2f} M chars -> {len(samples)} sequences, "
        f"{n_tok / 1e6:.2f} M tokens (held out: {pack['held_out_of_pretraining']}); loaded in {time.time() - t0:.0f} s")

    cfg = make_config(len(vocab), args.layers, args.hidden, args.heads, args.max_len)
    mlm = BertForMaskedLM(cfg).to(device)
    log(f"model: {args.layers} layers, hidden {args.hidden}, {args.heads} heads, max len {args.max_len}, "
        f"{sum(p.numel() for p in mlm.bert.parameters()) / 1e6:.2f} M encoder parameters")
    pre = pretrain(mlm, samples, len(vocab), args.pretrain_seconds, args.pretrain_batch, args.pretrain_lr,
                   device, amp)
    del samples

    ex = pack["examples"]
    rows = [turn_input(e, stoi, args.max_len) for e in ex]
    Y = np.zeros((len(ex), len(HEADS)), dtype=np.float32)
    M = np.zeros_like(Y)
    for k, e in enumerate(ex):
        for h, v in e["y"].items():
            Y[k, HEADS.index(h)] = v
            M[k, HEADS.index(h)] = 1
    tr = [k for k, e in enumerate(ex) if e["split"] == "train"]
    dv = [k for k, e in enumerate(ex) if e["split"] == "dev"]
    log(f"fine-tune: {len(tr)} train turns, {len(dv)} dev turns; positives train "
        + " ".join(f"{h} {int(Y[tr, j].sum())}" for j, h in enumerate(HEADS)))
    TurnModel = turn_model_class()
    ft_args = dict(epochs=args.epochs, batch=args.batch, lr=args.lr, device=device, amp=amp)
    tr_rows, dv_rows = [rows[k] for k in tr], [rows[k] for k in dv]
    # one pretrained encoder, fine-tuned once per seed (--seeds); the table reads the seeds' mean
    from transformers import BertModel
    pre_state = {k: v.detach().clone() for k, v in mlm.bert.state_dict().items()}
    runs = []
    for k in range(args.seeds):
        torch.manual_seed(args.seed + k)
        bert = BertModel(cfg, add_pooling_layer=False)
        bert.load_state_dict(pre_state)
        model = TurnModel(cfg, bert).to(device)
        runs.append(finetune(model, tr_rows, Y[tr], M[tr], dv_rows, Y[dv], M[dv],
                             name=f"pretrained seed {args.seed + k}", **ft_args))
    P = np.mean(runs, axis=0)
    np.save(out / "dev_probs.npy", np.stack(runs))
    (out / "dev_keys.json").write_text(json.dumps([[ex[k]["conv"], ex[k]["turn"]] for k in dv]) + "\n")
    P_scratch = None
    if args.scratch_control:
        torch.manual_seed(args.seed)
        ctrl = TurnModel(cfg).to(device)
        P_scratch = finetune(ctrl, tr_rows, Y[tr], M[tr], dv_rows, Y[dv], M[dv], name="scratch", **ft_args)
        del ctrl

    # dev table
    dev = [ex[k] for k in dv]
    half = np.array([int(hashlib.sha1(e["conv"].encode()).hexdigest()[:8], 16) % 2 for e in dev])
    results = {}
    hdr = (f"{'head':11s} {'n':>5s} {'pos':>4s} | {'encoder P / R / F1 (th)':27s} 2fold | "
           f"{'linear F1 (th)':14s} 2fold | {'ensemble F1 (th)':16s} 2fold"
           + (" | scratch F1 2fold" if P_scratch is not None else ""))
    lines = [hdr, "-" * len(hdr)]
    for j, h in enumerate(HEADS):
        m = M[dv, j] > 0
        y = Y[dv, j][m].astype(int)
        hv = half[m]
        p_enc = P[m, j]
        p_lin = np.array([e["linear"][h] for e, keep in zip(dev, m) if keep], dtype=np.float32)
        r_enc, r_lin, r_ens = evaluate(p_enc, y, hv), evaluate(p_lin, y, hv), evaluate((p_enc + p_lin) / 2, y, hv)
        results[h] = {"n": int(m.sum()), "positives": int(y.sum()), "encoder": r_enc, "linear": r_lin,
                      "ensemble": r_ens}
        line = (f"{h:11s} {int(m.sum()):5d} {int(y.sum()):4d} | {r_enc['p']:.3f} / {r_enc['r']:.3f} / "
                f"{r_enc['f1']:.3f} ({r_enc['th']:.2f})  {r_enc['f1_2fold']:.3f} | {r_lin['f1']:.3f} ({r_lin['th']:.2f})"
                f"   {r_lin['f1_2fold']:.3f} | {r_ens['f1']:.3f} ({r_ens['th']:.2f})     {r_ens['f1_2fold']:.3f}")
        if P_scratch is not None:
            r_s = evaluate(P_scratch[m, j], y, hv)
            results[h]["scratch"] = r_s
            line += f" | {r_s['f1']:.3f} {r_s['f1_2fold']:.3f}"
        lines.append(line)
    log("\nDEV turn-level (threshold chosen on all of dev = optimistic; 2fold = threshold from the other half "
        "of dev conversations, pooled):")
    for ln in lines:
        log(ln)

    # save
    sd = {k: v.detach().to(torch.float16).cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(sd, str(out / "model.safetensors"))
    cfg_d = cfg.to_dict()
    cfg_d.update({"qa_heads": list(HEADS), "customer_heads": list(CUSTOMER_HEADS), "agent_heads": list(AGENT_HEADS),
                  "thresholds_dev": {h: results[h]["encoder"]["th"] for h in HEADS},
                  "input": "[CLS] [role of prev] prev [SEP] [role] turn [SEP], normalise()d text, char vocab",
                  "specials": SPECIALS})
    (out / "config.json").write_text(json.dumps(cfg_d, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (out / "results.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "pretrain": pre,
                                                  "vocab": len(vocab), "pretrain_chars": n_chars,
                                                  "pretrain_tokens": n_tok, "dev": results,
                                                  "seconds": round(time.time() - t0)}, indent=1) + "\n")
    log(f"saved {out} (model.safetensors fp16, config.json, vocab.txt, results.json) in {time.time() - t0:.0f} s total")
    return 0


# ---------------------------------------------------------------------------------------------- bench

def bench(args) -> int:
    import torch
    from safetensors.torch import load_file
    from transformers import BertConfig

    torch.set_num_threads(1)
    model_dir = Path(args.model)
    cfg_d = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    vocab = (model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    stoi = {ch: k for k, ch in enumerate(vocab)}
    with gzip.open(args.pack, "rt", encoding="utf-8") as fh:
        dev = [e for e in json.load(fh)["examples"] if e["split"] == "dev"]
    rows = [turn_input(e, stoi, cfg_d["max_position_embeddings"]) for e in dev][: args.bench_turns]
    log(f"bench: {len(rows)} real dev turns, mean input length {np.mean([len(r[0]) for r in rows]):.1f} tokens, "
        f"batch {args.bench_batch}, torch.set_num_threads(1), fp32, CPU")
    TurnModel = turn_model_class()
    keys = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
            "max_position_embeddings", "type_vocab_size", "pad_token_id")
    cfg = BertConfig(**{k: cfg_d[k] for k in keys})
    trained = TurnModel(cfg)
    trained.load_state_dict({k: v.float() for k, v in load_file(str(model_dir / "model.safetensors")).items()})
    variants = [(f"fine-tuned {cfg.num_hidden_layers}L/{cfg.hidden_size}", trained)]
    small = make_config(len(vocab), 2, 128, 4, cfg.max_position_embeddings)
    variants.append(("2L/128 (random weights, speed only)", TurnModel(small)))
    dev_cpu = torch.device("cpu")
    for name, m in variants:
        m.eval()
        for sort in (False, True):
            order = np.argsort([len(r[0]) for r in rows], kind="stable") if sort else np.arange(len(rows))
            batches = [[rows[i] for i in order[k:k + args.bench_batch]] for k in range(0, len(rows), args.bench_batch)]
            with torch.inference_mode():
                m(*pad_batch(batches[0], dev_cpu))  # warm-up
                t0 = time.perf_counter()
                for b in batches:
                    m(*pad_batch(b, dev_cpu))
                el = time.perf_counter() - t0
            log(f"  {name:38s} {'length-sorted' if sort else 'dev order    '}: {len(rows) / el:8.0f} turns/s "
                f"({1000 * el / len(rows):.3f} ms/turn)")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", choices=["pack", "train", "bench", "all"])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--pack", type=Path, default=DEFAULT_PACK)
    p.add_argument("--pretrain-include-dev", action="store_true",
                   help="let dev dialogues' text into pretraining (default: dev and test kept out)")
    p.add_argument("--min-count", type=int, default=3)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--max-len", type=int, default=128)
    p.add_argument("--pretrain-seconds", type=float, default=300)
    p.add_argument("--pretrain-batch", type=int, default=256)
    p.add_argument("--pretrain-lr", type=float, default=5e-4)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--scratch-control", action="store_true", help="also fine-tune the same model from random init")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--seeds", type=int, default=1, help="fine-tune runs from the one pretrained encoder "
                   "(seeds seed, seed+1, …); dev probabilities of each saved to dev_probs.npy, the table reads their mean")
    p.add_argument("--cpu", action="store_true")
    p.add_argument("--model", type=Path, default=Path(os.environ.get("OUT") or "/tmp/exp_encoder"))
    p.add_argument("--bench-turns", type=int, default=4096)
    p.add_argument("--bench-batch", type=int, default=64)
    args = p.parse_args()
    if args.step in ("pack", "all") and (args.step == "pack" or not args.pack.exists()):
        build_pack(args.data, args.pack, args.pretrain_include_dev)
    if args.step in ("train", "all"):
        train(args)
    if args.step in ("bench", "all"):
        bench(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
