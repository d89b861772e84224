"""Ingestion API: single and batch ingest, idempotency, reads, filters, health (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from sqlalchemy import func, select

from qa_service.queue.worker import run_worker
from qa_service.storage.tables import Transcript, Utterance
from tests.conftest import transcript


def _count(sessions) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(Transcript))


def test_ingest_single_stores_then_queues(client, sessions, redis_conn, settings):
    resp = client.post("/v1/transcripts", json=transcript())
    assert resp.status_code == 202
    body = resp.json()
    assert body["status"] == "queued" and body["duplicate"] is False
    assert redis_conn.llen(f"rq:queue:{settings.redis.queue}") == 1
    got = client.get(f"/v1/transcripts/{body['id']}").json()
    assert got["status"] == "queued"
    assert got["report"] is None
    assert [u["role"] for u in got["utterances"]] == ["customer", "agent"]
    assert got["utterances"][0]["asr_confidence"] == 0.93
    assert got["started_at"].startswith("2026-10-01T01:30:00")  # stored in UTC


def test_resend_same_transcript_returns_existing_id(client, sessions):
    first = client.post("/v1/transcripts", json=transcript()).json()
    again = client.post("/v1/transcripts", json=transcript())
    assert again.status_code == 200
    assert again.json()["id"] == first["id"] and again.json()["duplicate"] is True
    assert _count(sessions) == 1


def test_resend_different_content_is_409_and_keeps_original(client, sessions):
    first = client.post("/v1/transcripts", json=transcript()).json()
    changed = transcript(utterances=[{"role": "customer", "text": "完全不同的内容"}])
    resp = client.post("/v1/transcripts", json=changed)
    assert resp.status_code == 409
    assert "already exists" in resp.json()["detail"] and resp.json()["id"] == first["id"]
    stored = client.get(f"/v1/transcripts/{first['id']}").json()
    assert stored["utterances"][0]["text"] == transcript()["utterances"][0]["text"]
    assert _count(sessions) == 1


def test_batch_reports_each_item_and_one_bad_item_rejects_only_itself(client, sessions):
    client.post("/v1/transcripts", json=transcript("existing"))
    items = [
        transcript("b1"),
        transcript("b2"),
        transcript("existing"),                                     # duplicate of stored
        transcript("b3", utterances=[{"role": "manager", "text": "你好"}]),  # unknown role
        transcript("b1"),                                           # duplicate within the batch
        transcript("existing", utterances=[{"role": "agent", "text": "改过的内容"}]),  # conflict
        42,                                                         # not an object
    ]
    resp = client.post("/v1/transcripts/batch", json={"transcripts": items})
    assert resp.status_code == 207
    body = resp.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 2, 3)
    statuses = [i["status"] for i in body["items"]]
    assert statuses == ["accepted", "accepted", "duplicate", "rejected", "duplicate", "rejected", "rejected"]
    assert body["items"][3]["errors"][0]["loc"] == ["body", "transcripts", 3, "utterances", 0, "role"]
    assert body["items"][4]["id"] == body["items"][0]["id"]
    assert "different content" in body["items"][5]["errors"][0]["msg"]
    assert _count(sessions) == 3
    with sessions() as s:  # utterances stored once per transcript
        assert s.scalar(select(func.count()).select_from(Utterance)) == 6


def test_batch_all_good_is_202_and_queued(client, redis_conn, settings):
    from rq import Queue

    resp = client.post("/v1/transcripts/batch", json={"transcripts": [transcript(f"k{i}") for i in range(140)]})
    assert resp.status_code == 202
    assert resp.json()["accepted"] == 140 and resp.json()["queued"] is True
    # chunks of QA_WORKER__CHUNK_SIZE (64): three jobs carrying every id once
    jobs = Queue(settings.redis.queue, connection=redis_conn).jobs
    assert settings.worker.chunk_size == 64 and [len(j.args[0]) for j in jobs] == [64, 64, 12]
    assert sorted(i for j in jobs for i in j.args[0]) == sorted(item["id"] for item in resp.json()["items"])


def test_scored_transcript_has_report_with_evidence(client, settings):
    tid = client.post("/v1/transcripts", json=transcript(utterances=[
        {"role": "customer", "text": "你们服务太差了，我很不满意"},
        {"role": "agent", "text": "这东西本来就是垃圾。"},
    ])).json()["id"]
    run_worker(settings, burst=True, reconcile=False)
    got = client.get(f"/v1/transcripts/{tid}").json()
    assert got["status"] == "scored"
    report = got["report"]
    assert report["dimensions"]["negativity"] == 97.0
    assert set(report["dimensions"]) == {"politeness", "compliance", "objection", "negativity", "timing", "sentiment"}
    # The general pack's fitted scorecard (30/15/15/5/5/35); timing has no timestamps here, so it drops out
    # and the rest renormalise over 100.
    assert report["weights"] == pytest.approx({"politeness": 0.30, "compliance": 0.15, "objection": 0.15,
                                               "negativity": 0.05, "timing": 0.0, "sentiment": 0.35}, abs=1e-5)
    assert report["scorecard_version"] == "golden-oof-2026-11-28c"
    assert report["score"] == pytest.approx(sum(report["weights"][d] * s for d, s in report["dimensions"].items()),
                                            abs=0.01)
    assert report["scorer_versions"]["negativity"] == "negativity.v1"
    assert report["rule_pack"] == "general" and report["rule_pack_version"] and len(report["rule_pack_hash"]) == 64
    politeness = {f["rule_id"]: f for f in report["findings"] if f["dimension"] == "politeness"}
    # The learned detectors decide greeting and closing (the pack's required rules step aside), and the
    # upset customer was owed an apology the agent never gave; each names its model and probability.
    assert set(politeness) == {"detector.greeting-missing", "detector.closing-missing", "detector.no-empathy",
                               "detector.attitude-risk"}  # 这东西本来就是垃圾 may well be dismissive: graded
    assert politeness["detector.no-empathy"]["role"] == "agent" and politeness["detector.no-empathy"]["quote"] == \
        "这东西本来就是垃圾。"
    assert all(f["model"] == "qa-detectors@2" and 0 <= f["probability"] <= 1 for f in politeness.values())
    agent = [f for f in report["findings"] if f["role"] == "agent" and f["dimension"] == "negativity"]
    assert [(f["quote"], f["points"], f["utterance_index"]) for f in agent] == [("垃圾", -3.0, 1)]
    for f in report["findings"]:
        text = got["utterances"][f["utterance_index"]]["text"]
        assert text[f["span"][0]:f["span"][1]] == f["quote"]
    assert "agent_negative_language" in {f["reason"] for f in report["flags"]}
    sentiment = report["dimension_details"]["sentiment"]["metrics"]
    assert [u["seq"] for u in sentiment["utterances"]] == [0]  # the customer's turns, read by the detectors
    assert sentiment["negative_turns"] == [0] and sentiment["end_sentiment"] == "negative"  # 太差了，我很不满意


def test_list_filters_and_paginates(client, settings):
    # Filters are under test here, not the model: score with the lexicon scorer alone.
    from qa_service.config import ScoringSettings

    settings = settings.model_copy(update={"scoring": ScoringSettings(scorers=["negativity.v1"])})
    client.post("/v1/transcripts", json=transcript("x1", agent_id="a1", team="t1",
                                                   started_at="2026-10-01T10:00:00+08:00"))
    client.post("/v1/transcripts", json=transcript("x2", agent_id="a2", team="t1",
                                                   started_at="2026-10-02T10:00:00+08:00"))
    client.post("/v1/transcripts", json=transcript("x3", agent_id="a2", team="t2", utterances=[
        {"role": "agent", "text": "你这人真恶心，垃圾"}], started_at="2026-10-03T10:00:00+08:00"))
    run_worker(settings, burst=True, reconcile=False)

    def ids(query: str) -> list[str]:
        return [i["external_id"] for i in client.get(f"/v1/transcripts?{query}").json()["items"]]

    assert ids("agent_id=a2") == ["x3", "x2"]
    assert ids("team=t1") == ["x2", "x1"]
    assert ids("flagged=true") == ["x3"]
    assert ids("reason=agent_negative_language") == ["x3"]
    assert ids("flagged=false") == ["x2", "x1"]
    assert ids("status=scored&since=2026-10-02T00:00:00%2B08:00") == ["x3", "x2"]
    assert ids("until=2026-10-02T00:00:00%2B08:00") == ["x1"]
    page = client.get("/v1/transcripts?limit=2&offset=2").json()
    assert page["total"] == 3 and [i["external_id"] for i in page["items"]] == ["x1"]
    assert client.get("/v1/transcripts?limit=100000").status_code == 422
    first = client.get("/v1/transcripts?limit=2").json()  # keyset: follow next_before_id to the end
    assert [i["external_id"] for i in first["items"]] == ["x3", "x2"] and first["next_before_id"] is not None
    second = client.get(f"/v1/transcripts?limit=2&before_id={first['next_before_id']}").json()
    assert [i["external_id"] for i in second["items"]] == ["x1"] and second["next_before_id"] is None
    assert second["total"] == 3  # of the filter, the same on every page
    full = client.get("/v1/transcripts?limit=3").json()  # a last page exactly full has no next page
    assert len(full["items"]) == 3 and full["total"] == 3 and full["next_before_id"] is None
    assert client.get("/v1/transcripts?agent_id=a2&limit=2").json()["next_before_id"] is None


def test_an_unknown_flag_reason_is_a_422_naming_it(client, sessions):
    """?reason=bogus was an empty page, as if nothing had been flagged for it."""
    from qa_service.domain import DimensionScore, Flag, QAReport, Severity
    from qa_service.queue.tasks import record_report
    from qa_service.storage.db import session_scope

    resp = client.get("/v1/transcripts", params={"reason": "bogus"})
    assert resp.status_code == 422, resp.text
    [err] = resp.json()["detail"]
    assert err["loc"] == ["query", "reason"] and "'bogus'" in err["msg"] and "no_agent_reply" in err["msg"]
    # Known though nothing is flagged for them yet: a scorer's, a rule pack's (general.yaml's agent_abuse).
    for reason in ("customer_angry", "agent_abuse"):
        page = client.get("/v1/transcripts", params={"reason": reason})
        assert page.status_code == 200 and page.json()["total"] == 0, page.text
    # A reason stored by a rule pack since edited still finds its conversations.
    tid = client.post("/v1/transcripts", json=transcript("old-flag")).json()["id"]
    dim = DimensionScore("compliance", 80.0, "1", flags=[Flag("retired_rule_flag", Severity.major)])
    with session_scope(sessions) as s:
        record_report(session=s, transcript_id=tid, report=QAReport(
            score=80.0, dimensions={"compliance": dim}, weights={"compliance": 1.0},
            scorer_versions={"compliance": "compliance.v1"}))
    assert [i["external_id"] for i in client.get("/v1/transcripts", params={"reason": "retired_rule_flag"}
                                                 ).json()["items"]] == ["old-flag"]


def test_unknown_transcript_is_404(client):
    resp = client.get("/v1/transcripts/999999")
    assert resp.status_code == 404 and "999999" in resp.json()["detail"]


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok", "auth": "off"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "redis": "ok",
                                                               "alert_rules": "ok"}


def test_openapi_docs_served(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/transcripts", "/v1/transcripts/batch", "/v1/transcripts/{transcript_id}"} <= set(paths)


def test_ingest_recovers_when_cached_agent_was_deleted(client, sessions):
    from sqlalchemy import delete

    from qa_service.storage.tables import Agent, Team

    client.post("/v1/transcripts", json=transcript("c1"))
    with sessions.begin() as s:  # e.g. a database restored from an older backup
        s.execute(delete(Transcript))
        s.execute(delete(Agent))
        s.execute(delete(Team))
    resp = client.post("/v1/transcripts", json=transcript("c2"))
    assert resp.status_code == 202
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Agent)) == 1


def test_concurrent_sends_of_one_key_store_it_once(settings, sessions):
    """Many clients racing on the same (source, external_id): one row, one id, no 500s."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from qa_service.stack import BackgroundServer

    server = BackgroundServer(settings).start()
    try:
        def send(_):
            with httpx.Client(base_url=server.url, timeout=30) as c:
                return c.post("/v1/transcripts", json=transcript("race"))

        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(send, range(32)))
    finally:
        server.stop()
    assert sorted({r.status_code for r in responses}) in ([200, 202], [202])
    assert sum(r.status_code == 202 for r in responses) == 1
    assert len({r.json()["id"] for r in responses}) == 1
    assert _count(sessions) == 1
