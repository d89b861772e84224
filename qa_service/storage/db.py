"""Engine and sessions from settings; Alembic upgrade on demand."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from qa_service.config import Settings
from qa_service.storage import sqlite_writer

log = logging.getLogger(__name__)

_SURROGATE = re.compile(r"[\ud800-\udfff]")


def json_text(value) -> str:
    """How JSON columns are written: Chinese (any non-ASCII) as itself, not ``\\u5efa\\u56fd\\u8def``, so that a
    ``LIKE '%建国路%'`` or a grep of a dump finds a name or address in ``audit_events``, ``alert_deliveries``
    or ``reports`` as it finds it in the text columns (a DPO's search missed every JSON column). A lone
    surrogate (which UTF-8 cannot carry; input refuses it) keeps the escaped form, as before."""
    text = json.dumps(value, ensure_ascii=False)
    if not text.isascii() and _SURROGATE.search(text):
        return json.dumps(value)
    return text


def create_db_engine(settings: Settings, url: str | None = None) -> Engine:
    """An engine for ``url`` (default ``settings.database_url``); SQLite gets WAL, foreign keys and a busy timeout."""
    url = url or settings.database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        # One connection per process: threads queue for it in the pool (a condition variable)
        # instead of colliding on SQLite's file lock, whose busy handler sleeps up to 100 ms
        # between retries; processes queue for it on a blocking file lock (sqlite_writer.py).
        engine = create_engine(
            url,
            echo=settings.db.echo,
            json_serializer=json_text,
            connect_args={"timeout": settings.db.busy_timeout_ms / 1000, "check_same_thread": False},
            poolclass=QueuePool,
            pool_size=1,
            max_overflow=0,
            pool_timeout=settings.db.busy_timeout_ms / 1000,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - exercised by every sqlite test
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(settings.db.busy_timeout_ms)}")
            # Deleted rows' bytes zeroed, not left in the pages' free space: what a purge or an erasure deletes
            # is gone from the file once checkpointed. Debian's build has it on by default, others do not. Cost,
            # 3,000 real dialogues (2026-11-29): ingest and report writes within the noise, a re-score +2 %,
            # the purge of all of them 0.42 → 0.49 s.
            cur.execute("PRAGMA secure_delete=ON")
            cur.execute(f"PRAGMA wal_autocheckpoint={sqlite_writer.AUTOCHECKPOINT}")
            # When the log restarts, cut its file back: its size then tells how much is waiting to be
            # checkpointed (sqlite_writer checks it), instead of staying at its largest ever.
            cur.execute(f"PRAGMA journal_size_limit={sqlite_writer.CHECKPOINT_BYTES}")
            cur.close()

        if engine.url.database and engine.url.database != ":memory:":
            sqlite_writer.install(engine, Path(engine.url.database))
        return engine
    # JIT compiling (tens of ms per query) costs PostgreSQL more than it saves on the short aggregates
    # the pages run; an operator can still turn it on per role or database.
    return create_engine(url, echo=settings.db.echo, pool_pre_ping=True, pool_size=10, max_overflow=20,
                         json_serializer=json_text, connect_args={"options": "-c jit=off"})


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(engine: Engine):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option(
        "script_location", str(resources.files("qa_service.storage").joinpath("migrations"))
    )
    cfg.attributes["engine"] = engine
    return cfg


def current_revision(engine: Engine) -> str | None:
    """The schema's Alembic revision (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def known_revisions(engine: Engine) -> tuple[str, set[str]]:
    """(the head revision of this release's migrations, every revision they know)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(engine))
    return script.get_current_head(), {rev.revision for rev in script.walk_revisions()}


# pg_advisory_lock key of migrations (any fixed bigint; "qa_migr" in ASCII): one process migrates at a time
MIGRATION_LOCK_KEY = 0x71615F6D696772


@contextmanager
def migration_lock(engine: Engine, *, what: str = "schema migration") -> Iterator[None]:
    """Held while a process migrates: several processes starting together on one database (workers with
    ``QA_DB__AUTO_MIGRATE`` on) take turns instead of all creating the same tables at once; one that has to
    wait says so, once, naming ``what`` it waits for (a migration stuck behind a long transaction shows up as
    that line). PostgreSQL: a
    session-level advisory lock on a connection of its own, held until the block ends (and released by the
    server if the process dies). SQLite: an exclusive ``flock`` on ``<database>.migrate`` (the writers' lock,
    ``<database>.writer``, is taken by the migrating connection itself)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            if not conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({MIGRATION_LOCK_KEY})").scalar():
                log.warning("waiting for another process's %s to finish (PostgreSQL advisory lock %d: see "
                            "pg_locks where objid = %d)", what, MIGRATION_LOCK_KEY, MIGRATION_LOCK_KEY & 0xFFFFFFFF)
                conn.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")
            conn.commit()  # a session lock: no transaction stays open on this connection while it is held
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")
                conn.commit()
        return
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    fd = os.open(f"{database}.migrate", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("waiting for another process's %s to finish (lock file %s.migrate)", what, database)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # drops the lock


@dataclass(frozen=True)
class Upgraded:
    """What :func:`upgrade` did: the revision before and after, and the migrations it applied (id, title)."""

    before: str | None
    after: str | None
    applied: tuple[tuple[str, str], ...]

    def headline(self) -> str:
        """``upgraded 0011 → 0013 (2 migrations)``, ``created the schema at 0013 (13 migrations)`` or ``already at
        0013: nothing to do``."""
        if not self.applied:
            return f"already at {self.after or 'none (empty)'}: nothing to do"
        n = f"{len(self.applied)} migration{'s' if len(self.applied) > 1 else ''}"
        if self.before is None:
            return f"created the schema at {self.after} ({n})"
        return f"upgraded {self.before} → {self.after} ({n})"

    def describe(self, where: str | None = None) -> str:
        """The :meth:`headline` (then ``: where``) and, for an upgrade, each migration applied on a line of its own,
        its title whole (``  0012 live alerts keep the words a rule matched``). Was one line, the first and last
        titles cut at 60 characters and the ones between left out."""
        head = self.headline() + (f": {where}" if where else "")
        if self.before is None:  # a new database's schema: routine, its 14 titles would be noise
            return head
        return "\n".join([head, *(f"  {rev} {title}" for rev, title in self.applied)])


def _title(doc: str | None) -> str:
    """A migration's title: its docstring's first paragraph up to the first colon, on one line."""
    first = " ".join((doc or "").strip().split("\n\n")[0].split())
    return first.split(": ")[0].rstrip(":").strip()


def upgrade(engine: Engine, revision: str = "head") -> Upgraded:
    """Bring the schema to ``revision`` (idempotent), one process at a time (:func:`migration_lock`): a
    process that waited finds the schema its predecessor made (Alembic reads the revision after the lock)
    and has nothing left to do. Returns what it applied (was: nothing, so no caller could say)."""
    from alembic import command
    from alembic.script import ScriptDirectory

    cfg = alembic_config(engine)
    with migration_lock(engine):
        before = current_revision(engine)
        command.upgrade(cfg, revision)
        after = current_revision(engine)
    applied: list[tuple[str, str]] = []
    if after != before and after is not None:
        script = ScriptDirectory.from_config(cfg)
        for rev in script.iterate_revisions(after, before or "base"):
            applied.append((rev.revision, _title(rev.doc)))
    return Upgraded(before, after, tuple(reversed(applied)))
