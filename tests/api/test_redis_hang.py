"""Redis alive but not answering (a stuck server, a network black hole; here a redis-server stopped with SIGSTOP):
the API's reads go on, its writes answer within the documented Redis timeout, and an exhausted database pool is
a JSON 503 with Retry-After like any other database outage."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from qa_service.app import create_app
from qa_service.storage.redis import EmbeddedRedis
from tests.conftest import make_settings, transcript

SOCKET_TIMEOUT_S = 2.0


@pytest.fixture
def hung_redis(tmp_path) -> Iterator[EmbeddedRedis]:
    """The embedded Redis (a real redis-server on a unix socket under the data dir, as ``qa serve`` starts it
    with no QA_REDIS__URL); the test stops it with SIGSTOP."""
    server = EmbeddedRedis(tmp_path / "data").start()
    try:
        yield server
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
        server.stop()


def _settings(tmp_path, db_url: str, redis_url: str | None, *, busy_timeout_ms: int = 3000):
    """``redis_url`` None: the embedded Redis of the data dir."""
    s = make_settings(tmp_path, db_url, redis_url or "redis://unused")
    return s.model_copy(update={
        "db": s.db.model_copy(update={"busy_timeout_ms": busy_timeout_ms}),
        "redis": s.redis.model_copy(update={"url": redis_url, "socket_timeout_s": SOCKET_TIMEOUT_S}),
    })


def _timed(fn, *args, **kwargs):
    t0 = time.monotonic()
    r = fn(*args, **kwargs)
    return r, time.monotonic() - t0


def test_readyz_during_a_redis_hang_leaves_reads_alone(tmp_path, sqlite_url, hung_redis):
    """SQLite has one connection per process: /readyz held it while it waited on Redis, and every other request
    timed out on the pool (a plain-text 500 after QA_DB__BUSY_TIMEOUT_MS)."""
    settings = _settings(tmp_path, sqlite_url, None)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        assert c.post("/v1/transcripts", json=transcript("hang-1")).status_code == 202
        os.kill(hung_redis.process.pid, signal.SIGSTOP)
        ready = {}
        probe = threading.Thread(target=lambda: ready.update(r=_timed(c.get, "/readyz")))
        probe.start()
        time.sleep(0.3)  # /readyz is waiting on Redis now
        r, took = _timed(c.get, "/v1/transcripts")
        probe.join(30)
    assert r.status_code == 200 and r.json()["total"] == 1, r.text
    assert took < 1.0, f"a read waited {took:.1f}s behind /readyz"
    (rr, _) = ready["r"]
    assert rr.status_code == 503 and rr.json()["checks"]["database"] == "ok"
    assert rr.json()["checks"]["redis"].startswith("unreachable")


def test_no_database_connection_free_is_a_json_503(tmp_path, sqlite_url, redis_url, redis_conn):
    """The pool's timeout (sqlalchemy.exc.TimeoutError) was a plain-text 500; it is a database outage."""
    settings = _settings(tmp_path, sqlite_url, redis_url, busy_timeout_ms=300)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        with c.app.state.runtime.engine.connect():  # the process's only SQLite connection, held
            r = c.get("/v1/transcripts")
    assert r.status_code == 503 and r.headers["content-type"] == "application/json", r.text
    assert r.headers["retry-after"] == "5" and "database busy" in r.json()["detail"]


def test_a_write_during_a_redis_hang_answers_within_the_socket_timeout(tmp_path, db_url, hung_redis):
    """The embedded Redis's client retried timeouts 10 times with backoff (~59 s a POST with the default 5 s);
    now the enqueue gives up after QA_REDIS__SOCKET_TIMEOUT_S and the conversation waits for the reconciler."""
    settings = _settings(tmp_path, db_url, None)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        assert c.post("/v1/transcripts", json=transcript("hang-0")).status_code == 202  # a pooled connection
        os.kill(hung_redis.process.pid, signal.SIGSTOP)
        r, took = _timed(c.post, "/v1/transcripts", json=transcript("hang-1"))
        rb, took_batch = _timed(c.post, "/v1/transcripts/batch", json={"transcripts": [transcript("hang-2")]})
        ready, took_ready = _timed(c.get, "/readyz")
    assert r.status_code == 202 and r.json()["status"] == "received", r.text
    assert rb.status_code == 202 and rb.json()["queued"] is False, rb.text
    assert ready.status_code == 503
    for what, t in (("POST", took), ("batch", took_batch), ("/readyz", took_ready)):
        assert t < SOCKET_TIMEOUT_S + 1.5, f"{what} took {t:.1f}s with Redis hung"
