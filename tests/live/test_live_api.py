"""Live QA through the API on real Redis, a real database and a real webhook receiver.

The conversation streamed is a real one (stc3_dch1, ``tests/data/live_sample.json``): a customer
who has waited a year for a refund grows angrier turn by turn (失望至极 at turn 4, a canned answer at
5) and, in the last turn, names 12315 and the ministry (工信部投诉). The shipped alerts
(``rules/alerts/default.yaml``) stay quiet for five turns; once six turns are in, the predicted
satisfaction is low enough to page; the last turn raises anger twice in a row and the complaint
threat; nothing else fires.
"""

from __future__ import annotations

import json
import time

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from qa_service.app import create_app
from qa_service.live.delivery import verify
from qa_service.queue.worker import run_worker
from qa_service.storage.alert_tables import LiveAlert
from qa_service.storage.tables import Report, Transcript
from tests.live.conftest import SAMPLE, Receiver, open_conversation, stream

YEAR_OF_WAITING = next(d for d in SAMPLE if d["id"] == "stc3-3739797266715000")
SECRET = "s3cret-for-tests"


def _webhook(client, url: str, **extra) -> dict:
    r = client.post("/v1/webhooks", json={"url": url, "format": "json", "secret": SECRET, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def test_a_real_conversation_raises_the_right_alerts_at_the_right_turn_and_they_arrive_signed(
        live_client, receiver):
    hook = _webhook(live_client, receiver.url)
    assert hook["signed"] is True and "secret" not in hook
    cid = open_conversation(live_client, "year-of-waiting", team="telecom", agent_id="a7")
    raised = stream(live_client, cid, YEAR_OF_WAITING["utterances"])
    assert [sorted(a["rule"] for a in turn) for turn in raised] == [
        [], [], [], [], [], ["satisfaction-falling"], ["complaint-threat", "customer-angry"]]
    alert = next(a for a in raised[6] if a["rule"] == "complaint-threat")
    assert alert["utterance_index"] == 6 and alert["severity"] == "critical" and "12315" in alert["quote"]
    assert alert["team"] == "telecom" and alert["agent_id"] == "a7" and alert["status"] == "open"

    got = receiver.wait_for(3)
    assert len(got) == 3
    bodies = [json.loads(g["body"]) for g in got]
    assert {b["rule"] for b in bodies} == {"satisfaction-falling", "complaint-threat", "customer-angry"}
    assert set(bodies[0]) == {"alert_id", "conversation_id", "source", "external_id", "team", "agent_id", "rule",
                              "severity", "message", "utterance_index", "quote", "matched", "value", "created_at"}
    # each field as GET /v1/live/alerts gives it (the API's others are what happens afterwards)
    listed = {a["alert_id"]: a for a in live_client.get("/v1/live/alerts").json()}
    assert all({k: listed[b["alert_id"]][k] for k in b if k != "created_at"} == {k: v for k, v in b.items()
                                                                                if k != "created_at"} for b in bodies)
    assert any(b["value"] is not None for b in bodies)  # the metrics' alerts carry their reading
    for g in got:
        assert verify(SECRET, g["body"], g["headers"]["x-qa-signature"])
        assert not verify(SECRET, g["body"].replace(b"telecom", b"telecoX"), g["headers"]["x-qa-signature"])
        assert not verify("another-secret", g["body"], g["headers"]["x-qa-signature"])

    # The same threat again, minutes later: the cooldown keeps the supervisor from being paged twice.
    again = stream(live_client, cid, [{"role": "agent", "text": "非常抱歉，小沃会继续为您催促处理。"},
                                      {"role": "customer", "text": YEAR_OF_WAITING["utterances"][6]["text"]}], start=7)
    assert again == [[], []]
    time.sleep(0.5)
    assert len(receiver.requests) == 3

    deliveries = live_client.get("/v1/webhooks/deliveries").json()
    assert {d["status"] for d in deliveries} == {"delivered"} and len(deliveries) == 3


def test_the_ended_conversation_is_an_ordinary_transcript_scored_by_the_pipeline(live_client, settings_for_live):
    cid = open_conversation(live_client, "ends", team="telecom", agent_id="a7")
    stream(live_client, cid, YEAR_OF_WAITING["utterances"])
    ended = live_client.post(f"/v1/live/conversations/{cid}/end").json()
    assert ended["status"] == "ended" and ended["transcript_id"] is not None
    assert live_client.post(f"/v1/live/conversations/{cid}/end").json() == ended  # idempotent
    late = live_client.post(f"/v1/live/conversations/{cid}/utterances",
                            json={"utterances": [{"seq": 7, "role": "agent", "text": "还在吗"}]})
    assert late.status_code == 409 and late.json()["field"] == "conversation_id"
    run_worker(settings_for_live, burst=True, reconcile=False)
    runtime = live_client.app.state.runtime
    with runtime.session() as s:
        t = s.get(Transcript, ended["transcript_id"])
        assert t.status == "scored" and t.team_id == "telecom" and len(t.utterances) == 7
        assert s.scalar(select(Report.id).where(Report.transcript_id == t.id)) is not None
        linked = s.scalars(select(LiveAlert.transcript_id).where(LiveAlert.conversation_id == cid)).all()
        assert linked and set(linked) == {t.id}
    board = live_client.get("/v1/live/conversations").json()
    assert cid not in {c["id"] for c in board}


def test_a_receiver_that_is_down_gets_the_alert_when_it_comes_back(live_client):
    down = Receiver()  # its port is free: nothing listens yet
    _webhook(live_client, down.url)
    cid = open_conversation(live_client, "receiver-down", team="telecom")
    stream(live_client, cid, YEAR_OF_WAITING["utterances"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pending = live_client.get("/v1/webhooks/deliveries?status=pending").json()
        if pending and all(d["attempts"] >= 1 for d in pending):
            break
        time.sleep(0.1)
    assert pending and all("ConnectError" in (d["last_error"] or "") for d in pending)
    down.start()
    try:
        got = down.wait_for(3, timeout_s=15)
        assert {json.loads(g["body"])["rule"] for g in got} == {"satisfaction-falling", "complaint-threat",
                                                                "customer-angry"}
    finally:
        down.stop()


def test_a_known_seq_resent_with_other_content_is_a_409_naming_the_field_that_differs(live_client):
    """Found by an API probe (2026-11-29): every such 409 named utterances[k].text, also when only the timing
    or the role had changed."""
    cid = open_conversation(live_client, "resent", team="telecom")
    first = {"seq": 0, "role": "customer", "text": "我的洗衣机又坏了", "start_ms": 0, "end_ms": 4100,
             "asr_confidence": 0.93}
    url = f"/v1/live/conversations/{cid}/utterances"
    assert live_client.post(url, json={"utterances": [first]}).status_code == 200
    for change, field in (({"role": "agent"}, "role"), ({"text": "别的话"}, "text"), ({"start_ms": 10}, "start_ms"),
                          ({"end_ms": None}, "end_ms"), ({"asr_confidence": 0.5}, "asr_confidence")):
        r = live_client.post(url, json={"utterances": [{**first, "seq": 1, "role": "agent", "text": "您好"},
                                                       {**first, **change}]})
        assert r.status_code == 409 and r.json()["field"] == f"utterances[1].{field}", (change, r.text)
        assert f"another {field}" in r.json()["detail"] and "as seq 1" in r.json()["detail"], r.text
    r = live_client.post(url, json={"utterances": [{**first, "asr_confidence": 0.5}]})
    assert "(asr_confidence 0.93 then, 0.5 now)" in r.json()["detail"], r.text
    r = live_client.post(url, json={"utterances": [{**first, "role": "agent"}]})
    assert "(role \"customer\" then, \"agent\" now)" in r.json()["detail"], r.text
    assert live_client.post(url, json={"utterances": [first]}).json()["repeats"] == 1


def test_out_of_order_and_malformed_turns_are_4xx_naming_the_field_and_keep_nothing(live_client):
    cid = open_conversation(live_client, "order", team="telecom")
    stream(live_client, cid, [{"role": "customer", "text": "你好"}, {"role": "agent", "text": "您好，请讲"}])
    url = f"/v1/live/conversations/{cid}/utterances"
    gap = live_client.post(url, json={"utterances": [{"seq": 3, "role": "customer", "text": "在吗"}]})
    assert gap.status_code == 409 and gap.json()["field"] == "utterances[0].seq" and "expected is 2" in gap.json()["detail"]
    half = live_client.post(url, json={"utterances": [{"seq": 2, "role": "customer", "text": "在吗"},
                                                      {"seq": 4, "role": "customer", "text": "人呢"}]})
    assert half.status_code == 409 and half.json()["field"] == "utterances[1].seq"
    changed = live_client.post(url, json={"utterances": [{"seq": 1, "role": "agent", "text": "别的话"}]})
    assert changed.status_code == 409 and changed.json()["field"] == "utterances[0].text"
    same = live_client.post(url, json={"utterances": [{"seq": 1, "role": "agent", "text": "您好，请讲"}]})
    assert same.status_code == 200 and same.json()["accepted"] == 0 and same.json()["repeats"] == 1
    for body, loc in (({"utterances": [{"seq": 2, "text": "缺角色"}]}, ["body", "utterances", 0, "role"]),
                      ({"utterances": [{"seq": -1, "role": "agent", "text": "x"}]}, ["body", "utterances", 0, "seq"]),
                      ({"utterances": [{"seq": 2, "role": "agent", "text": "   "}]}, ["body", "utterances", 0, "text"]),
                      # at the field, as docs/live.md says (was: at the turn, ["body", "utterances", 0])
                      ({"utterances": [{"seq": 2, "role": "agent", "text": "x", "start_ms": 500, "end_ms": 100}]},
                       ["body", "utterances", 0, "end_ms"]),
                      ({"utterances": []}, ["body", "utterances"])):
        bad = live_client.post(url, json=body)
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == loc, bad.text
    assert live_client.post("/v1/live/conversations/999999/utterances",
                            json={"utterances": [{"seq": 0, "role": "agent", "text": "x"}]}).status_code == 404
    [c] = [c for c in live_client.get("/v1/live/conversations").json() if c["id"] == cid]
    assert c["turns"] == 2  # nothing of the refused requests was kept
    ok = live_client.post(url, json={"utterances": [{"seq": 2, "role": "customer", "text": "在吗"}]})
    assert ok.status_code == 200 and ok.json()["accepted"] == 1


def test_a_turn_starting_before_an_earlier_one_is_422_as_in_a_batch(live_client):
    """Across requests too: the ended conversation is ingested as one transcript, which refuses it."""
    cid = open_conversation(live_client, "backwards")
    url = f"/v1/live/conversations/{cid}/utterances"
    ok = live_client.post(url, json={"utterances": [{"seq": 0, "role": "customer", "text": "在吗", "start_ms": 5000},
                                                    {"seq": 1, "role": "agent", "text": "在的", "start_ms": 8000}]})
    assert ok.status_code == 200, ok.text
    untimed = live_client.post(url, json={"utterances": [{"seq": 2, "role": "customer", "text": "好的"}]})
    assert untimed.status_code == 200  # a turn without times is fine
    back = live_client.post(url, json={"utterances": [{"seq": 3, "role": "customer", "text": "人呢", "start_ms": 7000}]})
    assert back.status_code == 422, back.text
    assert back.json()["detail"][0]["loc"] == ["body", "utterances", 0, "start_ms"]
    assert "7000 is before the previous utterance's start_ms 8000" in back.json()["detail"][0]["msg"]
    on = live_client.post(url, json={"utterances": [{"seq": 3, "role": "customer", "text": "人呢", "start_ms": 9000}]})
    assert on.status_code == 200 and on.json()["accepted"] == 1
    ended = live_client.post(f"/v1/live/conversations/{cid}/end")
    assert ended.status_code == 200 and ended.json()["transcript_id"] is not None, ended.text


def test_opening_again_is_idempotent_only_with_the_same_fields(live_client):
    """As POST /v1/transcripts: the same (source, external_id) with other fields is a 409 naming the field,
    not the first conversation answered as if it were the one asked for."""
    header = {"source": "live-test", "external_id": "reopen", "agent_id": "a7", "team": "telecom"}
    first = live_client.post("/v1/live/conversations", json=header)
    assert first.status_code == 201
    same = live_client.post("/v1/live/conversations", json=header)
    assert same.status_code == 200 and same.json()["id"] == first.json()["id"] and same.json()["created"] is False
    other = live_client.post("/v1/live/conversations", json={**header, "agent_id": "a8"})
    assert other.status_code == 409 and other.json()["field"] == "agent_id"
    assert "'a7'" in other.json()["detail"] and "'a8'" in other.json()["detail"]
    channel = live_client.post("/v1/live/conversations", json={**header, "channel": "call"})
    assert channel.status_code == 409 and channel.json()["field"] == "channel"
    [c] = [c for c in live_client.get("/v1/live/conversations").json() if c["id"] == first.json()["id"]]
    assert c["agent_id"] == "a7"


def test_live_limits_and_unstorable_headers_are_422_and_leave_nothing_behind(live_client):
    """What POST /v1/transcripts refuses, a live conversation refuses too: a turn over
    QA_API__MAX_TEXT_CHARS, a start time no column holds, metadata that cannot be stored as sent. A refused
    open leaves nothing behind: the same key opens cleanly afterwards."""
    cid = open_conversation(live_client, "limits")
    url = f"/v1/live/conversations/{cid}/utterances"
    limit = live_client.app.state.runtime.settings.api.max_text_chars
    long = live_client.post(url, json={"utterances": [{"seq": 0, "role": "customer", "text": "很" * (limit + 1)}]})
    assert long.status_code == 422 and long.json()["detail"][0]["loc"] == ["body", "utterances", 0, "text"], long.text[:300]
    far = live_client.post(url, json={"utterances": [{"seq": 0, "role": "customer", "text": "在吗", "start_ms": 2**63}]})
    assert far.status_code == 422 and far.json()["detail"][0]["loc"] == ["body", "utterances", 0, "start_ms"]
    headers = {"content-type": "application/json"}
    for bad in ({"metadata": {"x": "\ud800"}}, {"started_at": "9999-12-31T23:59:59-14:00"}):
        body = {"source": "live-test", "external_id": "unstorable", **bad}
        refused = live_client.post("/v1/live/conversations", content=json.dumps(body), headers=headers)
        assert refused.status_code == 422, refused.text
    again = open_conversation(live_client, "unstorable", metadata={"x": "ok"})
    stream(live_client, again, [{"role": "customer", "text": "你好"}])
    assert live_client.post(f"/v1/live/conversations/{again}/end").status_code == 200
    [c] = [c for c in live_client.get("/v1/live/conversations").json() if c["id"] == cid]
    assert c["turns"] == 0


def test_timers_page_for_a_waiting_customer_and_end_idle_conversations(live_client):
    from qa_service.live import service

    runtime = live_client.app.state.runtime
    cid = open_conversation(live_client, "waiting", team="telecom")
    stream(live_client, cid, [{"role": "customer", "text": "在吗？我的退款什么时候到账"}])
    raised, _ = service.sweep(runtime, now=time.time() + 30)
    assert raised == 0
    raised, _ = service.sweep(runtime, now=time.time() + 75)
    assert raised == 1
    [alert] = live_client.get("/v1/live/alerts?status=open").json()
    assert alert["rule"] == "customer-waiting" and alert["utterance_index"] == 0 and alert["value"] >= 60
    assert service.sweep(runtime, now=time.time() + 80) == (0, 0)  # not twice for the same wait
    _, ended = service.sweep(runtime, now=time.time() + runtime.settings.live.idle_timeout_s + 5)
    assert ended == 1 and live_client.get("/v1/live/conversations").json() == []


def test_readings_hold_the_last_reply_wait(live_client):
    """Found by a live probe: ``readings`` never held ``reply_wait_s`` (only the turns' own metrics went in),
    though docs/live.md calls them the latest value of every live metric, even right after the wait paged."""
    cid = open_conversation(live_client, "call-wait", team="telecom", channel="call")
    alerts = stream(live_client, cid, [{"role": "customer", "text": "喂，我的宽带又断了", "start_ms": 0, "end_ms": 4000},
                                       {"role": "customer", "text": "有人吗", "start_ms": 5000, "end_ms": 9000},
                                       {"role": "agent", "text": "您好，让您久等了", "start_ms": 75000, "end_ms": 78000}])
    assert [(a["rule"], a["value"]) for a in alerts[2] if a["rule"] == "customer-waiting"] == [("customer-waiting", 66.0)]
    [c] = [c for c in live_client.get("/v1/live/conversations").json() if c["id"] == cid]
    assert c["readings"]["reply_wait_s"] == 66.0 and c["waiting_s"] is None  # answered: not waiting now
    stream(live_client, cid, [{"role": "customer", "text": "好的", "start_ms": 80000, "end_ms": 81000},
                              {"role": "agent", "text": "请问您的账号是多少", "start_ms": 83000, "end_ms": 85000}], start=3)
    [c] = [c for c in live_client.get("/v1/live/conversations").json() if c["id"] == cid]
    assert c["readings"]["reply_wait_s"] == 2.0  # the latest wait, not the longest


def test_intervention_sla_reaches_performance_records_and_the_dashboard(live_client, settings_for_live):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    cid = open_conversation(live_client, "sla", team="telecom", agent_id="a7")
    raised = [a for turn in stream(live_client, cid, YEAR_OF_WAITING["utterances"]) for a in turn]
    major = [a for a in raised if a["severity"] in ("major", "critical")]
    assert len(major) == 3
    ack = live_client.post(f"/v1/live/alerts/{major[0]['alert_id']}/ack", json={"note": "已介入", "by": "lead.li"})
    assert ack.status_code == 200 and ack.json()["acknowledged_by"] == "lead.li"
    live_client.post(f"/v1/live/conversations/{cid}/end")
    run_worker(settings_for_live, burst=True, reconcile=False)  # the agent's record: the scored transcript
    month = datetime.now(ZoneInfo(settings_for_live.performance.timezone)).strftime("%Y-%m")
    perf = live_client.get(f"/v1/performance?period={month}").json()
    [team] = [t for t in perf["teams"] if t["team"] == "telecom"]
    assert team["metrics"]["intervention_alerts"] == 3
    # One acknowledged at once; the other two are inside their 2 h yet: neither met nor missed.
    assert team["metrics"]["intervention_sla_share"] == 1.0
    assert team["sources"]["intervention_sla_share"] == "live"
    [agent] = [a for a in perf["agents"] if a["agent_id"] == "a7"]
    assert agent["metrics"]["intervention_alerts"] == 3
    page = live_client.get(f"/ui/?period={month}").text
    assert "情感管理时效" in page and "100%" in page


def test_a_delivery_leased_by_a_process_that_died_is_sent_by_another_once_its_lease_runs_out(
        live_client, receiver):
    """New alerts' deliveries are stored leased to the raising process, which sends them at once; if it
    dies first, the outbox is the backstop: another sender takes the delivery when the lease runs out."""
    from datetime import timedelta

    from qa_service.live.delivery import Sender
    from qa_service.storage import alerts as repo
    from qa_service.storage.tables import utcnow

    _webhook(live_client, receiver.url)
    runtime = live_client.app.state.runtime
    row = {"conversation_id": 999, "source": "live-test", "external_id": "crashed", "team_id": None,
           "agent_id": None, "rule": "complaint-threat", "severity": "critical", "message": "m",
           "utterance_index": 3, "quote": "我要投诉", "value": 0.9}
    with runtime.session() as s:  # the raising process stored it, leased for a minute, and died
        [alert], [(delivery, _, _)] = repo.insert_alerts(session=s, rows=[row],
                                                         lease_until=utcnow() + timedelta(seconds=60))
        alert_id, delivery_id = alert.id, delivery.id
    other = Sender(runtime.sessions, runtime.settings.live)
    try:
        assert other.deliver_due() == 0  # still leased: nobody else sends it
        time.sleep(0.7)  # nor does the app's own live loop (it ticks every 0.5 s)
        assert receiver.requests == []
        with runtime.session() as s:  # …a minute later
            s.get(type(delivery), delivery_id).lease_until = utcnow() - timedelta(seconds=1)
        other.deliver_due()  # this sender or the app's loop, whichever claims it first
    finally:
        other.close()
    [got] = receiver.wait_for(1)
    time.sleep(0.7)
    assert len(receiver.requests) == 1 and json.loads(got["body"])["alert_id"] == alert_id
    assert live_client.get("/v1/webhooks/deliveries").json()[0]["status"] == "delivered"


def test_an_alert_stored_twice_for_the_same_turn_is_kept_once_with_one_delivery_per_webhook(live_client, receiver):
    from qa_service.storage import alerts as repo
    from qa_service.storage.alert_tables import AlertDelivery

    _webhook(live_client, receiver.url)
    _webhook(live_client, receiver.url + "/other-team", teams=["other"])
    runtime = live_client.app.state.runtime
    row = {"conversation_id": 7, "source": "live-test", "external_id": "twice", "team_id": "telecom",
           "agent_id": "a1", "rule": "customer-angry", "severity": "major", "message": "m",
           "utterance_index": 4, "quote": "骗子", "value": 0.93}
    with runtime.session() as s:
        [first], [(delivery, alert, hook)] = repo.insert_alerts(session=s, rows=[row])
        assert alert is first and hook.teams is None and delivery.status == "pending"
    with runtime.session() as s:
        again, deliveries = repo.insert_alerts(session=s, rows=[row, {**row, "utterance_index": 5}])
        assert [a.utterance_index for a in again] == [5] and len(deliveries) == 1  # turn 4: already stored
    with runtime.session() as s:
        assert s.scalar(select(func.count()).select_from(LiveAlert).where(LiveAlert.conversation_id == 7)) == 2
        assert s.scalar(select(func.count()).select_from(AlertDelivery)) == 2  # the other team's webhook: none


def test_two_api_processes_serve_one_conversation_turn_by_turn(settings_for_live):
    """The deployment for live QA beside batch ingest (docs/live.md): a second API on the same database
    and Redis. Turns of one conversation alternate between the two; order, alerts and the end hold."""
    with TestClient(create_app(settings_for_live)) as a, TestClient(create_app(settings_for_live)) as b:
        assert a.app.state.runtime is not b.app.state.runtime  # two runtimes, as two processes have
        cid = open_conversation(a, "two-apis", team="telecom")
        raised = []
        for i, u in enumerate(YEAR_OF_WAITING["utterances"]):
            raised += stream((a, b)[i % 2], cid, [u], start=i)
        assert [sorted(x["rule"] for x in turn) for turn in raised] == [
            [], [], [], [], [], ["satisfaction-falling"], ["complaint-threat", "customer-angry"]]
        gap = b.post(f"/v1/live/conversations/{cid}/utterances",
                     json={"utterances": [{"seq": len(raised) + 1, "role": "agent", "text": "您好"}]})
        assert gap.status_code == 409 and gap.json()["field"] == "utterances[0].seq"
        listed = a.get("/v1/live/alerts", params={"team": "telecom"}).json()
        assert {x["rule"] for x in listed} == {"satisfaction-falling", "complaint-threat", "customer-angry"}
        ended = b.post(f"/v1/live/conversations/{cid}/end").json()
        assert ended["status"] == "ended" and ended["transcript_id"] is not None
        assert a.get(f"/v1/transcripts/{ended['transcript_id']}").json()["utterances"][6]["text"] == \
            YEAR_OF_WAITING["utterances"][6]["text"]


def test_a_turn_on_a_conversation_held_past_the_lock_timeout_is_503_and_stores_nothing(
        tmp_path, db_url, redis_url, redis_conn):
    """Another request (any API process) holding the conversation longer than QA_LIVE__LOCK_TIMEOUT_S:
    the turn is refused with 503 + Retry-After, not a 500, and sending it again afterwards stores it once."""
    from qa_service.config import LiveSettings
    from qa_service.storage import live as live_repo
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, db_url, redis_url, live=LiveSettings(lock_timeout_s=0.3))
    turn = {"utterances": [{"seq": 0, "role": "customer", "text": "我的退款到底什么时候到账？"}]}
    with TestClient(create_app(settings)) as client:
        cid = open_conversation(client, "held-elsewhere")
        with live_repo.hold(redis_conn, cid, timeout_s=30):
            t0 = time.monotonic()
            r = client.post(f"/v1/live/conversations/{cid}/utterances", json=turn)
            waited = time.monotonic() - t0
        assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
        assert "busy" in r.json()["detail"] and 0.3 <= waited < 5
        again = client.post(f"/v1/live/conversations/{cid}/utterances", json=turn)
        assert again.status_code == 200 and again.json()["accepted"] == 1 and again.json()["repeats"] == 0, again.text


def test_live_turns_with_redis_unreachable_are_503_not_500(tmp_path, db_url):
    """Redis is the live state: when it cannot be reached the API says so, with Retry-After."""
    from qa_service.stack import free_port
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, db_url, f"redis://127.0.0.1:{free_port()}/0")
    with TestClient(create_app(settings)) as client:
        r = client.post("/v1/live/conversations", json={"source": "live-test", "external_id": "no-redis"})
        assert r.status_code == 503 and r.headers["retry-after"] == "5", r.text
        assert "Redis" in r.json()["detail"]
        r = client.post("/v1/live/conversations/1/utterances",
                        json={"utterances": [{"seq": 0, "role": "customer", "text": "在吗"}]})
        assert r.status_code == 503 and r.headers["retry-after"] == "5", r.text
