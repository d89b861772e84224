"""Prometheus metrics: the series the API (``GET /metrics``) and each worker (its own port) export.

Names follow Prometheus conventions (``_total`` counters, ``_seconds`` histograms, base units); labels
stay bounded (route templates, statuses, scorer names — never ids or team names). The series, what
they mean and a Grafana dashboard are in ``docs/monitoring.md`` and ``docs/grafana-dashboard.json``.

Each process exports only the series it measures: the API's ``/metrics`` leaves the workers' out and a
worker's port the API's. Under ``qa serve --api-processes N`` (N > 1) prometheus-client's multiprocess
mode is on (``PROMETHEUS_MULTIPROC_DIR``, set by ``qa serve`` before the processes start): every process
writes its values to files there and any of them answers a scrape with the sum over all of them.
"""

from __future__ import annotations

import os
import threading

from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram,
                               generate_latest, start_http_server)

# prometheus-client's own switch (read when it is imported), not a QA_ setting: qa serve sets it.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

LATENCY_BUCKETS = (.002, .005, .01, .025, .05, .1, .25, .5, 1.0, 2.5, 5.0, 10.0, 30.0)

# --- API ---------------------------------------------------------------------------------------------------
HTTP_REQUESTS = Counter("qa_http_requests_total", "HTTP requests answered, by method, route template and status",
                        ["method", "route", "status"])
HTTP_LATENCY = Histogram("qa_http_request_duration_seconds", "Time to answer an HTTP request (to its last byte)",
                         ["method", "route", "status"], buckets=LATENCY_BUCKETS)
INGESTED = Counter("qa_ingest_transcripts_total", "Transcripts sent to ingest, by outcome "
                   "(accepted, duplicate, conflict, rejected)", ["outcome"])
# The scenario is the client's text: the first UNSERVED_LABELS_MAX a process meets are labelled, the rest counted
# as UNSERVED_OTHER, so that a client sending ids as scenarios cannot grow the series without bound.
UNSERVED_SCENARIO = Counter("qa_unserved_scenario_total", "Transcripts accepted whose scenario no rule pack serves "
                            "(scored with QA_SCORING__DEFAULT_PACK), by scenario (past the first 50 a process "
                            "meets: (other))", ["scenario"])
UNSERVED_LABELS_MAX = 50
UNSERVED_OTHER = "(other)"
# Read when scraped, by whichever API process answers: with several, the most recent reading counts.
QUEUE_DEPTH = Gauge("qa_queue_depth", "Scoring jobs of new conversations waiting in the queue (read when scraped)",
                    multiprocess_mode="mostrecent")
BACKLOG_DEPTH = Gauge("qa_backlog_depth", "Scoring jobs waiting in the backlog queue, taken when the queue is empty: "
                      "re-scores and what the reconciler queued again (read when scraped)",
                      multiprocess_mode="mostrecent")
PENDING = Gauge("qa_transcripts_pending", "Stored transcripts not scored yet, by status (read when scraped)",
                ["status"], multiprocess_mode="mostrecent")
DEPENDENCY_UP = Gauge("qa_dependency_up", "1 when the API reached the dependency (database, redis) at the last "
                      "scrape, else 0", ["dependency"], multiprocess_mode="mostrecent")

# --- workers ---------------------------------------------------------------------------------------------
TRANSCRIPTS = Counter("qa_worker_transcripts_total", "Transcripts a worker's jobs handled, by outcome "
                      "(scored, skipped, retried, failed)", ["outcome"])
JOBS = Counter("qa_worker_jobs_total", "Scoring jobs a worker ran, by outcome (ok, error)", ["outcome"])
JOB_SECONDS = Histogram("qa_worker_job_duration_seconds", "Time a scoring job took (claim, load, score, store)",
                        buckets=LATENCY_BUCKETS)
SCORER_SECONDS = Histogram("qa_scorer_duration_seconds", "Time a transcript spent in each scoring stage: the "
                           "mean over its chunk, observed once per chunk",
                           ["scorer"], buckets=(.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1.0))
REQUEUED = Counter("qa_reconciler_requeued_total", "Transcripts the reconciler queued again, by why "
                   "(received: never queued, lost: gone from the queue, stale: abandoned mid-scoring)", ["reason"])

# --- live QA -----------------------------------------------------------------------------------------------
ALERT_DELIVERIES = Counter("qa_live_alert_deliveries_total", "Live-alert webhook deliveries, by channel format "
                           "and outcome (delivered, failed, gave_up)", ["channel", "outcome"])


# Gauges read when scraped are unknown (NaN) until their first reading: a 0 read as "nothing waiting" while
# Redis or the database was down from the API's start.
for _gauge in (QUEUE_DEPTH, BACKLOG_DEPTH):
    _gauge.set(float("nan"))
for _status in ("received", "queued", "scoring", "failed"):  # storage.transcripts.PENDING
    PENDING.labels(_status).set(float("nan"))

# Known label values start at 0, so that increase() sees the first event (a series born at 1 has none).
for _outcome in ("accepted", "duplicate", "conflict", "rejected"):
    INGESTED.labels(_outcome)
for _outcome in ("scored", "skipped", "retried", "failed"):
    TRANSCRIPTS.labels(_outcome)
for _outcome in ("ok", "error"):
    JOBS.labels(_outcome)
for _reason in ("received", "lost", "stale"):
    REQUEUED.labels(_reason)
for _channel in ("json", "dingtalk", "wecom", "feishu"):
    for _outcome in ("delivered", "failed", "gave_up"):
        ALERT_DELIVERIES.labels(_channel, _outcome)

# Family names (counters without ``_total``) each kind of process leaves out: the other kind measures them.
API_SERIES = frozenset({"qa_http_requests", "qa_http_request_duration_seconds", "qa_ingest_transcripts",
                        "qa_unserved_scenario",
                        "qa_queue_depth", "qa_backlog_depth", "qa_transcripts_pending", "qa_dependency_up", "qa_live_alert_deliveries"})
WORKER_SERIES = frozenset({"qa_worker_transcripts", "qa_worker_jobs", "qa_worker_job_duration_seconds",
                           "qa_scorer_duration_seconds", "qa_reconciler_requeued"})


_unserved_labels: set[str] = set()
_unserved_lock = threading.Lock()


def count_unserved(scenario: str, n: int = 1) -> None:
    """Count ``n`` transcripts of a scenario no pack serves, under its own label while this process has labelled
    fewer than UNSERVED_LABELS_MAX scenarios, else under UNSERVED_OTHER."""
    with _unserved_lock:
        if scenario not in _unserved_labels and len(_unserved_labels) < UNSERVED_LABELS_MAX:
            _unserved_labels.add(scenario)
        shown = scenario if scenario in _unserved_labels else UNSERVED_OTHER
    UNSERVED_SCENARIO.labels(shown).inc(n)


class Only:
    """A registry's metric families less those named in ``exclude``."""

    def __init__(self, source, exclude: frozenset[str]):
        self.source = source
        self.exclude = exclude

    def collect(self):
        for family in self.source.collect():
            if family.name not in self.exclude:
                yield family


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def api_registry() -> Only:
    """What the API's ``/metrics`` exports: this process's series, or all API processes' in multiprocess mode
    (no process_* collectors then: they would describe only the process that answered)."""
    source = REGISTRY
    if multiprocess_dir():
        from prometheus_client import multiprocess

        source = CollectorRegistry()
        multiprocess.MultiProcessCollector(source)
    return Only(source, WORKER_SERIES)


def exposition(role: str = "api") -> tuple[bytes, str]:
    """The current values in the text exposition format, and its content type (``role``: api or worker)."""
    registry = api_registry() if role == "api" else Only(REGISTRY, API_SERIES)
    return generate_latest(registry), CONTENT_TYPE_LATEST


def process_exited(pid: int) -> None:
    """Multiprocess mode: drop an ended API process's gauge files (its counters keep counting in the sum)."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


_servers: list = []  # this process's metrics servers: a forked child closes its copy of their sockets


def _close_servers_in_child() -> None:
    """In a forked child (rq's scheduler): let go of the listening socket, or it holds the port after the
    worker ends and answers nothing."""
    for server in _servers:
        server.socket.close()
    _servers.clear()


def serve(port: int, addr: str = "127.0.0.1") -> None:
    """Serve a worker's ``/metrics`` on ``addr:port`` from a background thread. Raises OSError when the
    address cannot be bound (the port taken, the address not this machine's)."""
    server, _thread = start_http_server(port, addr=addr, registry=Only(REGISTRY, API_SERIES))
    if not _servers:
        os.register_at_fork(after_in_child=_close_servers_in_child)
    _servers.append(server)
