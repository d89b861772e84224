"""SQLAlchemy 2.0 typed tables (ORM classes are plain nouns; API schemas live in api/schemas.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from datetime import date

from sqlalchemy import (JSON, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text, TypeDecorator,
                        UniqueConstraint)
from sqlalchemy.sql import false, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


# The ids the API hands out for rows an erasure or a purge deletes: on SQLite numbered with AUTOINCREMENT, so a
# deleted row's id is never given to a new one (by default SQLite gives the highest stored id + 1, and erasing the
# newest conversation freed its id for the next: revision 0017). PostgreSQL's sequences never reuse one anyway.
NEVER_REUSED = {"sqlite_autoincrement": True}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware datetimes on every backend: stored as UTC, read back as UTC (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: UTCDateTime}


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Transcript(Base):
    __tablename__ = "transcripts"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_transcripts_source_external_id"),
        Index("ix_transcripts_status_changed", "status", "status_changed_at"),
        Index("ix_transcripts_agent_started", "agent_id", "started_at"),
        Index("ix_transcripts_team_started", "team_id", "started_at"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(200))
    external_id: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16), default="chat")
    agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.id"))
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id"))
    queue: Mapped[str | None] = mapped_column(String(200))
    scenario: Mapped[str | None] = mapped_column(String(100))
    started_at: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    content_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="received")
    status_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[str | None] = mapped_column(String(80))  # the scoring job that carries it (reconciler)
    scored_at: Mapped[datetime | None]

    utterances: Mapped[list[Utterance]] = relationship(
        back_populates="transcript", order_by="Utterance.index", cascade="all, delete-orphan"
    )
    report: Mapped[Report | None] = relationship(back_populates="transcript", uselist=False)


class Utterance(Base):
    __tablename__ = "utterances"
    __table_args__ = (UniqueConstraint("transcript_id", "index", name="uq_utterances_transcript_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transcript_id: Mapped[int] = mapped_column(ForeignKey("transcripts.id", ondelete="CASCADE"))
    # Column names predate the code's one name for an utterance's position ("index"): kept, not migrated.
    index: Mapped[int] = mapped_column("seq", Integer, key="index")
    role: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    start_ms: Mapped[int | None] = mapped_column(Integer)
    end_ms: Mapped[int | None] = mapped_column(Integer)
    asr_confidence: Mapped[float | None] = mapped_column(Float)

    transcript: Mapped[Transcript] = relationship(back_populates="utterances")


class Report(Base):
    """The machine's QA report for a transcript; re-scoring replaces it."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transcript_id: Mapped[int] = mapped_column(
        ForeignKey("transcripts.id", ondelete="CASCADE"), unique=True
    )
    score: Mapped[float] = mapped_column(Float)
    fatal: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    dimensions: Mapped[dict[str, Any]] = mapped_column(JSON)
    weights: Mapped[dict[str, Any]] = mapped_column(JSON)
    scorer_versions: Mapped[dict[str, Any]] = mapped_column(JSON)
    rule_pack: Mapped[str | None] = mapped_column(String(200))
    rule_pack_version: Mapped[str | None] = mapped_column(String(50))
    rule_pack_hash: Mapped[str | None] = mapped_column(String(64))
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)
    # What performance records aggregate, small enough to read for a month of reports:
    # {"dims": {name: score | None}, "flagged": bool, "frt_ms", "reply_ms", "handling_ms"}.
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    pass_mark: Mapped[float | None] = mapped_column(Float)  # the scorecard's flag_below when scored
    scorecard_version: Mapped[str | None] = mapped_column(String(50))  # the scorecard the score came from
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    transcript: Mapped[Transcript] = relationship(back_populates="report")
    findings: Mapped[list[Finding]] = relationship(
        back_populates="report", order_by="Finding.id", cascade="all, delete-orphan"
    )
    flags: Mapped[list[Flag]] = relationship(
        back_populates="report", order_by="Flag.id", cascade="all, delete-orphan"
    )


class QuotedSpan:
    """Where a finding points: the utterance, the span in it, and the words there (verbatim)."""

    utterance_index: Mapped[int] = mapped_column("utterance_seq", Integer, key="utterance_index")
    span_start: Mapped[int] = mapped_column(Integer)
    span_end: Mapped[int] = mapped_column(Integer)
    quote: Mapped[str] = mapped_column(Text)

    @property
    def span(self) -> tuple[int, int]:
        return self.span_start, self.span_end


class Finding(QuotedSpan, Base):
    __tablename__ = "findings"
    __table_args__ = (NEVER_REUSED,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    dimension: Mapped[str] = mapped_column(String(50))
    rule_id: Mapped[str] = mapped_column(String(200), index=True)
    points: Mapped[float] = mapped_column(Float)
    severity: Mapped[str] = mapped_column(String(16))
    role: Mapped[str | None] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text, default="")
    fatal: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    probability: Mapped[float | None] = mapped_column(Float)  # learned detector's confidence
    model: Mapped[str | None] = mapped_column(String(100))  # learned detector's model and version
    uncertain: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # sent to review

    report: Mapped[Report] = relationship(back_populates="findings")


class Flag(Base):
    __tablename__ = "flags"
    __table_args__ = (Index("ix_flags_reason_transcript", "reason", "transcript_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    transcript_id: Mapped[int] = mapped_column(ForeignKey("transcripts.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(100))
    severity: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")

    report: Mapped[Report] = relationship(back_populates="flags")


class AgentKpi(Base):
    """An agent's imported operational KPIs for one day (or one whole period): counts, not rates."""

    __tablename__ = "agent_kpis"
    __table_args__ = (
        UniqueConstraint("agent_id", "date_from", "date_to", name="uq_agent_kpis_agent_dates"),
        Index("ix_agent_kpis_dates", "date_from", "date_to"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"))
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id"))
    date_from: Mapped[date] = mapped_column(Date)
    date_to: Mapped[date] = mapped_column(Date)
    contacts: Mapped[int | None] = mapped_column(Integer)
    frt_seconds_mean: Mapped[float | None] = mapped_column(Float)
    frt_within_target: Mapped[int | None] = mapped_column(Integer)
    aht_seconds_mean: Mapped[float | None] = mapped_column(Float)
    fcr_resolved: Mapped[int | None] = mapped_column(Integer)
    csat_responses: Mapped[int | None] = mapped_column(Integer)
    csat_satisfied: Mapped[int | None] = mapped_column(Integer)
    csat_score_mean: Mapped[float | None] = mapped_column(Float)
    nps_promoters: Mapped[int | None] = mapped_column(Integer)
    nps_passives: Mapped[int | None] = mapped_column(Integer)
    nps_detractors: Mapped[int | None] = mapped_column(Integer)
    transfers: Mapped[int | None] = mapped_column(Integer)
    escalations: Mapped[int | None] = mapped_column(Integer)
    complaints: Mapped[int | None] = mapped_column(Integer)
    repeat_complaints: Mapped[int | None] = mapped_column(Integer)
    recontacts: Mapped[int | None] = mapped_column(Integer)
    consultations: Mapped[int | None] = mapped_column(Integer)
    orders: Mapped[int | None] = mapped_column(Integer)
    sales_amount: Mapped[float | None] = mapped_column(Float)
    supervisor_rating: Mapped[float | None] = mapped_column(Float)
    peer_rating: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str | None] = mapped_column(String(300))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)


class Review(Base):
    """A transcript in the human review queue, and the outcome of its review.

    ``machine_*`` is what the machine said when the review opened; ``final_*`` is recomputed from
    the reviewer's verdicts, manual findings and accepted appeals (kept current while in review).
    """

    __tablename__ = "reviews"
    __table_args__ = (
        Index("ix_reviews_status_priority", "status", "priority"),
        Index("ix_reviews_assigned", "assigned_to", "status"),
        # The queue page: open reviews in queue order, read 50 at a time without sorting them all.
        Index("ix_reviews_open_order", "priority", "created_at", "id",
              postgresql_where=text("status IN ('queued', 'in_review')"),
              sqlite_where=text("status IN ('queued', 'in_review')")),
        Index("ix_reviews_done_order", "completed_at", "id", postgresql_where=text("status = 'done'"),
              sqlite_where=text("status = 'done'")),
        Index("ix_reviews_day_team", "day", "team_id", "status"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transcript_id: Mapped[int] = mapped_column(ForeignKey("transcripts.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued | in_review | done
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)  # flag reasons, "sample", "manual"
    severity: Mapped[str] = mapped_column(String(16), default="info")
    priority: Mapped[int] = mapped_column(Integer, default=5)  # 0 first
    sample_week: Mapped[str | None] = mapped_column(String(10))
    assigned_to: Mapped[str | None] = mapped_column(String(200))
    assigned_at: Mapped[datetime | None]
    machine_score: Mapped[float | None] = mapped_column(Float)
    machine_fatal: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    final_score: Mapped[float | None] = mapped_column(Float)
    final_fatal: Mapped[bool | None] = mapped_column(Boolean)
    final_dims: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    completed_by: Mapped[str | None] = mapped_column(String(200))
    # Calibration's scope, copied from the transcript's facts when the review opens (a period is local days).
    day: Mapped[date | None] = mapped_column(Date)
    team_id: Mapped[str | None] = mapped_column(String(200))
    pass_mark: Mapped[float | None] = mapped_column(Float)  # the report's pass mark (machine pass/fail)

    transcript: Mapped[Transcript] = relationship()
    verdicts: Mapped[list[Verdict]] = relationship(order_by="Verdict.id", cascade="all, delete-orphan")
    manual_findings: Mapped[list[ManualFinding]] = relationship(
        order_by="ManualFinding.id", cascade="all, delete-orphan")
    appeals: Mapped[list[Appeal]] = relationship(order_by="Appeal.id", cascade="all, delete-orphan")


class Verdict(Base):
    """A reviewer's 机检正确/错误 on one machine finding (with the finding's facts kept for calibration)."""

    __tablename__ = "verdicts"
    __table_args__ = (UniqueConstraint("review_id", "finding_id", name="uq_verdicts_review_finding"),
                      Index("ix_verdicts_day_team", "day", "team_id", "rule_id", "dimension", "verdict"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), index=True)
    # Re-scoring replaces a report's findings: the verdict follows the same finding in the new report
    # (storage/reviews.py:relink); if the new report has none, it stays with its snapshot, unlinked.
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("findings.id", ondelete="SET NULL"))
    verdict: Mapped[str] = mapped_column(String(16))  # confirmed | rejected
    comment: Mapped[str | None] = mapped_column(Text)
    reviewer: Mapped[str] = mapped_column(String(200))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    dimension: Mapped[str] = mapped_column(String(50))
    rule_id: Mapped[str] = mapped_column(String(200), index=True)
    points: Mapped[float] = mapped_column(Float)
    fatal: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    appeal_id: Mapped[int | None] = mapped_column(Integer)  # set when an accepted appeal overturned it
    day: Mapped[date | None] = mapped_column(Date)  # the review's scope (calibration counts without joins)
    team_id: Mapped[str | None] = mapped_column(String(200))


class ManualFinding(QuotedSpan, Base):
    """A finding the reviewer added because the machine missed it (漏检)."""

    __tablename__ = "manual_findings"
    __table_args__ = (Index("ix_manual_findings_day_team", "day", "team_id"), NEVER_REUSED)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), index=True)
    dimension: Mapped[str] = mapped_column(String(50))
    rule_id: Mapped[str | None] = mapped_column(String(200), index=True)  # the rule that should have fired
    points: Mapped[float] = mapped_column(Float)
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    fatal: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    added_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None]  # an accepted appeal withdrew it
    day: Mapped[date | None] = mapped_column(Date)  # the review's scope (calibration counts without joins)
    team_id: Mapped[str | None] = mapped_column(String(200))

    @property
    def withdrawn(self) -> bool:
        return self.withdrawn_at is not None


class Appeal(Base):
    """申诉: an agent (or supervisor) disputes one kept finding; a lead decides once, for good."""

    __tablename__ = "appeals"
    __table_args__ = (Index("ix_appeals_status_created", "status", "created_at"), NEVER_REUSED)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), index=True)
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("findings.id", ondelete="SET NULL"))
    manual_finding_id: Mapped[int | None] = mapped_column(ForeignKey("manual_findings.id", ondelete="CASCADE"))
    rule_id: Mapped[str | None] = mapped_column(String(200))
    quote: Mapped[str] = mapped_column(Text, default="")
    points: Mapped[float] = mapped_column(Float, default=0.0)
    reason: Mapped[str] = mapped_column(Text)
    appellant: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | accepted | rejected
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decision_comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]


class AuditEvent(Base):
    """Who did what to a review, when, and the state before and after (append-only)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_review_at", "review_id", "at"), NEVER_REUSED)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(50))
    review_id: Mapped[int | None] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"))
    transcript_id: Mapped[int | None] = mapped_column(Integer)
    entity: Mapped[str] = mapped_column(String(30))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ApiKey(Base):
    """An API key: only its SHA-256 is kept (the key itself is shown once, at creation)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)  # the public part, to find the row
    key_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))  # who acts: recorded in the audit trail
    role: Mapped[str] = mapped_column(String(20))
    team_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(200))
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class LoginSession(Base):
    """A web UI login made with a key; the cookie holds a random token, the row its SHA-256."""

    __tablename__ = "login_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class ErasedTranscript(Base):
    """A conversation erased on request (``qa erase``, ``DELETE /v1/transcripts/{id}``): its key only, so that
    the source system sending it again is refused (410) instead of storing it anew. Nothing of its content."""

    __tablename__ = "erased_transcripts"

    source: Mapped[str] = mapped_column(String(200), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(default=utcnow)
