"""An id the API handed out is never handed out again (found by an integrator probe, 2026-11-30): on SQLite a new
row got the highest stored id + 1, so after ``DELETE /v1/transcripts/{id}`` of the newest conversation the next one
got its id, and a CRM that kept "id 1073 is case UPD-1" read another conversation's report. The tables whose ids
clients keep and that an erasure or a purge deletes from number their rows with AUTOINCREMENT (revision 0017);
PostgreSQL's sequences never reused one."""

from __future__ import annotations

import json

from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import text

from qa_service.app import create_app
from qa_service.config import DBSettings, Settings
from qa_service.storage.db import alembic_config, create_db_engine, upgrade
from qa_service.storage.schema import Base
from tests.conftest import make_settings
from tests.ingest.test_erasure import _store_erased_one
from tests.live.conftest import Receiver
from tests.storage.test_migration_backfill import _alert, _scored

# What the API hands out and an erasure or a purge deletes (utterances, reports and flags: no client holds their ids)
KEPT_BY_CLIENTS = {"transcripts", "reviews", "findings", "manual_findings", "appeals", "audit_events", "live_alerts",
                   "alert_deliveries"}


def _autoincrement_tables(conn) -> set[str]:
    return {name for name, sql in conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
            if "AUTOINCREMENT" in (sql or "")}


def test_the_tables_declare_what_the_migrations_make(tmp_path):
    declared = {t.name for t in Base.metadata.sorted_tables if t.dialect_options["sqlite"]["autoincrement"]}
    assert declared == KEPT_BY_CLIENTS
    engine = create_db_engine(Settings(data_dir=tmp_path))
    try:
        upgrade(engine)
        with engine.connect() as conn:
            assert _autoincrement_tables(conn) == declared
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # back on after the migrations
    finally:
        engine.dispose()


def _max_ids(client) -> dict[str, int]:
    with client.app.state.runtime.engine.connect() as conn:
        return {t: conn.exec_driver_sql(f"SELECT coalesce(max(id), 0) FROM {t}").scalar() for t in KEPT_BY_CLIENTS}


def _min_ids(client, exclude_audit: int) -> dict[str, int]:
    with client.app.state.runtime.engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT min(id) FROM {t} WHERE id <> :x"),
                                {"x": exclude_audit if t == "audit_events" else 0}).scalar() for t in KEPT_BY_CLIENTS}


def test_erasing_the_newest_conversation_frees_none_of_its_ids(tmp_path, db_url, redis_url, redis_conn):
    """A live, alerted, scored, reviewed and appealed conversation is the newest of everything, and is erased; the
    next one like it gets new ids everywhere: its transcript, review, findings, manual finding, appeal, audit
    events, alert and delivery."""
    with Receiver() as receiver, TestClient(create_app(make_settings(tmp_path, db_url, redis_url))) as client:
        first = _store_erased_one(client, receiver)
        handed_out = _max_ids(client)
        assert all(handed_out.values()), handed_out  # a row in every table
        # allow_reingest: the same conversation may come again (a tombstone would refuse it: 410)
        assert client.delete(f"/v1/transcripts/{first['transcript']}",
                             params={"allow_reingest": "true"}).status_code == 204
        [erasure] = client.get("/v1/audit", params={"action": "transcripts_erased"}).json()
        assert erasure["id"] > handed_out["audit_events"]
        second = _store_erased_one(client, receiver)
        assert second["transcript"] > first["transcript"]
        new = _min_ids(client, exclude_audit=erasure["id"])
        assert {t: new[t] > handed_out[t] for t in KEPT_BY_CLIENTS} == dict.fromkeys(KEPT_BY_CLIENTS, True), \
            (handed_out, new)
        assert client.get(f"/v1/transcripts/{first['transcript']}").status_code == 404


def _rows_at_0016(conn) -> None:
    """A database of the release at 0016: three scored conversations with utterances (the newest reviewed,
    appealed, alerted), and an erasure that took a fourth (the newest then) before the upgrade."""
    for tid in (1, 2, 3):
        _scored(conn, tid, "2026-11-01", "after-sales", ("general", "1.3.3", "card"))
        for seq in range(3):
            conn.execute(text("INSERT INTO utterances (transcript_id, seq, role, text) VALUES (:t, :s, 'agent', '您好')"),
                         {"t": tid, "s": seq})
        conn.execute(text("INSERT INTO findings (report_id, dimension, rule_id, utterance_seq, span_start, span_end, "
                          "quote, points, severity, message) VALUES (:t, 'politeness', 'general.rude', 1, 0, 2, "
                          "'您好', -10, 'major', '问题')"), {"t": tid})
    conn.execute(text("INSERT INTO reviews (id, transcript_id, status, reasons, severity, priority, created_at, "
                      "updated_at) VALUES (5, 3, 'done', '[\"low_score\"]', 'major', 2, '2026-11-01 03:00:00', "
                      "'2026-11-01 03:00:00')"))
    conn.execute(text("INSERT INTO manual_findings (review_id, dimension, utterance_seq, span_start, span_end, quote, "
                      "points, severity, message, added_by, created_at) VALUES (5, 'politeness', 1, 0, 2, '您好', -5, "
                      "'minor', '敷衍', 'qa-li', '2026-11-01 03:00:00')"))
    conn.execute(text("INSERT INTO appeals (review_id, finding_id, quote, points, reason, appellant, status, created_at) "
                      "VALUES (5, 3, '您好', -10, '客户先骂人', 'a1', 'open', '2026-11-01 04:00:00')"))
    conn.execute(text("INSERT INTO audit_events (at, actor, action, review_id, entity, entity_id) VALUES "
                      "('2026-11-01 03:00:00', 'qa-li', 'completed', 5, 'review', 5)"))
    conn.execute(text("INSERT INTO audit_events (at, actor, action, entity, \"after\") VALUES ('2026-11-02 00:00:00', "
                      "'dpo', 'transcripts_erased', 'transcripts', :after)"),
                 {"after": json.dumps({"transcript_ids": [4], "transcripts": 1})})
    _alert(conn, 9, "live-9", 3, "complaint-risk", 0)
    conn.execute(text("INSERT INTO webhooks (url, format, created_at) VALUES ('http://crm/hook', 'json', "
                      "'2026-11-01 00:00:00')"))
    conn.execute(text("INSERT INTO alert_deliveries (alert_id, webhook_id, status, attempts, next_attempt_at) "
                      "VALUES (1, 1, 'delivered', 1, '2026-11-01 01:00:00')"))


def _dump(engine) -> dict[str, list]:
    with engine.connect() as conn:
        tables = [n for (n,) in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT "
                                                     "IN ('sqlite_sequence', 'alembic_version') ORDER BY name")]
        return {t: conn.exec_driver_sql(f"SELECT * FROM {t} ORDER BY rowid").all() for t in tables}


def test_0017_keeps_a_0016_database_s_rows_and_its_ids_continue_above_the_highest_handed_out(tmp_path):
    engine = create_db_engine(Settings(db=DBSettings(url=f"sqlite:///{tmp_path / 'qa.sqlite3'}")))
    try:
        upgrade(engine, "0016")
        with engine.begin() as conn:
            _rows_at_0016(conn)
        before = _dump(engine)
        assert upgrade(engine).applied == (("0017", "ids never handed out twice on SQLite"),)
        assert _dump(engine) == before  # every row of every table, utterances and facts too
        with engine.connect() as conn:
            assert _autoincrement_tables(conn) == KEPT_BY_CLIENTS
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert dict(conn.exec_driver_sql("SELECT name, seq FROM sqlite_sequence").all()) == {
                "transcripts": 4, "reviews": 5, "findings": 3, "manual_findings": 1, "appeals": 1, "audit_events": 2,
                "live_alerts": 1, "alert_deliveries": 1}
        with engine.begin() as conn:  # the newest conversation goes (cascading to its review, …), another comes
            conn.exec_driver_sql("DELETE FROM live_alerts WHERE transcript_id = 3")
            conn.exec_driver_sql("DELETE FROM transcripts WHERE id = 3")
            assert conn.exec_driver_sql("SELECT count(*) FROM utterances").scalar() == 6
            new = conn.execute(text("INSERT INTO transcripts (source, external_id, channel, received_at, metadata, "
                                    "content_hash, status, status_changed_at, attempts) VALUES ('jd-chat', 'UPD-2', "
                                    "'chat', '2026-11-03 00:00:00', '{}', 'h', 'received', '2026-11-03 00:00:00', 0) "
                                    "RETURNING id")).scalar()
            conn.execute(text("INSERT INTO reviews (transcript_id, status, reasons, severity, priority, created_at, "
                              "updated_at) VALUES (:t, 'queued', '[]', 'info', 4, '2026-11-03 00:00:00', "
                              "'2026-11-03 00:00:00')"), {"t": new})
            review = conn.exec_driver_sql("SELECT max(id) FROM reviews").scalar()
        assert (new, review) == (5, 6)  # above the erased 4 and the deleted review 5

        command.downgrade(alembic_config(engine), "0016")  # rebuilt as they were, rows kept
        with engine.connect() as conn:
            assert _autoincrement_tables(conn) == set()
            assert conn.exec_driver_sql("SELECT count(*) FROM utterances").scalar() == 6
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        upgrade(engine)
        with engine.connect() as conn:
            assert _autoincrement_tables(conn) == KEPT_BY_CLIENTS
            assert conn.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = 'transcripts'").scalar() == 5
    finally:
        engine.dispose()
