"""Smaller mismatches a platform integrator's probe of live QA found (2026-11-30), on real Redis and a real
database: a conversation opened without started_at became a transcript with none; a retried turn's answer
lost the alert its first try raised; Feishu showed the quote's markdown ``>``; satisfaction-falling quoted
the agent's apology beside 预测满意度很低."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.live.conftest import open_conversation, stream

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

