"""The live board's event stream while Redis (the live state and its event stream) is away. Found by a
live probe: stopping Redis ended every open board's stream with no event, and each logged ``Exception in
ASGI application`` and a 120-line redis ``ConnectionError`` traceback. A real server (uvicorn), a
Redis of the test's own that it stops and starts again, and a real streaming client."""

from __future__ import annotations

import json
import logging
import threading
import time

import httpx
import pytest

from qa_service.config import LiveSettings
from qa_service.stack import BackgroundServer
from qa_service.storage.redis import EmbeddedRedis
from qa_service.ui import live
from tests.conftest import make_settings


class Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def own_redis(tmp_path):
    embedded = EmbeddedRedis(tmp_path / "own-redis").start()
    yield embedded
    embedded.stop()


def test_a_board_s_stream_says_live_data_is_unavailable_while_redis_is_away_and_recovers(
        tmp_path, sqlite_url, own_redis, monkeypatch):
    srv = BackgroundServer(make_settings(tmp_path, sqlite_url, own_redis.url, live=LiveSettings()))
    lines = Lines()
    monkeypatch.setattr(live.log, "disabled", False)  # alembic's fileConfig disables loggers it finds
    for name in ("uvicorn.error", live.log.name):
        logging.getLogger(name).addHandler(lines)
    monkeypatch.setattr(live.log, "level", logging.INFO)
    events: list[tuple[str, dict]] = []
    done = threading.Event()

    def watch():  # a board open in a browser tab
        name = None
        try:
            with httpx.Client(base_url=srv.url, timeout=httpx.Timeout(10.0, read=30.0)) as c, \
                    c.stream("GET", "/ui/live/events") as resp:
                for line in resp.iter_lines():
                    if line.startswith("event:"):
                        name = line.split(":", 1)[1].strip()
                    elif line.startswith("data:"):
                        events.append((name, json.loads(line.split(":", 1)[1])))
                        if len(events) == 3 or done.is_set():
                            return
        except httpx.HTTPError as exc:
            events.append(("client error", {"detail": repr(exc)}))
        finally:
            done.set()

    def wait_for(n: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while len(events) < n and not done.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)

    srv.start()
    viewer = threading.Thread(target=watch, daemon=True)
    try:
        viewer.start()
        wait_for(1, 20)
        assert [e for e, _ in events] == ["board"], events
        own_redis.stop()  # Redis goes away with the board open
        wait_for(2, 10)
        assert [e for e, _ in events] == ["board", "unavailable"], events  # the stream lives on, and says so
        assert "Redis" in events[1][1]["detail"] and "unavailable" in events[1][1]["detail"]
        time.sleep(live.RETRY_S * 2)  # a few tries while it is away: one line, not one a try
        own_redis.start()  # back: a fresh board, without the browser reconnecting
        wait_for(3, live.RETRY_S * 3 + 10)
        assert [e for e, _ in events] == ["board", "unavailable", "board"], events
        assert events[2][1]["conversations"] == [] and "alerts" in events[2][1]
    finally:
        done.set()
        srv.stop()
        viewer.join(10)
        for name in ("uvicorn.error", live.log.name):
            logging.getLogger(name).removeHandler(lines)
    said = [(r.name, r.levelname, r.getMessage()) for r in lines.records]
    assert not any("Exception in ASGI application" in m for _, _, m in said), said
    warnings = [m for n, lvl, m in said if lvl in ("WARNING", "ERROR")]
    assert len(warnings) == 1 and "Redis unavailable" in warnings[0], said
    assert all(r.exc_info is None for r in lines.records)
    assert any("Redis answers again" in m for _, _, m in said), said
