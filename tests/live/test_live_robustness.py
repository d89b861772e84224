"""Live QA when things go wrong around it: a Redis restarted empty, a key already stored as a transcript,
a webhook deleted or mistyped, alert rules broken or naming no rule, hostile text in a robot message.
Real Redis, a real database and a real HTTP receiver (found by an independent probe, 2026-11-28)."""

from __future__ import annotations

import base64
import json
import logging
import time
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from qa_service.app import create_app
from qa_service.cli.app import setup_logging
from qa_service.config import LiveSettings
from qa_service.live import service
from qa_service.live.delivery import render
from qa_service.storage import alerts as repo
from qa_service.storage import live as live_repo
from qa_service.storage.alert_tables import AlertDelivery, LiveAlert, Webhook
from qa_service.storage.tables import utcnow
from tests.conftest import make_settings
from tests.live.conftest import Receiver, open_conversation, stream

THREAT = {"role": "customer", "text": "再不解决我就去消费者协会投诉你们，打12315"}
CALM = [{"role": "customer", "text": "你好，我想查一下订单"}, {"role": "agent", "text": "您好，请提供订单号"}]


def _rules(alerts: list[dict]) -> list[str]:
    return sorted(a["rule"] for a in alerts)


def test_a_redis_restarted_empty_never_hands_out_an_id_that_has_alerts(live_client, redis_conn):
    first = open_conversation(live_client, "before-restart", team="t1")
    assert _rules(stream(live_client, first, [THREAT])[0]) == ["complaint-threat"]
    redis_conn.flushdb()  # Redis comes back empty: its id counter is gone
    again = open_conversation(live_client, "after-restart", team="t1")
    assert again > first
    assert _rules(stream(live_client, again, [THREAT])[0]) == ["complaint-threat"]  # not swallowed as a repeat
    ended = live_client.post(f"/v1/live/conversations/{again}/end").json()
    runtime = live_client.app.state.runtime
    with runtime.session() as s:
        linked = {a.external_id: a.transcript_id for a in s.scalars(select(LiveAlert))}
    assert linked == {"before-restart": None, "after-restart": ended["transcript_id"]}


def test_a_redis_restarted_empty_never_hands_out_an_id_without_alerts_either(live_client, redis_conn):
    """A conversation that raised no alert left no trace in the database, and its id was handed out again
    after Redis came back empty: the platform still feeding it got 200 and its turn landed in another
    team's conversation (found by a probe). The reserved mark keeps every id handed out."""
    quiet = open_conversation(live_client, "quiet-before", team="t1")
    assert stream(live_client, quiet, CALM)[0] == []
    redis_conn.flushdb()
    other = open_conversation(live_client, "other-team-after", team="t2")
    assert other > quiet
    late = live_client.post(f"/v1/live/conversations/{quiet}/utterances",
                            json={"utterances": [{"seq": 2, "role": "customer", "text": "订单号是123，快递一直没动"}]})
    assert late.status_code == 404, late.text
    for n in range(3):  # the ids after it need no write until the reserved block runs out
        assert open_conversation(live_client, f"more-{n}", team="t2") == other + n + 1


def test_after_a_restore_the_documented_sql_keeps_ids_from_being_given_again(live_client, redis_conn):
    """A restored backup hands out again the conversation ids given after it was taken (found by an upgrade
    probe's rollback, 2026-11-29); docs/production.md's two statements move the restored mark past them."""
    from sqlalchemy import text

    engine = live_client.app.state.runtime.engine
    before = open_conversation(live_client, "after-the-backup", team="t1")
    with engine.connect() as conn:  # noted from the database about to be replaced
        mark = conn.execute(text("SELECT value FROM qa_meta WHERE key = 'live_conversation_ids_reserved'")).scalar()
    assert int(mark) >= before
    with engine.begin() as conn:  # the restore: a backup taken before that conversation, Redis emptied
        conn.execute(text("DELETE FROM qa_meta WHERE key = 'live_conversation_ids_reserved'"))
    redis_conn.flushdb()
    with engine.begin() as conn:  # production.md, "Live ids are given again after a restore"
        conn.execute(text("DELETE FROM qa_meta WHERE key = 'live_conversation_ids_reserved'"))
        conn.execute(text("INSERT INTO qa_meta (key, value) VALUES ('live_conversation_ids_reserved', :m)"),
                     {"m": mark})
    assert open_conversation(live_client, "after-the-restore", team="t1") == int(mark) + 1


def test_a_late_end_after_redis_restarted_empty_is_answered_from_the_stored_transcript(live_client, redis_conn):
    """Found by a live probe: a conversation ended (transcript 1), Redis restarted empty, and the platform's
    retried ``/end`` got 404 "not found", though docs/live.md keeps an ended conversation's answer for a day
    and the transcript is safely stored. Now the same answer as a repeated ``/end`` before the restart."""
    cid = open_conversation(live_client, "ended-before-restart", team="t1")
    stream(live_client, cid, CALM)
    first = live_client.post(f"/v1/live/conversations/{cid}/end")
    assert first.status_code == 200 and first.json()["transcript_id"] is not None, first.text
    assert live_client.post(f"/v1/live/conversations/{cid}/end").json() == first.json()
    empty = open_conversation(live_client, "ended-empty", team="t1")  # no turns: it becomes no transcript
    assert live_client.post(f"/v1/live/conversations/{empty}/end").json()["transcript_id"] is None
    lost = open_conversation(live_client, "open-when-lost", team="t1")
    stream(live_client, lost, CALM)
    redis_conn.flushdb()  # Redis comes back empty
    late = live_client.post(f"/v1/live/conversations/{cid}/end")
    assert late.status_code == 200 and late.json() == first.json(), late.text
    turn = live_client.post(f"/v1/live/conversations/{cid}/utterances",
                            json={"utterances": [{"seq": 2, "role": "customer", "text": "还在吗"}]})
    assert turn.status_code == 409 and turn.json()["field"] == "conversation_id", turn.text
    assert f"it is transcript {first.json()['transcript_id']} now" in turn.json()["detail"]
    for gone in (empty, lost, 999999):  # no transcript to answer with: not found, as before
        assert live_client.post(f"/v1/live/conversations/{gone}/end").status_code == 404
    # Opening it again (a platform retrying its open) is the answer it was before the loss, not the 409 for a
    # key posted whole (found by an API probe: that 409 invited a duplicate under a new key).
    again = live_client.post("/v1/live/conversations", json={"source": "live-test", "external_id": "ended-before-restart",
                                                              "team": "t1"})
    assert again.status_code == 200 and (again.json()["id"], again.json()["status"]) == (cid, "ended"), again.text
    whole = live_client.post("/v1/transcripts", json={"source": "live-test", "external_id": "posted-whole",
                                                      "utterances": [{"role": "customer", "text": "你好"}]})
    assert whole.status_code == 202, whole.text
    refused = live_client.post("/v1/live/conversations", json={"source": "live-test", "external_id": "posted-whole"})
    assert refused.status_code == 409 and "needs a key of its own" in refused.json()["detail"]


def test_a_re_open_reserves_an_id_the_first_open_could_not(live_client):
    """The open that created a conversation may fail after Redis handed out its id and before the database
    reserved it; the platform's retry finds the conversation and must reserve it then (found by a review)."""
    from qa_service.storage import live_ids
    from qa_service.storage.fact_tables import Meta

    cid = open_conversation(live_client, "reserve-on-retry", team="t1")
    runtime = live_client.app.state.runtime
    with runtime.session() as s:
        s.delete(s.get(Meta, live_ids.KEY))  # as if that reservation never committed
    assert open_conversation(live_client, "reserve-on-retry", team="t1") == cid
    with runtime.session() as s:
        assert live_ids.floors(session=s)[0] >= cid + live_ids.BLOCK


def test_live_queue_label_is_redacted_and_an_edge_space_from_before_the_upgrade_still_ends(live_client, redis_conn):
    cid = open_conversation(live_client, "queue-pii", team="t1", queue="回拨13900001111", scenario="回访13912345678")
    meta = live_repo.load(redis_conn, cid)[0]
    assert meta["queue"] == "回拨[手机号]" and meta["scenario"] == "回访[手机号]"  # the scenario was kept as sent
    stream(live_client, cid, CALM)
    meta["team"] = "t1 "  # opened by a release that took it
    redis_conn.hset(f"{live_repo.P}c:{cid}", "meta", json.dumps(meta, ensure_ascii=False))
    ended = live_client.post(f"/v1/live/conversations/{cid}/end")
    assert ended.status_code == 200 and ended.json()["transcript_id"], ended.text
    got = live_client.get(f"/v1/transcripts/{ended.json()['transcript_id']}").json()
    assert got["team"] == "t1" and got["queue"] == "回拨[手机号]" and got["scenario"] == "回访[手机号]"


def test_a_number_split_over_two_live_turns_is_redacted_in_the_transcript_stored_at_the_end(live_client, redis_conn):
    """docs/live.md: each live turn is redacted alone (a whole number at once), the split one at the end."""
    cid = open_conversation(live_client, "split-pii", team="t1")
    stream(live_client, cid, [{"role": "customer", "text": "我手机是139"}, {"role": "customer", "text": "0000 4444"},
                              {"role": "customer", "text": "备用13812345678"}, {"role": "agent", "text": "好的，已记录"}])
    kept = [t["text"] for t in live_repo.turns(redis_conn, cid)]
    assert kept == ["我手机是139", "0000 4444", "备用[手机号]", "好的，已记录"]  # neither fragment alone is the number
    ended = live_client.post(f"/v1/live/conversations/{cid}/end")
    assert ended.status_code == 200, ended.text
    got = live_client.get(f"/v1/transcripts/{ended.json()['transcript_id']}").json()
    assert [u["text"] for u in got["utterances"]][:3] == ["我手机是[手机号]", "[手机号]", "备用[手机号]"]


def test_a_key_stored_as_a_transcript_cannot_be_opened_live_nor_lose_its_turns_at_the_end(live_client):
    body = {"source": "live-test", "external_id": "posted", "channel": "chat", "agent_id": "a1",
            "utterances": [{"role": "customer", "text": "原来批量导入的内容"}, {"role": "agent", "text": "好的"}]}
    stored = live_client.post("/v1/transcripts", json=body).json()["id"]
    r = live_client.post("/v1/live/conversations", json={"source": "live-test", "external_id": "posted"})
    assert r.status_code == 409 and r.json()["field"] == "external_id" and f"transcript {stored}" in r.text

    # posted whole while the live conversation was going on: ending it is a 409, its turns are kept
    cid = open_conversation(live_client, "raced")
    stream(live_client, cid, CALM)
    live_client.post("/v1/transcripts", json={**body, "external_id": "raced"})
    r = live_client.post(f"/v1/live/conversations/{cid}/end")
    assert r.status_code == 409 and r.json()["field"] == "external_id"
    runtime = live_client.app.state.runtime
    assert len(live_repo.turns(runtime.redis, cid)) == 2
    got = live_client.get(f"/v1/transcripts/{stored}").json()
    assert [u["text"] for u in got["utterances"]] == ["原来批量导入的内容", "好的"]  # untouched
    # nobody left to tell once it is idle: it ends without a transcript
    _, ended = service.sweep(runtime, now=time.time() + runtime.settings.live.idle_timeout_s + 5)
    assert ended == 1 and live_client.post(f"/v1/live/conversations/{cid}/end").json()["transcript_id"] is None


def test_a_turn_after_the_end_is_told_what_became_of_the_conversation(live_client):
    """Found by an API probe (2026-11-29): after an end that made no transcript the 409 said "it is an ordinary
    transcript now"."""
    def late(cid: int) -> str:
        r = live_client.post(f"/v1/live/conversations/{cid}/utterances",
                             json={"utterances": [{"seq": 0, "role": "customer", "text": "还在吗"}]})
        assert r.status_code == 409 and r.json()["field"] == "conversation_id", r.text
        return r.json()["detail"]

    stored = open_conversation(live_client, "ended-stored")
    stream(live_client, stored, CALM)
    tid = live_client.post(f"/v1/live/conversations/{stored}/end").json()["transcript_id"]
    assert f"it is transcript {tid} now" in late(stored)

    empty = open_conversation(live_client, "ended-empty")
    assert live_client.post(f"/v1/live/conversations/{empty}/end").json()["transcript_id"] is None
    assert "ended with no turns, so without a transcript" in late(empty) and "transcript now" not in late(empty)

    dropped = open_conversation(live_client, "ended-dropped")
    stream(live_client, dropped, CALM)
    live_client.post("/v1/transcripts", json={"source": "live-test", "external_id": "ended-dropped",
                                              "utterances": [{"role": "customer", "text": "整段导入的另一通"}]})
    runtime = live_client.app.state.runtime
    service.sweep(runtime, now=time.time() + runtime.settings.live.idle_timeout_s + 5)
    assert live_client.post(f"/v1/live/conversations/{dropped}/end").json()["transcript_id"] is None
    assert "its 2 turn(s) were dropped" in late(dropped) and "under a new external_id" in late(dropped)


def test_the_key_is_forgotten_with_its_conversation(live_client, redis_conn):
    cid = open_conversation(live_client, "a-day-later")
    key = f"{live_repo.P}key:live-test\x1fa-day-later"
    live_client.post(f"/v1/live/conversations/{cid}/end")  # no turns: no transcript
    assert 0 < redis_conn.ttl(key) <= live_repo.ENDED_TTL_S
    redis_conn.delete(f"{live_repo.P}c:{cid}")  # the day has passed; the key outlived it (as before the fix)
    r = live_client.post("/v1/live/conversations", json={"source": "live-test", "external_id": "a-day-later"})
    assert r.status_code == 201 and r.json()["id"] != cid and r.json()["status"] == "open"
    assert live_client.post(f"/v1/live/conversations/{r.json()['id']}/utterances",
                            json={"utterances": [{"seq": 0, **CALM[0]}]}).status_code == 200


def test_nothing_reaches_a_deleted_webhook(live_client):
    runtime = live_client.app.state.runtime
    down = Receiver()  # nothing listens: every try fails
    hook = live_client.post("/v1/webhooks", json={"url": down.url}).json()
    cid = open_conversation(live_client, "deleted-hook")
    stream(live_client, cid, [THREAT])
    with runtime.session() as s:
        delivery = s.scalars(select(AlertDelivery)).one()
        s.execute(AlertDelivery.__table__.update().values(status="sending", lease_until=utcnow()))
    assert live_client.delete(f"/v1/webhooks/{hook['id']}").status_code == 204
    with runtime.session() as s:  # a try that was under way when it was deleted reports back
        repo.record_attempt(session=s, delivery_id=delivery.id, ok=False, error="ReadTimeout",
                            retry_at=utcnow(), payload=None)
    [d] = live_client.get("/v1/webhooks/deliveries").json()
    assert d["status"] == "failed" and d["last_error"] == "webhook deleted"
    r = live_client.post(f"/v1/webhooks/deliveries/{d['id']}/retry")
    assert r.status_code == 409 and "deleted" in r.text
    with runtime.session() as s:  # even due again, no sender takes it
        s.execute(AlertDelivery.__table__.update().values(status="pending", next_attempt_at=utcnow()))
    with runtime.session() as s:
        assert repo.claim_due(session=s, now=utcnow() + timedelta(seconds=1), lease_s=60) == []


def test_a_webhook_address_that_cannot_be_called_is_422_and_a_failing_send_is_recorded(live_client):
    for url in ("http://[::1/robot", "http://127.0.0.1:8001/hook\n", "http:// bad host/x", "http://127.0.0.1:99999/x",
                "ftp://robot.example/x", "http:///x"):
        r = live_client.post("/v1/webhooks", json={"url": url})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "url"], (url, r.text)
    r = live_client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "teams": []})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "teams"]

    runtime = live_client.app.state.runtime  # a row from before the check: its try fails, and is recorded
    with runtime.session() as s:
        s.add(Webhook(id=50, url="http://[::1/robot", format="json"))
    cid = open_conversation(live_client, "bad-url")
    stream(live_client, cid, [THREAT])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        [d] = live_client.get("/v1/webhooks/deliveries").json()
        if d["attempts"]:
            break
        time.sleep(0.05)
    assert d["attempts"] == 1 and d["status"] == "pending" and "InvalidURL" in d["last_error"]


def test_robot_urls_are_listed_without_their_tokens(live_client):
    url = "https://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef"
    live_client.post("/v1/webhooks", json={"url": url, "format": "dingtalk"})
    [listed] = live_client.get("/v1/webhooks").json()
    assert listed["url"] == "https://oapi.dingtalk.com/robot/send?access_token=…cdef"


FEISHU_TOKEN = "2f1e8a9c-4b3d-4e5f-9a8b-7c6d5e4f3a2b"


def test_path_tokens_and_passwords_in_webhook_urls_are_never_shown_but_still_used(live_client):
    """Found by a probe: only query values were masked, so a Feishu robot's token (in the path) and a
    password in the address came back whole from POST and GET /v1/webhooks."""
    receiver = Receiver().start()
    try:
        feishu = f"http://127.0.0.1:{receiver.port}/open-apis/bot/v2/hook/{FEISHU_TOKEN}"
        basic = f"http://alice:S3cretPassw0rd@127.0.0.1:{receiver.port}/hook"
        made = [live_client.post("/v1/webhooks", json={"url": feishu, "format": "feishu"}),
                live_client.post("/v1/webhooks", json={"url": basic})]
        assert [r.status_code for r in made] == [201, 201]
        shown = [r.json()["url"] for r in made]
        assert shown == [f"http://127.0.0.1:{receiver.port}/open-apis/bot/v2/hook/…3a2b",
                         f"http://alice:***@127.0.0.1:{receiver.port}/hook"]
        assert [w["url"] for w in live_client.get("/v1/webhooks").json()] == shown
        stream(live_client, open_conversation(live_client, "tokens"), [THREAT])
        got = receiver.wait_for(2)
        assert sorted(g["path"] for g in got) == ["/hook", f"/open-apis/bot/v2/hook/{FEISHU_TOKEN}"]
        basic_auth = next(g for g in got if g["path"] == "/hook")["headers"]["authorization"]
        assert basic_auth == "Basic " + base64.b64encode(b"alice:S3cretPassw0rd").decode()  # sent as given
    finally:
        receiver.stop()


def test_bare_query_tokens_and_colon_tokens_are_masked_too():
    """A query that is only a token (?SECRET…) and a Telegram-style path token (bot123456789:AAH…) came
    back whole (found by a review)."""
    from qa_service.live.delivery import masked_url

    assert masked_url("https://h.example/in?SECRET1234567890abcdef") == "https://h.example/in?…cdef"
    assert masked_url("https://api.example/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/send") == \
        "https://api.example/…Dsaw/send"
    assert masked_url("https://oapi.dingtalk.com/robot/send?access_token=abcdef123456") == \
        "https://oapi.dingtalk.com/robot/send?access_token=…3456"  # the id to tell webhooks apart stays


def test_the_log_never_carries_a_webhooks_token(live_client, caplog, monkeypatch):
    """Found by a probe: httpx logged every delivery's full URL at INFO (``access_token=…&sign=…``,
    ``key=…``) into ``qa serve``'s log. ``qa serve`` sets its logging up as here."""
    root, httpx_logger = logging.getLogger(), logging.getLogger("httpx")
    level = root.level
    root.setLevel(logging.INFO)
    for name in ("httpx", "qa_service.live.delivery"):  # another test's dictConfig (import-linter's) may have
        monkeypatch.setattr(logging.getLogger(name), "disabled", False)  # turned them off: here they must log
    try:
        setup_logging()
        url = "http://127.0.0.1:9/robot/send?access_token=0123456789abcdef"  # nothing listens: the try fails
        assert live_client.post("/v1/webhooks", json={"url": url, "format": "dingtalk", "secret": "SECabcdefgh"}
                                ).status_code == 201
        with Receiver() as receiver:
            assert live_client.post("/v1/webhooks", json={"url": receiver.url + "?key=fedcba9876543210",
                                                          "format": "wecom"}).status_code == 201
            stream(live_client, open_conversation(live_client, "logged"), [THREAT])
            receiver.wait_for(1)
            deadline = time.monotonic() + 10
            while not any("0123456789abcdef"[-4:] in r.getMessage() for r in caplog.records) \
                    and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        root.setLevel(level)
        httpx_logger.setLevel(logging.NOTSET)
    messages = "\n".join(r.getMessage() for r in caplog.records)
    assert "0123456789abcdef" not in messages and "fedcba9876543210" not in messages and "sign=" not in messages
    assert "robot/send?access_token=…cdef" in messages  # the failed try is logged, its token masked


def test_a_customers_words_are_quoted_not_rendered_in_robot_markdown():
    payload = {"alert_id": 1, "conversation_id": 1, "source": "cc", "external_id": "x", "team": "t", "agent_id": "a_1",
               "rule": "r", "severity": "major", "message": "客户投诉", "utterance_index": 0,
               "quote": "投诉你们\n[退款进度](http://evil.example/p)\n# 全部通过", "created_at": "2026-11-28T00:00:00Z"}
    for fmt, path in (("dingtalk", ("markdown", "text")), ("wecom", ("markdown", "content"))):
        _, body, _ = render(Webhook(id=1, url="https://robot.example/x", format=fmt, secret=None), payload, 0.0)
        text = json.loads(body)[path[0]][path[1]]
        assert "](" not in text and "\n# " not in text and "[退款" not in text
        assert "> ［退款进度］（http://evil.example/p）" in text and "> ＃ 全部通过" in text and "a＿1" in text


def test_notes_and_names_that_cannot_be_stored_or_shown_are_422(live_client):
    cid = open_conversation(live_client, "notes")
    [[alert]] = stream(live_client, cid, [THREAT])
    for body, field in (({"note": "a\u0000b", "by": "li"}, "note"), ({"by": "li\nroot"}, "by"),
                        ({"by": "li\u202e"}, "by")):
        r = live_client.post(f"/v1/live/alerts/{alert['alert_id']}/ack", json=body)
        assert r.status_code == 422 and field in r.text, r.text
    r = live_client.post(f"/v1/live/alerts/{alert['alert_id']}/ack", json={"note": "第一行\n回电13812345678", "by": "li"})
    assert r.status_code == 200 and r.json()["note"] == "第一行\n回电[手机号]"  # redacted as the turns are


def test_the_same_start_written_with_another_offset_reopens(live_client):
    fields = {"source": "live-test", "external_id": "tz"}
    first = live_client.post("/v1/live/conversations", json={**fields, "started_at": "2026-11-27T09:30:00+08:00"})
    again = live_client.post("/v1/live/conversations", json={**fields, "started_at": "2026-11-27T01:30:00Z"})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    later = live_client.post("/v1/live/conversations", json={**fields, "started_at": "2026-11-27T01:31:00Z"})
    assert later.status_code == 409 and later.json()["field"] == "started_at"


def _alerts_dir(tmp_path, text: str):
    folder = tmp_path / "alerts"
    folder.mkdir(exist_ok=True)
    (folder / "a.yaml").write_text(text, encoding="utf-8")
    return folder


def test_an_alert_naming_no_rule_is_refused_by_the_running_api_too(tmp_path, db_url, redis_url, redis_conn):
    folder = _alerts_dir(tmp_path, "alerts:\n  - {id: typo, message: m, when: {rule: general.no-such-rule}}\n")
    settings = make_settings(tmp_path, db_url, redis_url, live=LiveSettings(alerts_dir=folder))
    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "L004" in ready.json()["checks"]["alert_rules"]
        cid = open_conversation(client, "no-rules")
        r = client.post(f"/v1/live/conversations/{cid}/utterances", json={"utterances": [{"seq": 0, **CALM[0]}]})
        assert r.status_code == 503 and "L004" in r.text
        # the idle timer still ends conversations while no alert rule could be loaded
        runtime = client.app.state.runtime
        assert service.sweep(runtime, now=time.time() + settings.live.idle_timeout_s + 5) == (0, 1)
        _alerts_dir(tmp_path, "alerts:\n  - {id: any-fatal, message: m, when: {fatal_rule: true}}\n")  # fixed
        assert client.get("/readyz").json()["checks"]["alert_rules"] == "ok"
        assert client.post(f"/v1/live/conversations/{open_conversation(client, 'fixed')}/utterances",
                           json={"utterances": [{"seq": 0, **CALM[0]}]}).status_code == 200


def test_deliveries_being_retried_after_an_error_are_listed_as_the_metric_counts_them(live_client):
    """Found by a probe: the runbook's ``?status=failed`` was empty while the metric's ``failed`` outcome
    climbed: the metric counts a failed try (tried again later, the row ``pending`` with its error), the
    row status ``failed`` means out of attempts. ``?status=retrying`` lists the former."""
    with Receiver(status=500) as receiver:
        hook = live_client.post("/v1/webhooks", json={"url": receiver.url}).json()
        stream(live_client, open_conversation(live_client, "retrying"), [THREAT])
        receiver.wait_for(2)
        [retrying] = live_client.get("/v1/webhooks/deliveries?status=retrying").json()
    assert retrying["webhook_id"] == hook["id"] and retrying["status"] in ("pending", "sending")
    assert retrying["attempts"] >= 1 and retrying["last_error"].startswith("HTTP 500")
    assert live_client.get("/v1/webhooks/deliveries?status=failed").json() == []  # not out of attempts
    failed_tries = next(line for line in live_client.get("/metrics").text.splitlines()
                        if line.startswith('qa_live_alert_deliveries_total{channel="json",outcome="failed"}'))
    assert float(failed_tries.split()[-1]) >= 1

    live_client.delete(f"/v1/webhooks/{hook['id']}")  # its deliveries end failed: no longer retrying
    assert live_client.get("/v1/webhooks/deliveries?status=retrying").json() == []
    [failed] = live_client.get("/v1/webhooks/deliveries?status=failed").json()
    assert failed["id"] == retrying["id"] and failed["last_error"] == "webhook deleted"
