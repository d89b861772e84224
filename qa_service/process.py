"""Process plumbing shared by ``qa serve``, its workers and the API: children that die with their parent,
whether a pid lives, and the worker-status file ``qa serve`` keeps for ``/readyz`` and ``qa status``."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

EXIT_SIGNALS = (signal.SIGINT, signal.SIGTERM)
WORKERS_FILE = "workers.json"  # in the data dir, while qa serve supervises workers there
PR_SET_PDEATHSIG = 1


def _prctl():
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def die_with_parent(sig: int = signal.SIGTERM):
    """A ``preexec_fn`` asking Linux to send ``sig`` to the child when the thread that started it ends
    (``qa serve`` SIGKILLed leaves no orphans: its workers and its embedded Redis go too); None where
    there is no prctl. prctl is looked up here, in the parent: the child only calls it."""
    prctl = _prctl()
    if prctl is None:
        return None

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    return preexec


def pid_alive(pid: int | None) -> bool:
    """A process with this id exists (and is not a zombie we could see)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's: alive
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def start_time(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot; Linux), to tell it from a later process given the same id."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def token(pid: int | None = None) -> str:
    """``pid:start`` naming this process (or ``pid``) for a pidfile."""
    pid = pid or os.getpid()
    return f"{pid}:{start_time(pid) or ''}"


def token_alive(value: str | None) -> int | None:
    """The pid a pidfile's ``token`` names, when that very process still runs; else None."""
    pid_s, _, started = (value or "").strip().partition(":")
    if not pid_s.isdigit() or not pid_alive(int(pid_s)):
        return None
    now = start_time(int(pid_s))
    return int(pid_s) if not started or not now or now == started else None


def read_token(path: Path) -> int | None:
    """The live process a pidfile names, else None (no file, or its process ended)."""
    try:
        return token_alive(Path(path).read_text(encoding="ascii"))
    except (OSError, UnicodeDecodeError):
        return None


def data_dir_problem(data_dir: Path) -> str | None:
    """Why ``data_dir`` cannot serve as the data dir (created when missing), or None when it can."""
    path = Path(data_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        return "is a file, not a folder"
    except NotADirectoryError:
        return "lies under a file, not a folder"
    except OSError as exc:
        return f"cannot be created: {exc.strerror or exc}"
    if not path.is_dir():
        return "is not a folder"
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        return f"is not writable: {exc.strerror or exc}"
    return None


def write_worker_status(data_dir: Path, status: dict) -> None:
    """Replace the worker-status file at once (readers never see half of it)."""
    path = Path(data_dir) / WORKERS_FILE
    tmp = path.with_name(f".{WORKERS_FILE}.{os.getpid()}")
    tmp.write_text(json.dumps({"supervisor": token(), **status}), encoding="utf-8")
    os.replace(tmp, path)


def read_worker_status(data_dir: Path) -> dict | None:
    """What the ``qa serve`` supervising workers in this data dir last wrote: ``expected``, ``alive``,
    ``last_exit``; None when no live ``qa serve`` supervises workers here."""
    try:
        status = json.loads((Path(data_dir) / WORKERS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(status, dict) or token_alive(status.get("supervisor")) is None:
        return None
    return status


def clear_worker_status(data_dir: Path) -> None:
    try:
        (Path(data_dir) / WORKERS_FILE).unlink()
    except OSError:
        pass


def also_on_exit_signal(callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` as well when SIGINT or SIGTERM arrives, then the handler installed before it
    (uvicorn's, which begins its graceful shutdown); returns what puts that handler back.

    A server waits for its open responses to end before it stops, and a stream (the live board's) ends
    only when it notices: this is how it notices. Off the main thread (a server in a thread, the test
    client) it does nothing, as signals are the main thread's. ``callback`` runs in a signal handler:
    it must only set a flag."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    before = {sig: signal.getsignal(sig) for sig in EXIT_SIGNALS}

    def handler(signum, frame):
        callback()
        previous = before[signum]
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:  # what would have happened: the default, once more
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    for sig in EXIT_SIGNALS:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, previous in before.items():
            if signal.getsignal(sig) is handler:
                signal.signal(sig, previous if previous is not None else signal.SIG_DFL)

    return restore
