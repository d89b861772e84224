"""Dependencies as Annotated aliases; everything comes from the app's Runtime, built by create_app."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated

import redis
from fastapi import Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from qa_service.api.ids import Id
from qa_service.config import Settings
from qa_service.errors import Invalid
from qa_service.ingest.schema import check_time
from qa_service.period import Period, parse_period
from qa_service.runtime import Runtime
from qa_service.review.listing import known_flag_reason
from qa_service.ingest.pii import redact_typed

log = logging.getLogger(__name__)

# Trivial lookups are ``async def`` so FastAPI calls them inline instead of hopping to a thread.
async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def get_app_settings(request: Request) -> Settings:
    return request.app.state.runtime.settings


def close_quietly(session: Session) -> None:
    """Close a request's session after its answer has gone: a connection the database dropped meanwhile makes
    the ROLLBACK of ``close()`` raise, and raised here it was a traceback ("Exception in ASGI application …
    response already started") after a 503 had been answered. The connection is discarded instead."""
    try:
        session.close()
    except SQLAlchemyError as exc:
        log.warning("a database connection was lost while a request ended; discarded (%s)",
                    str(getattr(exc, "orig", None) or exc).splitlines()[0][:200])
        try:
            session.invalidate()
        except SQLAlchemyError:
            pass


def get_session(request: Request) -> Iterator[Session]:
    session = request.app.state.runtime.sessions()
    try:
        yield session
    finally:
        close_quietly(session)


def get_read_session(request: Request) -> Iterator[Session]:
    """A session on the read replica when one is configured (aggregate pages), else on the primary."""
    session = request.app.state.runtime.read_sessions()
    try:
        yield session
    finally:
        close_quietly(session)


async def get_redis(request: Request) -> redis.Redis:
    return request.app.state.runtime.redis


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]
RedisDep = Annotated[redis.Redis, Depends(get_redis)]

# A row id in a path (``api/ids.py``: 1 … 2**31 - 1, else a 422 naming it, on every route and database).
RowId = Annotated[Id, Path()]
# An agent asked for by id: the id as sent and its half-width form (text.id_forms), so ?agent_id=０００１２６ finds
# 000126 (ids are stored folded, text.fold_id) and the rows an earlier release stored as ０００１２６ alike.
AgentQuery = Annotated[str | None, Query(
    description="An agent id: rows stored under it as sent and under its half-width form (full-width digits and "
                "letters read as half width, as ids are stored) both match")]
# An offset is no id: LIMIT/OFFSET take a 64-bit integer on both databases; a larger one is a 422 naming it.
OFFSET_MAX = 2**63 - 1
# A time in a query (since / until): within the years conversations may have, or a 422 naming it.
Instant = AfterValidator(check_time)


def period_param(text: str, loc: tuple[str, ...] = ("query", "period")) -> Period:
    """A reporting period from a request value; an unreadable one is a 422 naming where it came from."""
    try:
        return parse_period(text)
    except ValueError as exc:
        raise Invalid(str(exc), loc[-1], loc=loc) from None


def typed(runtime: Runtime, text: str | None) -> str | None:
    """Free text staff type into a request, redacted as conversations are (``QA_PII__*``) before it is stored."""
    return redact_typed(runtime.settings.pii, text)


def flag_reason(runtime: Runtime, session: Session, reason: str | None, *, also: tuple[str, ...] = ()
                ) -> str | None:
    """A ``reason`` filter the pipeline can raise or one of ``also`` (``review.listing.known_flag_reason``); an
    unknown one is a 422 naming it."""
    return known_flag_reason(reason, session=session, rulebook=runtime.rulebook, also=also)


def _query_names(dependant) -> frozenset[str]:
    """The query parameters a route declares, its dependencies' included."""
    names = {p.alias or p.name for p in dependant.query_params}
    for dep in dependant.dependencies:
        names |= _query_names(dep)
    return frozenset(names)


CACHE_BUSTERS = frozenset({"_"})  # jQuery's cache=false and many HTTP clients add ?_=<time> to every GET


async def known_query(request: Request) -> None:
    """A GET of the API naming a query parameter the route does not take is a 422 naming it, with the ones it
    takes: ``?external_id=A123`` on a route without that filter answered the whole, unfiltered list. Writes
    and the web UI's pages are not checked (a write's parameters are few and its answer shows what it did)."""
    route = request.scope.get("route")
    if request.method != "GET" or route is None or not request.url.path.startswith("/v1/"):
        return
    known = getattr(route, "qa_query_names", None)  # on the route itself: an id() cache outlives a test's app
    if known is None:
        known = route.qa_query_names = _query_names(route.dependant)
    unknown = next((name for name in request.query_params.keys() if name not in known and name not in CACHE_BUSTERS),
                   None)
    if unknown is None:
        return
    error = RequestValidationError([{
        "loc": ["query", unknown], "type": "unknown_parameter",
        "msg": f"is not a parameter of {request.method} {route.path}; it takes: {', '.join(sorted(known)) or 'none'}"}])
    if not request.app.state.runtime.settings.auth_enforced:
        raise error
    # With keys enforced the route's role check (auth.allow) raises it once the caller may use the route:
    # the parameters a route takes are no business of a key refused it (403 first, as for every refusal).
    request.state.unknown_query = error
