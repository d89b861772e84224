"""/ui/login and /ui/logout: a key exchanged for a session cookie (the key never lands in a URL)."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from qa_service.access import service as access
from qa_service.api.auth import SESSION_COOKIE
from qa_service.api.deps import RuntimeDep
from qa_service.errors import Unauthenticated
from qa_service.ui.render import templates

router = APIRouter(prefix="/ui", include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no //host or scheme: an open redirect otherwise). Control characters
    are refused too: a browser drops tabs and newlines from a URL, so ``/<TAB>/evil.example`` became
    ``//evil.example`` when the login page's script followed it."""
    if (not target or not target.startswith("/") or target.startswith("//") or "\\" in target
            or any(ch < " " or ch == "\x7f" for ch in target)):
        return "/ui/"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None, failed: bool = False,
               expired: bool = False) -> HTMLResponse:
    """Log in with an API key; the browser keeps a session cookie (QA_AUTH__SESSION_HOURS). ``expired``: a page
    was asked for with a login that has ended (api/errors.py sends it here so): it says 登录已过期."""
    settings = request.app.state.runtime.settings
    return templates.TemplateResponse(request, "login.html", {
        "page": "login", "counts": None, "nav": {}, "me": None, "auth": settings.auth_enforced,
        "next": _safe_next(next), "failed": failed, "expired": expired and not failed})


EXPIRED_NOTICE_S = 7 * 24 * 3600  # how long past a login's end its cookie is kept (for 登录已过期 only)
LOGIN_BODY_MAX_BYTES = 16 * 1024  # a key and a path to go back to; far more than either needs


def _too_large(detail: str) -> StarletteHTTPException:
    return StarletteHTTPException(413, [{"loc": ["body"], "type": "too_large", "msg": detail}])


async def _login_body(request: Request) -> bytes:
    """The body, read a piece at a time and refused (413) once past LOGIN_BODY_MAX_BYTES, the rest never read.

    The one body anyone may send without a key. Was: ``(await request.body())[:4096]`` read it whole, up to
    QA_API__MAX_BODY_BYTES (52 MB), before keeping 4 KB: eight anonymous posts held 700 MB of the API's memory."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > LOGIN_BODY_MAX_BYTES:
        raise _too_large(f"request body is {int(declared)} bytes; a login takes at most {LOGIN_BODY_MAX_BYTES}")
    pieces, read = [], 0
    async for piece in request.stream():
        read += len(piece)
        if read > LOGIN_BODY_MAX_BYTES:
            raise _too_large(f"request body is over {LOGIN_BODY_MAX_BYTES} bytes; a login takes no more")
        pieces.append(piece)
    return b"".join(pieces)


async def _login_form(request: Request) -> tuple[str, str | None, bool]:
    """(key, next, is_form): a JSON body from the page's script, or a plain form post without script."""
    raw = await _login_body(request)
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        fields = parse_qs(raw.decode("utf-8", "replace"))
        return (fields.get("key") or [""])[0].strip(), (fields.get("next") or [None])[0], True
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        data = None
    key = data.get("key") if isinstance(data, dict) else None
    if not isinstance(key, str) or not key.strip():
        raise RequestValidationError([{"loc": ["body", "key"], "type": "missing", "msg": "send {\"key\": \"qak_…\"}"}])
    return key.strip(), None, False


@router.post("/login")
async def login(request: Request, runtime: RuntimeDep) -> Response:
    """Exchange a key for a login cookie (HttpOnly, SameSite=Strict); the key is not kept by the browser."""
    key, target, is_form = await _login_form(request)

    settings = runtime.settings

    def start() -> tuple[str, dict] | None:
        with runtime.session() as session:
            row = access.key_row(session=session, key=key)
            if row is None:
                return None
            token = access.start_login(session=session, key_row=row, hours=settings.auth.session_hours)
            return token, {"name": row.name, "role": row.role, "team": row.team_id}

    started = await run_in_threadpool(start)
    if started is None:
        if is_form:
            return RedirectResponse(f"/ui/login?failed=1&next={quote(_safe_next(target))}", status_code=303)
        raise Unauthenticated("invalid or revoked API key")
    token, who = started
    response = RedirectResponse(_safe_next(target), status_code=303) if is_form else JSONResponse(who)
    secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
    # kept by the browser a while past the login's end (the server refuses it from then on): a page opened after
    # it ended can then say 登录已过期, instead of a plain login page as if never logged in
    response.set_cookie(SESSION_COOKIE, token, max_age=int(settings.auth.session_hours * 3600) + EXPIRED_NOTICE_S,
                        httponly=True,
                        samesite="strict", secure=secure, path="/")
    return response


@router.post("/logout")
def logout(request: Request, runtime: RuntimeDep) -> Response:
    """End the login. The page's 退出 is a form (it works without script): it is sent to the login page; a
    script's or program's POST gets ``{"logged_out": true}`` as before."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with runtime.session() as session:
            access.end_login(session=session, token=token)
    form = request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded",
                                                              "multipart/form-data"))
    response = RedirectResponse("/ui/login", status_code=303) if form else JSONResponse({"logged_out": True})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/logout", response_class=HTMLResponse)
def logout_page(request: Request, runtime: RuntimeDep) -> Response:
    """/ui/logout typed in the address bar: a page with the 退出 button (a GET ends nothing: another site could
    link to it), or the login page when nobody is logged in. Was: {"detail":"Method Not Allowed"}."""
    token = request.cookies.get(SESSION_COOKIE)
    if not runtime.settings.auth_enforced or not token:
        return RedirectResponse("/ui/login", status_code=303)
    with runtime.session() as session:
        me = access.login_principal(session=session, token=token)
    if me is None:
        return RedirectResponse("/ui/login", status_code=303)
    response = templates.TemplateResponse(request, "logout.html", {
        "page": "logout", "counts": None, "nav": {}, "me": me, "auth": True})
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/needs-js", response_class=HTMLResponse)
def needs_script(request: Request) -> HTMLResponse:
    """Where a form that needs the page's script posts without it (补充漏检, 申诉, 分配): nothing is saved, and the
    page says so. Was: a GET to the page itself, which saved nothing, said nothing, and put the reviewer's text
    in the URL (the history, the server's logs). The body is not read."""
    settings = request.app.state.runtime.settings
    response = templates.TemplateResponse(request, "needs_js.html", {
        "page": "needs-js", "counts": None, "nav": {}, "me": None, "auth": settings.auth_enforced}, status_code=400)
    response.headers["Cache-Control"] = "no-store"
    return response
