"""/metrics under operations: outages, refused requests, several API processes, series from birth."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import httpx
import pytest
from fastapi.testclient import TestClient

from qa_service import metrics
from qa_service.app import create_app
from qa_service.config import AuthSettings, DBSettings
from qa_service.queue.worker import run_worker
from qa_service.stack import free_port
from tests.api.test_metrics import _value
from tests.conftest import REPO, make_settings, transcript, wait_for


def test_metrics_answer_200_and_say_so_while_the_database_and_redis_are_down(tmp_path, settings):
    down = settings.model_copy(update={
        "db": DBSettings(url="postgresql+psycopg://qa:S3cretPW@127.0.0.1:18401/qa", auto_migrate=False),
        "redis": settings.redis.model_copy(update={"url": "redis://127.0.0.1:18402/0"})})
    with TestClient(create_app(down)) as c:
        page = c.get("/metrics")
        assert page.status_code == 200, page.text
        assert _value(page.text, 'qa_dependency_up{dependency="database"}') == 0
        assert 'qa_dependency_up{dependency="redis"} 0.0' in page.text
    with TestClient(create_app(settings)) as c:
        text = c.get("/metrics").text
        assert _value(text, 'qa_dependency_up{dependency="database"}') == 1
        assert _value(text, 'qa_dependency_up{dependency="redis"}') == 1


def test_gauges_read_at_scrape_time_are_unknown_until_read_not_zero():
    """An API started while Redis and the database were down said qa_queue_depth 0 ("nothing waiting") and
    0 pending; those gauges are NaN until their first reading (a fresh process: these are process-wide)."""
    from qa_service.storage.transcripts import PENDING

    code = ("from qa_service import metrics; import sys; sys.stdout.write(metrics.exposition('api')[0].decode())")
    text = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}).stdout
    assert re.search(r"^qa_queue_depth NaN$", text, re.M) and re.search(r"^qa_backlog_depth NaN$", text, re.M)
    for status in PENDING:
        assert f'qa_transcripts_pending{{status="{status}"}} NaN' in text


def test_counters_with_known_labels_exist_at_zero_before_the_first_event():
    api = metrics.exposition("api")[0].decode()
    worker = metrics.exposition("worker")[0].decode()
    for outcome in ("accepted", "duplicate", "conflict", "rejected"):
        assert f'qa_ingest_transcripts_total{{outcome="{outcome}"}}' in api
    assert 'qa_live_alert_deliveries_total{channel="dingtalk",outcome="gave_up"}' in api
    for series in ('qa_worker_jobs_total{outcome="error"}', 'qa_worker_transcripts_total{outcome="failed"}',
                   'qa_reconciler_requeued_total{reason="lost"}'):
        assert series in worker


def test_requests_refused_before_routing_carry_their_route_template(tmp_path, db_url, redis_url, redis_conn):
    keyed = make_settings(tmp_path, db_url, redis_url, auth=AuthSettings(enabled=True))
    with TestClient(create_app(keyed)) as c:
        assert c.post("/v1/transcripts", json=transcript("x")).status_code == 401
        assert c.get("/v1/reviews/12345").status_code == 401
        assert c.post("/v1/transcripts", headers={"content-length": str(10**12)}).status_code in (401, 413)
        assert c.get("/no/such/path").status_code == 404
        text = c.get("/metrics").text
    assert _value(text, 'qa_http_requests_total{method="POST",route="/v1/transcripts",status="401"}') >= 1
    assert _value(text, 'qa_http_requests_total{method="GET",route="/v1/reviews/{review_id}",status="401"}') >= 1
    assert 'route="/no/such/path"' not in text and 'route="unmatched",status="404"' in text


def test_a_single_transcript_failing_validation_counts_as_rejected(client):
    series = 'qa_ingest_transcripts_total{outcome="rejected"}'
    before = _value(client.get("/metrics").text, series)
    assert client.post("/v1/transcripts", json={"source": "x"}).status_code == 422
    assert client.post("/v1/transcripts", json=transcript("ok-1")).status_code == 202
    assert _value(client.get("/metrics").text, series) - before == 1


def test_a_chunk_scored_as_a_batch_observes_its_stage_mean_once(client, settings):
    before = metrics.exposition("worker")[0].decode()
    resp = client.post("/v1/transcripts/batch", json={"transcripts": [transcript(f"c{i}") for i in range(4)]})
    assert resp.status_code == 202, resp.text
    run_worker(settings, burst=True, reconcile=False)
    after = metrics.exposition("worker")[0].decode()
    for series, delta in (('qa_worker_transcripts_total{outcome="scored"}', 4),
                          ('qa_scorer_duration_seconds_count{scorer="politeness"}', 1),
                          ("qa_worker_job_duration_seconds_count", 1)):
        assert _value(after, series) - _value(before, series) == delta, series


@pytest.mark.slow
def test_several_api_processes_answer_a_scrape_with_all_their_counts(tmp_path, sqlite_settings):
    """qa serve --api-processes 2: each scrape sums both processes (it came from one or the other before)."""
    settings = sqlite_settings
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_", "PROMETHEUS_"))}
    env.update({"PYTHONPATH": str(REPO), "QA_DB__URL": settings.database_url, "QA_DB__AUTO_MIGRATE": "false",
                "QA_REDIS__URL": settings.redis.url, "QA_REDIS__QUEUE": settings.redis.queue,
                "QA_LIVE__ENABLED": "false"})
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "qa_service.cli", "serve", "--port", str(port), "--workers", "0",
                             "--api-processes", "2", "--data-dir", str(tmp_path / "serve")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(f"{url}/healthz"), timeout_s=60)
        n = 40
        with httpx.Client(timeout=10) as http:  # new connections: spread over both processes
            for _ in range(n):
                assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
            scrapes = [http.get(f"{url}/metrics", headers={"connection": "close"}).text for _ in range(6)]
        series = 'qa_http_requests_total{method="GET",route="/healthz",status="200"}'
        counts = [_value(t, series) for t in scrapes]
        assert all(c >= n for c in counts), counts
        assert counts == sorted(counts)  # never goes back (a counter reset to another process's count)
        assert (tmp_path / "serve" / "prometheus-multiproc").is_dir()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out = proc.communicate(timeout=30)[0].decode(errors="replace")
    assert "S3cret" not in out


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
