"""Live QA fixtures: the app on real Redis and a real database, and a real HTTP webhook receiver."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from qa_service.app import create_app
from qa_service.config import LiveSettings
from qa_service.stack import free_port
from tests.conftest import make_settings

SAMPLE = json.loads((Path(__file__).resolve().parents[1] / "data" / "live_sample.json").read_text(encoding="utf-8"))


class Receiver:
    """A webhook receiver on a real port: records each request (path, headers, raw body, when it came and
    when it was answered, how many were in hand at once); can go down, answer ``status``, or take
    ``delay_s`` to answer, with ``body``."""

    def __init__(self, port: int | None = None, *, status: int = 200, delay_s: float = 0.0,
                 body: bytes = b'{"errcode": 0}'):
        self.port = port or free_port()
        self.status, self.delay_s, self.body = status, delay_s, body
        self.requests: list[dict] = []
        self.answered: list[float] = []
        self.most_at_once = 0
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        received, receiver, lock = self.requests, self, threading.Lock()
        in_hand = [0]

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with lock:
                    in_hand[0] += 1
                    receiver.most_at_once = max(receiver.most_at_once, in_hand[0])
                received.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                 "body": body, "at": time.time()})
                try:
                    time.sleep(receiver.delay_s)
                    self.send_response(receiver.status)
                    self.send_header("content-type", "application/json")
                    self.end_headers()
                    self.wfile.write(receiver.body)
                except OSError:  # the sender stopped waiting
                    pass
                finally:
                    with lock:
                        in_hand[0] -= 1
                        receiver.answered.append(time.time())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True  # a slow answer in hand does not hold up stop()
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def wait_for(self, n: int, timeout_s: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout_s
        while len(self.requests) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.requests


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def settings_for_live(tmp_path, db_url, redis_url, redis_conn):
    """Fast retries (0.3 s) so a receiver coming back is reached within the test."""
    return make_settings(tmp_path, db_url, redis_url,
                         live=LiveSettings(delivery_backoff_s=[0.3], delivery_attempts=20))


@pytest.fixture
def live_client(settings_for_live):
    with TestClient(create_app(settings_for_live)) as c:
        yield c


def stream(client, conversation_id: int, utterances: list[dict], start: int = 0) -> list[list[dict]]:
    """Post turns one at a time; the alerts each raised."""
    out = []
    for i, u in enumerate(utterances, start):
        r = client.post(f"/v1/live/conversations/{conversation_id}/utterances",
                        json={"utterances": [{"seq": i, **u}]})
        assert r.status_code == 200, r.text
        out.append(r.json()["alerts"])
    return out


def open_conversation(client, external_id: str, **fields) -> int:
    r = client.post("/v1/live/conversations", json={"source": "live-test", "external_id": external_id, **fields})
    assert r.status_code in (200, 201), r.text
    return r.json()["id"]
