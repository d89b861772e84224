"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from qa_service.api.deps import RedisDep, SessionDep, SettingsDep
from qa_service.storage.redis import is_reachable

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(settings: SettingsDep) -> dict[str, str]:
    """The process is up (public, like /readyz); `auth` says whether API keys are enforced."""
    return {"status": "ok", "auth": "on" if settings.auth_enforced else "off"}


@router.get("/readyz")
def readyz(session: SessionDep, redis: RedisDep) -> JSONResponse:
    """Database and Redis reachable; 503 names what is not."""
    checks = {}
    try:
        session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means not ready
        checks["database"] = f"unreachable: {type(exc).__name__}"
    checks["redis"] = "ok" if is_reachable(redis) else "unreachable"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                        status_code=200 if ready else 503)
