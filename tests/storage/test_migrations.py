"""Alembic migrations create exactly the schema the tables declare, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from qa_service.config import Settings
from qa_service.storage.db import create_db_engine, upgrade
from qa_service.storage.tables import Base


def _diff(engine):
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), Base.metadata)


def test_migrations_match_tables_sqlite(tmp_path):
    engine = create_db_engine(Settings(data_dir=tmp_path))
    upgrade(engine)
    upgrade(engine)  # idempotent
    assert _diff(engine) == []
    assert {"transcripts", "utterances", "reports", "findings", "flags", "agents", "teams"} <= set(
        inspect(engine).get_table_names())


@pytest.mark.postgres
def test_migrations_match_tables_postgres(postgres_engine):
    assert _diff(postgres_engine) == []


def test_sqlite_runs_in_wal_mode(tmp_path):
    engine = create_db_engine(Settings(data_dir=tmp_path))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
