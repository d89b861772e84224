"""Generate the demo's KPI file: qa_service/demo_data/kpis.csv. THE FIGURES ARE GENERATED, NOT REAL.

The public dialogue corpora carry no operational KPIs (and no agent ids: the demo's agents are
synthetic too), so `qa demo` needs a plausible KPI export for its agents to show the whole path
KPI file → performance record → appraisal → XLSX. This script writes one: for each demo agent, 22
working days of October 2026 with contacts, first-response and handling times, first-contact
resolutions, survey answers (CSAT 1–5 → satisfied counts, NPS 0–10 → promoter/passive/detractor
counts), transfers, escalations and complaints, plus a month-end supervisor and peer rating.

Each agent gets a fixed "skill" drawn from a seeded RNG, and daily figures scatter around it, so
the ranking is stable and the figures add up (satisfied ≤ responses, resolved ≤ contacts).

Usage: python scripts/make_demo_kpis.py [--sample qa_service/demo_data/sample.jsonl] [--out …/kpis.csv]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from datetime import date, timedelta
from pathlib import Path

COLUMNS = ["agent_id", "date", "team", "contacts", "frt_seconds_mean", "frt_within_target", "aht_seconds_mean",
           "fcr_resolved", "csat_responses", "csat_satisfied", "nps_promoters", "nps_passives", "nps_detractors",
           "transfers", "escalations", "complaints", "supervisor_rating", "peer_rating"]
MONTH = date(2026, 10, 1)
WORK_DAYS = 22
SEED = 20261001


def _binomial(rng: random.Random, n: int, p: float) -> int:
    return sum(rng.random() < p for _ in range(n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=Path, default=Path("qa_service/demo_data/sample.jsonl"))
    parser.add_argument("--out", type=Path, default=Path("qa_service/demo_data/kpis.csv"))
    args = parser.parse_args()
    agents = sorted({(t["agent_id"], t["team"]) for t in map(json.loads, args.sample.read_text("utf-8").splitlines())})
    rng = random.Random(SEED)
    rows = []
    for agent, team in agents:
        skill = rng.gauss(0, 1)                      # this agent's level, fixed for the month
        days = sorted(rng.sample(range(31), WORK_DAYS))
        for d in days:
            day = MONTH + timedelta(days=d)
            contacts = max(10, round(rng.gauss(55 + 6 * skill, 10)))
            frt = max(5.0, rng.gauss(32 - 8 * skill, 6))
            within = _binomial(rng, contacts, min(0.98, max(0.3, 0.75 + 0.08 * skill)))
            aht = max(120.0, rng.gauss(420 - 30 * skill, 40))
            resolved = _binomial(rng, contacts, min(0.97, max(0.4, 0.80 + 0.05 * skill)))
            responses = _binomial(rng, contacts, 0.35)
            satisfied = _binomial(rng, responses, min(0.995, max(0.5, 0.91 + 0.03 * skill)))
            nps_n = _binomial(rng, responses, 0.6)
            promoters = _binomial(rng, nps_n, min(0.9, max(0.1, 0.55 + 0.1 * skill)))
            detractors = _binomial(rng, nps_n - promoters, 0.35)
            rows.append({
                "agent_id": agent, "date": day.isoformat(), "team": team, "contacts": contacts,
                "frt_seconds_mean": round(frt, 1), "frt_within_target": within, "aht_seconds_mean": round(aht),
                "fcr_resolved": resolved, "csat_responses": responses, "csat_satisfied": satisfied,
                "nps_promoters": promoters, "nps_passives": nps_n - promoters - detractors,
                "nps_detractors": detractors, "transfers": _binomial(rng, contacts, 0.05),
                "escalations": _binomial(rng, contacts, 0.02), "complaints": _binomial(rng, contacts, 0.01),
                "supervisor_rating": "", "peer_rating": "",
            })
        rows[-1]["supervisor_rating"] = round(min(100, max(50, rng.gauss(80 + 6 * skill, 5))))
        rows[-1]["peer_rating"] = round(min(100, max(50, rng.gauss(82 + 4 * skill, 5))))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} GENERATED KPI rows for {len(agents)} demo agents to {args.out}")


if __name__ == "__main__":
    main()
