"""Plain ASGI middleware (no per-request task): body size limit, anonymous /v1 refusal, cross-site
writes refused and the browser's protections asked for, Server-Timing."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qsl, urlsplit

from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import cookie_parser
from starlette.routing import Match

from qa_service import metrics
from qa_service import timing
from qa_service.api.ui_errors import ui_error, validation_in_chinese

SESSION_COOKIE = "qa_session"


def _too_large(detail: str) -> list[dict]:
    return [{"loc": ["body"], "type": "too_large", "msg": detail}]


class BodySizeLimit:
    """413 for a body over the limit: at once for a declared Content-Length over it; for a body sent without
    one (``Transfer-Encoding: chunked``) as soon as the bytes read pass it, before reading the rest — the
    route's read of the body raises an HTTPException (413) that the app's handlers answer, so the body
    never sits whole in memory and nothing of it is stored. ``paths`` gives a route a smaller limit of its
    own: path → (bytes, the setting's name, what the route is, for the message)."""

    def __init__(self, app, max_bytes: int, paths: dict[str, tuple[int, str, str]] | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self.paths = paths or {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting, what = self.paths.get(scope["path"], (self.max_bytes, "QA_API__MAX_BODY_BYTES", ""))
        what = f" for {what}" if what else ""
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                response = JSONResponse(
                    {"detail": _too_large(f"request body is {int(value)} bytes; the limit{what} is "
                                          f"{limit} ({setting})")}, status_code=413)
                await response(scope, receive, send)
                return
        read = 0

        async def counted():
            nonlocal read
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > limit:
                    raise StarletteHTTPException(413, _too_large(
                        f"request body is over {limit} bytes (read {read} so far, sent without a "
                        f"Content-Length); the limit{what} is {limit} ({setting})"))
            return message

        await self.app(scope, counted, send)


# C0 controls and DEL: no API filter value (a team, an agent, a rule id) holds one, and PostgreSQL refuses NUL
# in any text it is given (a 500 before, from every string filter on that backend). A /ui page is refused a
# NUL only: its other parameters (the login page's ``next``) are the page's own to judge.
QUERY_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
QUERY_NUL = re.compile(r"\x00")


def query_problem(query_string: bytes, bad: re.Pattern = QUERY_CONTROL) -> dict | None:
    """The error entry for the first query parameter whose name or value holds a ``bad`` character, or None."""
    raw = query_string.decode("latin-1")
    if not bad.search(raw) and "%" not in raw:
        return None
    for name, value in parse_qsl(raw, keep_blank_values=True, encoding="utf-8", errors="replace"):
        for where, text in (("name", name), ("value", value)):
            found = bad.search(text)
            if found:
                return {"loc": ["query", name], "type": "control_character",
                        "msg": f"query parameter {where} contains control character U+{ord(found.group()):04X} "
                               f"at position {found.start()}"}
    return None


class QueryGuard:
    """422 naming the parameter for a query string with a control character (U+0000–U+001F, U+007F) in a
    parameter's name or value, before any route reads it: one check for every route, new ones too. A
    /ui page is refused a NUL only, and gets the error as a page."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            path = scope["path"]
            ui = path == "/ui" or path.startswith("/ui/")
            problem = query_problem(scope.get("query_string", b""), QUERY_NUL if ui else QUERY_CONTROL)
            if problem is not None:
                if ui:
                    response = ui_error(422, validation_in_chinese([problem]))
                else:
                    response = JSONResponse({"detail": [problem]}, status_code=422)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Asked of the browser on every response: no framing (clickjacking), no MIME sniffing, scripts from
# this site only (the pages have no inline script; their data travels in JSON <script> blocks, which
# are not run), no referrer to other sites. Inline styles stay allowed: the charts set them.
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                 b"img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
                                 b"form-action 'self'; frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


class BrowserGuard:
    """A write (POST, PUT, PATCH, DELETE) that a browser sends from another site's page is refused (403),
    with access control on or off: a browser names the page's site in ``Origin``, and a form posted
    from elsewhere — which needs no script and no CORS (a ``text/plain`` KPI upload, a login with the
    attacker's key) — would otherwise be taken as the user's. Scripts and other programs send no
    ``Origin`` and are not affected. (With keys enforced, cookie-authenticated writes are also refused
    when they carry no ``Origin`` or ``Referer`` at all: ``api/auth.py``.) With access control off, a
    request naming a host not in ``open_hosts`` is refused (421): the DNS-rebinding guard. Adds
    ``SECURITY_HEADERS`` to every response."""

    def __init__(self, app, open_hosts: frozenset[str] | None = None):
        self.app = app
        self.open_hosts = open_hosts  # access control off: the Host names served (Settings.open_hosts)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if self.open_hosts is not None:
            host = headers.get(b"host", b"").decode("latin-1")
            name = (host.rsplit("]", 1)[0].lstrip("[") if host.startswith("[") else host.split(":", 1)[0]).lower()
            if host and name not in self.open_hosts:
                response = JSONResponse({"detail": f"host {host!r} is not served while access control is off "
                                                   "(localhost, 127.0.0.1 and ::1 are): turn access control on, "
                                                   "or name the host in QA_API__ALLOWED_HOSTS"}, status_code=421)
                await response(scope, receive, self._send_with_headers(send))
                return
        if scope["method"] not in SAFE_METHODS:
            origin = headers.get(b"origin")
            if origin is not None and urlsplit(origin.decode("latin-1")).netloc != headers.get(b"host", b"").decode("latin-1"):
                response = JSONResponse({"detail": "cross-site request refused: this site's pages, or a "
                                                   "program (no Origin header), may write here"}, status_code=403)
                await response(scope, receive, self._send_with_headers(send))
                return
        await self.app(scope, receive, self._send_with_headers(send))

    @staticmethod
    def _send_with_headers(send):
        async def guarded(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)
        return guarded


# What a key looks like (``access.service.create_key``: qak_<8 hex>_<token_urlsafe(32)>), a little wider.
KEY_SHAPE = re.compile(r"qak_[0-9A-Za-z]{1,16}_[0-9A-Za-z_-]{16,200}")
TOKEN_SHAPE = re.compile(r"[0-9A-Za-z_-]{16,200}")  # a login cookie's value (secrets.token_urlsafe(32))


def has_credentials(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether a request carries something that could be credentials: ``Authorization: Bearer <key>`` or
    ``X-API-Key: <key>`` with a key of the right shape, or a cookie named ``qa_session`` holding a
    token. Whether they are valid is the route's dependency's to say (``api/auth.py``)."""
    for name, raw in headers:
        value = raw.decode("latin-1").strip()
        if name == b"authorization":
            scheme, _, key = value.partition(" ")
            if scheme.lower() == "bearer" and KEY_SHAPE.fullmatch(key.strip()):
                return True
        elif name == b"x-api-key" and KEY_SHAPE.fullmatch(value):
            return True
        elif name == b"cookie" and TOKEN_SHAPE.fullmatch(cookie_parser(value).get(SESSION_COOKIE, "")):
            return True
    return False


def malformed_key(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether a key was sent (``Authorization: Bearer <something>``, a non-empty ``X-API-Key``) that cannot be
    one (``qak_00000000_bogus``): it is answered as an invalid key, not as a missing one, which sent the caller
    to check their headers instead of the key's value."""
    for name, raw in headers:
        value = raw.decode("latin-1").strip()
        if name == b"authorization":
            scheme, _, key = value.partition(" ")
            if scheme.lower() == "bearer" and key.strip():
                return True
        elif name == b"x-api-key" and value:
            return True
    return False


MISSING_KEY = "missing API key: send Authorization: Bearer <key> or X-API-Key: <key>"
INVALID_KEY = "invalid or revoked API key"


class RequireCredentials:
    """With keys enforced, a /v1 request carrying no credentials is 401 before its body is read.

    The routes' own role checks run after FastAPI has parsed the body, so without this an anonymous
    malformed request would learn about the schema (422) before being told to authenticate. A header
    that is present but cannot be credentials (``Authorization: Basic …``, an empty one, a Bearer that is
    not a key, a cookie merely containing ``qa_session``) counts as none (:func:`has_credentials`); a Bearer or
    X-API-Key that is not a key is answered "invalid or revoked API key" (:func:`malformed_key`).
    """

    def __init__(self, app, enforced: bool):
        self.app = app
        self.enforced = enforced

    async def __call__(self, scope, receive, send):
        if (self.enforced and scope["type"] == "http" and scope["path"].startswith("/v1/")
                and not has_credentials(scope["headers"])):
            response = JSONResponse(
                {"detail": INVALID_KEY if malformed_key(scope["headers"]) else MISSING_KEY},
                status_code=401, headers={"WWW-Authenticate": "Bearer"})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def route_template(scope, routes) -> str:
    """The template of the route a request's path names, for one the middleware answered before routing
    (401, 413, 403, 421): one of the app's own routes, so the labels stay as few as they are; ``unmatched``
    for a path no route has."""
    for route in routes:
        try:
            match, _ = route.matches(scope)
        except Exception:  # a route type that cannot read this scope
            continue
        if match != Match.NONE:
            return getattr(route, "path", None) or "unmatched"
    return "unmatched"


class ServerTiming:
    """Adds ``Server-Timing: app;dur=<ms>`` so clients and benchmarks can split server from network time,
    then the parts code on the request's path timed (``qa_service.timing``: ingest's ``redact``, ``store``
    — of which ``lock``, the wait for the embedded SQLite's writer lock — and ``queue``), and counts the
    request in the Prometheus series (by route template: bounded labels; ``routes``, the app's, name the
    template of a request refused before routing)."""

    def __init__(self, app, routes=()):
        self.app = app
        self.routes = routes

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
            route = getattr(scope.get("route"), "path", None) or route_template(scope, self.routes)
            labels = (scope["method"], route, str(status[0]))
            metrics.HTTP_REQUESTS.labels(*labels).inc()
            metrics.HTTP_LATENCY.labels(*labels).observe(time.perf_counter() - t0)
