"""Prometheus metrics: the series the API (``GET /metrics``) and each worker (its own port) export.

Names follow Prometheus conventions (``_total`` counters, ``_seconds`` histograms, base units); labels
stay bounded (route templates, statuses, scorer names — never ids or team names). The series, what
they mean and a Grafana dashboard are in ``docs/monitoring.md`` and ``docs/grafana-dashboard.json``.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest, start_http_server

LATENCY_BUCKETS = (.002, .005, .01, .025, .05, .1, .25, .5, 1.0, 2.5, 5.0, 10.0, 30.0)

# --- API ---------------------------------------------------------------------------------------------------
HTTP_REQUESTS = Counter("qa_http_requests_total", "HTTP requests answered, by method, route template and status",
                        ["method", "route", "status"])
HTTP_LATENCY = Histogram("qa_http_request_duration_seconds", "Time to answer an HTTP request (to its last byte)",
                         ["method", "route", "status"], buckets=LATENCY_BUCKETS)
INGESTED = Counter("qa_ingest_transcripts_total", "Transcripts sent to ingest, by outcome "
                   "(accepted, duplicate, conflict, rejected)", ["outcome"])
QUEUE_DEPTH = Gauge("qa_queue_depth", "Scoring jobs waiting in the queue (read when scraped)")
PENDING = Gauge("qa_transcripts_pending", "Stored transcripts not scored yet, by status (read when scraped)",
                ["status"])

# --- workers ---------------------------------------------------------------------------------------------
TRANSCRIPTS = Counter("qa_worker_transcripts_total", "Transcripts a worker's jobs handled, by outcome "
                      "(scored, skipped, retried, failed)", ["outcome"])
JOBS = Counter("qa_worker_jobs_total", "Scoring jobs a worker ran, by outcome (ok, error)", ["outcome"])
JOB_SECONDS = Histogram("qa_worker_job_duration_seconds", "Time a scoring job took (claim, load, score, store)",
                        buckets=LATENCY_BUCKETS)
SCORER_SECONDS = Histogram("qa_scorer_duration_seconds", "Time one transcript spent in each scoring stage",
                           ["scorer"], buckets=(.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1.0))
REQUEUED = Counter("qa_reconciler_requeued_total", "Transcripts the reconciler queued again, by why "
                   "(received: never queued, lost: gone from the queue, stale: abandoned mid-scoring)", ["reason"])

# --- live QA -----------------------------------------------------------------------------------------------
ALERT_DELIVERIES = Counter("qa_live_alert_deliveries_total", "Live-alert webhook deliveries, by channel format "
                           "and outcome (delivered, failed, gave_up)", ["channel", "outcome"])


def exposition() -> tuple[bytes, str]:
    """The current values in the text exposition format, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST


def serve(port: int, addr: str = "0.0.0.0") -> None:
    """Serve ``/metrics`` on ``port`` from a background thread (a worker's endpoint)."""
    start_http_server(port, addr=addr)
