"""The supervisor's side: alerts listed, acknowledged (介入) and closed with a note; webhooks; and the
intervention SLA (time from a major alert to its acknowledgement, 情感管理时效)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx

from qa_service.access.service import check_team, missing
from qa_service.config import LiveSettings
from qa_service.errors import Conflict, Invalid, NotFound
from qa_service.live.address import address_problem
from qa_service.live.delivery import FORMATS
from qa_service.performance.service import sla_share
from qa_service.storage import alerts as repo
from qa_service.storage import keys as key_repo
from qa_service.storage import live as live_repo
from qa_service.storage.alert_tables import AlertDelivery, LiveAlert, Webhook
from qa_service.storage.tables import utcnow

if TYPE_CHECKING:
    import redis
    from sqlalchemy.orm import Session

STATUSES = ("open", "acknowledged", "closed")


def _alert(session: Session, alert_id: int, team: str | None) -> LiveAlert:
    alert = repo.get_alert(session=session, alert_id=alert_id)
    if alert is None:
        raise missing(team, f"alert {alert_id} not found", "alert_id")
    check_team(team, alert.team_id)
    return alert


def acknowledge(*, session: Session, r: redis.Redis, alert_id: int, by: str, note: str | None,
                team: str | None = None) -> LiveAlert:
    """介入: someone is on it. Once; a closed alert stays closed."""
    alert = _alert(session, alert_id, team)
    if alert.status != "open":
        raise Conflict(f"alert {alert_id} is already {alert.status} (by {alert.acknowledged_by})", "alert_id")
    alert.status, alert.acknowledged_at, alert.acknowledged_by = "acknowledged", utcnow(), by
    alert.note = note
    session.flush()
    live_repo.publish(r, {"type": "alert", "id": alert.id, "conversation_id": alert.conversation_id,
                          "team": alert.team_id})
    return alert


def close(*, session: Session, r: redis.Redis, alert_id: int, by: str, note: str | None,
          team: str | None = None) -> LiveAlert:
    """Handled: closed with a note (``close_note``; acknowledging it too if nobody had)."""
    alert = _alert(session, alert_id, team)
    if alert.status == "closed":
        raise Conflict(f"alert {alert_id} is already closed", "alert_id")
    now = utcnow()
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by = now, by
    alert.status, alert.closed_at = "closed", now
    # its own field: appended to the acknowledgement's note, it could not be told from it and grew past the
    # 2,000 characters each request takes
    alert.close_note = note
    session.flush()
    live_repo.publish(r, {"type": "alert", "id": alert.id, "conversation_id": alert.conversation_id,
                          "team": alert.team_id})
    return alert


def list_alerts(*, session: Session, team: str | None, status: str | None, limit: int = 100,
                before_id: int | None = None, conversation_id: int | None = None,
                transcript_id: int | None = None) -> tuple[list[LiveAlert], int, int | None]:
    """A page of alerts, newest first (of one live conversation, or of the transcript it became, when
    given); how many the filter has in all; and the ``before_id`` of the next page (None: the last)."""
    if status is not None and status not in STATUSES:
        raise Invalid(f"status must be one of {', '.join(STATUSES)}", "status", loc=("query", "status"))
    where = {"team": team, "status": status, "transcript_id": transcript_id,
             "conversation_ids": None if conversation_id is None else [conversation_id]}
    rows = repo.list_alerts(session=session, limit=limit + 1, before_id=before_id, **where)
    more, rows = len(rows) > limit, rows[:limit]
    total = repo.count_alerts(session=session, **where)
    return rows, total, rows[-1].id if more else None


def transcript_alerts(*, session: Session, transcript_id: int) -> list[LiveAlert]:
    """The live alerts raised while the conversation that became this transcript went on, in order."""
    return sorted(repo.list_alerts(session=session, transcript_id=transcript_id, limit=500), key=lambda a: a.id)


def conversation_view(*, session: Session, r: redis.Redis, conversation_id: int, team: str | None
                      ) -> dict[str, Any]:
    """One live conversation as its page shows it: ``transcript_id`` once it has ended into one (the page then
    sends the reader there); else its fields, turns so far, latest readings and status (``open``, or ``ended``
    without a transcript), with its alerts, oldest first. Another team's, or one never opened, is the same
    403 for a scoped key (``missing``); one Redis no longer holds is found through the transcript it became."""
    found = live_repo.load(r, conversation_id)
    if found is None:
        stored = repo.transcript_of(session=session, conversation_id=conversation_id)
        if stored is None:
            raise missing(team, f"live conversation {conversation_id} not found", "conversation_id")
        check_team(team, stored[1])
        return {"id": conversation_id, "transcript_id": stored[0]}
    meta, state, status, transcript_id = found
    check_team(team, meta.get("team"))
    alerts = sorted(repo.list_alerts(session=session, conversation_ids=[conversation_id], limit=500),
                    key=lambda a: a.id)
    return {"id": conversation_id, "transcript_id": transcript_id, "status": status, "meta": meta,
            "turns": live_repo.turns(r, conversation_id) if transcript_id is None else [],
            "readings": state.get("readings") or {}, "alerts": alerts}


def board_alerts(*, session: Session, team: str | None, open_limit: int, handled_limit: int
                 ) -> tuple[list[LiveAlert], int]:
    """What the live board lists: every open (not yet acknowledged) alert, newest first, up to
    ``open_limit``, then the latest ``handled_limit`` acknowledged or closed ones; and how many open
    ones there are in all. An open alert stays on the board however many newer ones came after it."""
    opened = repo.list_alerts(session=session, team=team, status="open", limit=open_limit)
    total = len(opened) if len(opened) < open_limit else repo.count_alerts(session=session, team=team, status="open")
    handled = repo.list_alerts(session=session, team=team, status=("acknowledged", "closed"), limit=handled_limit)
    return opened + handled, total


def add_webhook(*, session: Session, url: str, fmt: str, secret: str | None, teams: list[str] | None,
                by: str | None, settings: LiveSettings | None = None) -> Webhook:
    """A new webhook; with ``settings``, one whose host they do not let a webhook call (``live.address``) is
    refused."""
    if fmt not in FORMATS:
        raise Invalid(f"format must be one of {', '.join(FORMATS)}", "format")
    problem = url_problem(url) or (address_problem(url, settings) if settings is not None else None)
    if problem:
        raise Invalid(f"url {problem}", "url")
    if teams is not None and not teams:
        raise Invalid("teams is empty: no alert would ever reach this webhook (leave it out for every team)",
                      "teams")
    return repo.add_webhook(session=session, url=url, fmt=fmt, secret=secret, teams=teams, by=by)


def team_notes(*, session: Session, r: redis.Redis, teams: list[str] | None) -> list[str]:
    """A note for each of a new webhook's teams that nothing names yet — no stored conversation, agent or KPI
    row, no key, no open live conversation: a misspelt team gives a webhook that silently receives nothing
    (as ``access.service.team_note`` warns for a key). Not refused: a site may add its webhooks first."""
    if not teams:
        return []
    keyed = {k.team_id for k in key_repo.list_keys(session=session)}
    unknown = [t for t in teams if t not in keyed and not key_repo.team_exists(session=session, team=t)]
    if unknown:
        going = {(live_repo.load(r, cid) or ({},))[0].get("team") for cid in live_repo.open_ids(r)}
        unknown = [t for t in unknown if t not in going]
    known = sorted(keyed - {None} | set(key_repo.team_ids(session=session, limit=10)))[:10]
    listed = f"known teams: {', '.join(known)}" if known else "no team is known yet"
    return [f"teams: {t!r} is not known yet (no conversation, agent, KPI row or key names it; {listed}); this "
            f"webhook gets that team's alerts once its conversations arrive — check the spelling" for t in unknown]


def url_problem(url: str) -> str | None:
    """What is wrong with a webhook address (None: it can be called): every delivery to a URL the HTTP
    client cannot even send to would fail, so it is refused when the webhook is made."""
    if any(c.isspace() or not c.isprintable() for c in url):
        return "contains a space or a control character (a pasted line break?)"
    try:
        parsed = httpx.URL(url)
        port = parsed.port
    except (httpx.InvalidURL, ValueError) as exc:
        return f"is not a valid address: {exc}"
    if parsed.scheme not in ("http", "https"):
        return "must be an http:// or https:// address"
    if not parsed.host:
        return "names no host"
    if port is not None and not 0 < port < 65536:
        return f"has port {port}; a port is 1-65535"
    return None


def delete_webhook(*, session: Session, webhook_id: int) -> None:
    if not repo.delete_webhook(session=session, webhook_id=webhook_id):
        raise NotFound(f"webhook {webhook_id} not found", "webhook_id")


def retry_delivery(*, session: Session, r: redis.Redis, delivery_id: int) -> AlertDelivery:
    delivery = repo.retry_delivery(session=session, delivery_id=delivery_id)
    if delivery is None:
        raise NotFound(f"delivery {delivery_id} not found", "delivery_id")
    if delivery.status == "delivered":
        raise Conflict(f"delivery {delivery_id} was delivered at {delivery.delivered_at.isoformat()}", "delivery_id")
    if repo.webhook_deleted(session=session, webhook_id=delivery.webhook_id):
        raise Conflict(f"delivery {delivery_id} is to webhook {delivery.webhook_id}, which was deleted", "delivery_id")
    session.flush()
    live_repo.wake_delivery(r)
    return delivery


def intervention(*, session: Session, since: datetime, until: datetime, sla_s: float, by: str = "agent"
                 ) -> dict[Any, dict[str, Any]]:
    """Per agent (or team): major alerts, acknowledged, within the SLA, ``pending`` (not acknowledged,
    the SLA not over yet), the share met of those decided (None: none decided yet), mean minutes."""
    out = {}
    for row in repo.intervention(session=session, since=since, until=until, sla_s=sla_s, by=by):
        share = sla_share(row)
        row["within_sla_share"] = None if share is None else round(share, 4)
        row["pending"] = row["alerts"] - row["decided"]
        out[row.pop("key")] = row
    return out

