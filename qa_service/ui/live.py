"""/ui/live: the supervisor's live board — open conversations of their team with mood, waiting time
and alerts, newest first — kept current by server-sent events (FastAPI's ``EventSourceResponse``)
fed from the live event stream in Redis, whichever API process raised the event."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import redis
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from qa_service.api import presenters
from qa_service.api.auth import Supervise, still_authenticated
from qa_service.api.deps import RowId, RuntimeDep, SessionDep
from qa_service.live import service, supervise
from qa_service.rules.alerts import METRICS
from qa_service.storage.live import P as LIVE_PREFIX
from qa_service.storage.redis import async_client
from qa_service.ui.render import page

log = logging.getLogger(__name__)
router = APIRouter(prefix="/ui", include_in_schema=False)
OPEN_ALERTS = 500  # open alerts on the board at most (how many more there are is shown)
RECENT_ALERTS = 50  # acknowledged or closed alerts on the board, the latest
# A stream outlives the request that authenticated it: every RECHECK_S the viewer's key and login are
# read again, and the stream ends once either is revoked, ended or expired.
RECHECK_S = 3.0
# The longest wait for events before the stream looks again at whether the server is stopping: it ends
# then (the browser reconnects to the server that comes back), or the server would wait for the viewer.
WAIT_S = 0.5
# At most one board every MIN_PUSH_S per viewer: a board is every open alert (up to OPEN_ALERTS), read and
# sent again whole, and an alert storm's events would otherwise each cost every viewer one; the events
# that come meanwhile are in the next board, which is read after them.
MIN_PUSH_S = 0.5
ENDED = "login ended or key revoked; log in again at /ui/login"
# Redis away (its open conversations and the event stream are there): the viewer is told once, with an
# ``unavailable`` event, and the stream tries again every RETRY_S (as the live loop does) and sends a fresh
# board once Redis answers. Was: the stream died with an ASGI error and a 120-line traceback, and no event.
RETRY_S = 2.0
UNAVAILABLE = "live state store (Redis) unavailable; retrying"


def snapshot(runtime, team: str | None) -> dict[str, Any]:
    """What the board shows (of the team): open conversations; every open alert (up to OPEN_ALERTS:
    ``open_alerts`` counts them all, ``open_left_off`` the older ones not listed), then the latest
    acknowledged or closed ones. An open alert is never pushed off by newer ones."""
    with runtime.read_sessions() as session:
        alerts, open_total = supervise.board_alerts(session=session, team=team, open_limit=OPEN_ALERTS,
                                                    handled_limit=RECENT_ALERTS)
        rows = [json.loads(presenters.alert_read(a).model_dump_json()) for a in alerts]
    shown = sum(1 for a in alerts if a.status == "open")
    conversations = service.board(runtime, team)
    going = {c["id"] for c in conversations}
    for row in rows:  # the board says 会话已结束 beside an alert whose conversation is over, and links there
        row["conversation_ended"] = row["conversation_id"] not in going
    return {"conversations": conversations, "alerts": rows, "open_alerts": open_total,
            "open_left_off": max(0, open_total - shown)}  # the count and the list are two reads


@router.get("/live", response_class=HTMLResponse)
def live_page(request: Request, runtime: RuntimeDep, session: SessionDep, me: Supervise) -> HTMLResponse:
    """实时监控: the board; new alerts and state arrive without reloading."""
    return page(request, "live.html", "live", session, me, team=me.team,
                metrics={k: v[0] for k, v in METRICS.items()}, initial=snapshot(runtime, me.team))


@router.get("/live/conversations/{conversation_id}", response_class=HTMLResponse)
def conversation_page(conversation_id: RowId, request: Request, runtime: RuntimeDep, session: SessionDep,
                      me: Supervise) -> Response:
    """One live conversation (where the board's alert rows and the robot messages link): its turns so far,
    readings and alerts while it is open; once it has ended into a transcript, that transcript's page (303)."""
    view = supervise.conversation_view(session=session, r=runtime.redis, conversation_id=conversation_id,
                                       team=me.team)
    if view["transcript_id"] is not None:
        return RedirectResponse(f"/ui/transcripts/{view['transcript_id']}#live-alerts", status_code=303)
    view["alerts"] = [presenters.alert_read(a) for a in view["alerts"]]
    return page(request, "live_conversation.html", "live", session, me, c=view)


@router.get("/live/events", response_class=EventSourceResponse)
async def live_events(request: Request, runtime: RuntimeDep, me: Supervise) -> AsyncIterator[ServerSentEvent]:
    """A fresh board whenever something of the viewer's team happens (new alert, acknowledgement, turn);
    an ``ended`` event, and the end of the stream, once the viewer's key is revoked or login ends; the
    end of the stream (no event: the browser reconnects) once the server begins to stop; an
    ``unavailable`` event while Redis is away (a fresh board when it is back)."""
    r = async_client(runtime.settings)
    stopping = request.app.state.stopping
    last, fresh, away_until = "$", True, 0.0  # fresh: a board is owed (the first, or Redis is back)
    try:
        checked = pushed = time.monotonic()
        while not stopping.is_set() and not await request.is_disconnected():
            if time.monotonic() - checked >= RECHECK_S:
                if not await run_in_threadpool(still_authenticated, request, me):
                    yield ServerSentEvent(event="ended", data={"detail": ENDED})
                    return
                checked = time.monotonic()
            if time.monotonic() < away_until:
                await asyncio.sleep(WAIT_S)  # short waits: a stopping server or a viewer gone is seen at once
                continue
            try:
                if fresh:
                    board = await run_in_threadpool(snapshot, runtime, me.team)
                    if away_until:
                        log.info("live board stream (%s): Redis answers again", me.name)
                    away_until, fresh = 0.0, False
                    yield ServerSentEvent(event="board", data=board)
                    pushed = time.monotonic()
                got = await r.xread({f"{LIVE_PREFIX}events": last}, block=int(WAIT_S * 1000), count=100)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if not away_until:  # one line for the outage, not a traceback (nor one per retry)
                    log.warning("live board stream (%s): Redis unavailable (%s: %s); the viewer is told, retrying "
                                "every %g s", me.name, type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc)
                                else "", RETRY_S)
                    yield ServerSentEvent(event="unavailable", data={"detail": UNAVAILABLE})
                away_until, fresh = time.monotonic() + RETRY_S, True
                continue
            if not got:
                continue
            events = got[0][1]
            last = events[-1][0]
            teams = {json.loads(fields[b"e"]).get("team") for _, fields in events}
            if me.team is None or me.team in teams:
                if (wait := MIN_PUSH_S - (time.monotonic() - pushed)) > 0:
                    await asyncio.sleep(wait)
                yield ServerSentEvent(event="board", data=await run_in_threadpool(snapshot, runtime, me.team))
                pushed = time.monotonic()
    finally:
        await r.aclose()
