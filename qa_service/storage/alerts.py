"""Webhooks, live alerts and their deliveries: persistence only (what to raise and send is ``live/``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, insert, or_, select, update
from sqlalchemy.orm import Session

from qa_service.storage.alert_tables import AlertDelivery, LiveAlert, LiveTranscript, Webhook
from qa_service.storage.tables import Transcript, utcnow
from qa_service.storage.upsert import dialect_insert

# --- webhooks --------------------------------------------------------------------------------------------------


def add_webhook(*, session: Session, url: str, fmt: str, secret: str | None, teams: list[str] | None,
                by: str | None) -> Webhook:
    hook = Webhook(url=url, format=fmt, secret=secret, teams=teams, created_at=utcnow(), created_by=by)
    session.add(hook)
    session.flush()
    return hook


def list_webhooks(*, session: Session) -> list[Webhook]:
    return list(session.scalars(select(Webhook).where(Webhook.deleted_at.is_(None)).order_by(Webhook.id)))


def delete_webhook(*, session: Session, webhook_id: int) -> bool:
    """Stop sending to it (pending deliveries end ``failed``: the webhook is gone)."""
    done = session.execute(update(Webhook).where(Webhook.id == webhook_id, Webhook.deleted_at.is_(None))
                           .values(deleted_at=utcnow())).rowcount
    if done:
        session.execute(update(AlertDelivery).where(AlertDelivery.webhook_id == webhook_id,
                                                    AlertDelivery.status.in_(("pending", "sending")))
                        .values(status="failed", last_error="webhook deleted"))
    return bool(done)


# --- alerts ----------------------------------------------------------------------------------------------------


def insert_alerts(*, session: Session, rows: Sequence[dict[str, Any]], lease_until: datetime | None = None
                  ) -> tuple[list[LiveAlert], list[tuple[AlertDelivery, LiveAlert, Webhook]]]:
    """Store new alerts with a delivery to every webhook of their team; an alert already stored for the
    same conversation, rule and turn is skipped. With ``lease_until`` the deliveries are created leased
    to the caller (``sending``), who sends them at once; a lease that runs out makes them due for any
    sender (the outbox). Returns the stored alerts and their deliveries, as detached rows.

    Core statements, not the ORM's unit of work (a turn that raises an alert waits for this write):
    the alerts in one ``INSERT … ON CONFLICT DO NOTHING RETURNING``, the webhooks, the deliveries."""
    if not rows:
        return [], []
    now = utcnow()
    table = LiveAlert.__table__
    stmt = (dialect_insert(session.get_bind().dialect.name, table)
            .on_conflict_do_nothing(index_elements=["conversation_id", "rule", "utterance_index"])
            .returning(*table.c))
    params = [{**r, "status": "open", "created_at": r.get("created_at") or now} for r in rows]
    stored = sorted((LiveAlert(**row._mapping) for row in session.execute(stmt, params)), key=lambda a: a.id)
    hooks = list_webhooks(session=session) if stored else []
    pairs = [(a, h) for a in stored for h in hooks if h.teams is None or a.team_id in h.teams]
    if not pairs:
        return stored, []
    values = [{"alert_id": a.id, "webhook_id": h.id, "attempts": 0, "lease_until": lease_until,
               "status": "pending" if lease_until is None else "sending", "next_attempt_at": a.created_at}
              for a, h in pairs]
    returned = session.execute(insert(AlertDelivery).returning(
        AlertDelivery.id, AlertDelivery.alert_id, AlertDelivery.webhook_id), values)
    ids = {(r.alert_id, r.webhook_id): r.id for r in returned}
    return stored, [(AlertDelivery(id=ids[(v["alert_id"], v["webhook_id"])], **v), a, h)
                    for v, (a, h) in zip(values, pairs)]


def get_alert(*, session: Session, alert_id: int) -> LiveAlert | None:
    return session.get(LiveAlert, alert_id)


def list_alerts(*, session: Session, team: str | None = None, status: str | Sequence[str] | None = None,
                conversation_ids: Sequence[int] | None = None, transcript_id: int | None = None, limit: int = 100,
                before_id: int | None = None) -> list[LiveAlert]:
    """Newest first; ``status`` one or several."""
    query = _alerts_where(select(LiveAlert), team, status, conversation_ids, transcript_id)
    query = query.order_by(LiveAlert.id.desc()).limit(limit)
    if before_id:
        query = query.where(LiveAlert.id < before_id)
    return list(session.scalars(query))


def count_alerts(*, session: Session, team: str | None = None, status: str | Sequence[str] | None = None,
                 conversation_ids: Sequence[int] | None = None, transcript_id: int | None = None) -> int:
    query = select(func.count()).select_from(LiveAlert)
    return session.scalar(_alerts_where(query, team, status, conversation_ids, transcript_id)) or 0


def _alerts_where(query, team: str | None, status: str | Sequence[str] | None,
                  conversation_ids: Sequence[int] | None = None, transcript_id: int | None = None):
    if team:
        query = query.where(LiveAlert.team_id == team)
    if isinstance(status, str):
        query = query.where(LiveAlert.status == status)
    elif status:
        query = query.where(LiveAlert.status.in_(list(status)))
    if conversation_ids is not None:
        query = query.where(LiveAlert.conversation_id.in_(list(conversation_ids)))
    if transcript_id is not None:
        query = query.where(LiveAlert.transcript_id == transcript_id)
    return query


def max_conversation_id(*, session: Session) -> int:
    """The highest live conversation id alerts were stored for (0: none): new ids start above it."""
    return session.scalar(select(func.max(LiveAlert.conversation_id))) or 0


def set_transcript(*, session: Session, conversation_id: int, source: str, external_id: str, transcript_id: int
                   ) -> None:
    session.execute(update(LiveAlert).where(LiveAlert.conversation_id == conversation_id,
                                            LiveAlert.source == source, LiveAlert.external_id == external_id)
                    .values(transcript_id=transcript_id))


def record_transcript(*, session: Session, conversation_id: int, transcript_id: int) -> None:
    """Remember which transcript live conversation ``conversation_id`` became (again: the same answer)."""
    session.merge(LiveTranscript(conversation_id=conversation_id, transcript_id=transcript_id))


def transcript_of(*, session: Session, conversation_id: int) -> tuple[int, str | None] | None:
    """(the transcript live conversation ``conversation_id`` became, its team), or None if it became none."""
    row = session.execute(select(Transcript.id, Transcript.team_id).join(
        LiveTranscript, LiveTranscript.transcript_id == Transcript.id)
        .where(LiveTranscript.conversation_id == conversation_id)).first()
    return None if row is None else (row[0], row[1])


def conversation_of(*, session: Session, transcript_id: int) -> int | None:
    """The live conversation transcript ``transcript_id`` was, if it was one."""
    return session.scalar(select(LiveTranscript.conversation_id).where(LiveTranscript.transcript_id == transcript_id)
                          .order_by(LiveTranscript.conversation_id.desc()).limit(1))


# --- deliveries ------------------------------------------------------------------------------------------------


def claim_due(*, session: Session, now: datetime, lease_s: float, limit: int = 50, per_webhook: int | None = None,
              room: Mapping[int, int] | None = None) -> list[tuple[AlertDelivery, LiveAlert, Webhook]]:
    """Deliveries to try now (pending and due, or a sender's lease ran out), leased to this sender,
    the longest due first: at most ``limit``, at most ``per_webhook`` of one webhook, and of a webhook
    in ``room`` at most that many (0: none; so one webhook's backlog never fills a pass)."""
    due = or_(and_(AlertDelivery.status == "pending", AlertDelivery.next_attempt_at <= now),
              and_(AlertDelivery.status == "sending", AlertDelivery.lease_until < now))
    ids = _due_ids(session, due, limit=limit, per_webhook=per_webhook, room=room or {})
    if not ids:
        return []
    if session.get_bind().dialect.name == "postgresql":  # another sender's rows are skipped, not waited for
        ids = list(session.scalars(select(AlertDelivery.id).where(AlertDelivery.id.in_(ids), due)
                                   .with_for_update(skip_locked=True)))
        if not ids:
            return []
    session.execute(update(AlertDelivery).where(AlertDelivery.id.in_(ids), due)
                    .values(status="sending", lease_until=now + timedelta(seconds=lease_s))
                    .execution_options(synchronize_session=False))
    rows = session.execute(select(AlertDelivery, LiveAlert, Webhook)
                           .join(LiveAlert, LiveAlert.id == AlertDelivery.alert_id)
                           .join(Webhook, Webhook.id == AlertDelivery.webhook_id)
                           .where(AlertDelivery.id.in_(ids), AlertDelivery.status == "sending")).all()
    return [tuple(r) for r in rows]


def _due_ids(session: Session, due, *, limit: int, per_webhook: int | None, room: Mapping[int, int]) -> list[int]:
    """The ids ``claim_due`` takes: each webhook's first ``per_webhook`` (a window function, so one
    query whatever the backlog), trimmed to its ``room``."""
    live_hook = select(Webhook.id).where(Webhook.id == AlertDelivery.webhook_id, Webhook.deleted_at.is_(None)).exists()
    where = [due, live_hook]
    full = [hook for hook, n in room.items() if n <= 0]
    if full:
        where.append(AlertDelivery.webhook_id.not_in(full))
    if per_webhook is None:
        query = select(AlertDelivery.id, AlertDelivery.webhook_id).where(*where)
        return [i for i, _ in session.execute(query.order_by(AlertDelivery.next_attempt_at).limit(limit))]
    rank = func.row_number().over(partition_by=AlertDelivery.webhook_id,
                                  order_by=(AlertDelivery.next_attempt_at, AlertDelivery.id))
    ranked = select(AlertDelivery.id, AlertDelivery.webhook_id, AlertDelivery.next_attempt_at,
                    rank.label("rank")).where(*where).subquery()
    rows = session.execute(select(ranked.c.id, ranked.c.webhook_id).where(ranked.c.rank <= per_webhook)
                           .order_by(ranked.c.next_attempt_at, ranked.c.id))
    ids, taken = [], dict.fromkeys(room, 0)
    for delivery_id, hook in rows:
        if len(ids) == limit:
            break
        if taken.get(hook, 0) < room.get(hook, per_webhook):
            taken[hook] = taken.get(hook, 0) + 1
            ids.append(delivery_id)
    return ids


def record_attempt(*, session: Session, delivery_id: int, ok: bool, error: str | None, retry_at: datetime | None,
                   payload: dict[str, Any] | None) -> None:
    """The outcome of one try: delivered, pending again at ``retry_at``, or failed (``retry_at`` None).
    Written only while the delivery is still being sent: a webhook deleted meanwhile ended it ``failed``."""
    now = utcnow()
    values: dict[str, Any] = {"attempts": AlertDelivery.attempts + 1, "lease_until": None, "payload": payload}
    if ok:
        values.update(status="delivered", delivered_at=now, last_error=None)
    elif retry_at is not None:
        values.update(status="pending", next_attempt_at=retry_at, last_error=error)
    else:
        values.update(status="failed", last_error=error)
    session.execute(update(AlertDelivery).where(AlertDelivery.id == delivery_id, AlertDelivery.status == "sending")
                    .values(**values))


def list_deliveries(*, session: Session, status: str | None = None, webhook_id: int | None = None,
                    limit: int = 100) -> list[AlertDelivery]:
    """Newest first. ``status`` a row status, or ``retrying``: a try failed and another is to come
    (``pending`` or ``sending`` again, with a ``last_error``) — what the metric's ``failed`` outcome counts."""
    query = select(AlertDelivery).order_by(AlertDelivery.id.desc()).limit(limit)
    if status == "retrying":
        query = query.where(AlertDelivery.status.in_(("pending", "sending")), AlertDelivery.last_error.is_not(None))
    elif status:
        query = query.where(AlertDelivery.status == status)
    if webhook_id:
        query = query.where(AlertDelivery.webhook_id == webhook_id)
    return list(session.scalars(query))


def webhook_deleted(*, session: Session, webhook_id: int) -> bool:
    return session.scalar(select(Webhook.deleted_at).where(Webhook.id == webhook_id)) is not None


def retry_delivery(*, session: Session, delivery_id: int) -> AlertDelivery | None:
    """A failed (or pending) delivery, due now with its attempts reset (one to a deleted webhook is left
    as it is: the caller refuses it)."""
    d = session.get(AlertDelivery, delivery_id)
    if d is None:
        return None
    if d.status in ("failed", "pending") and not webhook_deleted(session=session, webhook_id=d.webhook_id):
        d.status, d.attempts, d.next_attempt_at, d.lease_until = "pending", 0, utcnow(), None
    return d


# --- intervention SLA ------------------------------------------------------------------------------------------


def intervention(*, session: Session, since: datetime, until: datetime, sla_s: float, by: str = "agent",
                 severities: Sequence[str] = ("major", "critical"), team: str | None = None,
                 now: datetime | None = None) -> list[dict[str, Any]]:
    """Per agent (``by="agent"``) or team: major alerts raised in [since, until), how many were
    acknowledged, how many within ``sla_s``, how many are ``decided`` — acknowledged, or not and their
    ``sla_s`` over by ``now`` (an alert still inside it is neither met nor missed yet) — and the mean
    minutes to acknowledgement; ``team``: only alerts of that team's conversations."""
    key = LiveAlert.agent_id if by == "agent" else LiveAlert.team_id
    if session.get_bind().dialect.name == "sqlite":
        waited = (func.julianday(LiveAlert.acknowledged_at) - func.julianday(LiveAlert.created_at)) * 86400.0
    else:
        waited = func.extract("epoch", LiveAlert.acknowledged_at - LiveAlert.created_at)
    acked = LiveAlert.acknowledged_at.is_not(None)
    overdue = LiveAlert.created_at <= (now or utcnow()) - timedelta(seconds=sla_s)
    query = (select(key, func.count(), func.sum(case((acked, 1), else_=0)),
                    func.sum(case((and_(acked, waited <= sla_s), 1), else_=0)),
                    func.sum(case((or_(acked, overdue), 1), else_=0)), func.avg(case((acked, waited))))
             .where(LiveAlert.severity.in_(list(severities)), LiveAlert.created_at >= since,
                    LiveAlert.created_at < until)
             .group_by(key))
    if team is not None:
        query = query.where(LiveAlert.team_id == team)
    return [{"key": k, "alerts": n, "acknowledged": a or 0, "within_sla": w or 0, "decided": d or 0,
             "mean_minutes": None if m is None else round(float(m) / 60, 1)}
            for k, n, a, w, d, m in session.execute(query)]
