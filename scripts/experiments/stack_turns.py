"""Experiment (dev split only): does a turn-level second stage move the negative and objection turns?

The turn heads read a customer turn and the agent turn before it. A reviewer also reads what came after:
the agent apologising next, the customer repeating the complaint, how the conversation ends. Here each
customer turn gets a logistic regression over the first stage's probabilities around it (its own heads,
the customer turns before and after, the agent turns before and after, the conversation's totals and
its end), fitted on out-of-fold detections of the training conversations (``stack_items.py``), and is
compared on dev with its own head, thresholds chosen on one half of dev and applied to the other.
The test split is never read.

    python scripts/experiments/stack_turns.py --data ../shared/data
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack_items import detections, half_f1, log  # noqa: E402


def turn_rows(c, d) -> list[tuple[int, list[float]]]:
    v, t = c.view, d.turns
    cust, agent = v.customer_turns, v.agent_turns
    neg, obj, ang, esc = (t.get(h, {}) for h in ("negative", "objection", "angry", "escalation"))
    apo, rude = t.get("apology", {}), t.get("rude", {})
    end, res = d.conversation.get("end_sentiment", {}), d.conversation.get("resolved", {})
    unh = {i: o.unhandled for o in d.objections for i in o.turns}
    out = []
    for k, i in enumerate(cust):
        prev_c, next_c = (cust[k - 1] if k else None), (cust[k + 1] if k + 1 < len(cust) else None)
        next_a = next((j for j in agent if j > i), None)
        prev_a = next((j for j in reversed(agent) if j < i), None)
        out.append((i, [
            neg.get(i, 0.0), obj.get(i, 0.0), ang.get(i, 0.0), esc.get(i, 0.0), unh.get(i, 0.0),
            neg.get(prev_c, 0.0), obj.get(prev_c, 0.0), neg.get(next_c, 0.0), obj.get(next_c, 0.0),
            apo.get(next_a, 0.0), rude.get(prev_a, 0.0), rude.get(next_a, 0.0),
            sum(neg.values()), max(neg.values(), default=0.0), sum(obj.values()),
            end.get("negative", 0.0), end.get("positive", 0.0), res.get("no", 0.0),
            float(k == 0), float(k == len(cust) - 1), k / max(len(cust) - 1, 1), float(np.log1p(len(cust))),
            float(np.log1p(len(v.texts[i]))),
        ]))
    return out


def table(convos, dets) -> tuple[np.ndarray, dict[str, np.ndarray], list[str]]:
    x, y, conv = [], {"negative": [], "objection": []}, []
    for c in convos:
        obj_turns = {t for o in c.label["objections"] for t in o["turns"]}
        for i, row in turn_rows(c, dets[c.id]):
            x.append(row)
            y["negative"].append(i in set(c.label["negative_turns"]))
            y["objection"].append(i in obj_turns)
            conv.append(f"{c.id}")
    return np.array(x), {k: np.array(v) for k, v in y.items()}, conv


def main() -> int:
    train, dev, oof, dev_dets, _ = detections(__doc__)
    xtr, ytr, _ = table(train, oof)
    xdv, ydv, ids = table(dev, dev_dets)
    own = {"negative": 0, "objection": 1}
    log(f"{len(xtr)} training turns, {len(xdv)} dev turns")
    for head in ("negative", "objection"):
        base = half_f1(xdv[:, own[head]], ydv[head], ids)
        scaler = StandardScaler().fit(xtr)
        scores = []
        for c in (0.1, 1.0):
            clf = LogisticRegression(C=c, max_iter=3000).fit(scaler.transform(xtr), ytr[head])
            scores.append(half_f1(clf.predict_proba(scaler.transform(xdv))[:, 1], ydv[head], ids))
        print(f"{head:10s} turns: own head {base:.3f}; second stage at C 0.1 / 1: "
              + " / ".join(f"{s:.3f}" for s in scores), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
