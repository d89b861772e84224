"""Smaller mismatches a platform integrator's probe of live QA found (2026-11-30), on real Redis and a real
database: a conversation opened without started_at became a transcript with none; a retried turn's answer
lost the alert its first try raised; Feishu showed the quote's markdown ``>``; satisfaction-falling quoted
the agent's apology beside 预测满意度很低."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.live.conftest import SAMPLE, open_conversation, stream

THREAT = {"role": "customer", "text": "再不解决我就打12315投诉你们"}


def test_a_conversation_opened_without_started_at_starts_when_it_was_opened(live_client):
    before = datetime.now(UTC)
    cid = open_conversation(live_client, "no-start", team="售后一组")
    stream(live_client, cid, [{"role": "customer", "text": "你好"}])
    tid = live_client.post(f"/v1/live/conversations/{cid}/end").json()["transcript_id"]
    started = live_client.get(f"/v1/transcripts/{tid}").json()["started_at"]
    assert started is not None, "was: null"
    assert before - timedelta(seconds=1) <= datetime.fromisoformat(started.replace("Z", "+00:00")) <= datetime.now(UTC)
    given = open_conversation(live_client, "with-start", started_at="2026-11-27T09:30:00+08:00")
    stream(live_client, given, [{"role": "customer", "text": "你好"}])
    tid = live_client.post(f"/v1/live/conversations/{given}/end").json()["transcript_id"]
    assert live_client.get(f"/v1/transcripts/{tid}").json()["started_at"].startswith("2026-11-27T01:30:00")
    # opened again unchanged (a retried open) is still the same conversation, not a changed header
    assert live_client.post("/v1/live/conversations", json={"source": "live-test", "external_id": "no-start",
                                                           "team": "售后一组"}).status_code == 200


def test_a_retried_turn_answers_the_alert_its_first_try_raised(live_client):
    """A platform whose first request timed out re-sends the turn: the answer lists the alert again (the same
    alert_id; it is raised once, and sent to the webhooks once). Was: `alerts: []`, the webhook the only copy."""
    cid = open_conversation(live_client, "retry-1", team="售后一组")
    url = f"/v1/live/conversations/{cid}/utterances"
    first = live_client.post(url, json={"utterances": [{"seq": 0, **THREAT}]}).json()
    [alert] = first["alerts"]
    again = live_client.post(url, json={"utterances": [{"seq": 0, **THREAT}]}).json()
    assert again["accepted"] == 0 and again["repeats"] == 1
    assert [a["alert_id"] for a in again["alerts"]] == [alert["alert_id"]]
    both = live_client.post(url, json={"utterances": [{"seq": 0, **THREAT},
                                                      {"seq": 1, "role": "agent", "text": "非常抱歉"}]}).json()
    assert both["accepted"] == 1 and both["repeats"] == 1 and [a["alert_id"] for a in both["alerts"]] == [
        alert["alert_id"]]
    assert len(live_client.get(f"/v1/live/alerts?conversation_id={cid}").json()) == 1


def test_feishu_quotes_the_turn_without_markdown(live_client, receiver):
    assert live_client.post("/v1/webhooks", json={"url": f"{receiver.url}/feishu", "format": "feishu"}).status_code == 201
    cid = open_conversation(live_client, "feishu-1", team="售后一组")
    stream(live_client, cid, [{"role": "customer", "text": "第一行\n再不解决我就打12315投诉你们"}])
    text = json.loads(receiver.wait_for(1)[0]["body"])["content"]["text"]
    assert "\n│ 第一行\n│ 再不解决我就打12315投诉你们" in text, text
    assert "\n>" not in text  # Feishu's text message renders no markdown: the > showed as typed


def test_satisfaction_falling_quotes_the_customer_not_the_agents_apology(live_client):
    dialogue = next(d for d in SAMPLE if d["id"] == "stc3-3739797266715000")["utterances"]
    cid = open_conversation(live_client, "sat-1", team="telecom")
    raised = stream(live_client, cid, dialogue)
    [alert] = [a for turn in raised for a in turn if a["rule"] == "satisfaction-falling"]
    assert raised[5] and dialogue[5]["role"] == "agent"  # raised on the agent's turn …
    assert alert["utterance_index"] == 4 and alert["quote"] == dialogue[4]["text"]  # … resting on the customer's
