"""/v1/webhooks: where live alerts are delivered (admins), and how the deliveries went."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from qa_service.api import presenters
from qa_service.api.auth import Admin
from qa_service.api.deps import RowId, RuntimeDep, SessionDep, SettingsDep
from qa_service.api.ids import Id
from qa_service.api.schemas.live import DeliveryRead, WebhookCreate, WebhookCreated, WebhookRead
from qa_service.live import address, supervise
from qa_service.storage import alerts as repo

router = APIRouter(prefix="/v1/webhooks", tags=["live"])


@router.post("", response_model=WebhookCreated, status_code=status.HTTP_201_CREATED)
def add_webhook(body: WebhookCreate, runtime: RuntimeDep, principal: Admin) -> WebhookCreated:
    """A webhook for the alerts of some teams (``teams``) or all (null): generic ``json`` (signed with
    ``X-QA-Signature`` when it has a secret), or the ``dingtalk`` / ``wecom`` / ``feishu`` robot formats. An
    address on this machine or link-local is refused unless QA_LIVE__WEBHOOK_ALLOW_LOCAL (a private one
    when QA_LIVE__WEBHOOK_ALLOW_PRIVATE is false). ``warnings`` names a team nothing names yet (made anyway)."""
    with runtime.session() as session:
        hook = supervise.add_webhook(session=session, url=body.url, fmt=body.format, secret=body.secret,
                                     teams=body.teams, by=principal.name, settings=runtime.settings.live)
        notes = supervise.team_notes(session=session, r=runtime.redis, teams=body.teams)
        return WebhookCreated(**presenters.webhook_read(hook).model_dump(), warnings=notes)


@router.get("", response_model=list[WebhookRead])
def list_webhooks(session: SessionDep, settings: SettingsDep, _principal: Admin) -> list[WebhookRead]:
    """Webhooks (their secrets are never shown). ``refused`` says why the current settings refuse one's address
    (``loopback address 127.0.0.1; set QA_LIVE__WEBHOOK_ALLOW_LOCAL=true``: one made before the check, or before a
    setting changed), from the URL alone (no DNS lookup); null otherwise."""
    return [presenters.webhook_read(w, address.listed_refusal(w.url, settings.live))
            for w in repo.list_webhooks(session=session)]


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_webhook(webhook_id: RowId, runtime: RuntimeDep, _principal: Admin) -> None:
    """Stop delivering to it (its pending deliveries end failed)."""
    with runtime.session() as session:
        supervise.delete_webhook(session=session, webhook_id=webhook_id)


@router.get("/deliveries", response_model=list[DeliveryRead])
def list_deliveries(session: SessionDep, _principal: Admin,
                    status_: Annotated[Literal["pending", "sending", "delivered", "failed", "retrying"] | None,
                                       Query(alias="status", description=(
                                           "pending | sending | delivered | failed (out of attempts: gave up) | "
                                           "retrying (a try failed, another is to come)"))] = None,
                    webhook_id: Annotated[Id | None, Query()] = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[DeliveryRead]:
    """Deliveries, newest first: a failing one shows its attempts and last error. ``retrying``: those whose
    last try failed and that will be tried again (``qa_live_alert_deliveries_total{outcome="failed"}``);
    ``failed``: those that ran out of attempts (``outcome="gave_up"``) or whose webhook was deleted."""
    return [presenters.delivery_read(d) for d in repo.list_deliveries(session=session, status=status_,
                                                                       webhook_id=webhook_id, limit=limit)]


@router.post("/deliveries/{delivery_id}/retry", response_model=DeliveryRead)
def retry_delivery(delivery_id: RowId, runtime: RuntimeDep, _principal: Admin) -> DeliveryRead:
    """Try a failed delivery again now (attempts start over)."""
    with runtime.session() as session:
        return presenters.delivery_read(supervise.retry_delivery(session=session, r=runtime.redis,
                                                                 delivery_id=delivery_id))
