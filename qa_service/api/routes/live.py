"""/v1/live: conversations posted turn by turn while they happen, and the alerts they raise."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import JSONResponse

from qa_service.api import presenters
from qa_service.api.auth import Ingest, QARead, Supervise, actor, admits, scope_team
from qa_service.api.deps import RowId, RuntimeDep, SessionDep, typed
from qa_service.api.ids import Id
from qa_service.api.schemas import RefusalRead
from qa_service.api.schemas.live import (
    AlertNote,
    AlertRead,
    LiveBoardItem,
    LiveConversationCreate,
    LiveConversationRead,
    LiveEnded,
    LiveUtterances,
    UtterancesAccepted,
)
from qa_service.errors import NotFound
from qa_service.live import service, supervise

router = APIRouter(prefix="/v1/live", tags=["live"])


def _enabled(runtime) -> None:
    if not runtime.settings.live.enabled:
        raise NotFound("live QA is off (QA_LIVE__ENABLED)", "path")


@router.post("/conversations", response_model=LiveConversationRead, status_code=status.HTTP_201_CREATED,
             responses={200: {"description": "Already open (or ended) under this (source, external_id)"},
                        409: {"description": "Opened before under this (source, external_id) with other fields"},
                        410: {"model": RefusalRead,
                              "description": "This (source, external_id) was erased on request (qa erase); `field` "
                                             "is external_id"}})
def open_conversation(body: LiveConversationCreate, response: Response, runtime: RuntimeDep, principal: Ingest
                      ) -> LiveConversationRead:
    """Open a live conversation (the transcript's fields, no utterances); idempotent on (source, external_id)."""
    _enabled(runtime)
    scope_team(principal, body.team)
    opened = service.open_conversation(runtime, body)
    if not opened.created:
        response.status_code = status.HTTP_200_OK
    return LiveConversationRead(id=opened.id, source=body.source, external_id=body.external_id,
                                status=opened.status, created=opened.created)


@router.post("/conversations/{conversation_id}/utterances", response_model=UtterancesAccepted,
             responses={409: {"description": "A gap in seq, a seq re-sent with other content, or an ended conversation"}})
def add_utterances(conversation_id: RowId, body: LiveUtterances, runtime: RuntimeDep, principal: Ingest
                   ) -> JSONResponse:
    """The next turns (``seq`` from 0, one more each time); answers with the alerts they raised."""
    _enabled(runtime)
    # A turn re-sent with other content is detailed only to a caller that may read conversations anyway
    # (admin; anyone with access control off): to an ingest key it is `utterances`, as a transcript resend is.
    out = service.add_utterances(runtime, conversation_id, body.utterances, team=principal.team,
                                 detail=admits(QARead, principal))
    # Built here and sent as is: FastAPI would validate a returned model again, on a second trip
    # through the thread pool, for every turn of every live conversation.
    return JSONResponse(UtterancesAccepted(
        conversation_id=conversation_id, accepted=out.accepted, repeats=out.repeats,
        alerts=[presenters.alert_read(a) for a in out.alerts]).model_dump(mode="json"))


@router.post("/conversations/{conversation_id}/end", response_model=LiveEnded,
             responses={410: {"model": RefusalRead, "description": "Its (source, external_id) was erased on request "
                                                                   "while it went on (nothing stored)"}})
def end_conversation(conversation_id: RowId, runtime: RuntimeDep, principal: Ingest) -> LiveEnded:
    """The conversation is over: stored as an ordinary transcript and queued for the full pipeline."""
    _enabled(runtime)
    out = service.end_conversation(runtime, conversation_id, team=principal.team)
    return LiveEnded(id=out.id, transcript_id=out.transcript_id, status="ended")


@router.get("/conversations", response_model=list[LiveBoardItem])
def open_conversations(runtime: RuntimeDep, principal: Supervise, team: str | None = None) -> list[LiveBoardItem]:
    """Open conversations (of a team), most recently active first, with mood, waiting time and alert count."""
    _enabled(runtime)
    return [LiveBoardItem(**c) for c in service.board(runtime, scope_team(principal, team))]


@router.get("/alerts", response_model=list[AlertRead])
def list_alerts(session: SessionDep, principal: Supervise, response: Response, team: str | None = None,
                status_: Annotated[str | None, Query(alias="status", description="open | acknowledged | closed")] = None,
                limit: Annotated[int, Query(ge=1, le=500)] = 100,
                before_id: Annotated[Id | None, Query(description="The previous page's X-Next-Before-Id")] = None,
                conversation_id: Annotated[Id | None, Query(description="Only this live conversation's")] = None,
                transcript_id: Annotated[Id | None, Query(
                    description="Only those of the live conversation that became this transcript")] = None,
                ) -> list[AlertRead]:
    """Alerts, newest first, a list; the page is told in headers: ``X-Total-Count`` (of the filter) and
    ``X-Next-Before-Id`` (pass it as ``before_id`` for the next page; absent on the last)."""
    rows, total, next_before = supervise.list_alerts(
        session=session, team=scope_team(principal, team), status=status_, limit=limit, before_id=before_id,
        conversation_id=conversation_id, transcript_id=transcript_id)
    response.headers["X-Total-Count"] = str(total)
    if next_before is not None:
        response.headers["X-Next-Before-Id"] = str(next_before)
    return [presenters.alert_read(a) for a in rows]


@router.post("/alerts/{alert_id}/ack", response_model=AlertRead)
def acknowledge(alert_id: RowId, runtime: RuntimeDep, principal: Supervise, body: AlertNote | None = None
                ) -> AlertRead:
    """介入: acknowledge an alert (once), with an optional note (no body: no note; with access control off,
    `by` is still needed)."""
    body = body or AlertNote()
    with runtime.session() as session:
        alert = supervise.acknowledge(session=session, r=runtime.redis, alert_id=alert_id,
                                      by=actor(principal, body.by), note=typed(runtime, body.note), team=principal.team)
        return presenters.alert_read(alert)


@router.post("/alerts/{alert_id}/close", response_model=AlertRead)
def close(alert_id: RowId, runtime: RuntimeDep, principal: Supervise, body: AlertNote | None = None) -> AlertRead:
    """Close an alert as handled, with a note (acknowledging it too if nobody had)."""
    body = body or AlertNote()
    with runtime.session() as session:
        alert = supervise.close(session=session, r=runtime.redis, alert_id=alert_id, by=actor(principal, body.by),
                                note=typed(runtime, body.note), team=principal.team)
        return presenters.alert_read(alert)
