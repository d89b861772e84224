"""Prometheus metrics: the API's /metrics and a worker's own endpoint expose the series docs/operations.md names."""

from __future__ import annotations

import re

import httpx
from fastapi.testclient import TestClient

from qa_service import metrics
from qa_service.app import create_app
from qa_service.queue.outbox import reconcile
from qa_service.queue.worker import run_worker
from qa_service.stack import free_port
from tests.conftest import transcript


def _value(text: str, series: str) -> float:
    """The value of one sample line (``name{labels}``) in an exposition, 0 when absent."""
    m = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def test_metrics_expose_ingest_queue_worker_and_reconciler_series(client, settings):
    before = client.get("/metrics").text
    for i in range(3):
        assert client.post("/v1/transcripts", json=transcript(f"m{i}")).status_code == 202
    assert client.post("/v1/transcripts", json=transcript("m0")).status_code == 200  # duplicate
    assert client.post("/v1/transcripts", json={"source": "x"}).status_code == 422
    page = client.get("/metrics")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    text = page.text
    posted = 'qa_http_requests_total{method="POST",route="/v1/transcripts",status="202"}'
    assert _value(text, posted) - _value(before, posted) == 3
    assert _value(text, 'qa_http_requests_total{method="POST",route="/v1/transcripts",status="422"}') >= 1
    assert 'qa_http_request_duration_seconds_bucket{le="0.05",method="POST",route="/v1/transcripts",status="202"}' \
        in text
    accepted = 'qa_ingest_transcripts_total{outcome="accepted"}'
    assert _value(text, accepted) - _value(before, accepted) == 3
    assert _value(text, 'qa_ingest_transcripts_total{outcome="duplicate"}') >= 1
    assert _value(text, "qa_queue_depth") == 3  # one job per single POST, none taken yet
    assert _value(text, 'qa_transcripts_pending{status="queued"}') == 3

    before_worker = metrics.exposition("worker")[0].decode()
    run_worker(settings, burst=True, reconcile=False)
    text = client.get("/metrics").text
    assert _value(text, 'qa_transcripts_pending{status="queued"}') == 0 and _value(text, "qa_queue_depth") == 0
    # The worker's series are on its own endpoint (what metrics.serve exports), not on the API's.
    assert "qa_worker_jobs_total" not in text and "qa_scorer_duration_seconds" not in text
    worker_text = metrics.exposition("worker")[0].decode()
    assert _value(worker_text, 'qa_worker_transcripts_total{outcome="scored"}') - \
        _value(before_worker, 'qa_worker_transcripts_total{outcome="scored"}') == 3
    assert _value(worker_text, 'qa_worker_jobs_total{outcome="ok"}') >= 1
    # Three single POSTs: three jobs of one transcript, three observations per stage.
    assert _value(worker_text, 'qa_scorer_duration_seconds_count{scorer="politeness"}') - \
        _value(before_worker, 'qa_scorer_duration_seconds_count{scorer="politeness"}') == 3
    assert "qa_worker_job_duration_seconds_bucket" in worker_text
    assert "qa_queue_depth" not in worker_text and "qa_http_requests_total" not in worker_text

    # A transcript stored while the queue was down is the reconciler's: counted as it requeues it.
    runtime = client.app.state.runtime
    from qa_service.storage import transcripts as repo

    client.post("/v1/transcripts", json=transcript("m-late"))
    with runtime.session() as s:
        repo.mark_received(session=s, ids=[max(r.id for r in repo.list_filtered(
            session=s, flt=repo.TranscriptFilter(), limit=1, offset=0)[0])])
    reconcile(settings=settings, sessions=runtime.sessions, connection=runtime.redis, grace_s=0)
    text = metrics.exposition("worker")[0].decode()
    assert _value(text, 'qa_reconciler_requeued_total{reason="received"}') - \
        _value(before_worker, 'qa_reconciler_requeued_total{reason="received"}') == 1
    text = client.get("/metrics").text
    assert _value(text, "qa_backlog_depth") == 0  # a conversation left behind goes on the queue
    with runtime.session() as s:  # qa rescore's marking: the reconciler queues it on the backlog
        assert len(repo.mark_for_rescoring(session=s, flt=repo.TranscriptFilter(), limit=1)) == 1
    reconcile(settings=settings, sessions=runtime.sessions, connection=runtime.redis, grace_s=0)
    assert _value(client.get("/metrics").text, "qa_backlog_depth") == 1


def test_worker_serves_its_own_metrics_port():
    port = free_port()
    metrics.serve(port, addr="127.0.0.1")
    metrics.JOBS.labels("ok").inc(0)
    body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert "qa_worker_jobs_total" in body and "qa_reconciler_requeued_total" in body


def test_metrics_can_be_turned_off(settings):
    off = settings.model_copy(update={"api": settings.api.model_copy(update={"metrics": False})})
    with TestClient(create_app(off)) as c:
        assert c.get("/metrics").status_code == 404


def test_grafana_dashboard_plots_only_series_that_exist():
    import json
    from pathlib import Path

    from prometheus_client import REGISTRY

    known = {m.name for m in REGISTRY.collect()}
    dashboard = json.loads((Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json").read_text())
    used = {re.sub(r"_(bucket|count|sum)$", "", name).removesuffix("_total")
            for p in dashboard["panels"] for t in p["targets"] for name in re.findall(r"\bqa_\w+", t["expr"])}
    assert used and used <= known, used - known
