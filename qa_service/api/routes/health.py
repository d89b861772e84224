"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from qa_service import metrics
from qa_service.api.schemas import ReadinessRead
from qa_service.api.deps import RedisDep, RuntimeDep, SettingsDep
from qa_service.errors import ConfigError, NotFound, RulePackError
from qa_service.live import service as live_service
from qa_service.process import read_worker_status
from qa_service.queue.outbox import make_queue
from qa_service.storage import transcripts as transcript_repo
from qa_service.storage.redis import error_line, ping_error, redis_answered

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(settings: SettingsDep) -> dict[str, str]:
    """The process is up (public, like /readyz); `auth` says whether API keys are enforced."""
    return {"status": "ok", "auth": "on" if settings.auth_enforced else "off"}


@router.get("/readyz", responses={200: {"model": ReadinessRead, "description": "Ready"},
                                   503: {"model": ReadinessRead, "description": "Not ready: `checks` names what"}})
def readyz(redis: RedisDep, runtime: RuntimeDep) -> JSONResponse:
    """Database and Redis reachable, (live QA on) alert rules loaded, and (under ``qa serve --workers N``) all N
    workers alive; 503 names what is not."""
    checks = {"database": _database_check(runtime), "redis": _redis_check(redis)}
    if runtime.settings.live.enabled:
        try:
            live_service.alert_rules(runtime)
            checks["alert_rules"] = "ok"
        except (RulePackError, ConfigError) as exc:  # nothing loaded: every live turn is refused until fixed
            checks["alert_rules"] = str(exc)
    workers = read_worker_status(runtime.settings.data_dir)  # under qa serve --workers N
    if workers and workers.get("expected"):
        checks["workers"] = f"{workers['alive']} alive of {workers['expected']}"
    ready = all(v == "ok" for k, v in checks.items() if k != "workers") and (
        not workers or workers.get("alive") == workers.get("expected"))
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                        status_code=200 if ready else 503)


def _database_check(runtime) -> str:
    """``ok`` or ``unreachable: <error type>``. The connection goes back to the pool before Redis is asked: on
    SQLite it is the process's only one, and a /readyz holding it through a Redis hang (the ping's timeout) made
    every other request wait for it and fail (a pool timeout after QA_DB__BUSY_TIMEOUT_MS)."""
    try:
        with runtime.session() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error (or no connection free) means not ready
        return f"unreachable: {type(exc).__name__}"
    return "ok"


def _redis_check(redis) -> str:
    """``ok``; ``unreachable: <error type>`` when nothing answers (its host and port stay in the log: /readyz is
    public); ``error: …`` with what Redis answered (a database number it does not have, a password or ACL
    refused). Was "unreachable" for all three, the reason only in the log."""
    exc = ping_error(redis)
    if exc is None:
        return "ok"
    return f"error: {error_line(exc)}" if redis_answered(exc) else f"unreachable: {type(exc).__name__}"


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics(runtime: RuntimeDep) -> Response:
    """Prometheus metrics (public, like /healthz; ``QA_API__METRICS=false`` turns them off); queue depth and
    pending transcripts are read now, the rest counted as requests come. Always 200 when on: with the
    database or Redis down, ``qa_dependency_up`` says so and their gauges keep their last values."""
    if not runtime.settings.api.metrics:
        raise NotFound("metrics are off (QA_API__METRICS)", "path")
    _read_gauges(runtime)
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)


def _read_gauges(runtime) -> None:
    try:
        metrics.QUEUE_DEPTH.set(make_queue(runtime.settings, runtime.redis).count)
        metrics.BACKLOG_DEPTH.set(make_queue(runtime.settings, runtime.redis, backlog=True).count)
        metrics.DEPENDENCY_UP.labels("redis").set(1)
    except Exception:  # Redis down: the gauge keeps its last value; /readyz says why
        metrics.DEPENDENCY_UP.labels("redis").set(0)
    try:
        with runtime.session() as session:
            pending = transcript_repo.count_pending(session=session)
    except Exception:  # the database down: the same
        metrics.DEPENDENCY_UP.labels("database").set(0)
        return
    metrics.DEPENDENCY_UP.labels("database").set(1)
    for status in transcript_repo.PENDING:
        metrics.PENDING.labels(status).set(pending.get(status, 0))
