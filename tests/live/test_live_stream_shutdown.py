"""``qa serve`` stops on SIGTERM while a live board is open. Found by a probe: the board's event stream
kept the server "Waiting for connections to close" until the client gave up (a browser tab never does).
A real ``qa serve`` process, a real signal, a real streaming client (TestClient buffers a response)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from qa_service.stack import free_port
from tests.conftest import REPO, wait_for

STOPS_WITHIN_S = 20.0  # the stream ends at once; the rest is the API's own shutdown, on a slow machine
CLIENT_WAITS_S = 120.0  # the viewer stays far longer: a server that waits for it fails the test


def _serve(tmp_path, sqlite_url: str, redis_url: str, api_processes: int) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update(PYTHONPATH=str(REPO), QA_DB__URL=sqlite_url, QA_REDIS__URL=redis_url)
    port = free_port()
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "qa_service.cli", "serve", "--workers", "0", "--port", str(port),
                             "--api-processes", str(api_processes), "--data-dir", str(tmp_path / "data")],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    pytest.fail(f"qa serve did not start: {(tmp_path / 'serve.log').read_text(errors='replace')[-2000:]}")


@pytest.mark.slow
@pytest.mark.parametrize("api_processes", [1, 2])
def test_serve_stops_promptly_while_a_live_board_is_open(tmp_path, sqlite_url, redis_url, redis_conn,
                                                         api_processes):
    proc, url = _serve(tmp_path, sqlite_url, redis_url, api_processes)
    events, ended = [], threading.Event()

    def watch():  # a board left open in a browser tab
        try:
            with httpx.Client(timeout=httpx.Timeout(10.0, read=CLIENT_WAITS_S)) as c, \
                    c.stream("GET", f"{url}/ui/live/events") as resp:
                for line in resp.iter_lines():
                    if line.startswith("event:"):
                        events.append(line)
        except httpx.HTTPError:
            pass
        finally:
            ended.set()

    viewer = threading.Thread(target=watch, daemon=True)
    viewer.start()
    try:
        deadline = time.monotonic() + 30
        while not events and time.monotonic() < deadline:
            time.sleep(0.05)
        assert events == ["event: board"], (tmp_path / "serve.log").read_text(errors="replace")[-2000:]
        proc.send_signal(signal.SIGTERM)
        # the stream notices the signal itself, well before uvicorn's 10 s graceful-shutdown timeout would
        # cancel it (which alone would also pass the exit check below)
        assert ended.wait(5), "the live board's stream was still open 5 s after SIGTERM"
        code = proc.wait(timeout=STOPS_WITHIN_S)
        assert code in (0, 128 + signal.SIGTERM, -signal.SIGTERM)
    except subprocess.TimeoutExpired:
        pytest.fail(f"qa serve still running {STOPS_WITHIN_S:g} s after SIGTERM with a live board open")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_live_loop_ends_when_asked_not_at_the_end_of_its_wait(sqlite_settings, monkeypatch):
    """Its stop wakes it: every stop of an API process (and every test's app) waited for the tick before."""
    from qa_service.live import loop as loop_module
    from qa_service.runtime import Runtime

    monkeypatch.setattr(loop_module, "TICK_S", 4.0)  # under the loop's 5 s socket timeout, over the join below
    rt = Runtime(sqlite_settings)
    rt.migrate()
    live = loop_module.LiveLoop(rt)
    live.start()
    try:
        time.sleep(0.3)  # in its blocking wait by now
        assert live.is_alive()
        live.stop(timeout_s=2.0)
        assert not live.is_alive()
    finally:
        live.stopping.set()
        rt.close()


def test_the_live_loop_says_redis_is_away_in_one_line_a_minute_and_when_it_is_back(sqlite_settings, monkeypatch,
                                                                                   caplog):
    """With Redis away the loop logged a whole traceback every 2 s (18 in a minute, in a probe)."""
    import redis as redis_lib

    from qa_service.live import loop as loop_module
    from qa_service.runtime import Runtime

    rt = Runtime(sqlite_settings)
    rt.migrate()
    calls = []

    def away_three_times(r, timeout_s, holder=None):
        calls.append(1)
        if len(calls) <= 3:
            raise redis_lib.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        time.sleep(0.05)

    monkeypatch.setattr(loop_module.live_repo, "wait_for_wake", away_three_times)
    monkeypatch.setattr(loop_module.log, "disabled", False)  # alembic's fileConfig disables loggers it finds
    caplog.set_level("WARNING", logger=loop_module.log.name)
    live = loop_module.LiveLoop(rt)
    live.stopping.wait = lambda s: time.sleep(0.01)  # no 2 s pauses between tries here
    live.start()
    try:
        wait_for(lambda: len(calls) > 5, timeout_s=20)
    finally:
        live.stopping.set()
        live.join(timeout=10)
        rt.close()
    lines = [r.getMessage() for r in caplog.records if r.name == loop_module.log.name]
    assert lines[0].startswith("live loop: ConnectionError (Error 111") and "Traceback" not in caplog.text
    assert lines[1:] == ["live loop: answering again"]
