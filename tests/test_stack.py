"""The embedded stack behind ``qa serve``: workers restarted when they exit, children that die with it, one
stack per data dir, and a data dir it cannot use said in one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from qa_service.app import create_app
from qa_service.cli import app as cli
from qa_service.config import Settings
from qa_service.process import token
from qa_service.stack import Stack
from qa_service.storage.redis import EmbeddedRedis
from tests.conftest import REPO, wait_for, worker_env


@pytest.fixture
def worker_environment(sqlite_settings, monkeypatch):
    for k, v in worker_env(sqlite_settings).items():
        monkeypatch.setenv(k, v)
    return sqlite_settings


def test_stack_restarts_a_dead_worker_and_readyz_counts_them(worker_environment):
    settings = worker_environment
    stack = Stack(settings, workers=1, poll_s=0.2).start()
    try:
        with TestClient(create_app(settings)) as c:
            body = c.get("/readyz").json()
            assert body["checks"]["workers"] == "1 alive of 1" and body["status"] == "ready", body
            first = stack.workers[0]
            first.kill()
            first.wait()  # reaped here or by the supervisor: either way no zombie is left
            stack.supervise_once()
            wait_for(lambda: stack.workers and stack.workers[0].pid != first.pid and stack.alive() == 1, 10)
            status = json.loads((settings.data_dir / "workers.json").read_text())  # what qa status prints
            assert status["restarts"] >= 1 and "exited with signal SIGKILL" in status["last_exit"], status
            assert c.get("/readyz").json()["checks"]["workers"] == "1 alive of 1"
    finally:
        stack.stop()
    assert not (settings.data_dir / "workers.json").exists()


def test_a_worker_that_cannot_start_is_retried_with_backoff_and_says_why(worker_environment, monkeypatch):
    settings = worker_environment
    monkeypatch.setenv("QA_SCORING__DETECTOR_MODEL", str(settings.data_dir / "no-such-model"))
    stack = Stack(settings, workers=1, poll_s=0.2).start()
    try:
        wait_for(lambda: stack.slots[0].failures >= 2, timeout_s=90)
        slot = stack.slots[0]
        assert slot.restart_at - time.monotonic() > 0.5  # waits before the next try, not at once
        said = slot.last_exit  # as logged (the log lines themselves depend on the suite's logging setup)
        assert "QA_SCORING__DETECTOR_MODEL" in said and "exited with code 2" in said, said
        with TestClient(create_app(settings)) as c:
            r = c.get("/readyz")
            assert r.status_code == 503 and r.json()["checks"]["workers"] == "0 alive of 1"
    finally:
        stack.stop()


def test_a_second_stack_on_the_same_data_dir_is_refused_and_a_bad_data_dir_is_one_line(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (d / "stack.pid").write_text(token(other.pid))
        result = CliRunner().invoke(cli, ["serve", "--workers", "0", "--data-dir", str(d)])
        assert result.exit_code == 2 and f"(pid {other.pid}) already runs" in " ".join(result.output.split())
    finally:
        other.kill()
        other.wait()
    (tmp_path / "file").write_text("x")
    for bad in (tmp_path / "file", tmp_path / "file" / "under"):
        for args in (["serve", "--workers", "0"], ["db", "upgrade"], ["requeue"]):
            result = CliRunner().invoke(cli, [*args, "--data-dir", str(bad)])
            text = " ".join(result.output.split())
            assert result.exit_code == 2 and "QA_DATA_DIR or --data-dir" in text, (args, result.output)
            assert result.exception is None or isinstance(result.exception, SystemExit)


def test_an_embedded_redis_whose_owner_is_gone_is_restarted(tmp_path):
    first = EmbeddedRedis(tmp_path).start()
    try:
        (tmp_path / "redis.owner").write_text("999999:1")  # a process that no longer exists
        second = EmbeddedRedis(tmp_path).start()
        assert second.process is not None and second.process.pid != first.process.pid
        assert first.process.wait(timeout=10) is not None
        second.stop()
    finally:
        first.stop()


@pytest.mark.slow
def test_serve_killed_takes_its_workers_and_redis_with_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env["PYTHONPATH"] = str(REPO)  # embedded SQLite and Redis
    d = tmp_path / "serve"
    serve = subprocess.Popen([sys.executable, "-m", "qa_service.cli", "serve", "--port", "18405", "--workers", "1",
                              "--data-dir", str(d)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        children = wait_for(lambda: len(psutil.Process(serve.pid).children()) >= 2 and
                            psutil.Process(serve.pid).children(), timeout_s=60)
    finally:
        serve.send_signal(signal.SIGKILL)
        serve.wait()
    wait_for(lambda: not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children), 20)
    assert not EmbeddedRedis(d).running()


def _stack_log(caplog, monkeypatch) -> None:
    from qa_service import stack as stack_module

    monkeypatch.setattr(stack_module.log, "disabled", False)  # alembic's fileConfig disables loggers it finds
    caplog.set_level("WARNING", logger=stack_module.log.name)


def test_the_stack_starts_its_embedded_redis_again_when_it_dies(tmp_path, caplog, monkeypatch):
    """Killed (out of memory, by hand), the embedded Redis stayed down — a zombie the stack never reaped — and
    every queue and live feature with it, until qa serve was started again."""
    _stack_log(caplog, monkeypatch)
    settings = Settings(data_dir=tmp_path / "data")  # embedded SQLite and Redis
    stack = Stack(settings, workers=0, poll_s=0.1).start()
    try:
        first = stack.redis.process
        first.kill()
        again = wait_for(lambda: stack.redis.process is not None and stack.redis.process.pid != first.pid
                         and stack.redis.running() and stack.redis.process, timeout_s=20)
        assert first.poll() is not None  # reaped, not left a zombie
        assert stack.redis.client().ping() and again.poll() is None
        assert "embedded Redis" in caplog.text and "starting it again" in caplog.text
    finally:
        stack.stop()
    assert not EmbeddedRedis(tmp_path / "data").running()


def test_a_redis_another_process_started_meanwhile_is_left_to_it(tmp_path, caplog, monkeypatch):
    """A worker that lost Redis starts one itself (ensure_redis) when it wins the race: the stack's
    supervisor then failed on every pass (an AttributeError a second), and supervised no worker again."""
    _stack_log(caplog, monkeypatch)
    settings = Settings(data_dir=tmp_path / "data")
    stack = Stack(settings, workers=0, poll_s=0.1).start()
    other = None
    try:
        first = stack.redis.process
        first.kill()
        first.wait()
        other = EmbeddedRedis(tmp_path / "data").start()  # before the stack's backoff (1 s) is over
        time.sleep(2.0)  # several passes
        assert stack.redis.process is None and other.process.poll() is None and stack.redis.running()
        assert "exited with" in caplog.text and "supervision pass failed" not in caplog.text
    finally:
        stack.stop()
        if other is not None:
            other.stop()
