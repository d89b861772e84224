"""Alembic migrations create exactly the schema the tables declare, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from qa_service.config import Settings
from qa_service.storage.db import create_db_engine, upgrade
from qa_service.storage.schema import Base


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


def test_migration_0003_backfills_report_summaries(tmp_path):
    """Reports stored before agent performance existed get the summary performance records read."""
    from sqlalchemy import text

    engine = create_db_engine(Settings(data_dir=tmp_path))
    upgrade(engine, "0002")
    dims = ('{"politeness": {"score": 90.0, "applicable": true}, "timing": {"score": 100.0, "applicable": true, '
            '"metrics": {"first_response_ms": 4000, "duration_ms": 60000, "reply_latency_ms": {"n": 2, "mean": 1500}}}, '
            '"sentiment": {"score": 100.0, "applicable": false}}')
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO transcripts (id, source, external_id, channel, received_at, metadata, "
                          "content_hash, status, status_changed_at, attempts) VALUES (1, 's', 'e', 'chat', "
                          "'2026-10-01 00:00:00', '{}', 'h', 'scored', '2026-10-01 00:00:00', 1)"))
        conn.execute(text("INSERT INTO reports (id, transcript_id, score, fatal, dimensions, weights, "
                          "scorer_versions, duration_ms, created_at) VALUES (1, 1, 92.5, 0, :d, '{}', '{}', 1.0, "
                          "'2026-10-01 00:00:00')"), {"d": dims})
        conn.execute(text("INSERT INTO flags (report_id, transcript_id, reason, severity, detail) "
                          "VALUES (1, 1, 'low_score', 'major', '')"))
    upgrade(engine)
    with engine.connect() as conn:
        raw = conn.execute(text("SELECT summary FROM reports WHERE id = 1")).scalar_one()
    import json

    assert json.loads(raw) == {"dims": {"politeness": 90.0, "timing": 100.0, "sentiment": None}, "flagged": True,
                               "frt_ms": 4000, "reply_ms": 1500, "handling_ms": 60000}
