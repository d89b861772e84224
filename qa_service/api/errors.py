"""Domain errors → HTTP, in one place: NotFound 404, Conflict 409, Gone 410, Invalid 422 (located like request
validation), Unauthenticated 401, Forbidden 403 (the web UI redirects to its login page), a body not sent as
JSON 415, a database that is down 503, Redis down or a live conversation held by another request past its lock
timeout 503 (each with Retry-After); plus the edge cases of reading a request (invalid UTF-8, JSON nested too deeply).
A number too long to read is a 422 at ``body``. A /ui page's 403, 404 or 422 is an HTML page, not the API's JSON."""

from __future__ import annotations

import logging
import sys
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import LockError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from qa_service import metrics
from qa_service.api.middleware import SESSION_COOKIE
from qa_service.api.ui_errors import ui_error, ui_page, validation_in_chinese
from qa_service.ingest import pii
from qa_service.errors import (
    AccessDenied,
    Conflict,
    Gone,
    IngestConflict,
    Invalid,
    NotFound,
    RulePackError,
    Unauthenticated,
)

log = logging.getLogger(__name__)
def _error_entry(error: dict) -> dict:
    """A validation error as the API answers it: where (``loc``), what (``msg``, ``type``) and the limits it
    broke (``ctx``), never the submitted value. Was: ``input`` echoed values up to 500 characters, so a 422
    for a turn's timestamps carried the turn's text, phone and ID numbers unredacted, into whatever logs
    the caller's gateway keeps of 4xx bodies (a batch item's errors already left it out)."""
    out = {"type": error.get("type"), "loc": list(error.get("loc", ())), "msg": scrub(error.get("msg"))}
    if error.get("ctx"):
        out["ctx"] = {k: v if isinstance(v, int) else scrub(str(v)) for k, v in error["ctx"].items()}
    return out


_EVERY_KIND = pii.make_policy(pii.KINDS, ())


def scrub(message: str | None) -> str | None:
    """A refusal's message with the personal numbers it quotes replaced as ingest would replace them: a
    message may name what was sent (a metadata key, a quote not found in its turn), and 4xx bodies end up
    in the caller's logs. Was: ``quote '客户电话13912345678' is not in the utterance`` went back as sent."""
    return pii.redact(message, _EVERY_KIND) if message else message


BROWSER_PAGES = frozenset({"/docs", "/redoc"})  # pages outside /ui/ that a browser opens: a login page for 401


def install(app: FastAPI) -> None:
    """Register every handler on ``app``."""

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> Response:
        if ui_page(request):
            return ui_error(404, str(exc))
        return JSONResponse({"detail": str(exc), "field": exc.field}, status_code=404)

    @app.exception_handler(Conflict)
    async def _conflict(_: Request, exc: Conflict) -> JSONResponse:
        body = {"detail": str(exc), "field": exc.field}
        if isinstance(exc, IngestConflict):
            body = {"detail": str(exc), "id": exc.existing_id, "source": exc.source, "external_id": exc.external_id,
                    "field": exc.changed}
        return JSONResponse(body, status_code=409)

    @app.exception_handler(Gone)
    async def _gone(_: Request, exc: Gone) -> JSONResponse:
        return JSONResponse({"detail": scrub(str(exc)), "field": exc.field}, status_code=410)

    @app.exception_handler(Invalid)
    async def _invalid(_: Request, exc: Invalid) -> JSONResponse:
        return JSONResponse({"detail": [{"loc": list(exc.loc), "type": "value_error", "msg": scrub(str(exc))}]},
                            status_code=422)

    @app.exception_handler(RulePackError)
    async def _broken_rules(_: Request, exc: RulePackError) -> JSONResponse:
        return JSONResponse({"detail": [{"loc": ["rules"], "type": "rule_pack", "msg": str(e), "code": e.code}
                                        for e in exc.errors]}, status_code=503)

    @app.exception_handler(AccessDenied)
    async def _denied(request: Request, exc: AccessDenied) -> Response:
        status = 401 if isinstance(exc, Unauthenticated) else 403
        if (request.url.path.startswith("/ui/") or request.url.path in BROWSER_PAGES) and request.method == "GET":
            if status == 401:
                # a login cookie the server no longer takes: the login ended or expired — the page says so
                ended = "&expired=1" if request.cookies.get(SESSION_COOKIE) else ""
                return RedirectResponse(f"/ui/login?next={quote(request.url.path)}{ended}", status_code=303)
            return ui_error(403, str(exc), link='<a href="/ui/login">换一个密钥登录</a>')
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)

    @app.exception_handler(RecursionError)
    async def _too_deep(_: Request, exc: RecursionError) -> JSONResponse:
        return JSONResponse({"detail": [{"loc": ["body"], "type": "too_deep",
                                         "msg": "JSON is nested too deeply to read"}]}, status_code=400)

    _install_outages(app)
    _install_redis(app)

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(request: Request, exc: RequestValidationError) -> Response:
        if request.method == "POST" and getattr(request.scope.get("route"), "path", None) == "/v1/transcripts":
            metrics.INGESTED.labels("rejected").inc()  # one transcript refused (a batch counts its items itself)
        if ui_page(request):
            return ui_error(422, validation_in_chinese(exc.errors()))  # by the forms' labels, in Chinese
        wrong_type = _not_json(request, exc.errors())
        if wrong_type is not None:
            return JSONResponse({"detail": f"Content-Type must be application/json (got {wrong_type})",
                                 "field": "content-type"}, status_code=415)
        return JSONResponse({"detail": [_error_entry(e) for e in exc.errors()]}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if isinstance(exc.__cause__, RecursionError):
            return await _too_deep(request, exc.__cause__)
        unreadable = _unreadable_body(exc.__cause__)
        if unreadable is not None:
            return unreadable
        if ui_page(request) and exc.status_code in (404, 422):
            return ui_error(exc.status_code, "没有这个页面" if exc.detail == "Not Found" else str(exc.detail))
        return await http_exception_handler(request, exc)


def _not_json(request: Request, errors) -> str | None:
    """The request's Content-Type (``none`` when absent) when a body was sent to a route with a JSON body that
    FastAPI did not read as JSON for that reason (curl's default form type, text/plain, no header): the 415 names it. Was a 422 at ``body``,
    "Input should be a valid dictionary", for a body that was valid JSON, sending a developer to look at it."""
    if getattr(request.scope.get("route"), "body_field", None) is None:
        return None  # a route reading its body itself (POST /v1/kpis takes CSV too) says what is wrong itself
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
        return None
    if any(tuple(e.get("loc", ())) == ("body",) and e.get("type") != "missing" for e in errors):
        return content_type or "none"
    return None


def _install_outages(app: FastAPI) -> None:
    """The database out of reach or refusing a write (503 with Retry-After) and anything unexpected (500): a
    /ui page's as a page."""

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    async def _db_down(request: Request, exc: DBAPIError) -> Response:
        if _refused(exc):  # the service's database role lacks a grant: the operator's to fix, said in the log
            log.error("the database refused this request's statement: %s: %s (check the grants of the role in "
                      "QA_DB__URL)", type(exc.orig).__name__, str(exc.orig).splitlines()[0])
            if ui_page(request):
                return ui_error(503, "数据库拒绝了这次操作（服务器配置问题，详见服务日志），未做任何更改。",
                                headers={"Retry-After": "30"})
            return JSONResponse({"detail": "the database refused the request (a configuration problem on the "
                                           "server, named in its log); nothing was changed: retry later"},
                                status_code=503, headers={"Retry-After": "30"})
        if isinstance(exc, OperationalError) or exc.connection_invalidated:
            log.warning("database unavailable: %s", exc.orig)
            if ui_page(request):
                return ui_error(503, "数据库暂不可用，请稍后刷新重试。", headers={"Retry-After": "5"})
            return JSONResponse({"detail": "database unavailable; retry later"}, status_code=503,
                                headers={"Retry-After": "5"})
        raise exc

    @app.exception_handler(PoolTimeout)
    async def _no_connection(request: Request, exc: PoolTimeout) -> Response:
        """No database connection came free in time (SQLite has one per process; PostgreSQL's pool can be all in
        use): the database is out of reach for now, as above. Was a plain-text 500."""
        log.warning("no database connection free: %s", str(exc).splitlines()[0])
        if ui_page(request):
            return ui_error(503, "数据库繁忙，请稍后刷新重试。", headers={"Retry-After": "5"})
        return JSONResponse({"detail": "database busy: no connection came free in time; retry later"},
                            status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def _server_error(request: Request, exc: Exception) -> Response:
        """Anything unexpected (the server logs it, as before): a /ui page's is a page in Chinese; the API's the
        plain 500 it was."""
        if ui_page(request):
            return ui_error(500, "服务器出错了，请稍后重试；一直如此请联系管理员（服务器日志里有详情）。")
        return PlainTextResponse("Internal Server Error", status_code=500)


def _refused(exc: DBAPIError) -> bool:
    """A statement the database refuses for want of a grant (PostgreSQL's insufficient_privilege, SQLite's
    read-only file), as opposed to one it could not run now. Was: a bare 500 and a traceback with the
    statement's parameters in the log, /readyz still saying ready."""
    orig = exc.orig
    return getattr(orig, "sqlstate", None) == "42501" or "readonly database" in str(orig)


def _unreadable_body(cause: BaseException | None) -> JSONResponse | None:
    """The answer for a JSON body FastAPI could not read (its "There was an error parsing the body"), where
    the cause says why: not UTF-8 (400), or a number of more digits than Python converts
    (``sys.get_int_max_str_digits``; json raises ValueError) — a 422 at ``body``, as no field takes one."""
    if isinstance(cause, ValueError) and "integer string conversion" in str(cause):
        return JSONResponse(
            {"detail": [{"loc": ["body"], "type": "number_too_long",
                         "msg": f"a number in the body has more than {sys.get_int_max_str_digits()} digits; "
                                "no field takes one that long (start_ms, end_ms: at most 2147483647)"}]},
            status_code=422)
    if isinstance(cause, UnicodeDecodeError):
        return JSONResponse(
            {"detail": [{"loc": ["body"], "type": "invalid_utf8",
                         "msg": f"request body is not valid UTF-8 (byte 0x{cause.object[cause.start]:02x} "
                                f"at position {cause.start})"}]},
            status_code=400,
        )
    return None


def _install_redis(app: FastAPI) -> None:
    """Live QA keeps its state in Redis: a conversation busy past its lock timeout, or Redis out of
    reach, is a 503 with Retry-After; any other Redis error (a bad command) stays a 500."""

    @app.exception_handler(LockError)
    async def _busy(_: Request, exc: LockError) -> JSONResponse:
        # Waited past QA_LIVE__LOCK_TIMEOUT_S (nothing written), or the lock lapsed mid-turn (the turn is
        # not saved; alerts it raised may be stored already, and a resend does not store them twice).
        log.warning("live conversation busy: %s", exc)
        return JSONResponse({"detail": "live conversation busy: another request on it has not finished; "
                                       "retry (a repeated seq with the same content is accepted once)"},
                            status_code=503, headers={"Retry-After": "1"})

    @app.exception_handler(RedisConnectionError)
    @app.exception_handler(RedisTimeoutError)
    async def _redis_down(_: Request, exc: RedisError) -> JSONResponse:
        log.warning("Redis unavailable: %s", exc)  # other Redis errors (a bad command) stay 500s
        return JSONResponse({"detail": "live state store (Redis) unavailable; retry later"}, status_code=503,
                            headers={"Retry-After": "5"})
