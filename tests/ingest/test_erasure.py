"""Erasure on request (PIPL Art. 47; found by a DPO probe, 2026-11-29: no route or command deleted a conversation,
and the SQL a DBA would reach for left the live alerts, with their quotes, and the rollups, so appraisals still
counted it). A reviewed, appealed, alerted live conversation is erased on a real database (SQLite, PostgreSQL)
and real Redis: nothing of it is left in any table or Redis key, every figure equals the figures of a database
that never had it, and the source system sending it again is refused (410)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from qa_service.app import create_app
from qa_service.cli import app as cli
from qa_service.config import AuthSettings, get_settings
from qa_service.queue.tasks import record_report
from qa_service.storage.alert_tables import AlertDelivery, LiveAlert, LiveTranscript
from qa_service.storage.db import session_scope
from qa_service.storage.fact_tables import FindingCount, QaDaily, QaDailyVersion, QaFact
from qa_service.storage.tables import (Appeal, AuditEvent, ErasedTranscript, Finding, Flag, ManualFinding, Report,
                                       Review, Transcript, Utterance, Verdict)
from tests.api.test_review_api import UTTERANCES, finding, report
from tests.conftest import bearer_keys, make_settings, transcript
from tests.live.conftest import Receiver

THREAT = "再不解决我就打12315投诉你们"
LIVE = {"source": "cc", "external_id": "x", "channel": "chat", "agent_id": "a1", "team": "t1",
        "started_at": "2026-10-02T10:00:00+08:00", "metadata": {"customer_id": "C-1024"}}
RUDE = finding("politeness", "general.rude-dismissive", -10)
GREET = finding("politeness", "general.greeting-missing", -10, span=(0, 3))
# The conversations that stay: two share the erased one's day, agent and team (its rollup rows are shared,
# not its own), one its day and another team, one another day; k1 is reviewed too.
OTHERS = [("k1", "a1", "t1", "2026-10-02T09:00:00+08:00", report({"politeness": (50, 1.0, [RUDE])})),
          ("k2", "a1", "t1", "2026-10-02T15:00:00+08:00",
           report({"politeness": (90, 0.5, [RUDE]), "compliance": (100, 0.5, [])})),
          ("k3", "a2", "t1", "2026-10-03T10:00:00+08:00", report({"politeness": (95, 1.0, [])})),
          ("k4", "a3", "t2", "2026-10-02T11:00:00+08:00", report({"politeness": (70, 1.0, [RUDE, GREET])}))]


def _store_others(client) -> dict[str, int]:
    sessions, ids = client.app.state.runtime.sessions, {}
    for external_id, agent, team, at, rep in OTHERS:
        r = client.post("/v1/transcripts", json=transcript(external_id, agent_id=agent, team=team, started_at=at,
                                                           utterances=UTTERANCES, metadata={"customer_id": "C-7"}))
        assert r.status_code == 202, r.text
        with session_scope(sessions) as s:
            record_report(session=s, transcript_id=r.json()["id"], report=rep)
        ids[external_id] = r.json()["id"]
    rid = client.get(f"/v1/transcripts/{ids['k1']}/review").json()["id"]
    done = client.post(f"/v1/reviews/{rid}/complete", json={"by": "qa-li", "confirm_rest": True})
    assert done.status_code == 200, done.text
    return ids


def _store_erased_one(client, receiver: Receiver) -> dict[str, int]:
    """The conversation to erase: live (an alert, delivered to a webhook, acknowledged with a note; its state
    kept in Redis for a day after its end), then scored, reviewed (a verdict with a comment, a manual finding),
    appealed and decided."""
    assert client.post("/v1/webhooks", json={"url": receiver.url, "format": "json"}).status_code == 201
    cid = client.post("/v1/live/conversations", json=LIVE).json()["id"]
    alerts = []
    for seq, turn in enumerate([*UTTERANCES[:2], {"role": "customer", "text": THREAT}]):
        r = client.post(f"/v1/live/conversations/{cid}/utterances", json={"utterances": [{"seq": seq, **turn}]})
        assert r.status_code == 200, r.text
        alerts += r.json()["alerts"]
    assert alerts and receiver.wait_for(1)
    ack = client.post(f"/v1/live/alerts/{alerts[0]['alert_id']}/ack", json={"note": "已致电张伟", "by": "sup"})
    assert ack.status_code == 200, ack.text
    tid = client.post(f"/v1/live/conversations/{cid}/end").json()["transcript_id"]
    with session_scope(client.app.state.runtime.sessions) as s:
        record_report(session=s, transcript_id=tid, report=report({"politeness": (40, 0.5, [RUDE, GREET]),
                                                                  "compliance": (60, 0.5, [])}))
    rid = client.get(f"/v1/transcripts/{tid}/review").json()["id"]
    findings = {f["rule_id"]: f["id"] for f in client.get(f"/v1/reviews/{rid}").json()["findings"]}
    for rule, verdict in (("general.rude-dismissive", "confirmed"), ("general.greeting-missing", "rejected")):
        r = client.put(f"/v1/reviews/{rid}/findings/{findings[rule]}/verdict",
                       json={"verdict": verdict, "comment": "客户张伟所说", "by": "qa-li"})
        assert r.status_code == 200, r.text
    assert client.post(f"/v1/reviews/{rid}/manual-findings", json={
        "dimension": "politeness", "utterance_index": 1, "points": -5, "message": "敷衍张伟", "by": "qa-li"}
    ).status_code == 201
    assert client.post(f"/v1/reviews/{rid}/complete", json={"by": "qa-li", "comment": "张伟"}).status_code == 200
    appeal = client.post(f"/v1/reviews/{rid}/appeals", json={
        "finding_id": findings["general.rude-dismissive"], "reason": "客户张伟先骂人", "by": "a1"}).json()
    assert client.post(f"/v1/appeals/{appeal['id']}/decision", json={
        "decision": "accepted", "comment": "成立", "by": "lead"}).status_code == 200
    return {"transcript": tid, "conversation": cid, "review": rid}


def _figures(client) -> dict:
    """Everything a team lead or HR reads of October: appraisals and performance records (machine and final
    scores), calibration, and the per-day rollups the dashboard reads."""
    out = {}
    for scores in ("machine", "final"):
        for route in ("appraisals", "performance"):
            r = client.get(f"/v1/{route}", params={"period": "2026-10", "scores": scores})
            assert r.status_code == 200, r.text
            out[f"{route} {scores}"] = {k: v for k, v in r.json().items() if k != "generated_at"}
    out["calibration"] = client.get("/v1/calibration", params={"period": "2026-10"}).json()
    with session_scope(client.app.state.runtime.sessions) as s:
        out["qa_daily"] = {(str(r.day), r.agent_key, r.team_key): {c: getattr(r, c) for c in QaDaily.__table__.c.keys()
                                                                   if c not in ("day", "agent_key", "team_key")}
                           for r in s.scalars(select(QaDaily))}
        out["finding_counts"] = {(str(r.day), r.team_key, r.rule_id): r.n for r in s.scalars(select(FindingCount))}
        out["qa_daily_versions"] = {(str(r.day), r.team_key, r.rule_pack, r.rule_pack_version, r.scorecard_version): r.n
                                    for r in s.scalars(select(QaDailyVersion))}
    return out


def _same(a, b, path="") -> None:
    """Equal, floats to 1e-9 (sums taken out again may differ from never added in the last bits)."""
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, (int, float)) and isinstance(b, (int, float)) and \
            math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), (path, a, b)
    elif isinstance(a, dict) and isinstance(b, dict):
        assert set(a) == set(b), (path, set(a) ^ set(b))
        for k in a:
            _same(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), (path, a, b)
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{i}]")
    else:
        assert a == b, (path, a, b)


def _left_of(client, erased: dict[str, int]) -> dict[str, int]:
    """Rows anywhere that belong to the erased conversation."""
    tid, cid, rid = erased["transcript"], erased["conversation"], erased["review"]
    by_tid = (Transcript.id == tid, Utterance.transcript_id == tid, Report.transcript_id == tid,
              Flag.transcript_id == tid, Review.transcript_id == tid, QaFact.transcript_id == tid,
              LiveTranscript.transcript_id == tid, LiveAlert.transcript_id == tid)
    by_review = (Verdict.review_id == rid, ManualFinding.review_id == rid, Appeal.review_id == rid,
                 AuditEvent.review_id == rid)
    out = {}
    with session_scope(client.app.state.runtime.sessions) as s:
        for cond in (*by_tid, *by_review, AuditEvent.transcript_id == tid, LiveAlert.conversation_id == cid,
                     LiveTranscript.conversation_id == cid, LiveAlert.external_id == "x"):
            table = cond.left.table
            out[f"{table.name}: {cond.left.name}"] = s.scalar(select(func.count()).select_from(table).where(cond))
        out["findings"] = s.scalar(select(func.count()).select_from(Finding).join(Report).where(
            Report.transcript_id == tid))
        out["alert_deliveries"] = s.scalar(select(func.count()).select_from(AlertDelivery))
    return out


def _redis_holds(redis_conn, cid: int) -> list[str]:
    """Redis keys (and set members) that hold anything of live conversation ``cid``."""
    held = [k.decode() for k in redis_conn.keys("qa:live:*")
            if k.decode() in (f"qa:live:c:{cid}", f"qa:live:t:{cid}", f"qa:live:lock:{cid}", "qa:live:key:cc\x1fx")]
    held += [z for z in ("qa:live:open", "qa:live:waiting") if redis_conn.zscore(z, cid) is not None]
    for key in redis_conn.keys("qa:live:*"):  # no text of it in any string, hash or list
        kind = redis_conn.type(key).decode()
        values = {"string": lambda: [redis_conn.get(key)], "hash": lambda: redis_conn.hvals(key),
                  "list": lambda: redis_conn.lrange(key, 0, -1)}.get(kind, list)()
        held += [key.decode() for v in values if "12315".encode() in v or "C-1024".encode() in v]
    return held


@pytest.fixture
def world(tmp_path, db_url, redis_url, redis_conn):
    with Receiver() as receiver, TestClient(create_app(make_settings(tmp_path, db_url, redis_url))) as client:
        yield client, receiver


@pytest.fixture
def never_had_it(tmp_path, sqlite_template, redis_url):
    """The same conversations but the erased one, stored in a database of its own: the figures as if it had
    never been sent."""
    import shutil

    db = tmp_path / "reference" / "qa.sqlite3"
    db.parent.mkdir()
    shutil.copy(sqlite_template, db)
    with TestClient(create_app(make_settings(tmp_path / "reference", f"sqlite:///{db}", redis_url))) as client:
        _store_others(client)
        return _figures(client)


def test_erasing_a_reviewed_alerted_live_conversation_leaves_nothing_and_figures_as_if_never_sent(
        world, never_had_it, redis_conn):
    client, receiver = world
    _store_others(client)
    before = _figures(client)
    erased = _store_erased_one(client, receiver)
    tid, cid = erased["transcript"], erased["conversation"]
    with_it = _figures(client)
    assert with_it["appraisals final"] != before["appraisals final"]  # it counted
    held = _left_of(client, erased)
    assert _redis_holds(redis_conn, cid) and all(held.values())

    assert client.delete(f"/v1/transcripts/{tid}").status_code == 204
    assert _left_of(client, erased) == dict.fromkeys(_left_of(client, erased), 0)
    assert _redis_holds(redis_conn, cid) == []
    after = _figures(client)
    _same(after, before)  # as before it came
    _same(after, never_had_it)  # as where it never came
    [event] = client.get("/v1/audit", params={"entity": "transcripts"}).json()
    assert event["action"] == "transcripts_erased" and event["actor"] == "anonymous"
    assert event["after"]["transcript_ids"] == [tid] and event["after"]["transcripts"] == 1
    assert (event["after"]["reviews"], event["after"]["appeals"], event["after"]["alerts"],
            event["after"]["live_conversations"]) == (1, 1, held["live_alerts: external_id"], 1)
    assert "张伟" not in str(event) and THREAT not in str(event)
    assert client.get(f"/v1/transcripts/{tid}").status_code == 404
    assert client.delete(f"/v1/transcripts/{tid}").status_code == 404

    # The source system sends it again: refused, naming the field and the day; the rest of a batch is stored.
    again = client.post("/v1/transcripts", json={**LIVE, "utterances": UTTERANCES})
    assert again.status_code == 410 and again.json()["field"] == "external_id", again.text
    assert "erased on request on 20" in again.json()["detail"] and "external_id" in again.json()["detail"]
    batch = client.post("/v1/transcripts/batch", json={"transcripts": [
        {**LIVE, "utterances": UTTERANCES}, transcript("k9", utterances=UTTERANCES)]})
    assert batch.status_code == 207, batch.text
    item, other = batch.json()["items"]
    assert item["status"] == "rejected" and item["errors"][0]["type"] == "erased"
    assert item["errors"][0]["loc"] == ["body", "transcripts", 0, "external_id"] and other["status"] == "accepted"
    live = client.post("/v1/live/conversations", json=LIVE)
    assert live.status_code == 410 and live.json()["field"] == "external_id", live.text


def test_only_an_admin_key_erases_and_the_event_names_it(tmp_path, db_url, redis_url, redis_conn):
    settings = make_settings(tmp_path, db_url, redis_url, auth=AuthSettings(enabled=True))
    with TestClient(create_app(settings)) as client:
        keys = bearer_keys(client.app.state.runtime.sessions, [("dpo", "admin", None), ("lead", "reviewer", None),
                                                                ("feed", "ingest", None)])
        tid = client.post("/v1/transcripts", headers=keys["feed"], json=transcript("k1")).json()["id"]
        for who in ("lead", "feed"):
            assert client.delete(f"/v1/transcripts/{tid}", headers=keys[who]).status_code == 403
        assert client.delete(f"/v1/transcripts/{tid}", headers=keys["dpo"],
                             params={"allow_reingest": "true"}).status_code == 204
        [event] = client.get("/v1/audit", headers=keys["dpo"], params={"action": "transcripts_erased"}).json()
        assert event["actor"] == "dpo" and event["after"]["key_id"] and event["after"]["reingest"] == "allowed"
        again = client.post("/v1/transcripts", headers=keys["feed"], json=transcript("k1"))
        assert again.status_code == 202 and again.json()["duplicate"] is False  # no tombstone: stored anew


def _cli(client, monkeypatch, tmp_path, request) -> CliRunner:
    settings = client.app.state.runtime.settings
    monkeypatch.setenv("QA_DB__URL", settings.db.url)
    monkeypatch.setenv("QA_REDIS__URL", settings.redis.url)
    monkeypatch.setenv("QA_DATA_DIR", str(tmp_path / "cli"))
    get_settings.cache_clear()
    request.addfinalizer(get_settings.cache_clear)
    return CliRunner()


def test_qa_erase_selects_by_key_file_and_metadata_counts_asks_and_says_what_matched_none(
        world, redis_conn, monkeypatch, tmp_path, request):
    client, receiver = world
    others = _store_others(client)
    erased = _store_erased_one(client, receiver)
    runner = _cli(client, monkeypatch, tmp_path, request)

    out = runner.invoke(cli, ["erase", "--metadata", "customer_id=C-1024", "--dry-run"])
    assert out.exit_code == 0, out.output
    assert "1 transcript(s) with 1 review(s), 1 appeal(s), " in out.output and "and 1 live conversation(s)" in out.output
    assert _redis_holds(redis_conn, erased["conversation"])  # a dry run changes nothing
    assert runner.invoke(cli, ["erase", "--metadata", "customer_id=C-1024"], input="n\n").exit_code == 1
    nothing = runner.invoke(cli, ["erase", "--metadata", "customer_id=13900001111", "--source", "cc",
                                  "--external-id", "nope", "--transcript-id", "999", "--yes"])
    assert nothing.exit_code == 2 and "nothing matched" in nothing.output, nothing.output
    assert "no transcript 999" in nothing.output and "external_id='nope'" in nothing.output
    assert "[手机号]" in nothing.output  # why a phone number matches no stored metadata
    for bad in (["--source", "cc"], ["--metadata", "customer_id"], [], ["--transcript-id", "0"]):
        assert runner.invoke(cli, ["erase", *bad, "--yes"]).exit_code == 2, bad

    done = runner.invoke(cli, ["erase", "--metadata", "customer_id=C-1024", "--yes"])
    assert done.exit_code == 0 and "erased 1 transcript(s)" in done.output and "refused (410)" in done.output
    assert _redis_holds(redis_conn, erased["conversation"]) == []
    assert not any(_left_of(client, erased).values())
    ids = tmp_path / "ids.csv"
    ids.write_text("source,external_id\n# the customer's two chats\njd-chat,k1\n\njd-chat,k2\n", encoding="utf-8")
    done = runner.invoke(cli, ["erase", "--ids-file", str(ids), "--source", "jd-chat", "--external-id", "k3",
                               "--transcript-id", str(others["k4"]), "--allow-reingest", "--yes"])
    assert done.exit_code == 0 and "erased 4 transcript(s) with 1 review(s)" in done.output, done.output
    assert "allowed" in done.output
    with session_scope(client.app.state.runtime.sessions) as s:
        assert s.scalar(select(func.count()).select_from(Transcript)) == 0
        assert s.scalar(select(func.count()).select_from(QaDaily)) == 0
        assert s.scalar(select(func.count()).select_from(FindingCount)) == 0
        assert s.scalar(select(func.count()).select_from(QaDailyVersion)) == 0
        assert [(t.source, t.external_id) for t in s.scalars(select(ErasedTranscript))] == [("cc", "x")]
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "transcripts_erased")
                           .order_by(AuditEvent.id)).all()
    assert [e.actor.startswith("cli:") for e in events] == [True, True]
    assert events[0].after["selected"]["metadata"] == [{"key": "customer_id", "value": "C-1024"}]
    assert events[1].after["selected"]["keys"] == [{"source": "jd-chat", "external_id": k} for k in ("k3", "k1", "k2")]
    assert client.post("/v1/transcripts", json=transcript("k1")).status_code == 202


def test_qa_erase_with_redis_away_erases_nothing(world, monkeypatch, tmp_path, request):
    client, receiver = world
    erased = _store_erased_one(client, receiver)
    runner = _cli(client, monkeypatch, tmp_path, request)
    monkeypatch.setenv("QA_REDIS__URL", "redis://127.0.0.1:1/0")  # nothing listens there
    get_settings.cache_clear()
    out = runner.invoke(cli, ["erase", "--transcript-id", str(erased["transcript"]), "--yes"])
    assert out.exit_code == 1 and "nothing was erased" in out.output, out.output
    assert all(_left_of(client, erased).values())


def test_purge_also_drops_what_redis_keeps_of_purged_live_conversations(world, redis_conn, monkeypatch, tmp_path,
                                                                        request):
    """Was: an ended live conversation's hash (its fields, the last customer turn) and key stayed in Redis for
    up to a day after its transcript was purged, and re-opening it answered ``ended`` with a transcript gone."""
    client, receiver = world
    erased = _store_erased_one(client, receiver)
    assert _redis_holds(redis_conn, erased["conversation"])
    runner = _cli(client, monkeypatch, tmp_path, request)
    out = runner.invoke(cli, ["purge", "--before", "2026-11-01", "--yes"])
    assert out.exit_code == 0 and "purged 1 transcript(s)" in out.output, out.output
    assert _redis_holds(redis_conn, erased["conversation"]) == [] and not any(_left_of(client, erased).values())
    again = client.post("/v1/transcripts", json={**LIVE, "utterances": UTTERANCES})
    assert again.status_code == 202  # a purge keeps no tombstone


def test_an_embedded_redis_not_running_is_started_to_erase_live_state(tmp_path, sqlite_url, monkeypatch, request):
    """With ``qa serve`` stopped, the embedded Redis's saved data (``redis.rdb``) still holds the live state: the
    command starts it, drops the conversation's keys, and stops it (saving without them)."""
    from qa_service.storage import live as live_repo
    from qa_service.storage.alerts import record_transcript
    from qa_service.storage.redis import EmbeddedRedis

    data = Path(sqlite_url.removeprefix("sqlite:///")).parent
    monkeypatch.delenv("QA_DB__URL", raising=False)
    monkeypatch.delenv("QA_REDIS__URL", raising=False)
    monkeypatch.setenv("QA_DATA_DIR", str(data))
    get_settings.cache_clear()
    request.addfinalizer(get_settings.cache_clear)
    from qa_service.runtime import Runtime

    rt = Runtime(get_settings())
    with EmbeddedRedis(data) as embedded:
        from qa_service.ingest.schema import TranscriptCreate
        from qa_service.ingest.service import ingest

        [outcome], _ = ingest([(0, TranscriptCreate.model_validate(transcript("x", source="cc")))], runtime=rt)
        cid, _ = live_repo.create(embedded.client(), ("cc", "x"), {"source": "cc"}, {}, 0.0)
        live_repo.mark_ended(embedded.client(), cid, outcome.id, ("cc", "x"))
        with rt.session() as s:
            record_transcript(session=s, conversation_id=cid, transcript_id=outcome.id)
    rt.close()
    assert (data / "redis.rdb").exists() and not EmbeddedRedis(data).running()
    out = CliRunner().invoke(cli, ["erase", "--source", "cc", "--external-id", "x", "--yes"])
    assert out.exit_code == 0 and "1 live conversation(s)" in out.output, out.output
    assert not EmbeddedRedis(data).running()
    with EmbeddedRedis(data) as embedded:
        assert embedded.client().keys("qa:live:key:*") == [] and embedded.client().keys("qa:live:c:*") == []
