"""Embedded mode: SQLite writers in several processes queue on a blocking file lock.

SQLite lets one writer at a time hold its database; a writer that finds it taken polls, sleeping 1,
2, 5, 10, 15, 20, 25 … 100 ms between tries (SQLite's busy handler), and nothing makes the waits
fair. With two workers committing scored chunks, an API insert could lose the race several times
and wait a hundred milliseconds or more for a lock that was free after two. Here every process takes
an exclusive ``flock`` on ``<database>.writer`` just before the first write statement of a
transaction and drops it when the connection goes back to its pool (after the commit or rollback):
a waiting writer sleeps in the kernel and wakes the moment the lock is released. Readers never take
it (WAL lets them read alongside the writer).

Checkpoints (copying the write-ahead log into the database) are moved off the writers' path too:
SQLite runs one inside the commit that crosses 1,000 pages of log, holding up every other writer
for the 50–200 ms it takes. Connections here checkpoint on their own only past ``AUTOCHECKPOINT``
pages (a safety net); a process that calls :func:`take_checkpoints` (the workers: batch work) runs
:func:`checkpoint` after each write once the log passes ``CHECKPOINT_BYTES``: a passive checkpoint
outside the lock, then the few frames written meanwhile under it (so the log can restart: a passive
checkpoint alone never catches up with steady writes). (Connections set ``journal_size_limit`` to the same
size, so the log's file is cut back whenever the log restarts and its size says how much is waiting;
otherwise it stays at its largest ever and every write would checkpoint.) An API process runs them in a thread of its own
(:class:`BackgroundCheckpoints`), off the requests' path: without workers (``qa serve --workers 0``)
nothing else would, and at 100 MB of log the safety net stalled one commit — and every request
queued behind it — for 150 ms.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import sqlite3
import threading
import time
from pathlib import Path

from sqlalchemy import Connection, Engine, event

from qa_service import timing

_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|BEGIN\s+(?:IMMEDIATE|EXCLUSIVE))\b",
                    re.IGNORECASE)
_HELD = "qa_writer_lock"
AUTOCHECKPOINT = 25_000  # pages (100 MB of log): only if no worker checkpoints
CHECKPOINT_BYTES = 4 * 1024 * 1024
TRUNCATE_TRIES, TRUNCATE_WAIT_S = 5, 1.0  # truncate_log: a busy log is tried again, this long each time
_checkpointer = False
log = logging.getLogger(__name__)


def take_checkpoints() -> None:
    """This process checkpoints the log after its writes (call it in batch processes, not the API)."""
    global _checkpointer
    _checkpointer = True


def begin_write(conn: Connection) -> bool:
    """Start ``conn``'s write transaction now, before its first write (SQLite: ``BEGIN IMMEDIATE``, after
    this process's writer file lock), so that what it reads next cannot change before it writes: a
    read-then-write that must not interleave with another writer's (a re-score and a review closing on
    the same transcript's facts). SQLite otherwise reads outside any transaction until the first write.
    True if it began one; False on PostgreSQL (row locks do this there) or once a write has begun it."""
    if conn.dialect.name != "sqlite" or conn.connection.driver_connection.in_transaction:
        return False
    conn.exec_driver_sql("BEGIN IMMEDIATE")
    return True


def checkpoint(dbapi_conn, writer_fd: int) -> None:
    """Copy the log into the database so that the next write restarts it (and ``journal_size_limit``
    cuts its file back): most of it alongside the writers (PASSIVE), then, holding the writer lock, the
    frames written meanwhile — usually a few pages, well under a millisecond. SQLite restarts a log only
    once every frame in it is copied; under steady writes a passive checkpoint alone never caught up
    (new frames arrived while it ran), the log grew to the 100 MB safety net, and that checkpoint ran
    inside a request's commit: every POST queued 30–50 ms behind it."""
    dbapi_conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    fcntl.flock(writer_fd, fcntl.LOCK_EX)
    try:
        dbapi_conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        fcntl.flock(writer_fd, fcntl.LOCK_UN)


def truncate_log(engine: Engine, *, tries: int | None = None, wait_s: float | None = None) -> bool | None:
    """Copy the whole log into ``engine``'s database file and cut the log to 0 bytes (``PRAGMA
    wal_checkpoint(TRUNCATE)``): after a purge, so that what it deleted is neither left in the log nor, in
    the file, anything but the zeros ``secure_delete`` wrote (a quiet site checkpoints only past
    ``CHECKPOINT_BYTES``: the purged rows stayed in the file, and in any copy of it, for days). Holds the
    writers' file lock while it runs; a reader in the middle of a transaction (another process's) makes it
    wait, ``wait_s`` at most (``TRUNCATE_WAIT_S``), and ``tries`` times (``TRUNCATE_TRIES``). True once done;
    False if never (the next checkpoint does it); None on PostgreSQL or an in-memory SQLite."""
    tries = TRUNCATE_TRIES if tries is None else tries
    wait_s = TRUNCATE_WAIT_S if wait_s is None else wait_s
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        return None
    fd = os.open(f"{database}.writer", os.O_RDWR | os.O_CREAT, 0o600)
    conn = sqlite3.connect(database, timeout=wait_s, check_same_thread=False)
    try:
        for attempt in range(tries):
            if attempt:
                time.sleep(wait_s)
            if not _lock_within(fd, wait_s):  # a writer's transaction longer than that
                continue
            try:
                busy, *_ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.OperationalError:  # locked beyond the timeout
                busy = 1
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
            if not busy:
                return True
        return False
    finally:
        conn.close()
        os.close(fd)


def _lock_within(fd: int, wait_s: float) -> bool:
    """The writers' lock, taken within ``wait_s`` (polled: ``flock`` itself waits without a limit)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)


def install(engine: Engine, database: Path) -> None:
    """Make ``engine``'s writes take the file lock beside ``database``."""
    fd = os.open(f"{database}.writer", os.O_RDWR | os.O_CREAT, 0o600)

    @event.listens_for(engine, "before_cursor_execute")
    def _take(conn, _cursor, statement, _params, _context, _executemany):
        if not conn.info.get(_HELD) and _WRITE.match(statement):
            t0 = time.perf_counter()
            fcntl.flock(fd, fcntl.LOCK_EX)
            conn.info[_HELD] = True
            timing.add("lock", time.perf_counter() - t0)  # a request's Server-Timing: did it queue behind a writer?

    wal = f"{database}-wal"

    def _drop(dbapi_conn, record, *_args) -> None:
        if record is not None and record.info.pop(_HELD, False):
            fcntl.flock(fd, fcntl.LOCK_UN)
            if _checkpointer and os.path.exists(wal) and os.path.getsize(wal) > CHECKPOINT_BYTES:
                checkpoint(dbapi_conn, fd)

    event.listen(engine.pool, "checkin", _drop)
    event.listen(engine.pool, "invalidate", _drop)

    @event.listens_for(engine, "engine_disposed")
    def _close(_engine):
        try:
            os.close(fd)
        except OSError:  # already closed by an earlier dispose
            pass


class BackgroundCheckpoints(threading.Thread):
    """Every ``interval_s``, a passive checkpoint once the log of ``database`` passes ``CHECKPOINT_BYTES``,
    on a connection of its own (no pool connection, no writer lock: requests never wait for it)."""

    def __init__(self, database: Path, interval_s: float = 1.0):
        super().__init__(name="qa-sqlite-checkpoint", daemon=True)
        self.database, self.interval_s = Path(database), interval_s
        self.wal = Path(f"{database}-wal")
        self.stopping = threading.Event()

    @classmethod
    def for_engine(cls, engine: Engine) -> BackgroundCheckpoints | None:
        """One for ``engine``'s database file, or None (PostgreSQL, an in-memory SQLite)."""
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        return cls(Path(database)) if database and database != ":memory:" else None

    def run(self) -> None:
        conn = None
        fd = os.open(f"{self.database}.writer", os.O_RDWR | os.O_CREAT, 0o600)  # its own: flock is per open file
        try:
            while not self.stopping.wait(self.interval_s):
                try:
                    if self.wal.exists() and self.wal.stat().st_size > CHECKPOINT_BYTES:
                        conn = conn or sqlite3.connect(self.database, timeout=1.0, check_same_thread=False)
                        checkpoint(conn, fd)
                except (OSError, sqlite3.Error) as exc:  # the next pass tries again
                    log.warning("background checkpoint of %s failed: %s", self.database, exc)
        finally:
            os.close(fd)
            if conn is not None:
                conn.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=5)
