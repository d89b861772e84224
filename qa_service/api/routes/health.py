"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from qa_service import metrics
from qa_service.api.deps import RedisDep, RuntimeDep, SessionDep, SettingsDep
from qa_service.errors import ConfigError, NotFound, RulePackError
from qa_service.live import service as live_service
from qa_service.queue.outbox import make_queue
from qa_service.storage import transcripts as transcript_repo
from qa_service.storage.redis import is_reachable

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(settings: SettingsDep) -> dict[str, str]:
    """The process is up (public, like /readyz); `auth` says whether API keys are enforced."""
    return {"status": "ok", "auth": "on" if settings.auth_enforced else "off"}


@router.get("/readyz")
def readyz(session: SessionDep, redis: RedisDep, runtime: RuntimeDep) -> JSONResponse:
    """Database and Redis reachable, and (live QA on) alert rules loaded; 503 names what is not."""
    checks = {}
    try:
        session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means not ready
        checks["database"] = f"unreachable: {type(exc).__name__}"
    checks["redis"] = "ok" if is_reachable(redis) else "unreachable"
    if runtime.settings.live.enabled:
        try:
            live_service.alert_rules(runtime)
            checks["alert_rules"] = "ok"
        except (RulePackError, ConfigError) as exc:  # nothing loaded: every live turn is refused until fixed
            checks["alert_rules"] = str(exc)
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                        status_code=200 if ready else 503)


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics(runtime: RuntimeDep, session: SessionDep) -> Response:
    """Prometheus metrics (public, like /healthz; ``QA_API__METRICS=false`` turns them off); queue depth and
    pending transcripts are read now, the rest counted as requests come."""
    if not runtime.settings.api.metrics:
        raise NotFound("metrics are off (QA_API__METRICS)", "path")
    try:
        metrics.QUEUE_DEPTH.set(make_queue(runtime.settings, runtime.redis).count)
    except Exception:  # Redis down: the gauge keeps its last value; /readyz says why
        pass
    pending = transcript_repo.count_pending(session=session)
    for status in transcript_repo.PENDING:
        metrics.PENDING.labels(status).set(pending.get(status, 0))
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)
