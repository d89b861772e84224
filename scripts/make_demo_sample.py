"""Build the small demo sample shipped in qa_service/demo_data/ from ../shared/data.

Picks conversations deterministically (lowest sha1 of the id) from the real dialogue corpora,
converts them to the API's transcript shape, and assigns demo agents/teams (the corpora carry
no agent ids; the assignment is synthetic and marked so in each transcript's metadata).

Start times are synthetic too (the corpora carry none): spread over the demo period, October
2026, 09:00–21:00 China time, so that `qa demo` can show a month's performance records.

Usage: python scripts/make_demo_sample.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import hashlib
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from qa_service.ingest.textlog import from_corpus_record

PICKS = {  # corpus: (count, team, channel, min turns)
    "jddc_sample": (70, "jd-after-sales", "chat", 6),
    "csds": (70, "jd-after-sales", "chat", 8),
    "stc3_dch1": (55, "weibo-helpdesk", "chat", 2),
    "mobilecs_examples": (5, "mobile-hotline", "call", 2),
}
AGENTS_PER_TEAM = 4
DEMO_MONTH_START = datetime(2026, 10, 1, 9, 0, tzinfo=timezone(timedelta(hours=8)))  # China Standard Time
DEMO_DAYS = 31


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("qa_service/demo_data/sample.jsonl"))
    args = parser.parse_args()
    out = []
    for corpus, (count, team, channel, min_turns) in PICKS.items():
        with open(args.data / corpus / f"{corpus}.jsonl", encoding="utf-8") as fh:
            records = [json.loads(line) for line in fh if line.strip()]
        records.sort(key=lambda r: hashlib.sha1(r["id"].encode()).hexdigest())
        taken = 0
        for r in records:
            t = from_corpus_record(r)
            if len(t["utterances"]) < min_turns or not any(u["role"] == "agent" for u in t["utterances"]):
                continue
            digest = int(hashlib.sha1(r["id"].encode()).hexdigest(), 16)
            t["source"] = f"demo:{corpus}"
            t["channel"] = channel
            t["team"] = team
            t["agent_id"] = f"{team}-{digest % AGENTS_PER_TEAM + 1:02d}"
            minute = (digest >> 8) % (DEMO_DAYS * 12 * 60)  # day and minute within 09:00–21:00
            t["started_at"] = (DEMO_MONTH_START + timedelta(days=minute // 720, minutes=minute % 720)).isoformat()
            t["metadata"] = {"corpus": corpus, "agent_assignment": "synthetic (demo)",
                             "started_at": "synthetic (demo)"}
            out.append(t)
            taken += 1
            if taken == count:
                break
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        for t in out:
            fh.write(json.dumps(t, ensure_ascii=False) + "\n")
    print(f"wrote {len(out)} transcripts to {args.out}")


if __name__ == "__main__":
    main()
