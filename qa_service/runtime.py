"""Runtime: what a process builds once from Settings — engine and sessions, Redis, rule book, pipeline,
appraisal schemes and the per-process caches — shared by the API, the worker, the embedded stack and
the CLI.

Everything heavy is built on first use (the API never loads the sentiment model unless it runs a
rule dry run; a worker calls ``pipeline.initialize()`` before taking jobs). A worker process installs
its runtime with :func:`install`; rq's job functions read it back with :func:`current`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

import redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from qa_service.config import Settings, get_settings, masked_url
from qa_service.errors import ConfigError
from qa_service.rules.book import RuleBook
from qa_service.rules.scheme import SchemeBook
from qa_service.scoring.pipeline import Pipeline
from qa_service.scoring.registry import dimension_names
from qa_service.storage import facts
from qa_service.storage.db import (create_db_engine, current_revision, known_revisions, migration_lock, session_factory,
                                   session_scope, upgrade)
from qa_service.storage.redis import redis_client
from qa_service.storage.transcripts import KnownIds

V = TypeVar("V")
log = logging.getLogger(__name__)
KEY_CACHE_S = 5.0  # an API key verified this recently is trusted without a database read


class TTLCache(Generic[V]):
    """A small dict whose entries expire ``ttl_s`` seconds after they were put (monotonic clock).

    ``generation`` counts :meth:`clear` calls: a caller that reads it before a slow lookup and passes
    it to :meth:`put` caches nothing when a clear came in between (a key revoked while it was being
    verified stays out of the cache)."""

    def __init__(self, ttl_s: float):
        self.ttl_s = ttl_s
        self._items: dict[Hashable, tuple[float, V]] = {}
        self._lock = threading.Lock()
        self.generation = 0

    def get(self, key: Hashable) -> V | None:
        hit = self._items.get(key)
        if hit is None or hit[0] <= time.monotonic():
            return None
        return hit[1]

    def put(self, key: Hashable, value: V, generation: int | None = None) -> None:
        with self._lock:
            if generation is None or generation == self.generation:
                self._items[key] = (time.monotonic() + self.ttl_s, value)

    def drop(self, key: Hashable) -> None:
        self._items.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._items.clear()


class Runtime:
    def __init__(self, settings: Settings, *, pipeline: Pipeline | None = None):
        self.settings = settings
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None
        self._read_engine: Engine | None = None
        self._read_sessions: sessionmaker[Session] | None = None
        self.known_ids = KnownIds()  # agents and teams known to exist (ingest skips their lookup)
        self.verified_keys: TTLCache[Any] = TTLCache(KEY_CACHE_S)  # API keys checked recently (access/service.py)
        self._lock = threading.Lock()
        self._redis: redis.Redis | None = None
        self._rulebook: RuleBook | None = pipeline.rulebook if pipeline is not None else None
        self._pipeline = pipeline
        self._schemes: SchemeBook | None = None
        self._extensions: dict[str, Any] = {}
        self._ext_lock = threading.RLock()

    @property
    def engine(self) -> Engine:
        """The database engine (created on first use: offline scoring never touches a database)."""
        with self._lock:
            if self._engine is None:
                self._engine = create_db_engine(self.settings)
                self._sessions = session_factory(self._engine)
            return self._engine

    @property
    def sessions(self) -> sessionmaker[Session]:
        self.engine
        return self._sessions

    @property
    def read_sessions(self) -> sessionmaker[Session]:
        """Sessions on the read replica (``QA_DB__READ_URL``) for aggregate reads, else on the primary."""
        if not self.settings.db.read_url:
            return self.sessions
        with self._lock:
            if self._read_sessions is None:
                self._read_engine = create_db_engine(self.settings, self.settings.db.read_url)
                self._read_sessions = session_factory(self._read_engine)
            return self._read_sessions

    @property
    def redis(self) -> redis.Redis:
        """The configured Redis (connects lazily)."""
        if self._redis is None:
            self._redis = redis_client(self.settings)
        return self._redis

    @property
    def rulebook(self) -> RuleBook:
        """The rule packs (``QA_SCORING__RULES_DIR``), loaded on first use and reloaded when files change."""
        with self._lock:
            if self._rulebook is None:
                self._rulebook = RuleBook(self.settings.rules_dir, default_pack=self.settings.scoring.default_pack,
                                          dimensions=dimension_names(self.settings.scoring.scorers))
            return self._rulebook

    @property
    def pipeline(self) -> Pipeline:
        """The configured scorers over the rule book (call ``initialize()`` to load their models)."""
        book = self.rulebook
        with self._lock:
            if self._pipeline is None:
                self._pipeline = Pipeline.from_settings(self.settings.scoring, book)
            return self._pipeline

    @property
    def schemes(self) -> SchemeBook:
        """The appraisal schemes (``QA_PERFORMANCE__SCHEMES_DIR``), reloaded when files change."""
        with self._lock:
            if self._schemes is None:
                self._schemes = SchemeBook(self.settings.schemes_dir, dimension_names(self.settings.scoring.scorers))
            return self._schemes

    @cached_property
    def timezone(self) -> ZoneInfo:
        """``QA_PERFORMANCE__TIMEZONE``: the zone whose local day a conversation belongs to."""
        return ZoneInfo(self.settings.performance.timezone)

    def extension(self, key: str, build):
        """A process-wide object a service builds once on this runtime (e.g. the live checks)."""
        with self._ext_lock:
            if key not in self._extensions:
                self._extensions[key] = build()
            return self._extensions[key]

    def migrate(self, *, starting: bool = True) -> Runtime:
        """Make sure the database is one this release can serve, before serving it: with
        ``QA_DB__AUTO_MIGRATE`` on, a process ``starting`` (serve, worker, demo, import) brings the schema up to
        date and logs one line saying what it applied; any other command (``starting`` False) only creates
        the schema of a new, empty database, and refuses a schema behind this release's naming ``qa db
        upgrade`` (was: every command that opened the database upgraded it, silently — ``qa keys list`` run
        before the planned backup upgraded production). With it off, a schema behind is a
        :class:`ConfigError` naming ``qa db upgrade``. Then derive the facts if they never were (a
        database from before them). A schema from a newer release, or facts derived under other settings
        than this process's, is a :class:`ConfigError` saying what to do: a process never re-derives
        everyone's figures under its own settings (only ``qa db upgrade`` does)."""
        current = self.schema_problem(named=True)  # a refusal names the database: a mistyped QA_DB__URL shows
        if current is not None and not starting and current_revision(self.engine) is not None:
            # this command never upgrades an existing schema, whatever QA_DB__AUTO_MIGRATE says (was, with it
            # off: "QA_DB__AUTO_MIGRATE is off: run qa db upgrade", as if turning it on would help)
            start = ("only qa serve, worker, demo and import upgrade it at start: " if self.settings.db.auto_migrate
                     else "")
            raise ConfigError(f"{current}; {start}take a backup, then run `qa db upgrade` first")
        if current is not None and not self.settings.db.auto_migrate:
            raise ConfigError(f"{current}; QA_DB__AUTO_MIGRATE is off: run `qa db upgrade` first")
        if current is not None:
            done = upgrade(self.engine)
            # An existing schema upgraded is worth a line wherever logging is quieted (demo) or unset (import);
            # a new database's schema is routine.
            log.log(logging.WARNING if done.before else logging.INFO, "database %s: %s",
                    masked_url(self.settings.database_url), done.describe())
        self.sync_facts(rederive=False)
        return self

    def database_name(self) -> str:
        """The database as messages name it: its URL, password masked, or the embedded SQLite file (said so: an
        operator who set a mistyped variable, e.g. QA_DB_URL, reads that QA_DB__URL is unset)."""
        if self.settings.db.url:
            return f"the database {masked_url(self.settings.db.url)}"
        return (f"the embedded SQLite database at {self.settings.database_url.removeprefix('sqlite:///')} "
                "(QA_DB__URL is unset)")

    def schema_problem(self, *, named: bool = False) -> str | None:
        """Why the schema is not this release's (None: it is), naming the database with ``named``. Raises
        :class:`ConfigError` for a schema that a newer release migrated (this one cannot serve it, nor take it
        back)."""
        head, known = known_revisions(self.engine)
        at = current_revision(self.engine)
        if at is not None and at not in known:
            raise ConfigError(f"the database ({masked_url(self.settings.database_url)}) is at revision {at}, which this "
                              f"release does not know (its newest is {head}): a newer release migrated it. Run "
                              "that release, or a database this release made; nothing was changed")
        subject = self.database_name() if named else "the database"
        return None if at == head else f"{subject} is at revision {at or 'none (empty)'}, this release needs {head}"

    @cached_property
    def derivation(self) -> facts.Derivation:
        """The settings derived rows (facts, rollups) depend on: time zone and first-response target."""
        p = self.settings.performance
        return facts.Derivation(p.timezone, p.frt_target_seconds * 1000)

    def sync_facts(self, *, rederive: bool = True) -> int | None:
        """Derive facts and rollups if they never were, or (``rederive``) were made under other settings
        (``storage/facts.py``); with ``rederive`` False those raise ``DerivedElsewhere``. One process at a time
        (the migration lock): on SQLite two starting together both found no facts and both recorded them
        (``UNIQUE constraint failed: qa_meta.key``); PostgreSQL's own lock is in ``facts.sync``. Facts already
        derived under these settings (every start but the first) are read without the lock: processes
        starting together used to queue for it, one logging "waiting for another process's schema migration"
        where no migration ran."""
        with self.session() as session:
            if facts.is_current(session, self.derivation):
                return None
        with migration_lock(self.engine, what="schema migration or derivation of qa_facts"), \
                self.session() as session:
            return facts.sync(session, self.derivation, rederive=rederive)

    def derive_missing_facts(self, *, batch: int = 2000) -> int:
        """Facts and rollups of scored transcripts that have none (``facts.missing``: reports a worker of a release
        before revision 0008 stored after the upgrade), a transaction per ``batch``; returns how many. ``qa db
        upgrade`` runs it every time, not only when it first derives the facts."""
        done, last = 0, 0
        while True:
            with self.session() as session:
                ids = facts.missing(session=session, after=last, limit=batch)
                if not ids:
                    return done
                done += facts.derive_missing(session=session, transcript_ids=ids, derive=self.derivation)
            last = ids[-1]

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with session_scope(self.sessions) as session:
            yield session

    def close(self) -> None:
        for ext in self._extensions.values():
            if hasattr(ext, "close"):
                ext.close()
        self._extensions.clear()
        for engine in (self._engine, self._read_engine):
            if engine is not None:
                engine.dispose()
        if self._redis is not None:
            self._redis.close()


_installed: Runtime | None = None


def install(runtime: Runtime) -> Runtime:
    """Make ``runtime`` this process's runtime (the worker, before taking jobs)."""
    global _installed
    _installed = runtime
    return runtime


def current() -> Runtime:
    """This process's runtime; built from the environment on first use (e.g. under a plain ``rq worker``)."""
    return _installed or install(Runtime(get_settings()))
