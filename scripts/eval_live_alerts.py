"""Replay the real dialogues turn by turn through the live checks and the alert rules: which alerts each
dialogue raises, as a live conversation fed one turn per request would.

    python scripts/eval_live_alerts.py --data ../shared/data [--alerts rules/alerts] [--out alerts.jsonl]
                                        [--only complaint-threat,customer-angry] [--limit N]

Turns come two seconds apart (the corpora carry no times), so the timers (customer-waiting,
call-silence) stay quiet; every other alert is evaluated as ``live.service.add_utterances`` does it:
the same window of recent turns, the same per-role counts before it, the same streaks and cooldowns.
Prints, per alert, how many dialogues of each corpus raised it; ``--out`` writes one line per alert
raised (dialogue, turn, value, quote) to diff two runs and read the new ones for false alarms.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dialogues import DIALOGUE_CORPORA, iter_dialogues  # noqa: E402

from qa_service.config import DEFAULT_RULES_DIR, ScoringSettings  # noqa: E402
from qa_service.live.checks import LiveChecks, window  # noqa: E402
from qa_service.live.evaluate import LiveState, advance, evaluate  # noqa: E402
from qa_service.live.service import WINDOW  # noqa: E402
from qa_service.rules.alerts import load_alerts  # noqa: E402
from qa_service.scoring.pipeline import Pipeline  # noqa: E402

GAP_S = 2.0


def replay(record: dict, checks: LiveChecks, rules: list, corpus: str) -> list[dict]:
    """The alerts one dialogue raises, fed one turn at a time."""
    state, turns, out = LiveState(), [], []
    channel = record.get("channel", "chat")
    for seq, u in enumerate(record["utterances"]):
        at = seq * GAP_S
        turn = {"seq": seq, "role": u["role"], "text": u["text"], "start_ms": None, "end_ms": None,
                "asr_confidence": None, "at": at}
        turns.append(turn)
        start = window(turns, 1, WINDOW)
        recent = turns[start:]
        earlier = {role: n - sum(t["role"] == role for t in recent[:-1]) for role, n in state.by_role.items()}
        [obs] = checks.observe(recent, [len(recent) - 1], channel=channel, scenario=record.get("scenario"),
                               earlier=earlier, **readings(rules))
        obs.index = seq
        waited = advance(state, turn, channel)
        fired = evaluate(rules, state, obs, now=at, team=None, channel=channel)
        if waited is not None:
            fired += evaluate(rules, state, waited, now=at, team=None, channel=channel)
        out += [{"corpus": corpus, "dialogue": record["external_id"], "alert": f.rule.id, "turn": f.index,
                 "value": None if f.value is None else round(f.value, 3), "matched": f.matched, "quote": f.quote[:120]}
                for f in fired]
    return out


def readings(rules: list) -> dict:
    """What the alerts ask the checks to read beyond every rule on its own role (nothing, for a version of
    the service from before such readings: the script then measures it as it was)."""
    try:
        from qa_service.rules.alerts import role_readings
    except ImportError:
        return {}
    return {"readings": role_readings(rules)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--alerts", type=Path, default=DEFAULT_RULES_DIR / "alerts")
    ap.add_argument("--only", default="", help="comma-separated alert ids (default: all)")
    ap.add_argument("--limit", type=int, default=0, help="at most N dialogues per corpus")
    ap.add_argument("--out", type=Path, help="write every alert raised here (JSON Lines)")
    args = ap.parse_args()
    rules = list(load_alerts(args.alerts).values())
    if args.only:
        rules = [r for r in rules if r.id in set(args.only.split(","))]
    checks = LiveChecks(Pipeline.from_settings(ScoringSettings()))
    dialogues: Counter[str] = Counter()
    raised: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    rows, t0 = [], time.perf_counter()
    for corpus in DIALOGUE_CORPORA:
        for k, record in enumerate(iter_dialogues(args.data, (corpus,))):
            if args.limit and k >= args.limit:
                break
            dialogues[corpus] += 1
            for row in replay(record, checks, rules, corpus):
                raised[row["alert"]][corpus].add(row["dialogue"])
                rows.append(row)
    print(f"{sum(dialogues.values())} dialogues ({', '.join(f'{c} {n}' for c, n in dialogues.items())}) "
          f"in {time.perf_counter() - t0:.0f} s")
    for rule in rules:
        per = raised.get(rule.id, {})
        total = sum(len(v) for v in per.values())
        print(f"{rule.id:22} {total:5} dialogues  " + "  ".join(f"{c} {len(per.get(c, ()))}" for c in dialogues))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
