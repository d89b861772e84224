"""Application factory: everything the routes need is built from the Settings passed in."""

from __future__ import annotations

import gc
import json
import html
import logging
from contextlib import asynccontextmanager
import time
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from fastapi.exception_handlers import http_exception_handler

from qa_service import __version__
from qa_service.api.auth import SESSION_COOKIE
from qa_service.api.routes import health, keys, performance, reviews, rules, transcripts
from qa_service.config import Settings
from qa_service.errors import AccessDenied, IngestConflict, ReviewError
from qa_service.queue.connection import redis_client
from qa_service.storage.db import create_db_engine, session_factory
from qa_service.ui import routes as ui_routes

log = logging.getLogger(__name__)


class BodySizeLimit:
    """413 for a declared Content-Length over the limit (a plain ASGI middleware: no per-request task)."""

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
    """Adds ``Server-Timing: app;dur=<ms>`` so clients and benchmarks can split server from network time."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()

        async def timed_send(message):
            if message["type"] == "http.response.start":
                dur = (time.perf_counter() - t0) * 1000
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"server-timing", f"app;dur={dur:.2f}".encode())]}
            await send(message)

        await self.app(scope, receive, timed_send)


MAX_ECHO_CHARS = 500  # a validation error echoes the bad input back only when it is this small


def _error_entry(error: dict) -> dict:
    """A validation error as JSON can carry it: the input echoed only when small and finite (never inf/NaN)."""
    out = {"type": error.get("type"), "loc": list(error.get("loc", ())), "msg": error.get("msg")}
    if "input" in error:
        try:
            text = json.dumps(jsonable_encoder(error["input"]), ensure_ascii=False, allow_nan=False)
            text.encode("utf-8")  # a lone surrogate cannot be sent back
        except (TypeError, ValueError):
            text = None
        if text is not None and len(text) <= MAX_ECHO_CHARS:
            out["input"] = json.loads(text)
    if error.get("ctx"):
        out["ctx"] = {k: v if isinstance(v, int | str) else str(v) for k, v in error["ctx"].items()}
    return out


@asynccontextmanager
async def _lifespan(app: FastAPI):
    # Everything imported and built so far lives as long as the process: move it out of the
    # cyclic GC's way, so full collections stay short under load (tail latency).
    gc.collect()
    gc.freeze()
    yield
    app.state.engine.dispose()


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        lifespan=_lifespan,
        title="qa_service",
        version=__version__,
        description="智能质检: ingest Chinese customer-service transcripts, score them, explain every point.",
    )
    engine = create_db_engine(settings)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    app.state.redis = redis_client(settings)

    @app.exception_handler(IngestConflict)
    async def _conflict(_: Request, exc: IngestConflict) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc), "id": exc.existing_id, "source": exc.source, "external_id": exc.external_id},
            status_code=409,
        )

    @app.exception_handler(ReviewError)
    async def _review(_: Request, exc: ReviewError) -> JSONResponse:
        if exc.status == 422:
            return JSONResponse({"detail": [{"loc": ["body", exc.field or "body"], "type": "value_error",
                                             "msg": str(exc)}]}, status_code=422)
        return JSONResponse({"detail": str(exc), "field": exc.field}, status_code=exc.status)

    @app.exception_handler(AccessDenied)
    async def _denied(request: Request, exc: AccessDenied) -> Response:
        if request.url.path.startswith("/ui/") and request.method == "GET":
            if exc.status == 401:
                return RedirectResponse(f"/ui/login?next={quote(request.url.path)}", status_code=303)
            return HTMLResponse(f"<!doctype html><meta charset=utf-8><title>无权限</title><h1>403 无权限</h1>"
                                f"<p>{html.escape(str(exc))}</p><p><a href=/ui/login>换一个密钥登录</a></p>",
                                status_code=403)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"detail": str(exc)}, status_code=exc.status, headers=headers)

    @app.exception_handler(RecursionError)
    async def _too_deep(_: Request, exc: RecursionError) -> JSONResponse:
        return JSONResponse({"detail": [{"loc": ["body"], "type": "too_deep",
                                         "msg": "JSON is nested too deeply to read"}]}, status_code=400)

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    async def _db_down(_: Request, exc: DBAPIError) -> JSONResponse:
        if isinstance(exc, OperationalError) or exc.connection_invalidated:
            log.warning("database unavailable: %s", exc.orig)
            return JSONResponse({"detail": "database unavailable; retry later"}, status_code=503,
                                headers={"Retry-After": "5"})
        raise exc

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": [_error_entry(e) for e in exc.errors()]}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, RecursionError):
            return await _too_deep(request, exc.__cause__)
        if isinstance(exc.__cause__, UnicodeDecodeError):
            cause = exc.__cause__
            return JSONResponse(
                {"detail": [{"loc": ["body"], "type": "invalid_utf8",
                             "msg": f"request body is not valid UTF-8 (byte 0x{cause.object[cause.start]:02x} "
                                    f"at position {cause.start})"}]},
                status_code=400,
            )
        return await http_exception_handler(request, exc)

    app.add_middleware(RequireCredentials, enforced=settings.auth_enforced)
    app.add_middleware(BodySizeLimit, max_bytes=settings.api.max_body_bytes)
    app.add_middleware(ServerTiming)
    app.include_router(health.router)
    app.include_router(transcripts.router)
    app.include_router(rules.router)
    app.include_router(performance.router)
    app.include_router(reviews.router)
    app.include_router(keys.router)
    app.include_router(ui_routes.router)
    return app
