"""The embedded stack behind ``qa serve`` and ``qa demo``: schema, Redis, worker processes, API server."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from qa_service import metrics
from qa_service.app import create_app
from qa_service.config import Settings
from qa_service.errors import ConfigError
from qa_service.process import (clear_worker_status, data_dir_problem, die_with_parent, read_token, token,
                                write_worker_status)
from qa_service.storage.redis import EmbeddedRedis
from qa_service.runtime import Runtime

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


RESTART_BACKOFF_S = (1, 2, 5, 10, 30, 60)  # waits before restarting a worker that keeps exiting
STEADY_S = 60.0  # a worker that ran this long before exiting starts its backoff over
LOG_ROTATE_BYTES = 10 * 1024 * 1024  # worker-N.log over this at a restart becomes worker-N.log.1
STACK_PIDFILE = "stack.pid"


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"


def last_line(path: Path, tail_bytes: int = 4096) -> str:
    """The last non-empty line of a log file ('' when there is none)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(fh.seek(0, 2) - tail_bytes, 0))
            lines = [ln.strip() for ln in fh.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


@dataclass
class WorkerSlot:
    """One of the N workers ``qa serve`` keeps running: its process, or when it restarts next."""

    index: int
    proc: subprocess.Popen | None = None
    started: float = 0.0
    failures: int = 0  # exits in a row, each before STEADY_S
    restarts: int = 0
    restart_at: float = 0.0
    last_exit: str = ""


class Stack:
    """Starts what the settings leave embedded, plus N worker processes that it restarts when they exit
    (with backoff); ``stop()`` undoes it. Its children die with it (Linux), and a second stack on the
    same data dir is refused."""

    def __init__(self, settings: Settings, *, workers: int = 2, worker_args: tuple[str, ...] = (),
                 poll_s: float = 1.0):
        self.settings = settings
        self.n_workers = workers
        self.worker_args = worker_args
        self.poll_s = poll_s
        self.redis: EmbeddedRedis | None = None
        self.slots: list[WorkerSlot] = []
        self._stop = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._lock = threading.Lock()
        self._owns_redis = False  # started by this stack (not one it found running): it restarts it
        self._redis_failures, self._redis_restart_at, self._redis_started = 0, 0.0, 0.0

    @property
    def workers(self) -> list[subprocess.Popen]:
        return [slot.proc for slot in self.slots if slot.proc is not None]

    @property
    def pidfile(self) -> Path:
        return self.settings.data_dir / STACK_PIDFILE

    def start(self) -> Stack:
        problem = data_dir_problem(self.settings.data_dir)
        if problem:
            raise ConfigError(f"data dir {self.settings.data_dir} (QA_DATA_DIR or --data-dir) {problem}")
        other = read_token(self.pidfile)
        if other is not None and other != os.getpid():
            raise ConfigError(f"another qa serve or qa demo (pid {other}) already runs on data dir "
                              f"{self.settings.data_dir.resolve()}: stop it, or give this one another --data-dir")
        self.pidfile.write_text(token(), encoding="ascii")
        Runtime(self.settings).migrate()
        if self.settings.uses_embedded_redis:
            self.redis = EmbeddedRedis(self.settings.data_dir).start()
            self._owns_redis, self._redis_started = self.redis.process is not None, time.monotonic()
        for i in range(self.n_workers):
            self._rotate_log(i, force=True)
            slot = WorkerSlot(i)
            self._launch(slot)
            self.slots.append(slot)
        if self.slots:
            self._write_status()
        if self.slots or self.redis is not None:
            self._supervisor = threading.Thread(target=self._supervise, name="qa-stack-supervisor", daemon=True)
            self._supervisor.start()
        return self

    def metrics_args(self, index: int) -> list[str]:
        """The Nth worker serves its metrics on QA_WORKER__METRICS_PORT + N (none when unset)."""
        port = self.settings.worker.metrics_port
        return ["--metrics-port", str(port + index)] if port else []

    def log_path(self, index: int) -> Path:
        return self.settings.data_dir / f"worker-{index}.log"

    def _rotate_log(self, index: int, *, force: bool = False) -> None:
        """worker-N.log becomes worker-N.log.1 at each start of the stack, and at a restart once it is
        over LOG_ROTATE_BYTES: the current run's log and the one before it are kept."""
        path = self.log_path(index)
        try:
            if path.exists() and (force or path.stat().st_size > LOG_ROTATE_BYTES):
                os.replace(path, path.with_name(path.name + ".1"))
        except OSError:
            pass

    def spawn_worker(self, index: int) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if k != metrics.MULTIPROC_ENV}  # the API's, not a worker's
        env["COLUMNS"] = "10000"  # its one-line errors stay one line in the log (rich wraps at 80 otherwise)
        with open(self.log_path(index), "ab") as log_file:
            return subprocess.Popen(
                [sys.executable, "-m", "qa_service.cli", "worker", "--data-dir",
                 str(self.settings.data_dir.resolve()), *self.worker_args, *self.metrics_args(index)],
                stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True, env=env,
                preexec_fn=die_with_parent(),
            )

    def _launch(self, slot: WorkerSlot) -> None:
        slot.proc = self.spawn_worker(slot.index)
        slot.started = time.monotonic()

    def alive(self) -> int:
        return sum(1 for slot in self.slots if slot.proc is not None and slot.proc.poll() is None)

    def _supervise_redis(self) -> None:
        """The embedded Redis this stack started exited (killed, out of memory): reap it and start it again,
        with backoff. It did not come back before: the whole stack stayed down until qa serve was started
        again. What it had not saved is gone; the reconciler queues again what the database says waits."""
        embedded = self.redis
        if embedded is None or not self._owns_redis or self._stop.is_set():
            return
        now = time.monotonic()
        proc = embedded.process
        if proc is not None and proc.poll() is None:
            if self._redis_failures and now - self._redis_started > STEADY_S:
                self._redis_failures = 0
            return
        if proc is not None:  # it has just exited: say why, wait out the backoff
            embedded.process = None
            killed = proc.returncode < 0  # its log's last line is then from before, not why it ended
            self._redis_failed(now, f"embedded Redis (pid {proc.pid}) exited with {_exit_text(proc.returncode)}"
                               + ("" if killed else f": {last_line(embedded.data_dir / 'redis.log')}"))
        elif embedded.running():  # another process's serves the data dir (a worker started one meanwhile)
            return
        if now < self._redis_restart_at:
            return
        try:
            embedded.start()
        except (ConfigError, OSError) as exc:
            embedded.process = None  # a server that died starting is this failure, not the next one
            self._redis_failed(now, f"embedded Redis did not start again: {exc}")
            return
        self._redis_started = now
        if embedded.process is None:
            log.warning("embedded Redis: another process's serves %s now", embedded.data_dir)
        else:
            log.warning("embedded Redis started again (pid %s)", embedded.process.pid)

    def _redis_failed(self, now: float, what: str) -> None:
        self._redis_failures += 1
        delay = RESTART_BACKOFF_S[min(self._redis_failures - 1, len(RESTART_BACKOFF_S) - 1)]
        self._redis_restart_at = now + delay
        log.error("%s; starting it again in %ds", what, delay)

    def supervise_once(self) -> None:
        """Reap the workers that exited (log why), restart those whose backoff is over, record the count;
        the same for the embedded Redis."""
        self._supervise_redis()
        with self._lock:
            changed = False
            for slot in self.slots:
                if slot.proc is not None and slot.proc.poll() is not None:
                    self._exited(slot)
                    changed = True
                if slot.proc is None and time.monotonic() >= slot.restart_at and not self._stop.is_set():
                    self._rotate_log(slot.index)
                    self._launch(slot)
                    slot.restarts += 1
                    changed = True
            if changed:
                self._write_status()

    def _exited(self, slot: WorkerSlot) -> None:
        proc, now = slot.proc, time.monotonic()
        slot.proc = None
        slot.failures = slot.failures + 1 if now - slot.started < STEADY_S else 1
        delay = RESTART_BACKOFF_S[min(slot.failures - 1, len(RESTART_BACKOFF_S) - 1)]
        slot.restart_at = now + delay
        line = last_line(self.log_path(slot.index)) or "(its log is empty)"
        slot.last_exit = f"worker {slot.index} (pid {proc.pid}) exited with {_exit_text(proc.returncode)}: {line}"
        if slot.failures >= 3:
            log.error("%s; it failed %d times in a row soon after starting, next try in %ds (log: %s)",
                      slot.last_exit, slot.failures, delay, self.log_path(slot.index))
        else:
            log.warning("%s; restarting it in %ds", slot.last_exit, delay)

    def _supervise(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.supervise_once()
            except Exception:  # keep supervising; a failed spawn is tried again next pass
                log.exception("stack supervision pass failed")

    def _write_status(self) -> None:
        try:
            write_worker_status(self.settings.data_dir, {
                "expected": len(self.slots), "alive": self.alive(), "restarts": sum(s.restarts for s in self.slots),
                "last_exit": next((s.last_exit for s in sorted(self.slots, key=lambda s: -s.restart_at)
                                   if s.last_exit), "")})
        except OSError as exc:
            log.warning("cannot write the worker status file: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            procs = self.workers
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for proc in procs:
                try:
                    proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            self.slots = []
        # After the workers: a process the supervisor thread started (a Redis it restarted) is sent SIGTERM
        # when that thread ends (PR_SET_PDEATHSIG), and the workers must not lose Redis mid-job first.
        if self._supervisor is not None:
            self._supervisor.join(timeout=30)
            self._supervisor = None
        clear_worker_status(self.settings.data_dir)
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
        if read_token(self.pidfile) == os.getpid():
            self.pidfile.unlink(missing_ok=True)

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
        self.server.config.app.state.stopping.set()  # what a signal does for qa serve: open streams end
        self.server.should_exit = True
        self.thread.join(timeout=10)


def data_dir_note(settings: Settings, workers: int) -> str:
    """What ``qa serve`` keeps in its data dir with these settings (the database and Redis only when embedded)."""
    held = [*(["SQLite qa.sqlite3"] if not settings.db.url else []),
            *(["embedded Redis socket and data"] if settings.uses_embedded_redis else []),
            *(["worker logs"] if workers else []), "pid and worker status files"]
    return f"data dir {settings.data_dir.resolve()} ({', '.join(held)})"
