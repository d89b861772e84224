"""Migrations that fill a new table from what an older database already holds, on SQLite and PostgreSQL:
built at the previous revision with rows as the previous release wrote them, then upgraded (found by an
upgrade probe of 183b228 → 0013, 2026-11-29); and the chain of migrations down to nothing and up again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from qa_service.config import DBSettings, Settings
from qa_service.storage.db import alembic_config, create_db_engine, upgrade
from qa_service.storage.schema import Base
from tests.conftest import BASE_POSTGRES_URL, TEST_POSTGRES_URL


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db_url(request, tmp_path) -> Iterator[str]:
    """A database with no schema: a new SQLite file, or a PostgreSQL database next to the test one."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'qa.sqlite3'}"
        return
    url = make_url(TEST_POSTGRES_URL)
    name = f"{url.database}_backfill"
    admin = create_engine(BASE_POSTGRES_URL, isolation_level="AUTOCOMMIT")  # this one exists
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        admin.dispose()
        pytest.skip(f"cannot create a database next to {url.database} ({type(exc).__name__})")
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _transcript(conn, tid: int, external_id: str, received_at: str) -> None:
    conn.execute(text("INSERT INTO transcripts (id, source, external_id, channel, received_at, metadata, "
                      "content_hash, status, status_changed_at, attempts) VALUES (:id, 'jd-chat', :e, 'chat', "
                      ":r, '{}', 'h', 'scored', :r, 1)"), {"id": tid, "e": external_id, "r": received_at})


def _alert(conn, cid: int, external_id: str, tid: int | None, rule: str, turn: int) -> None:
    conn.execute(text("INSERT INTO live_alerts (conversation_id, transcript_id, source, external_id, rule, severity, "
                      "message, utterance_index, quote, created_at, status) VALUES (:c, :t, 'jd-chat', :e, :rule, "
                      "'major', '客户提到投诉', :u, '我要投诉', '2026-10-01 01:00:00', 'open')"),
                 {"c": cid, "t": tid, "e": external_id, "rule": rule, "u": turn})


def test_0013_records_which_transcript_each_live_conversation_with_alerts_became(empty_db_url):
    """Was: live_transcripts started empty, so a conversation ended under the previous release was a 404
    for a late /end once Redis lost it, though its alerts paired it with its transcript."""
    engine = create_db_engine(Settings(db=DBSettings(url=empty_db_url)))
    try:
        upgrade(engine, "0011")  # the schema of the last release (183b228)
        with engine.begin() as conn:
            _transcript(conn, 151, "live-1", "2026-10-01 02:00:00")
            _transcript(conn, 152, "live-2", "2026-10-01 03:00:00")
            _transcript(conn, 7, "posted-whole", "2026-09-30 00:00:00")
            for turn, rule in enumerate(["complaint-risk", "agent-rude", "customer-wait"]):
                _alert(conn, 1, "live-1", 151, rule, turn)  # ended: three alerts, one transcript
            _alert(conn, 2, "live-2", 152, "complaint-risk", 0)
            _alert(conn, 4, "live-4", None, "complaint-risk", 0)  # still open at the upgrade
        upgrade(engine)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT conversation_id, transcript_id, ended_at FROM live_transcripts "
                                     "ORDER BY conversation_id")).all()
        assert [(c, t) for c, t, _ in rows] == [(1, 151), (2, 152)]
        assert [str(e)[:16] for _, _, e in rows] == ["2026-10-01 02:00", "2026-10-01 03:00"]
    finally:
        engine.dispose()


def _scored(conn, tid: int, day: str, team: str | None, version: tuple[str | None, ...]) -> None:
    """A scored transcript as the release at 0014 stored it: its report (recording its scoring) and its fact."""
    _transcript(conn, tid, f"t{tid}", f"{day} 02:00:00")
    pack, pack_version, card = version
    conn.execute(text("INSERT INTO reports (id, transcript_id, score, fatal, dimensions, weights, scorer_versions, "
                      "rule_pack, rule_pack_version, duration_ms, created_at, scorecard_version) VALUES (:id, :id, "
                      "90.0, false, '{}', '{}', '{}', :p, :v, 1.0, :at, :c)"),
                 {"id": tid, "p": pack, "v": pack_version, "c": card, "at": f"{day} 02:00:00"})
    conn.execute(text("INSERT INTO qa_facts (transcript_id, team_id, at, day, score, fatal, flagged) VALUES "
                      "(:id, :team, :at, :day, 90.0, false, false)"),
                 {"id": tid, "team": team, "at": f"{day} 02:00:00", "day": day})


def test_0015_counts_the_stored_reports_per_scoring_version_and_goes_back(empty_db_url):
    """A database of the release before (0014) holds reports of two scorings; the new rollup counts them as the
    worker would have, and its downgrade drops it alone (derived data)."""
    engine = create_db_engine(Settings(db=DBSettings(url=empty_db_url)))
    old, new = ("general", "1.1.0", "golden-oof-2026-11-27"), ("general", "1.3.3", "golden-oof-2026-11-28c")
    try:
        upgrade(engine, "0014")
        with engine.begin() as conn:
            for tid, day, team, version in [(1, "2026-11-01", "after-sales", old), (2, "2026-11-01", "after-sales", old),
                                            (3, "2026-11-01", "after-sales", new), (4, "2026-11-02", None, new),
                                            (5, "2026-11-02", "pre-sales", (None, None, None))]:
                _scored(conn, tid, day, team, version)
        upgrade(engine)
        query = text("SELECT day, team_key, rule_pack, rule_pack_version, scorecard_version, n FROM qa_daily_versions "
                     "ORDER BY day, team_key, rule_pack_version")
        with engine.connect() as conn:
            rows = [(str(d), *rest) for d, *rest in conn.execute(query)]
        assert rows == [("2026-11-01", "after-sales", *old, 2), ("2026-11-01", "after-sales", *new, 1),
                        ("2026-11-02", "", *new, 1), ("2026-11-02", "pre-sales", "", "", "", 1)]
        command.downgrade(alembic_config(engine), "0014")
        assert "qa_daily_versions" not in inspect(engine).get_table_names()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM reports")).scalar() == 5  # nothing else lost
        upgrade(engine)
        with engine.connect() as conn:
            assert [(str(d), *rest) for d, *rest in conn.execute(query)] == rows
    finally:
        engine.dispose()


def test_every_migration_goes_down_and_up_again(empty_db_url):
    """The chain, both ways, on each backend: each downgrade runs (they are not a supported path — restoring the
    backup is, docs/production.md — but they exist, and one that fails half way would leave a schema no release
    knows); 0014's folds the closing note back into ``note``; up again, the schema is the tables' exactly."""
    engine = create_db_engine(Settings(db=DBSettings(url=empty_db_url)))
    try:
        upgrade(engine)
        with engine.begin() as conn:
            _alert(conn, 1, "live-1", None, "complaint-risk", 0)
            conn.execute(text("UPDATE live_alerts SET note = '在跟进', close_note = '已解决', status = 'closed'"))
        command.downgrade(alembic_config(engine), "0013")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT note FROM live_alerts")).scalar() == "在跟进\n已解决"
        command.downgrade(alembic_config(engine), "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(engine)
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    finally:
        engine.dispose()
