"""The rule dry run is scored in the API process: its size and the runs at once are limited, so that no key
(every reviewer and supervisor may dry-run) can hold the API's CPU for minutes while live turns wait. A real
server (uvicorn in a thread) and real concurrent clients."""

from __future__ import annotations

import threading
import time

import httpx

from qa_service.stack import BackgroundServer
from tests.conftest import make_settings

TURN = {"role": "agent", "text": "您好，请问有什么可以帮您"}


def test_an_over_size_dry_run_is_refused_naming_the_limit(tmp_path, sqlite_url, redis_url, redis_conn):
    """Found by a probe: a dry run took the ingest limits (5,000 turns × 10,000 characters, 50 MB), and one
    30 MB request held a core for three minutes."""
    settings = make_settings(tmp_path, sqlite_url, redis_url, api={"rule_test_max_utterances": 20,
                                                                   "rule_test_max_body_bytes": 4096})
    server = BackgroundServer(settings).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            big = c.post("/v1/rules/test", json={"transcript": {"utterances": [TURN] * 200}})
            assert big.status_code == 413, big.text
            (entry,) = big.json()["detail"]
            assert "QA_API__RULE_TEST_MAX_BODY_BYTES" in entry["msg"] and "4096" in entry["msg"]
            assert "rule dry run" in entry["msg"]
            many = c.post("/v1/rules/test", json={"transcript": {"utterances": [{"role": "agent", "text": "好"}] * 21}})
            assert many.status_code == 422, many.text
            (entry,) = many.json()["detail"]
            assert entry["loc"] == ["body", "transcript", "utterances"]
            assert "has 21 utterances" in entry["msg"] and "QA_API__RULE_TEST_MAX_UTTERANCES" in entry["msg"]
            assert c.post("/v1/rules/test", json={"transcript": {"utterances": [TURN] * 20}}).status_code == 200
            # the ingest routes keep their own limits
            batch = {"transcripts": [{"source": "s", "external_id": f"e{i}", "utterances": [TURN] * 20}
                                     for i in range(10)]}
            assert c.post("/v1/transcripts/batch", json=batch).status_code == 202
    finally:
        server.stop()


def test_dry_runs_beyond_the_limit_are_refused_while_one_runs(tmp_path, sqlite_url, redis_url, redis_conn):
    """One dry run at a time per process (QA_API__RULE_TEST_CONCURRENCY=1): a second one while the first is
    scoring is a 429 with Retry-After, at once; the server meanwhile answers other requests (the run is on a
    thread, off the event loop); after it, dry runs are taken again."""
    settings = make_settings(tmp_path, sqlite_url, redis_url,
                             scoring={"scorers": ["compliance.v1", "tests.support:SlowScorer"]})
    server = BackgroundServer(settings).start()
    first: list[httpx.Response] = []
    body = {"transcript": {"utterances": [TURN]}}
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            slow = threading.Thread(target=lambda: first.append(c.post("/v1/rules/test", json=body)))
            t0 = time.monotonic()
            slow.start()
            time.sleep(1.0)  # the first is inside its 4 s scorer
            t1 = time.monotonic()
            busy = c.post("/v1/rules/test", json=body)
            assert busy.status_code == 429, busy.text
            assert busy.headers["retry-after"] == "2"
            assert "QA_API__RULE_TEST_CONCURRENCY=1" in busy.json()["detail"]
            assert c.get("/healthz").status_code == 200
            assert time.monotonic() - t1 < 1.0  # refused at once, and the API is not held
            slow.join(timeout=20)
            assert first[0].status_code == 200 and time.monotonic() - t0 >= 4.0
            again = c.post("/v1/rules/test", json=body)
            assert again.status_code == 200 and again.json()["dimensions"]["slow"] == 100.0
    finally:
        server.stop()
