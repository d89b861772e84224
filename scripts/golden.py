"""The golden set: sample dialogues, show them to a labeller, check label files, count.

Scripts only sample, display, save and count; every label is made by a person reading the
conversation (../shared/qa-standard.md, data/golden/GUIDE.md). Nothing here looks at the
system's output.

    python scripts/golden.py sample --data ../shared/data          # writes data/golden/sample.json
    python scripts/golden.py show --share 3 --start 0 --count 20   # a labeller's share, with turn indices
    python scripts/golden.py show --id csds-95cf5385096279aa
    python scripts/golden.py check data/golden/shares/share-3.jsonl
    python scripts/golden.py merge        # shares -> data/golden/labels.jsonl (with corpus and split)
    python scripts/golden.py sample-extra2 --data ../shared/data   # round 2 of training-only labels
    python scripts/golden.py show --extra2 --share 3               # … and merge --extra2
    python scripts/golden.py agree        # κ per item: the re-read sample against the labels
    python scripts/golden.py count        # label counts per item, corpus and split (for the data card)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "data" / "golden"
SEED = 20261127
PER_CORPUS = {"jddc_sample": 520, "csds": 520, "stc3_dch1": 520, "mobilecs_examples": None}  # None = all
SHARES = 8


def load_corpus(data_dir: Path, corpus: str) -> dict[str, dict]:
    with open(data_dir / corpus / f"{corpus}.jsonl", encoding="utf-8") as fh:
        return {rec["id"]: rec for rec in map(json.loads, fh)}


EXTRA_SEED = 20261129
EXTRA_PER_CORPUS = {"jddc_sample": None, "csds": None, "stc3_dch1": 760}  # None: every dialogue not yet sampled


def sample_extra(data_dir: Path) -> dict:
    """Training-only dialogues outside the golden set (labelled the same way, never evaluated on)."""
    golden = {d["id"] for d in json.loads((GOLDEN / "sample.json").read_text(encoding="utf-8"))["dialogues"]}
    rng = random.Random(EXTRA_SEED)
    chosen: list[tuple[str, str]] = []
    for corpus, n in EXTRA_PER_CORPUS.items():
        ids = sorted(rid for rid, rec in load_corpus(data_dir, corpus).items()
                     if rid not in golden and any((t.get("text") or "").strip() for t in rec["turns"]))
        picked = ids if n is None or n >= len(ids) else rng.sample(ids, n)
        chosen += [(corpus, i) for i in sorted(picked)]
    order = list(range(len(chosen)))
    rng.shuffle(order)
    shares = {chosen[k][1]: pos % SHARES for pos, k in enumerate(order)}
    return {"seed": EXTRA_SEED, "per_corpus": EXTRA_PER_CORPUS, "shares": SHARES,
            "dialogues": [{"id": i, "corpus": c, "share": shares[i], "split": "train"} for c, i in chosen]}


EXTRA2_SEED = 20261127_2


def sample_extra2(data_dir: Path) -> dict:
    """Round 2 of training-only dialogues: every stc3_dch1 dialogue in neither the golden set nor round 1
    (jddc_sample and csds were all labelled by then), in shares of a seeded shuffle."""
    taken = {d["id"] for f in ("sample.json", "extra_sample.json")
             for d in json.loads((GOLDEN / f).read_text(encoding="utf-8"))["dialogues"]}
    ids = sorted(rid for rid, rec in load_corpus(data_dir, "stc3_dch1").items()
                 if rid not in taken and any((t.get("text") or "").strip() for t in rec["turns"]))
    rng = random.Random(EXTRA2_SEED)
    order = list(range(len(ids)))
    rng.shuffle(order)
    shares = {ids[k]: pos % SHARES for pos, k in enumerate(order)}
    return {"seed": EXTRA2_SEED, "per_corpus": {"stc3_dch1": None}, "shares": SHARES,
            "dialogues": [{"id": i, "corpus": "stc3_dch1", "share": shares[i], "split": "train"} for i in ids]}


ROUNDS = {  # plan file, shares folder, merged labels
    "golden": ("sample.json", "shares", "labels.jsonl"),
    "extra": ("extra_sample.json", "extra_shares", "train_extra.jsonl"),
    "extra2": ("extra2_sample.json", "extra2_shares", "train_extra2.jsonl"),
}


def split_of(dialogue_id: str) -> str:
    """train / dev / test, fixed by a hash of the dialogue id alone (60 / 20 / 20)."""
    bucket = int(hashlib.sha1(f"qa-golden-v1|{dialogue_id}".encode()).hexdigest()[:8], 16) % 10
    return "train" if bucket < 6 else "dev" if bucket < 8 else "test"


def sample(data_dir: Path) -> dict:
    rng = random.Random(SEED)
    chosen: list[tuple[str, str]] = []
    for corpus, n in PER_CORPUS.items():
        ids = sorted(rid for rid, rec in load_corpus(data_dir, corpus).items()
                     if any((t.get("text") or "").strip() for t in rec["turns"]))
        picked = ids if n is None or n >= len(ids) else rng.sample(ids, n)
        chosen += [(corpus, i) for i in sorted(picked)]
    order = list(range(len(chosen)))
    rng.shuffle(order)
    shares = {chosen[k][1]: pos % SHARES for pos, k in enumerate(order)}
    return {
        "seed": SEED, "per_corpus": PER_CORPUS, "shares": SHARES,
        "dialogues": [{"id": i, "corpus": c, "share": shares[i], "split": split_of(i)} for c, i in chosen],
    }


def render(rec: dict) -> str:
    lines = [f"### {rec['id']}  ({rec['source']}, {len(rec['turns'])} turns)"]
    for i, t in enumerate(rec["turns"]):
        text = (t.get("text") or "").strip() or "(empty)"
        mark = " …" if t.get("maybe_truncated") else ""
        lines.append(f"[{i}] {'客服' if t['role'] == 'agent' else '客户'}: {text}{mark}")
    return "\n".join(lines)


ITEMS_BOOL = ("greeting", "closing")
TYPES = {"price", "quality", "delay", "policy", "service", "other"}
HANDLED = {"yes", "partial", "no"}
END = {"positive", "neutral", "negative"}
RESOLVED = {"yes", "no", "unknown"}


def check_record(rec: dict, dialogues: dict[str, dict]) -> list[str]:
    """Format errors of one label line (never its content: that is the labeller's call)."""
    err: list[str] = []
    d = dialogues.get(rec.get("id"))
    if d is None:
        return [f"unknown id {rec.get('id')!r}"]
    turns = d["turns"]

    def turn(i, role, what):
        if not isinstance(i, int) or not 0 <= i < len(turns):
            err.append(f"{what}: turn {i!r} is not an index 0..{len(turns) - 1}")
        elif turns[i]["role"] != role:
            err.append(f"{what}: turn {i} is a {turns[i]['role']} turn, expected {role}")

    for k in ITEMS_BOOL:
        if not isinstance(rec.get(k), bool):
            err.append(f"{k}: expected true/false")
    for k, want in (("apology_turns", "agent"), ("negative_turns", "customer"), ("angry_turns", "customer"),
                    ("escalation_turns", "customer")):
        if not isinstance(rec.get(k), list):
            err.append(f"{k}: expected a list of turn indices")
            continue
        for i in rec[k]:
            turn(i, want, k)
    if isinstance(rec.get("angry_turns"), list) and isinstance(rec.get("negative_turns"), list):
        extra = set(rec["angry_turns"]) - set(rec["negative_turns"])
        if extra:
            err.append(f"angry_turns {sorted(extra)} must also be in negative_turns")
    for r in rec.get("rude", []) if isinstance(rec.get("rude"), list) else [None]:
        if not isinstance(r, dict):
            err.append("rude: expected a list of {turn, quote}")
            continue
        turn(r.get("turn"), "agent", "rude")
        if isinstance(r.get("turn"), int) and 0 <= r["turn"] < len(turns) and r.get("quote") not in turns[r["turn"]]["text"]:
            err.append(f"rude: quote {r.get('quote')!r} is not verbatim in turn {r['turn']}")
    for o in rec.get("objections", []) if isinstance(rec.get("objections"), list) else [None]:
        if not isinstance(o, dict):
            err.append("objections: expected a list of {turns, type, answer_turn, handled}")
            continue
        if not o.get("turns"):
            err.append("objection: turns must list at least one customer turn")
        for i in o.get("turns", []):
            turn(i, "customer", "objection")
        if o.get("type") not in TYPES:
            err.append(f"objection type {o.get('type')!r} not one of {sorted(TYPES)}")
        if o.get("handled") not in HANDLED:
            err.append(f"objection handled {o.get('handled')!r} not one of {sorted(HANDLED)}")
        if o.get("answer_turn") is not None:
            turn(o["answer_turn"], "agent", "objection answer_turn")
    if rec.get("closing") and rec.get("closing_turn") is not None:
        turn(rec["closing_turn"], "agent", "closing_turn")
    if rec.get("greeting") and rec.get("greeting_turn") is not None:
        turn(rec["greeting_turn"], "agent", "greeting_turn")
    if rec.get("end_sentiment") not in END:
        err.append(f"end_sentiment {rec.get('end_sentiment')!r} not one of {sorted(END)}")
    if rec.get("resolved") not in RESOLVED:
        err.append(f"resolved {rec.get('resolved')!r} not one of {sorted(RESOLVED)}")
    if rec.get("quality") not in (1, 2, 3, 4, 5):
        err.append(f"quality {rec.get('quality')!r} not 1..5")
    return err


def all_dialogues(data_dir: Path) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for corpus in PER_CORPUS:
        out.update(load_corpus(data_dir, corpus))
    return out


def merge(round_: str = "golden") -> int:
    plan_file, shares_dir, target = ROUNDS[round_]
    plan = {d["id"]: d for d in json.loads((GOLDEN / plan_file).read_text(encoding="utf-8"))["dialogues"]}
    out = []
    for f in sorted((GOLDEN / shares_dir).glob("share-*.jsonl")):
        for rec in map(json.loads, filter(str.strip, f.read_text(encoding="utf-8").splitlines())):
            d = plan[rec["id"]]
            out.append({"id": rec["id"], "corpus": d["corpus"], "split": d["split"], **{k: v for k, v in rec.items()
                                                                                        if k != "id"}})
    missing = set(plan) - {r["id"] for r in out}
    if missing and round_ != "extra2":
        print(f"{len(missing)} sampled dialogues have no label yet")
        return 1
    if missing:  # training-only round 2: each share is read in its fixed order, so what was read is a random part
        print(f"{len(missing)} of {len(plan)} sampled dialogues have no label (not read in time): left out")
    out.sort(key=lambda r: r["id"])
    with open(GOLDEN / target, "w", encoding="utf-8") as fh:
        for rec in out:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    print(f"{len(out)} labels -> {GOLDEN / target}")
    return 0


def _labels(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, filter(str.strip, path.read_text(encoding="utf-8").splitlines()))}


def agree(dialogues: dict[str, dict]) -> int:
    """Cohen's κ per item between the re-read sample (R1) and the golden labels, as markdown table rows."""
    from qa_service.evaluation import labels as L
    from qa_service.stats import Agreement, kappa

    first, second = _labels(GOLDEN / "labels.jsonl"), _labels(GOLDEN / "reread.jsonl")
    ids = sorted(second)
    print(f"{len(ids)} conversations read twice (first labels vs independent re-read)\n")
    print("| item | level | n | positives (first / re-read) | agreement | κ |\n|---|---|---|---|---|---|")
    for item in L.ITEMS:
        a = Agreement()
        for i in ids:
            a.add(L.items(first[i])[item], L.items(second[i])[item])
        print(f"| {item} | conversation | {a.n} | {a.tp + a.fn} / {a.tp + a.fp} | {a.accuracy:.3f} | "
              f"{a.kappa:.3f} |" if a.kappa is not None else f"| {item} | conversation | {a.n} | - | - | - |")
    for item, role in L.TURN_ITEMS.items():
        a = Agreement()
        for i in ids:
            t1, t2 = L.turns(first[i])[item], L.turns(second[i])[item]
            for k, turn in enumerate(dialogues[i]["turns"]):
                if turn["role"] == role and (turn.get("text") or "").strip():
                    a.add(k in t1, k in t2)
        print(f"| {item} | turn ({role}) | {a.n} | {a.tp + a.fn} / {a.tp + a.fp} | {a.accuracy:.3f} | {a.kappa:.3f} |")
    for field in ("end_sentiment", "resolved"):
        x, y = [first[i][field] for i in ids], [second[i][field] for i in ids]
        same = sum(p == q for p, q in zip(x, y)) / len(ids)
        print(f"| {field} (3 classes) | conversation | {len(ids)} | - | {same:.3f} | {kappa(x, y):.3f} |")
    x, y = [first[i]["quality"] for i in ids], [second[i]["quality"] for i in ids]
    same = sum(p == q for p, q in zip(x, y)) / len(ids)
    within = sum(abs(p - q) <= 1 for p, q in zip(x, y)) / len(ids)
    qk = kappa(x, y, weights={g: g for g in range(1, 6)})
    print(f"| quality 1–5 | conversation | {len(ids)} | - | {same:.3f} exact, {within:.3f} within 1 | "
          f"{qk:.3f} (quadratic-weighted) |")
    return 0


def count() -> int:
    """Positives per item, by corpus and split (conversation level), and the quality distribution."""
    from collections import Counter

    from qa_service.evaluation import labels as L

    recs = list(_labels(GOLDEN / "labels.jsonl").values())
    corpora = sorted({r["corpus"] for r in recs})
    print("| item | " + " | ".join(corpora) + " | train | dev | test | all |")
    print("|---" * (len(corpora) + 5) + "|")
    for item in L.ITEMS:
        cells = [sum(L.items(r)[item] for r in recs if r["corpus"] == c) for c in corpora]
        cells += [sum(L.items(r)[item] for r in recs if r["split"] == s) for s in ("train", "dev", "test")]
        print(f"| {item} | " + " | ".join(map(str, cells)) + f" | {sum(L.items(r)[item] for r in recs)} |")
    sizes = [sum(r["corpus"] == c for r in recs) for c in corpora] + \
            [sum(r["split"] == s for r in recs) for s in ("train", "dev", "test")]
    print("| conversations | " + " | ".join(map(str, sizes)) + f" | {len(recs)} |")
    for field in ("quality", "end_sentiment", "resolved"):
        print(f"\n{field}: " + ", ".join(f"{k}: {v}" for k, v in sorted(Counter(r[field] for r in recs).items())))
    turns = Counter()
    for r in recs:
        for item, ts in L.turns(r).items():
            turns[item] += len(ts)
    print("\nturn-level positives: " + ", ".join(f"{k}: {v}" for k, v in turns.items()))
    types = Counter(o["type"] for r in recs for o in r["objections"])
    handled = Counter(o["handled"] for r in recs for o in r["objections"])
    print(f"objection types: {dict(types)}; handled: {dict(handled)}")
    return 0


SHIP_SEED = 20261130
SHIP_WANT = ("rude", "objection_unhandled", "end_negative", "escalation", "apology", "objection")


def ship_sample(dialogues: dict[str, dict]) -> int:
    """14 dev-split conversations with their text, for tests that must run without ../shared: two with
    each item of SHIP_WANT where possible, every corpus of the split, a quality-5 and a quality-4 one."""
    from qa_service.evaluation import labels as L

    dev = [r for r in _labels(GOLDEN / "labels.jsonl").values() if r["split"] == "dev"]
    rng = random.Random(SHIP_SEED)
    rng.shuffle(dev)
    chosen: list[dict] = []
    for item in SHIP_WANT:
        chosen += [r for r in dev if L.items(r)[item] and r not in chosen][:2]
    for corpus in sorted({r["corpus"] for r in dev}):
        if not any(r["corpus"] == corpus for r in chosen):
            chosen.append(next(r for r in dev if r["corpus"] == corpus))
    for grade in (5, 4):  # a clearly good conversation or two (the others skew to the problems above)
        chosen += [r for r in dev if r["quality"] == grade and r not in chosen][:1]
    chosen += [r for r in dev if r not in chosen][:max(0, 14 - len(chosen))]
    out = ROOT / "tests" / "data" / "golden_sample.jsonl"
    with open(out, "w", encoding="utf-8") as fh:
        for r in sorted(chosen[:14], key=lambda r: r["id"]):
            turns = [{"role": t["role"], "text": t.get("text") or ""} for t in dialogues[r["id"]]["turns"]]
            fh.write(json.dumps({**r, "utterances": turns}, ensure_ascii=False) + "\n")
    print(f"{min(len(chosen), 14)} conversations -> {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["sample", "sample-extra", "sample-extra2", "show", "check", "merge", "agree",
                                       "count", "ship-sample"])
    p.add_argument("--extra", action="store_true", help="show/merge the training-only extra sample")
    p.add_argument("--extra2", action="store_true", help="show/merge round 2 of the training-only sample")
    p.add_argument("files", nargs="*", type=Path)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--share", type=int)
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--count", type=int, default=20)
    p.add_argument("--id", action="append", default=[])
    p.add_argument("--reread", action="store_true", help="the agreement re-read sample (data/golden/reread_sample.json)")
    args = p.parse_args(argv)
    samplers = {"sample": ("golden", sample), "sample-extra": ("extra", sample_extra),
                "sample-extra2": ("extra2", sample_extra2)}
    if args.command in samplers:
        round_, draw = samplers[args.command]
        out, target = draw(args.data), GOLDEN / ROUNDS[round_][0]
        target.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"{len(out['dialogues'])} dialogues -> {target}")
        return 0
    if args.command == "merge":
        return merge("extra2" if args.extra2 else "extra" if args.extra else "golden")
    if args.command == "agree":
        return agree(all_dialogues(args.data))
    if args.command == "count":
        return count()
    if args.command == "ship-sample":
        return ship_sample(all_dialogues(args.data))
    dialogues = all_dialogues(args.data)
    if args.command == "show":
        ids = args.id
        if args.reread:
            sample_ids = json.loads((GOLDEN / "reread_sample.json").read_text(encoding="utf-8"))["ids"]
            ids += sample_ids[args.start:args.start + args.count]
            print(f"(re-read sample: {len(sample_ids)} dialogues; showing {args.start}..{args.start + len(ids) - 1})\n")
        if args.share is not None:
            round_ = "extra2" if args.extra2 else "extra" if args.extra else "golden"
            plan = json.loads((GOLDEN / ROUNDS[round_][0]).read_text(encoding="utf-8"))
            share = [d["id"] for d in plan["dialogues"] if d["share"] == args.share]
            share.sort(key=lambda i: hashlib.sha1(i.encode()).hexdigest())  # mixed corpora, stable order
            ids += share[args.start:args.start + args.count]
            print(f"(share {args.share}: {len(share)} dialogues; showing {args.start}..{args.start + len(ids) - 1})\n")
        for i in ids:
            print(render(dialogues[i]) + "\n")
        return 0
    bad = 0
    seen: set[str] = set()
    for f in args.files:
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                print(f"{f}:{n}: not JSON: {e}")
                bad += 1
                continue
            errs = check_record(rec, dialogues)
            if rec.get("id") in seen:
                errs.append("duplicate id")
            seen.add(rec.get("id"))
            for e in errs:
                print(f"{f}:{n}: {rec.get('id')}: {e}")
            bad += bool(errs)
    print(f"{len(seen)} labelled, {bad} with format errors")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
