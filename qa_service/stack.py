"""The embedded stack behind ``qa serve`` and ``qa demo``: schema, Redis, worker processes, API server."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import uvicorn

from qa_service.app import create_app
from qa_service.config import Settings
from qa_service.storage.redis import EmbeddedRedis
from qa_service.runtime import Runtime


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Stack:
    """Starts what the settings leave embedded, plus N worker processes; ``stop()`` undoes it."""

    def __init__(self, settings: Settings, *, workers: int = 2, worker_args: tuple[str, ...] = ()):
        self.settings = settings
        self.n_workers = workers
        self.worker_args = worker_args
        self.redis: EmbeddedRedis | None = None
        self.workers: list[subprocess.Popen] = []

    def start(self) -> Stack:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        Runtime(self.settings).migrate()
        if self.settings.uses_embedded_redis:
            self.redis = EmbeddedRedis(self.settings.data_dir).start()
        for i in range(self.n_workers):
            self.workers.append(self.spawn_worker(i))
        return self

    def metrics_args(self, index: int) -> list[str]:
        """The Nth worker serves its metrics on QA_WORKER__METRICS_PORT + N (none when unset)."""
        port = self.settings.worker.metrics_port
        return ["--metrics-port", str(port + index)] if port else []

    def spawn_worker(self, index: int) -> subprocess.Popen:
        log = open(self.settings.data_dir / f"worker-{index}.log", "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "qa_service.cli", "worker", "--data-dir", str(self.settings.data_dir.resolve()),
             *self.worker_args, *self.metrics_args(index)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        return proc

    def stop(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.workers:
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.workers = []
        if self.redis is not None:
            self.redis.stop()
            self.redis = None

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class BackgroundServer:
    """uvicorn in a thread (for ``qa demo`` and benchmarks); ``qa serve`` runs it in the foreground."""

    def __init__(self, settings: Settings, host: str = "127.0.0.1", port: int | None = None):
        self.host = host
        self.port = port or free_port(host)
        config = uvicorn.Config(create_app(settings), host=host, port=self.port, log_level="warning",
                                access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 20.0) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"API server did not start on {self.url}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def data_dir_note(data_dir: Path) -> str:
    return f"data dir {data_dir.resolve()} (SQLite qa.sqlite3, Redis socket, worker logs)"
