"""Plain ASGI middleware (no per-request task): body size limit, anonymous /v1 refusal, Server-Timing."""

from __future__ import annotations

import time

from fastapi.responses import JSONResponse

from qa_service import metrics
from qa_service import timing

SESSION_COOKIE = "qa_session"


class BodySizeLimit:
    """413 for a declared Content-Length over the limit."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                    response = JSONResponse(
                        {"detail": [{"loc": ["body"], "type": "too_large",
                                     "msg": f"request body is {int(value)} bytes; the limit is "
                                            f"{self.max_bytes} (QA_API__MAX_BODY_BYTES)"}]},
                        status_code=413,
                    )
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


class RequireCredentials:
    """With keys enforced, a /v1 request carrying no credentials at all is 401 before its body is read.

    The routes' own role checks run after FastAPI has parsed the body, so without this an anonymous
    malformed request would learn about the schema (422) before being told to authenticate.
    """

    def __init__(self, app, enforced: bool):
        self.app = app
        self.enforced = enforced

    async def __call__(self, scope, receive, send):
        if self.enforced and scope["type"] == "http" and scope["path"].startswith("/v1/"):
            names = {name for name, _ in scope["headers"]}
            cookies = b"".join(v for n, v in scope["headers"] if n == b"cookie")
            if not (b"authorization" in names or b"x-api-key" in names or SESSION_COOKIE.encode() in cookies):
                response = JSONResponse(
                    {"detail": "missing API key: send Authorization: Bearer <key> or X-API-Key: <key>"},
                    status_code=401, headers={"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class ServerTiming:
    """Adds ``Server-Timing: app;dur=<ms>`` so clients and benchmarks can split server from network time,
    then the parts code on the request's path timed (``qa_service.timing``: ingest's ``redact``, ``store``
    — of which ``lock``, the wait for the embedded SQLite's writer lock — and ``queue``), and counts the
    request in the Prometheus series (by route template: bounded labels)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = [500]
        parts: dict[str, float] = {}  # filled on the request's path, its route's thread too (timing.timed)
        token = timing.REQUEST_TIMINGS.set(parts)

        async def timed_send(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                value = timing.header(time.perf_counter() - t0, parts)
                message = {**message, "headers": [*message.get("headers", []), (b"server-timing", value.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            timing.REQUEST_TIMINGS.reset(token)
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            labels = (scope["method"], route, str(status[0]))
            metrics.HTTP_REQUESTS.labels(*labels).inc()
            metrics.HTTP_LATENCY.labels(*labels).observe(time.perf_counter() - t0)
