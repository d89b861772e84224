"""Several processes starting together on one empty database migrate it one at a time (found by an operator
probe, 2026-11-29: 2 of 3 workers started together on an empty PostgreSQL database exited with
``UniqueViolation … pg_type_typname_nsp_index``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from qa_service.config import DBSettings, Settings
from qa_service.storage.db import create_db_engine, current_revision, known_revisions
from tests.conftest import REPO, TEST_POSTGRES_URL


def _start_together(tmp_path, db_url: str | None, n: int = 3) -> list[subprocess.CompletedProcess]:
    env = {**os.environ, "QA_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    if db_url:
        env["QA_DB__URL"] = db_url
    procs = [subprocess.Popen([sys.executable, "-m", "qa_service.cli", "db", "upgrade"], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(n)]
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=180), *p.communicate()) for p in procs]


def _assert_all_at_head(results, engine) -> None:
    for r in results:
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stdout + r.stderr
    head, _ = known_revisions(engine)
    assert current_revision(engine) == head
    with engine.connect() as conn:  # the schema is there once: one version row
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1


@pytest.mark.postgres
def test_processes_started_together_on_an_empty_postgres_database_all_migrate_it(tmp_path):
    url = make_url(TEST_POSTGRES_URL)
    name = f"{url.database}_migrate_race"
    try:
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        pytest.skip(f"cannot create a database next to {url.database} ({type(exc).__name__})")
    fresh = url.set(database=name).render_as_string(hide_password=False)
    engine = create_db_engine(Settings(db=DBSettings(url=fresh)))
    try:
        _assert_all_at_head(_start_together(tmp_path, fresh), engine)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def test_processes_started_together_on_a_new_sqlite_file_all_migrate_it(tmp_path):
    results = _start_together(tmp_path, None)
    engine = create_db_engine(Settings(data_dir=tmp_path / "data"))
    try:
        _assert_all_at_head(results, engine)
    finally:
        engine.dispose()


def test_a_process_waiting_for_anothers_migration_says_so_then_goes_on(db_url, caplog, monkeypatch):
    """Was: silent; a worker whose start waited behind a stuck migration looked hung, with no line to say why."""
    import threading

    from qa_service.storage import db

    monkeypatch.setattr(db.log, "disabled", False)  # alembic's fileConfig disables existing loggers
    engine = create_db_engine(Settings(db=DBSettings(url=db_url)))
    entered = threading.Event()

    def second():
        with db.migration_lock(engine):
            entered.set()

    try:
        with caplog.at_level("WARNING", logger=db.log.name):
            with db.migration_lock(engine):
                waiter = threading.Thread(target=second)
                waiter.start()
                assert not entered.wait(1.0)  # held: the second waits
                assert "waiting for another process's schema migration to finish" in caplog.text
            waiter.join(10)
        assert entered.is_set()
        assert caplog.text.count("waiting for another") == 1
    finally:
        engine.dispose()


def test_a_start_with_nothing_to_migrate_neither_waits_for_the_lock_nor_says_so(tmp_path, db_url, caplog,
                                                                                monkeypatch):
    """Was: with QA_DB__AUTO_MIGRATE off, workers started together queued for the migration lock to check the
    facts, one logging "waiting for another process's schema migration to finish" where no migration ran
    (production.md sends that line to pg_stat_activity; an operator probe, 2026-12)."""
    import threading

    from qa_service.runtime import Runtime
    from qa_service.storage import db

    monkeypatch.setattr(db.log, "disabled", False)  # alembic's fileConfig disables existing loggers
    settings = Settings(data_dir=tmp_path, db=DBSettings(url=db_url, auto_migrate=False))
    Runtime(settings).sync_facts()  # derived once, as `qa db upgrade` does
    engine = create_db_engine(settings)
    started = threading.Event()

    def start():
        Runtime(settings).migrate()
        started.set()

    try:
        with caplog.at_level("WARNING", logger=db.log.name):
            with db.migration_lock(engine):  # another process holds it (migrating something else, or stuck)
                starting = threading.Thread(target=start)
                starting.start()
                assert started.wait(10), "the start waited for the migration lock"
            starting.join(10)
        assert "waiting for another" not in caplog.text
    finally:
        engine.dispose()
