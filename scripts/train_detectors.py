"""Train the learned detectors (models/qa-detectors) on the golden set's train split (+ the training-only
extra labels), choose each head's regularisation and decision threshold on the dev split, and save.

The test split is never read here. Each head is an L2 logistic regression (scikit-learn) over the hashed
features of ``qa_service/scoring/detectors/`` — exactly the features the scorer computes.

    pip install -c requirements/lock.txt -e '.[train]'
    python scripts/train_detectors.py --data ../shared/data --out models/qa-detectors
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa_service.config import DEFAULT_RULES_DIR  # noqa: E402
from qa_service.domain import Role, Transcript, Utterance  # noqa: E402
from qa_service.stats import Agreement  # noqa: E402
from qa_service.rules.book import RuleBook  # noqa: E402
from qa_service.scoring.detectors import examples as ex  # noqa: E402
from qa_service.scoring.detectors.detector import AGENT_HEADS, CUSTOMER_HEADS, Detector, turn_tags  # noqa: E402
from qa_service.scoring.detectors.features import Bag, TurnView  # noqa: E402
from qa_service.scoring.detectors.items import ENDS_NEGATIVE, OBJECTION_UNHANDLED, Item, summaries  # noqa: E402
from qa_service.scoring.detectors.model import DetectorModel, Head  # noqa: E402

BUCKETS = 1 << 18
TYPES = ["price", "quality", "delay", "policy", "service", "other"]
HANDLING = ["yes", "partial", "no"]
END = ["positive", "neutral", "negative"]
RESOLVED = ["yes", "no", "unknown"]
C_GRID = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
FOLDS = 5  # out-of-fold detections of the training conversations (the second stage; fit_scorecard.py)
ITEM_C = 1.0  # the second stage's regularisation, fixed in advance (scripts/experiments/stack_items.py)
ITEMS = {  # second-stage item -> whether a labelled conversation has it
    ENDS_NEGATIVE: lambda lab: lab["end_sentiment"] == "negative",
    OBJECTION_UNHANDLED: lambda lab: any(o["handled"] == "no" for o in lab["objections"]),
}


@dataclass
class Convo:
    id: str
    split: str
    label: dict
    transcript: Transcript
    view: TurnView = None
    tags: dict = field(default_factory=dict)


def load(data_dir: Path, extra: bool, extra2: bool = False) -> list[Convo]:
    corpora = {}
    for corpus in ("jddc_sample", "csds", "stc3_dch1", "mobilecs_examples"):
        with open(data_dir / corpus / f"{corpus}.jsonl", encoding="utf-8") as fh:
            corpora.update({r["id"]: r for r in map(json.loads, fh)})
    files = [ROOT / "data/golden/labels.jsonl"]
    if extra:  # the training-only labels (data/golden/README.md); round 2 only when asked: it did not help
        files += [f for f in (ROOT / "data/golden/train_extra.jsonl",
                              *((ROOT / "data/golden/train_extra2.jsonl",) if extra2 else ())) if f.exists()]
    book = RuleBook(DEFAULT_RULES_DIR).load()
    out = []
    for f in files:
        for label in map(json.loads, f.read_text(encoding="utf-8").splitlines()):
            turns = corpora[label["id"]]["turns"]
            t = Transcript(utterances=tuple(Utterance(i, Role(x["role"]), x.get("text") or "")
                                            for i, x in enumerate(turns)))
            c = Convo(label["id"], label.get("split", "train"), label, t, TurnView.of(t))
            c.tags = turn_tags(book.pack_for(t).match(t))
            out.append(c)
    return out


def matrix(bags: list[Bag]) -> csr_matrix:
    rows = np.repeat(np.arange(len(bags)), [len(b.ids) for b in bags])
    ids = np.concatenate([b.ids for b in bags]) if bags else np.zeros(0, dtype=np.int64)
    w = np.concatenate([b.weights for b in bags]) if bags else np.zeros(0, dtype=np.float32)
    return csr_matrix((w, (rows, ids)), shape=(len(bags), BUCKETS))


def examples(convos: list[Convo]) -> dict[str, tuple[list[Bag], list, list[tuple[int, object]]]]:
    """head → (bags, targets, (conversation index, turn or objection)) for every head."""
    out: dict[str, tuple[list, list, list]] = defaultdict(lambda: ([], [], []))
    for k, c in enumerate(convos):
        lab, v = c.label, c.view
        obj_turns = {t for o in lab["objections"] for t in o["turns"]}
        sets = {"objection": obj_turns, "negative": set(lab["negative_turns"]), "angry": set(lab["angry_turns"]),
                "escalation": set(lab["escalation_turns"]), "apology": set(lab["apology_turns"]),
                "rude": {r["turn"] for r in lab["rude"]}}
        for heads, turns in ((CUSTOMER_HEADS, v.customer_turns), (AGENT_HEADS, v.agent_turns)):
            for i in turns:
                bag = ex.turn_example(v, i, c.tags.get(i, ()), BUCKETS)
                for h in heads:
                    out[h][0].append(bag)
                    out[h][1].append(int(i in sets[h]))
                    out[h][2].append((k, i))
        for o in lab["objections"]:
            turns = [t for t in o["turns"] if v.texts[t]] or o["turns"]
            out["handling"][0].append(ex.handling_example(v, turns, c.tags, BUCKETS))
            out["handling"][1].append(HANDLING.index(o["handled"]))
            out["handling"][2].append((k, tuple(turns)))
            out["objection_type"][0].append(ex.turn_example(v, turns[0], c.tags.get(turns[0], ()), BUCKETS))
            out["objection_type"][1].append(TYPES.index(o["type"]))
            out["objection_type"][2].append((k, tuple(turns)))
        for head, build, y in (("greeting", ex.greeting_example, int(lab["greeting"])),
                               ("closing", ex.closing_example, int(lab["closing"])),
                               ("end_sentiment", ex.ending_example, END.index(lab["end_sentiment"])),
                               ("resolved", ex.ending_example, RESOLVED.index(lab["resolved"]))):
            out[head][0].append(build(v, c.tags, BUCKETS))
            out[head][1].append(y)
            out[head][2].append((k, None))
    return out


def fit(bags: list[Bag], y: list, c: float, balanced: bool) -> LogisticRegression:
    clf = LogisticRegression(C=c, max_iter=3000, class_weight="balanced" if balanced else None,
                             solver="liblinear" if len(set(y)) <= 2 else "lbfgs")
    return clf.fit(matrix(bags), np.array(y))


def head_from(name: str, clf: LogisticRegression, classes: list[str]) -> Head:
    coef = clf.coef_.T.astype(np.float32)  # buckets × (1 | k)
    bias = clf.intercept_.astype(np.float32)
    if classes != ["yes"] and coef.shape[1] != len(classes):  # a class absent from training: no weight, -inf bias
        full_w = np.zeros((BUCKETS, len(classes)), dtype=np.float32)
        full_b = np.full(len(classes), -30.0, dtype=np.float32)
        for col, cls in enumerate(clf.classes_):
            full_w[:, cls], full_b[cls] = coef[:, col], bias[col]
        coef, bias = full_w, full_b
    return Head(name, classes, None, coef, bias)


def best_threshold(scores: list[float], truth: list[bool]) -> tuple[float, float]:
    """The threshold maximising F1 (and that F1)."""
    best = (0.5, -1.0)
    for th in np.arange(0.05, 0.96, 0.01):
        a = Agreement()
        for s, t in zip(scores, truth):
            a.add(t, s >= th)
        if (a.f1 or 0) > best[1]:
            best = (round(float(th), 2), a.f1 or 0.0)
    return best


def conversation_scores(head: Head, data, convos, split_idx) -> tuple[list[float], list[bool]]:
    """Max turn probability per dev conversation, and whether the label has the item."""
    bags, y, where = data
    probs = head.probabilities([bags[j] for j in split_idx])[:, 0]
    best: dict[int, float] = defaultdict(float)
    truth: dict[int, bool] = defaultdict(bool)
    for j, p in zip(split_idx, probs):
        k, _ = where[j]
        best[k] = max(best[k], float(p))
        truth[k] |= bool(y[j])
    ks = sorted({where[j][0] for j in split_idx} | {k for k, c in enumerate(convos) if c.split == "dev"})
    return [best.get(k, 0.0) for k in ks], [truth.get(k, False) for k in ks]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--out", type=Path, default=ROOT / "models" / "qa-detectors")
    p.add_argument("--no-extra", action="store_true", help="golden train split only")
    p.add_argument("--extra2", action="store_true",
                   help="also round 2 of the training-only labels (1,543 stc3 dialogues; not in the shipped model)")
    args = p.parse_args()
    t0 = time.time()
    convos = [c for c in load(args.data, extra=not args.no_extra, extra2=args.extra2) if c.split in ("train", "dev")]
    train_k = {k for k, c in enumerate(convos) if c.split == "train"}
    data = examples(convos)
    print(f"{len(train_k)} training and {len(convos) - len(train_k)} dev conversations; "
          f"features built in {time.time() - t0:.0f} s")
    heads, report = {}, {}
    classes_of = {"objection_type": TYPES, "handling": HANDLING, "end_sentiment": END, "resolved": RESOLVED}
    for name, (bags, y, where) in sorted(data.items()):
        tr = [j for j, (k, _) in enumerate(where) if k in train_k]
        dv = [j for j, (k, _) in enumerate(where) if k not in train_k]
        classes = classes_of.get(name, ["yes"])
        best = None
        for c in C_GRID:
            for balanced in (False, True):
                clf = fit([bags[j] for j in tr], [y[j] for j in tr], c, balanced)
                head = head_from(name, clf, classes)
                probs = head.probabilities([bags[j] for j in dv])
                if head.binary:
                    th, f1 = best_threshold(list(probs[:, 0]), [bool(y[j]) for j in dv])
                    score = f1
                else:
                    pred = probs.argmax(axis=1)
                    score = float(np.mean(pred == np.array([y[j] for j in dv])))
                    th = None
                if best is None or score > best[0]:
                    best = (score, c, balanced, head, th)
        score, c, balanced, head, th = best
        head.threshold = th
        heads[name] = head
        report[name] = {"C": c, "balanced": balanced, "dev": round(score, 4), "threshold": th,
                        "train_examples": len(tr), "dev_examples": len(dv), "positives_train": int(
                            sum(1 for j in tr if y[j])) if head.binary else None}
        print(f"{name:15s} C={c:<5} balanced={balanced!s:5} dev {'F1' if head.binary else 'acc'} {score:.3f}"
              f"{f' th {th}' if th is not None else ''}  (train {len(tr)}, dev {len(dv)})")
    # Conversation-level thresholds for the "any turn" items, tuned on dev.
    dev_idx = lambda name: [j for j, (k, _) in enumerate(data[name][2]) if k not in train_k]  # noqa: E731
    for name in ("objection", "apology", "rude", "escalation"):
        scores, truth = conversation_scores(heads[name], data[name], convos, dev_idx(name))
        th, f1 = best_threshold(scores, truth)
        heads[name].threshold = th
        report[name].update({"threshold": th, "dev_conversation_f1": round(f1, 4)})
        print(f"{name:15s} conversation-level threshold {th} dev F1 {f1:.3f}")
    model = DetectorModel("qa-detectors", "2", BUCKETS, heads, {"trained": report})
    end_bags, end_y, end_where = data["end_sentiment"]
    dv = [j for j, (k, _) in enumerate(end_where) if k not in train_k]
    p_neg = heads["end_sentiment"].probabilities([end_bags[j] for j in dv])[:, END.index("negative")]
    th, f1 = best_threshold(list(p_neg), [end_y[j] == END.index("negative") for j in dv])
    heads["end_sentiment"].threshold = th
    report["end_sentiment"].update({"negative_threshold": th, "dev_end_negative_f1": round(f1, 4)})
    print(f"{'end_sentiment':15s} ends-negative threshold {th} dev F1 {f1:.3f}")
    unhandled_threshold(model, convos, train_k, report)
    fit_items(model, convos, train_k, data, report)
    args.out.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    (args.out / "training.json").write_text(json.dumps({
        "args": {k: str(v) for k, v in vars(args).items()}, "heads": report,
        "conversations": {"train": len(train_k), "dev": len(convos) - len(train_k)},
        "seconds": round(time.time() - t0)}, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    write_training_ids(args.out, convos)
    print(f"saved {args.out} in {time.time() - t0:.0f} s")
    return 0


def write_training_ids(out: Path, convos: list[Convo]) -> None:
    """``training_ids.json``: the dialogue ids the heads were fitted on (``train``) and their thresholds chosen on
    (``dev``), so that ``qa eval`` can say when labelled conversations are in-sample."""
    ids = {split: sorted(c.id for c in convos if c.split == split) for split in ("train", "dev")}
    (out / "training_ids.json").write_text(json.dumps(ids, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")


def fold_of(dialogue_id: str, folds: int = FOLDS) -> int:
    return int(hashlib.sha1(f"scorecard-fold|{dialogue_id}".encode()).hexdigest()[:8], 16) % folds


def fold_heads(examples_: dict, convos: list[Convo], fold: int, chosen: dict, final: DetectorModel,
               folds: int = FOLDS) -> DetectorModel:
    """The first-stage heads refitted without the training conversations of ``fold`` (each head's C and
    class weighting as chosen, the final thresholds), for out-of-fold detections; no second stage."""
    classes_of = {"objection_type": TYPES, "handling": HANDLING, "end_sentiment": END, "resolved": RESOLVED}
    heads = {}
    for name, (bags, y, where) in examples_.items():
        rest = [j for j, (k, _) in enumerate(where) if convos[k].split == "train" and fold_of(convos[k].id, folds) != fold]
        clf = fit([bags[j] for j in rest], [y[j] for j in rest], chosen[name]["C"], chosen[name]["balanced"])
        heads[name] = head_from(name, clf, classes_of.get(name, ["yes"]))
        heads[name].threshold = final.heads[name].threshold
    return DetectorModel(final.name, final.version, final.buckets, heads, {})


def detect(model: DetectorModel, convos: list[Convo]) -> list:
    book = RuleBook(DEFAULT_RULES_DIR).load()
    return Detector(model=model).detect([c.transcript for c in convos],
                                        [book.pack_for(c.transcript).match(c.transcript) for c in convos])


def oof_summaries(convos: list[Convo], fold_models: list[DetectorModel]) -> dict[str, np.ndarray]:
    """The second stage's FEATURES of every training conversation, from the first-stage heads of its
    fold (``fold_heads``: refitted without it — what the heads will say of text they never saw)."""
    rows: dict[str, np.ndarray] = {}
    for f, model in enumerate(fold_models):
        held = [c for c in convos if c.split == "train" and fold_of(c.id, len(fold_models)) == f]
        for c, d in zip(held, detect(model, held)):
            rows[c.id] = summaries(c.view.customer_turns, d)
    return rows


def fit_item(name: str, x: np.ndarray, y: np.ndarray, threshold: float = 0.5) -> Item:
    """One item: a logistic regression (C ``ITEM_C``) on the standardised summaries, each clipped at its
    99th percentile in ``x``."""
    clip = np.percentile(x, 99, axis=0)
    x = np.minimum(x, clip)
    scaler = StandardScaler().fit(x)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    clf = LogisticRegression(C=ITEM_C, max_iter=2000).fit((x - scaler.mean_) / scale, y)
    return Item(name, scaler.mean_, scale, clf.coef_[0], float(clf.intercept_[0]), threshold, clip)


def fit_items(model: DetectorModel, convos: list[Convo], train_k: set[int], examples_: dict, report: dict) -> None:
    """The second stage (``qa_service/scoring/detectors/items.py``): each item fitted on the out-of-fold
    summaries of the training conversations, its threshold chosen on dev."""
    train = [c for k, c in enumerate(convos) if k in train_k]
    dev = [c for k, c in enumerate(convos) if k not in train_k]
    rows = oof_summaries(convos, [fold_heads(examples_, convos, f, report, model) for f in range(FOLDS)])
    x_train = np.stack([rows[c.id] for c in train])
    x_dev = np.stack([summaries(c.view.customer_turns, d) for c, d in zip(dev, detect(model, dev))])
    for name, has in ITEMS.items():
        y = np.array([has(c.label) for c in train])
        item = fit_item(name, x_train, y)
        th, f1 = best_threshold(list(item.probabilities(x_dev)), [has(c.label) for c in dev])
        item.threshold = th
        model.items[name] = item
        report[name] = {"C": ITEM_C, "threshold": th, "dev_conversation_f1": round(f1, 4),
                        "train_examples": len(train), "positives_train": int(y.sum())}
        print(f"{name:15s} second stage, threshold {th} dev conversation F1 {f1:.3f}")


def unhandled_threshold(model: DetectorModel, convos: list[Convo], train_k: set[int], report: dict) -> None:
    """The P(not handled) at which a detected objection is called unhandled, tuned on dev conversations as
    the scorer will see them (objections found by the objection head, not the labels)."""
    dev = [c for k, c in enumerate(convos) if k not in train_k]
    detector = Detector(model=model)
    book = RuleBook(DEFAULT_RULES_DIR).load()
    dets = detector.detect([c.transcript for c in dev], [book.pack_for(c.transcript).match(c.transcript) for c in dev])
    scores = [max((o.unhandled for o in d.objections), default=0.0) for d in dets]
    truth = [any(o["handled"] == "no" for o in c.label["objections"]) for c in dev]
    th, f1 = best_threshold(scores, truth)
    model.heads["handling"].threshold = th
    report["handling"].update({"unhandled_threshold": th, "dev_conversation_f1": round(f1, 4)})
    print(f"{'handling':15s} unhandled threshold {th} dev conversation F1 {f1:.3f}")


if __name__ == "__main__":
    sys.exit(main())
