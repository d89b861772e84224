"""The live board's event stream ends when the viewer's access does: a key revoked, a UI login ended
or expired. Found by a probe: the stream authenticated once and then kept sending board snapshots
while connected. A real server (uvicorn) and a real streaming client: TestClient buffers a response."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from qa_service.access import service as access
from qa_service.config import AuthSettings, LiveSettings
from qa_service.stack import BackgroundServer
from qa_service.storage.db import session_scope
from qa_service.storage.tables import LoginSession, utcnow
from qa_service.ui import live
from tests.conftest import make_settings

READ_TIMEOUT_S = live.RECHECK_S * 4  # a stream that never ends fails the test instead of hanging it


@pytest.fixture
def server(tmp_path, sqlite_url, redis_url, redis_conn):
    srv = BackgroundServer(make_settings(tmp_path, sqlite_url, redis_url, auth=AuthSettings(enabled=True),
                                         live=LiveSettings())).start()
    runtime = srv.server.config.app.state.runtime
    keys = {}
    with session_scope(runtime.sessions) as s:
        for name, role in (("root", "admin"), ("lead.a", "supervisor")):
            row, key = access.create_key(session=s, role=role, team="team-a" if role == "supervisor" else None,
                                         name=name)
            keys[name] = (row.id, key)
    yield srv, runtime, keys
    srv.stop()


def _events(client: httpx.Client, on_first, **request) -> tuple[list[str], float]:
    """The stream's event names until it ends, and the seconds from ``on_first()`` (called after the
    first board arrives) to its end."""
    names, started = [], None
    with client.stream("GET", "/ui/live/events", **request) as resp:
        assert resp.status_code == 200, resp.read()
        for line in resp.iter_lines():
            if line.startswith("event:"):
                names.append(line.split(":", 1)[1].strip())
                if len(names) == 1:
                    on_first()
                    started = time.monotonic()
            if line.startswith("data:") and names[-1] == "ended":
                assert "log in again" in json.loads(line.split(":", 1)[1])["detail"]
    return names, time.monotonic() - started


def _client(srv) -> httpx.Client:
    return httpx.Client(base_url=srv.url, timeout=httpx.Timeout(10.0, read=READ_TIMEOUT_S))


def test_live_stream_of_a_key_ends_when_the_key_is_revoked(server):
    srv, _, keys = server
    sup_id, sup_key = keys["lead.a"]
    with _client(srv) as c:
        def revoke():
            r = c.delete(f"/v1/keys/{sup_id}", headers={"Authorization": f"Bearer {keys['root'][1]}"})
            assert r.status_code == 200, r.text

        names, took = _events(c, revoke, headers={"Authorization": f"Bearer {sup_key}"})
        assert names == ["board", "ended"] and took < live.RECHECK_S * 2 + 1
        again = c.get("/ui/live/events", headers={"Authorization": f"Bearer {sup_key}"})
        assert again.status_code == 303 and again.headers["location"].startswith("/ui/login")


def test_live_stream_of_a_login_ends_on_logout(server):
    srv, _, keys = server
    with _client(srv) as c:
        assert c.post("/ui/login", json={"key": keys["lead.a"][1]}).status_code == 200
        cookie = dict(c.cookies)

        def logout():
            with _client(srv) as other:  # the same browser's other tab
                other.cookies.update(cookie)
                assert other.post("/ui/logout").status_code == 200

        names, took = _events(c, logout)
        assert names == ["board", "ended"] and took < live.RECHECK_S * 2 + 1


def test_live_stream_of_a_login_ends_when_the_login_expires(server):
    srv, runtime, keys = server
    with _client(srv) as c:
        assert c.post("/ui/login", json={"key": keys["lead.a"][1]}).status_code == 200

        def expire():
            with session_scope(runtime.sessions) as s:
                s.execute(update(LoginSession).values(expires_at=utcnow() - timedelta(seconds=1)))

        names, took = _events(c, expire)
        assert names == ["board", "ended"] and took < live.RECHECK_S * 2 + 1


def test_a_storm_of_events_costs_each_viewer_at_most_two_boards_a_second(server):
    """Each board reads and sends every open alert again (up to 500); a storm's events each cost every
    viewer one. They are coalesced: at most one board every MIN_PUSH_S, read after the events."""
    import threading

    from qa_service.storage import live as live_repo

    srv, runtime, keys = server
    storm_s, boards, stop = 3.0, [], threading.Event()

    def storm() -> None:  # 100 events a second for storm_s, then one a second until the reader is done
        t0 = time.monotonic()
        while not stop.is_set():
            live_repo.publish(runtime.redis, {"type": "alert", "team": "team-a"})
            time.sleep(0.01 if time.monotonic() - t0 < storm_s else 1.0)

    publisher = threading.Thread(target=storm, daemon=True)
    with _client(srv) as c, c.stream("GET", "/ui/live/events",
                                     headers={"Authorization": f"Bearer {keys['lead.a'][1]}"}) as resp:
        for line in resp.iter_lines():
            if line.startswith("event: board"):
                boards.append(time.monotonic())
                if len(boards) == 1:
                    publisher.start()
                elif boards[-1] - boards[0] > storm_s:
                    break
    stop.set()
    publisher.join(5)
    during = [t for t in boards[1:] if t - boards[0] <= storm_s]
    assert 2 <= len(during) <= storm_s / live.MIN_PUSH_S + 1, len(during)  # 300 events, at most 7 boards
