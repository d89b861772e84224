"""``qa purge`` as a DPO needs it (a retention probe, 2026-11-29): the dry run counts what goes with the
transcripts and names the period the cut-off falls inside; the purge is in the audit trail, asks nothing when
nothing matches, records how far it reached (appraisals of earlier periods then warn), removes the live state
of the live conversations it deleted, and on SQLite leaves no purged text in the database file or its log."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from qa_service.app import create_app
from qa_service.cli import app
from qa_service.performance.audit import cli_actor
from qa_service.storage import sqlite_writer
from qa_service.storage.alert_tables import LiveAlert
from qa_service.storage.tables import Appeal, AuditEvent, Review, Transcript
from qa_service.ingest.schema import TranscriptCreate
from qa_service.ingest.service import ingest
from qa_service.queue.tasks import record_report
from qa_service.runtime import Runtime
from tests.api.test_review_api import UTTERANCES, finding, report
from tests.conftest import make_settings, transcript
from tests.live.conftest import open_conversation, stream
from tests.storage.test_retention import _cli_env

SECRET = "住北京市朝阳区建国路77号3单元502室"  # only the purged conversation holds it
KEPT = "住上海市浦东新区世纪大道100号"  # only the kept one


@pytest.fixture
def sqlite_rt(tmp_path, sqlite_url, redis_url, redis_conn):
    runtime = Runtime(make_settings(tmp_path, sqlite_url, redis_url))
    yield runtime
    runtime.close()


def _count(rt, table) -> int:
    with rt.session() as s:
        return s.scalar(select(func.count()).select_from(table))


def _store(rt, external_id: str, rep, said: str, **fields) -> int:
    """A conversation whose customer also says ``said``, stored and scored as ``rep``."""
    body = TranscriptCreate.model_validate(transcript(external_id, utterances=[
        *UTTERANCES, {"role": "customer", "text": f"我{said}，快递没到"}], **fields))
    [outcome], _ = ingest([(0, body)], runtime=rt)
    with rt.session() as s:
        record_report(session=s, transcript_id=outcome.id, report=rep)
    return outcome.id


def _old_and_new(rt) -> tuple[int, int]:
    """A flagged conversation of 1 October (its review done, one finding appealed) and one of 2 October."""
    from qa_service.review import service as review_service

    rude = finding("politeness", "rude", -10)
    old = _store(rt, "old", report({"politeness": (40, 1.0, [rude])}), SECRET, agent_id="a1", team="t",
                 started_at="2026-10-01T10:00:00+08:00")
    new = _store(rt, "new", report({"politeness": (90, 1.0, [])}), KEPT, agent_id="a1", team="t",
                 started_at="2026-10-02T10:00:00+08:00")
    with rt.session() as s:
        review = review_service.for_transcript(session=s, transcript_id=old)
        review_service.complete(session=s, review_id=review.id, by="r1", comment=None, confirm_rest=True)
        rude_id = review.transcript.report.findings[0].id
    with rt.session() as s:
        review_service.create_appeal(session=s, review_id=review.id, finding_id=rude_id, manual_finding_id=None,
                                     reason="不是辱骂", by="a1", window_days=3650)
    return old, new


def test_the_dry_run_counts_reviews_appeals_and_alerts_and_names_the_period_it_cuts(rt, monkeypatch, tmp_path,
                                                                                     request):
    from qa_service.storage import alerts as alert_repo

    old, _ = _old_and_new(rt)
    with rt.session() as s:
        [alert], _ = alert_repo.insert_alerts(session=s, rows=[{
            "conversation_id": 1, "source": "s", "external_id": "old", "team_id": "t", "agent_id": "a1",
            "rule": "complaint-threat", "severity": "critical", "message": "m", "utterance_index": 0,
            "quote": "打12315", "value": 0.9}])
        s.get(LiveAlert, alert.id).transcript_id = old
    runner = _cli_env(rt, monkeypatch, tmp_path, request)
    dry = runner.invoke(app, ["purge", "--before", "2026-10-02", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "1 transcript(s), 0 KPI record(s); with them 1 review(s), 1 appeal(s) (1 open), 1 live alert(s)" \
        in dry.output, dry.output
    assert "the cut-off falls inside 2026-10: it loses its first day (2026-10-01), so its figures and appraisal " \
           "will change, as will those of 2026-W40, 2026-Q4 and 2026" in dry.output, dry.output
    several = runner.invoke(app, ["purge", "--before", "2026-10-15", "--dry-run"])
    assert "2026-10: it loses its first 14 days (2026-10-01..2026-10-14)" in several.output, several.output
    whole = runner.invoke(app, ["purge", "--before", "2026-10-01", "--dry-run"])  # a month's first day cuts none
    assert "0 transcript(s)" in whole.output and "falls inside" not in whole.output, whole.output
    with rt.session() as s:
        assert s.scalar(select(func.count()).select_from(Transcript)) == 2


def test_a_purge_is_audited_and_later_appraisals_of_the_periods_it_cut_warn(rt, monkeypatch, tmp_path, request):
    _old_and_new(rt)
    runner = _cli_env(rt, monkeypatch, tmp_path, request)
    rows = lambda: [_count(rt, t) for t in (Review, Appeal)]  # noqa: E731
    kept = rows()
    done = runner.invoke(app, ["purge", "--before", "2026-10-02", "--yes"])
    assert done.exit_code == 0 and "purged 1 transcript(s)" in done.output, done.output
    with TestClient(create_app(rt.settings)) as client:
        [event] = client.get("/v1/audit", params={"entity": "retention"}).json()
        assert event["actor"] == cli_actor().name and event["action"] == "purged"
        assert [a - b for a, b in zip(kept, rows())] == [event["after"]["reviews"], event["after"]["appeals"]]
        assert {k: event["after"][k] for k in ("before", "transcripts", "kpi_records", "reviews", "appeals",
                                               "purged_before")} == {
            "before": "2026-10-02", "transcripts": 1, "kpi_records": 0, "reviews": 1, "appeals": 1,
            "purged_before": "2026-10-02"}
        partial = "conversations before 2026-10-02 were purged: 2026-10 is partial, its QA figures count " \
                  "2026-10-02..2026-10-31 only (its day 2026-10-01 is gone)"
        for path in ("/v1/performance", "/v1/appraisals"):
            warned = client.get(path, params={"period": "2026-10"}).json()["warnings"]
            assert any(w.startswith(partial) for w in warned), (path, warned)
            assert client.get(path, params={"period": "2026-10-02..2026-10-31"}).json()["warnings"] == []
            gone = client.get(path, params={"period": "2026-09"}).json()["warnings"]
            assert any("none of 2026-09 (2026-09-01..2026-09-30) is left" in w for w in gone), gone
    # an earlier day later does not move the horizon back: the days before 2 October are gone all the same
    assert runner.invoke(app, ["purge", "--before", "2026-09-01", "--yes"]).exit_code == 0
    exported = runner.invoke(app, ["export-appraisals", "--period", "2026-10", "--format", "json"])
    assert "conversations before 2026-10-02 were purged" in exported.output, exported.output


def test_a_purge_with_nothing_to_delete_asks_nothing_exits_0_and_is_audited(rt, monkeypatch, tmp_path, request):
    _old_and_new(rt)
    runner = _cli_env(rt, monkeypatch, tmp_path, request)
    out = runner.invoke(app, ["purge", "--before", "2026-01-01"], input="")  # a cron job: no terminal, no --yes
    assert out.exit_code == 0, out.output
    assert "delete them for good" not in out.output and "purged 0 transcript(s)" in out.output, out.output
    with rt.session() as s:
        [event] = s.scalars(select(AuditEvent).where(AuditEvent.entity == "retention")).all()
        assert event.after["transcripts"] == 0 and event.after["purged_before"] is None  # nothing went: no horizon
    asked = runner.invoke(app, ["purge", "--before", "2026-10-02"], input="n\n")  # something matches: asked
    assert asked.exit_code == 1 and "delete them for good" in asked.output, asked.output


def test_a_purge_removes_the_live_state_of_the_live_conversations_it_deleted(rt, monkeypatch, tmp_path, request,
                                                                                redis_conn):
    with TestClient(create_app(rt.settings)) as client:
        cid = open_conversation(client, "live-0", team="t", agent_id="a1", started_at="2026-09-20T10:00:00+08:00")
        stream(client, cid, [{"role": "customer", "text": f"我叫李娜，{SECRET}"}])
        ended = client.post(f"/v1/live/conversations/{cid}/end").json()
        keep = open_conversation(client, "live-1", team="t", agent_id="a1")  # open, today's: stays
    assert redis_conn.exists(f"qa:live:c:{cid}") and ended["transcript_id"]
    runner = _cli_env(rt, monkeypatch, tmp_path, request)
    done = runner.invoke(app, ["purge", "--before", "2026-10-01", "--yes"])
    assert done.exit_code == 0 and "purged 1 transcript(s)" in done.output, done.output
    assert "removed what Redis kept of 1 purged live conversation(s)" in done.output, done.output
    assert not redis_conn.exists(f"qa:live:c:{cid}", f"qa:live:t:{cid}", "qa:live:key:live-test\x1flive-0")
    assert set(redis_conn.scan_iter("qa:live:c:*")) == {f"qa:live:c:{keep}".encode()}
    with TestClient(create_app(rt.settings)) as client:  # the same key now opens a new conversation
        again = client.post("/v1/live/conversations", json={"source": "live-test", "external_id": "live-0"})
        assert again.json()["id"] != cid and again.json()["created"] is True, again.text
        assert client.post(f"/v1/live/conversations/{cid}/end").status_code == 404
    with rt.session() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.entity == "retention")).one()
        assert event.after["live_conversations_forgotten"] == 1


def _file_bytes(rt) -> tuple[bytes, Path]:
    db = Path(rt.engine.url.database)
    return db.read_bytes(), Path(f"{db}-wal")


def test_after_a_purge_the_sqlite_file_and_its_log_hold_no_purged_text(sqlite_rt, monkeypatch, tmp_path, request):
    rt = sqlite_rt
    with rt.engine.connect() as conn:  # deleted rows' bytes are zeroed on every build, not just Debian's
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
    _old_and_new(rt)
    assert sqlite_writer.truncate_log(rt.engine)  # in the file, as the app's own checkpoints put it in time
    assert SECRET.encode() in _file_bytes(rt)[0]
    monkeypatch.setattr(sqlite_writer, "TRUNCATE_WAIT_S", 0.2)
    reader = sqlite3.connect(rt.engine.url.database)  # another process's read, open across the purge
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM utterances").fetchone()
    runner = _cli_env(rt, monkeypatch, tmp_path, request)
    busy = runner.invoke(app, ["purge", "--before", "2026-10-02", "--yes"])
    assert busy.exit_code == 0 and "purged 1 transcript(s)" in busy.output, busy.output
    assert SECRET.encode() in _file_bytes(rt)[0]  # the log could not be copied over it yet: said
    assert "the purged rows are still in" in busy.output and "run this qa purge again" in busy.output, busy.output
    reader.rollback()
    reader.close()
    again = runner.invoke(app, ["purge", "--before", "2026-10-02", "--yes"])
    assert again.exit_code == 0 and "checkpointed: the purged rows are gone" in again.output, again.output
    data, wal = _file_bytes(rt)
    assert SECRET.encode() not in data and KEPT.encode() in data  # the kept one is there: the file is read right
    assert not wal.exists() or wal.stat().st_size == 0  # the log, which held the deletes, is cut too


def test_after_an_erasure_the_sqlite_file_and_its_log_hold_no_erased_text(sqlite_rt, monkeypatch, tmp_path, request):
    rt = sqlite_rt
    _old_and_new(rt)
    assert sqlite_writer.truncate_log(rt.engine) and SECRET.encode() in _file_bytes(rt)[0]
    runner = _cli_env(rt, monkeypatch, tmp_path, request)
    done = runner.invoke(app, ["erase", "--source", "jd-chat", "--external-id", "old", "--yes"])
    assert done.exit_code == 0 and "checkpointed: the erased rows are gone" in done.output, done.output
    data, wal = _file_bytes(rt)
    assert SECRET.encode() not in data and KEPT.encode() in data
    assert not wal.exists() or wal.stat().st_size == 0
