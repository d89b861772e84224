"""Live QA's JSON: conversations, turns, alerts, webhooks (field names are a public interface)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from qa_service.access.service import label_value
from qa_service.ingest.schema import storable_text

from qa_service.live.schema import LiveConversationCreate, LiveUtterance, LiveUtterances  # noqa: F401


class LiveConversationRead(BaseModel):
    id: int
    source: str
    external_id: str
    status: Literal["open", "ended"]
    created: bool


class AlertRead(BaseModel):
    """An alert; ``alert_id`` … ``created_at`` are also the generic webhook payload."""

    alert_id: int
    conversation_id: int
    source: str
    external_id: str
    team: str | None
    agent_id: str | None
    rule: str
    severity: str
    message: str
    utterance_index: int | None
    quote: str
    matched: str | None = Field(None, description=(
        "For an alert on a rule pack's rule (`rule:`, `fatal_rule:`): the words it matched in `quote`'s turn"))
    created_at: datetime
    value: float | None = None
    transcript_id: int | None = None
    status: Literal["open", "acknowledged", "closed"] = "open"
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    closed_at: datetime | None = None
    note: str | None = Field(None, description="ack_note and close_note, one after the other on their own lines "
                                               "(as before they were kept apart)")
    ack_note: str | None = Field(None, description="The note given when it was acknowledged (介入)")
    close_note: str | None = Field(None, description="The note given when it was closed (关闭)")


class UtterancesAccepted(BaseModel):
    conversation_id: int
    accepted: int = Field(description="New turns kept")
    repeats: int = Field(description="Turns received before with the same content (ignored)")
    alerts: list[AlertRead] = Field(description="Alerts these turns raised")


class LiveEnded(BaseModel):
    id: int
    transcript_id: int | None = Field(description="The ordinary transcript it became (null: it had no turns)")
    status: Literal["ended"]


class LiveBoardItem(BaseModel):
    id: int
    source: str
    external_id: str
    team: str | None
    agent_id: str | None
    channel: str
    status: str
    turns: int
    alerts: int
    last_activity_s: float | None
    waiting_s: float | None = Field(description="Seconds the customer has waited for a reply (null: not waiting)")
    readings: dict[str, float] = Field(description="The latest value of every live metric")


class AlertNote(BaseModel):
    note: Annotated[str | None, Field(max_length=2000), AfterValidator(storable_text)] = None
    by: Annotated[str | None, Field(max_length=200, description="Who (only when access control is off)"),
                  AfterValidator(label_value)] = None


class WebhookCreate(BaseModel):
    url: Annotated[str, Field(min_length=8, max_length=2000), AfterValidator(storable_text)]
    format: Literal["json", "dingtalk", "wecom", "feishu"] = "json"
    secret: Annotated[str | None, Field(min_length=8, max_length=200, description=(
        "Signs the payloads: 8 to 200 characters, no control characters")), AfterValidator(storable_text)] = None
    # Each team checked as a key's team is (a 422 at teams[i]): "after-sales " or "a\nb" matched no
    # conversation's team, and the webhook silently received nothing.
    teams: list[Annotated[str, AfterValidator(label_value)]] | None = Field(
        None, description="Only these teams' alerts (null: every team); each as a key's team is written")


class WebhookRead(BaseModel):
    id: int
    url: str
    format: str
    teams: list[str] | None
    signed: bool = Field(description="Whether a secret signs its payloads (the secret is never shown)")
    created_at: datetime
    created_by: str | None
    refused: str | None = Field(None, description=(
        "Why the current settings refuse deliveries to its address, e.g. 'loopback address 127.0.0.1; set "
        "QA_LIVE__WEBHOOK_ALLOW_LOCAL=true' (a webhook made before the check, or before a setting changed); null "
        "when they do not. Read from the URL alone, no DNS lookup: a host name is judged at each delivery"))


class WebhookCreated(WebhookRead):
    warnings: list[str] = Field(default_factory=list, description=(
        "Notes on the new webhook, e.g. a team nothing names yet (a misspelt team receives nothing)"))


class DeliveryRead(BaseModel):
    id: int
    alert_id: int
    webhook_id: int
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    delivered_at: datetime | None
