"""Live QA's durable part: webhooks, the alerts raised on live conversations, and their deliveries (an outbox).

A live conversation's turns and running state live in Redis (``storage/live.py``); what must not be
lost — an alert, and whether each webhook got it — is here, written in one transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from qa_service.storage.tables import NEVER_REUSED, Base, utcnow


class Webhook(Base):
    """Where alerts go: a URL in one of the formats, signed with its secret, for some teams or all."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(16))  # json | dingtalk | wecom | feishu
    secret: Mapped[str | None] = mapped_column(String(200))  # signs payloads (HMAC-SHA256); never shown again
    teams: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))  # None: every team
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(200))
    deleted_at: Mapped[datetime | None]


class LiveAlert(Base):
    """An alert raised on a live conversation, and what the supervisor did about it (介入)."""

    __tablename__ = "live_alerts"
    __table_args__ = (
        Index("ix_live_alerts_team_created", "team_id", "created_at"),
        Index("ix_live_alerts_status_created", "status", "created_at"),
        Index("ix_live_alerts_transcript", "transcript_id"),  # purge, and the transcripts' foreign key
        # One alert per rule and turn: a re-posted turn or a second API process's timer adds nothing.
        UniqueConstraint("conversation_id", "rule", "utterance_index", name="uq_live_alerts_turn"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(Integer)  # the live conversation (Redis) it was raised on
    transcript_id: Mapped[int | None] = mapped_column(ForeignKey("transcripts.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(200))
    external_id: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[str | None] = mapped_column(String(200))
    agent_id: Mapped[str | None] = mapped_column(String(200))
    rule: Mapped[str] = mapped_column(String(100))  # the alert rule's id
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    utterance_index: Mapped[int | None] = mapped_column(Integer)
    quote: Mapped[str] = mapped_column(Text, default="")  # the turn, redacted like every stored text
    matched: Mapped[str | None] = mapped_column(Text)  # a rule's alert: the words the rule matched in the turn
    value: Mapped[float | None] = mapped_column(Float)  # the metric that crossed the threshold, when one did
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | acknowledged | closed
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    closed_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)  # given at 介入 (before migration 0014: both notes, merged)
    close_note: Mapped[str | None] = mapped_column(Text)  # given at 关闭


class AlertDelivery(Base):
    """One alert to one webhook: tried until delivered or out of attempts (then ``failed``, retryable)."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (Index("ix_alert_deliveries_due", "status", "next_attempt_at"), NEVER_REUSED)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("live_alerts.id", ondelete="CASCADE"), index=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None]  # a sender holds it until then (a crashed sender's lease expires)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))  # the alert as sent


class LiveTranscript(Base):
    """Which transcript a live conversation became: the durable record of its end. Redis keeps an ended
    conversation for a day and loses it when it restarts empty; a late ``/end`` (or turn) is answered
    from here then (was: a 404, as if the conversation had never been)."""

    __tablename__ = "live_transcripts"

    conversation_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    transcript_id: Mapped[int] = mapped_column(ForeignKey("transcripts.id", ondelete="CASCADE"), index=True)
    ended_at: Mapped[datetime] = mapped_column(default=utcnow)
