"""Benchmark a month's appraisal at contact-centre scale (SQLite, one process).

Fills a fresh SQLite database with N scored transcripts over one month for A agents (the
report summaries are cycled from the shipped demo sample scored by the rule dimensions, so
the JSON is real-shaped; scores do not affect speed) and A × 22 daily KPI rows, then times,
in the same run:

  baseline   SELECT of the same rows, nothing else (the I/O floor)
  records    performance records for the month (load + aggregate)
  appraisal  records + scheme points, totals, ranks
  xlsx       appraisal + the XLSX export

Usage: python scripts/bench_appraisal.py [--transcripts 100000] [--agents 200]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select

from qa_service.config import Settings
from qa_service.demo import DEMO_PERIOD, load_sample
from qa_service.domain import Role, Transcript as DomainTranscript, Utterance
from qa_service.performance import export
from qa_service.performance.appraisal import appraisal_rows
from qa_service.period import parse_period
from qa_service.rules.scheme import load_schemes
from qa_service.scoring.pipeline import Pipeline
from qa_service.storage import performance as perf_repo
from qa_service.storage.db import create_db_engine, session_factory, upgrade
from qa_service.storage.reports import report_summary
from qa_service.storage.tables import Agent, AgentKpi, Report, Team, Transcript


def summaries() -> list[tuple[float, dict]]:
    settings = Settings()
    scorers = ["politeness.v1", "compliance.v1", "objection.v1", "negativity.v1", "timing.v1"]
    pipe = Pipeline.from_settings(settings.scoring.model_copy(update={"scorers": scorers})).initialize()
    out = []
    for t in load_sample():
        d = DomainTranscript(source=t["source"], external_id=t["external_id"], channel=t["channel"],
                             utterances=tuple(Utterance(i, Role(u["role"]), u["text"])
                                              for i, u in enumerate(t["utterances"])))
        r = pipe.score(d)
        out.append((r.score, report_summary(r.dimension_details(), bool(r.flags))))
    return out


def fill(settings: Settings, n: int, agents: int) -> None:
    engine = create_db_engine(settings)
    upgrade(engine)
    rng = random.Random(7)
    shapes = summaries()
    start = datetime(2026, 10, 1, tzinfo=UTC)
    teams = [f"team-{i:02d}" for i in range(max(1, agents // 20))]
    names = [f"agent-{i:04d}" for i in range(agents)]
    with engine.begin() as conn:
        conn.execute(insert(Team), [{"id": t, "name": t, "created_at": start} for t in teams])
        conn.execute(insert(Agent), [{"id": a, "team_id": teams[i % len(teams)], "created_at": start}
                                     for i, a in enumerate(names)])
        for lo in range(0, n, 5000):
            rows = []
            for i in range(lo, min(n, lo + 5000)):
                a = rng.randrange(agents)
                rows.append({"id": i + 1, "source": "bench", "external_id": str(i), "channel": "chat",
                             "agent_id": names[a], "team_id": teams[a % len(teams)],
                             "started_at": start + timedelta(minutes=rng.randrange(31 * 1440)),
                             "received_at": start, "metadata": {}, "content_hash": "x", "status": "scored",
                             "status_changed_at": start, "attempts": 1})
            conn.execute(insert(Transcript), rows)
            conn.execute(insert(Report), [
                {"transcript_id": r["id"], "score": shapes[r["id"] % len(shapes)][0], "fatal": False,
                 "dimensions": {}, "weights": {}, "scorer_versions": {}, "summary": shapes[r["id"] % len(shapes)][1],
                 "created_at": start} for r in rows])
        kpis = []
        for i, a in enumerate(names):
            for d in sorted(rng.sample(range(31), 22)):
                c = rng.randint(30, 80)
                kpis.append({"agent_id": a, "team_id": teams[i % len(teams)], "date_from": date(2026, 10, d + 1),
                             "date_to": date(2026, 10, d + 1), "contacts": c, "frt_seconds_mean": 30.0,
                             "aht_seconds_mean": 400.0, "fcr_resolved": c * 4 // 5, "csat_responses": c // 3,
                             "csat_satisfied": c // 3 - 1, "nps_promoters": 5, "nps_passives": 3,
                             "nps_detractors": 2, "imported_at": start})
        conn.execute(insert(AgentKpi), kpis)


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transcripts", type=int, default=100_000)
    parser.add_argument("--agents", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        t0 = time.perf_counter()
        fill(settings, args.transcripts, args.agents)
        print(f"filled {args.transcripts:,} scored transcripts, {args.agents} agents × 22 KPI days "
              f"in {time.perf_counter() - t0:.1f} s")
        sessions = session_factory(create_db_engine(settings))
        period = parse_period(DEMO_PERIOD)
        schemes = load_schemes(settings.schemes_dir)

        def baseline():
            with sessions() as s:
                list(s.execute(select(Transcript.agent_id, Transcript.team_id, Transcript.started_at,
                                      Transcript.received_at, Report.score, Report.fatal, Report.summary)
                               .join(Report, Report.transcript_id == Transcript.id)))

        def records():
            with sessions() as s:
                return perf_repo.records_for(session=s, settings=settings, period=period)[0]

        def appraisal():
            return appraisal_rows(records(), schemes)

        def xlsx():
            return export.to_xlsx(appraisal(), period, schemes)

        base = timed(baseline)
        print(f"{'step':<40} {'seconds':>8} {'transcripts/s':>14} {'vs baseline':>12}")
        for name, fn in (("baseline: SELECT the rows", baseline), ("performance records", records),
                         ("records + appraisal", appraisal), ("records + appraisal + XLSX", xlsx)):
            secs = base if fn is baseline else timed(fn)
            print(f"{name:<40} {secs:8.2f} {args.transcripts / secs:14,.0f} {secs / base:11.2f}×")


if __name__ == "__main__":
    main()
