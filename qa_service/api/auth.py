"""Who may call what: API keys, roles and team scope, declared on every route.

A route names the roles it allows with one of the aliases below (``Ingest``, ``QARead`` …); the
dependency authenticates the caller (``Authorization: Bearer <key>``, ``X-API-Key: <key>``, or the
web UI's login cookie) and refuses with 401 (no or bad credentials) or 403 (wrong role or team).
Neither carries any data. With enforcement off (``QA_AUTH__ENABLED=false``, or unset while the API
binds to a loopback address) every caller is an anonymous admin and writes name their actor in ``by``.

Team scope: a key with a team (every supervisor key; optional for reviewer and hr) sees that
team's transcripts, reviews, appeals, KPIs, performance records and exports only.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from qa_service.access import service as access
from qa_service.access.service import OPEN, Principal
from qa_service.api.middleware import SESSION_COOKIE
from qa_service.errors import Forbidden, Invalid, Unauthenticated

__all__ = ["OPEN", "SESSION_COOKIE", "Principal"]

_bearer = HTTPBearer(auto_error=False, scheme_name="bearer", description="Authorization: Bearer <API key>")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="apiKey", description="X-API-Key: <API key>")
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def _origin_ok(request: Request) -> bool:
    """Cookie-authenticated writes must come from this site's own pages (CSRF)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return False
    return urlsplit(origin).netloc == request.headers.get("host", request.url.netloc)


def authenticate(request: Request, key: str | None) -> Principal:
    """The caller, from a key or the login cookie (401 when neither is valid)."""
    runtime = request.app.state.runtime
    if not runtime.settings.auth_enforced:
        return OPEN
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    token = request.cookies.get(SESSION_COOKIE)
    if not key and not token:
        raise Unauthenticated("missing API key: send Authorization: Bearer <key> or X-API-Key: <key>")
    with runtime.sessions() as session:
        if key:
            principal = access.authenticate_key(session=session, key=key, cache=runtime.verified_keys)
            if principal is None:
                raise Unauthenticated("invalid or revoked API key")
        else:
            principal = access.login_principal(session=session, token=token)
            if principal is None:
                raise Unauthenticated("login expired or ended; log in again at /ui/login")
            request.state.login_token = token  # still_authenticated re-checks this login, not a key
            if request.method not in _SAFE_METHODS and not _origin_ok(request):
                raise Forbidden("cross-site request refused: send the API key in a header instead")
    request.state.principal = principal
    return principal


def still_authenticated(request: Request, principal: Principal) -> bool:
    """Whether the caller this request authenticated still may act (a long-lived stream asks every few
    seconds): key not revoked, login not ended or expired. One database read; run it in a thread."""
    if principal.key_id is None:
        return True
    with request.app.state.runtime.sessions() as session:
        return access.still_valid(session=session, principal=principal,
                                  token=getattr(request.state, "login_token", None))


def _known(request: Request, key: str | None) -> Principal | None:
    """The caller when telling needs no database read (access control off, already known in this
    request, a key verified recently); None otherwise."""
    runtime = request.app.state.runtime
    if not runtime.settings.auth_enforced:
        return OPEN
    principal = getattr(request.state, "principal", None)
    if principal is None and key:
        principal = access.recently_verified(key=key, cache=runtime.verified_keys)
        if principal is not None:
            request.state.principal = principal
    return principal


def allow(*roles: str):
    """A dependency admitting ``roles`` (admin always included); it returns the caller's Principal.

    ``async`` so that the common case (a key verified recently, or access control off) is decided
    inline: only a database lookup goes to the thread pool (every hop costs the live per-turn path)."""
    roles = tuple(dict.fromkeys((*roles, "admin")))

    async def dependency(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        api_key: Annotated[str | None, Depends(_api_key)],
    ) -> Principal:
        key = (bearer.credentials if bearer else None) or api_key
        principal = _known(request, key) or await run_in_threadpool(authenticate, request, key)
        if principal.role not in roles:
            route = request.scope.get("route")
            path = getattr(route, "path", request.url.path)
            raise Forbidden(f"role {principal.role} may not {request.method} {path}; "
                                    f"allowed: {', '.join(roles)}")
        unknown_query = getattr(request.state, "unknown_query", None)  # deps.known_query: 422 after the 403
        if unknown_query is not None:
            raise unknown_query
        return principal

    dependency.roles = roles  # read by tests/api/test_access.py: every route declares its roles
    return dependency


# The role sets, named for what they guard. Admin is in every one.
Ingest = Annotated[Principal, Depends(allow("ingest"))]
QARead = Annotated[Principal, Depends(allow("reviewer", "supervisor"))]
ReviewWrite = Annotated[Principal, Depends(allow("reviewer"))]
Appellant = Annotated[Principal, Depends(allow("supervisor"))]
PerformanceRead = Annotated[Principal, Depends(allow("supervisor", "hr"))]
Dashboard = Annotated[Principal, Depends(allow("reviewer", "supervisor", "hr"))]
# GET /v1/audit: which of its events each role reads is decided there (KPI and appraisal events: hr, supervisor)
AuditReader = Annotated[Principal, Depends(allow("reviewer", "supervisor", "hr"))]
Admin = Annotated[Principal, Depends(allow())]
Supervise = Annotated[Principal, Depends(allow("supervisor"))]  # the live board, acknowledging alerts


_any_key = allow("ingest", "reviewer", "supervisor", "hr")


async def schema_reader(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal | None:
    """Any key may read the API's description (/openapi.json, /docs, /redoc): with access control on, an
    anonymous caller gets no schema hints (every route, field and limit) unless QA_API__PUBLIC_SCHEMA."""
    if request.app.state.runtime.settings.api.public_schema:
        return None
    return await _any_key(request, bearer, api_key)


schema_reader.roles = _any_key.roles
SchemaRead = Annotated[Principal | None, Depends(schema_reader)]


def admits(alias, principal: Principal) -> bool:
    """Whether the role set ``alias`` (``ReviewWrite`` …) admits ``principal``: a page showing a piece of
    another route's data asks this, so it shows it to exactly those that route answers."""
    return principal.role in alias.__metadata__[0].dependency.roles


def scope_team(principal: Principal, team: str | None) -> str | None:
    """The team filter to apply: a scoped key's own team (403 when it asks for another)."""
    if principal.team is None:
        return team
    if team is not None:
        access.check_team(principal.team, team)
    return principal.team


def check_team(principal: Principal, team: str | None) -> None:
    """403 unless the caller may see a resource of ``team``."""
    access.check_team(principal.team, team)


def actor(principal: Principal, by: str | None) -> str:
    """Who acts: the key's name when keys are enforced, else the request's ``by``."""
    if principal.key_id is None:
        if not by:
            raise Invalid("name who does this in `by` (access control is off, so no key names you)", "by")
        return by
    if by is not None and by != principal.name:
        raise Forbidden(f"this key acts as {principal.name!r}; omit `by` or send that name")
    return principal.name
