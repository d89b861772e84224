"""Does one bad webhook hold back the others? Live alerts through `qa serve` to healthy and broken webhooks.

Starts `qa serve --workers 0` on the embedded stack (or --db-url/--redis-url) and five webhooks: two
healthy ones for every team (`json`, `feishu`) and three of team `team-2` that fail — one answering 500,
one that takes --slow-s (20 s) to answer, one with nothing listening. Then --alerts (24) `fatal-wording`
alerts in team-2 and as many in team-1, turn after turn, and prints how long each alert took from its
turn's POST to reaching the healthy `json` webhook (median and max, per team). `--no-bad` leaves the
three bad webhooks out (the figures to compare with).

Usage: python scripts/bench_webhook_isolation.py [--alerts 24] [--slow-s 20] [--no-bad]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from bench_live import start_server  # noqa: E402  (qa serve, its log in data_dir/serve.log)

from qa_service.stack import free_port

FATAL = "你有病吧，自己看"  # general.agent-abuse: fatal, so `fatal-wording` fires on every such turn


def receiver(status: int = 200, delay_s: float = 0.0) -> tuple[str, dict[int, float]]:
    """A webhook receiver in a thread: its URL and {alert_id: arrival time} (json bodies only)."""
    arrived: dict[int, float] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
            if "alert_id" in body:
                arrived.setdefault(body["alert_id"], time.time())
            time.sleep(delay_s)
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"code": 0}')
            except OSError:  # the sender stopped waiting (its timeout)
                pass

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/hook", arrived


def raise_alerts(c: httpx.Client, team: str, n: int) -> dict[int, float]:
    """n fatal-wording alerts in one conversation of ``team``: {alert_id: when its turn was posted}."""
    cid = c.post("/v1/live/conversations", json={"source": "bench-hooks", "external_id": f"{team}-{time.time()}",
                                                 "team": team, "agent_id": f"{team}-a1"}).json()["id"]
    raised = {}
    for seq in range(n):
        sent = time.time()
        r = c.post(f"/v1/live/conversations/{cid}/utterances",
                   json={"utterances": [{"seq": seq, "role": "agent", "text": FATAL}]})
        r.raise_for_status()
        for a in r.json()["alerts"]:
            if a["rule"] == "fatal-wording":
                raised[a["alert_id"]] = sent
    return raised


def summary(raised: dict[int, float], arrived: dict[int, float]) -> str:
    waits = [arrived[k] - t for k, t in raised.items() if k in arrived]
    if not waits:
        return "none arrived"
    return (f"{len(waits)}/{len(raised)} arrived, median {statistics.median(waits):.2f} s, "
            f"max {max(waits):.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alerts", type=int, default=24)
    ap.add_argument("--slow-s", type=float, default=20.0)
    ap.add_argument("--no-bad", action="store_true", help="only the healthy webhooks")
    ap.add_argument("--db-url")
    ap.add_argument("--redis-url")
    args = ap.parse_args()

    healthy_url, arrived = receiver()
    feishu_url, _ = receiver()
    hooks = [{"url": healthy_url, "format": "json"}, {"url": feishu_url, "format": "feishu"}]
    if not args.no_bad:
        hooks += [{"url": receiver(status=500)[0], "format": "json", "teams": ["team-2"]},
                  {"url": receiver(delay_s=args.slow_s)[0], "format": "json", "teams": ["team-2"]},
                  {"url": f"http://127.0.0.1:{free_port()}/hook", "format": "json", "teams": ["team-2"]}]
    env = {k: v for k, v in (("QA_DB__URL", args.db_url), ("QA_REDIS__URL", args.redis_url)) if v}
    with tempfile.TemporaryDirectory(prefix="qa-hooks-") as tmp:
        port = free_port()
        proc = start_server(Path(tmp), port, 1, **env)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
                for hook in hooks:
                    c.post("/v1/webhooks", json=hook).raise_for_status()
                raise_alerts(c, "warm-up", 1)  # the first turn loads the checks' models
                team2 = raise_alerts(c, "team-2", args.alerts)
                team1 = raise_alerts(c, "team-1", args.alerts)
                deadline = time.time() + 120
                while time.time() < deadline and not set(team2) | set(team1) <= set(arrived):
                    time.sleep(0.1)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    print(f"bad webhooks: {'none' if args.no_bad else 'HTTP 500, ' + str(args.slow_s) + ' s, nothing listening'}")
    print(f"to the healthy json webhook — team-2 alerts: {summary(team2, arrived)}")
    print(f"                              team-1 alerts: {summary(team1, arrived)}")


if __name__ == "__main__":
    main()
