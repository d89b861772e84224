"""Derived tables: one fact row per scored transcript, the per-day rollups over them, and ``qa_meta``.

Nothing here is a source of truth: ``storage/facts.py`` and ``storage/rollups.py`` write them with
the reports and reviews they come from, and derive them all again when needed.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from qa_service.domain import DIMENSIONS
from qa_service.storage.tables import Base

FACT_DIMENSIONS = DIMENSIONS  # the built-in dimensions have their own columns (below); a plugin's go to extra_dims


class QaFact(Base):
    """One narrow row per scored transcript: what every period aggregate reads (``storage/facts.py``).

    Machine figures are written with the report; ``final_*`` once its review is done (and again when an
    appeal changes it). ``day`` is the local day in QA_PERFORMANCE__TIMEZONE (``qa_meta`` records which).
    """

    __tablename__ = "qa_facts"
    __table_args__ = (
        # score too: a period's score distributions (storage/performance.py: score_counts) read this index
        # alone; SQLite otherwise fetched every fact's row for its score (0.40 s → 0.13 s at 100k).
        Index("ix_qa_facts_day_agent", "day", "agent_id", "score"),
        Index("ix_qa_facts_agent_day", "agent_id", "day"),
        Index("ix_qa_facts_team_day", "team_id", "day"),
        # The few facts with plugin scorers' dimensions (none without plugins): found without reading the
        # period's every row (storage/performance.py: extra_dims).
        Index("ix_qa_facts_extra_dims", "day", postgresql_where=text("extra_dims IS NOT NULL"),
              sqlite_where=text("extra_dims IS NOT NULL")),
    )

    transcript_id: Mapped[int] = mapped_column(ForeignKey("transcripts.id", ondelete="CASCADE"), primary_key=True)
    agent_id: Mapped[str | None] = mapped_column(String(200))
    team_id: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime]  # started_at, else received_at
    day: Mapped[date] = mapped_column(Date)
    score: Mapped[float] = mapped_column(Float)
    fatal: Mapped[bool] = mapped_column(Boolean)
    flagged: Mapped[bool] = mapped_column(Boolean)
    dim_politeness: Mapped[float | None] = mapped_column(Float)
    dim_compliance: Mapped[float | None] = mapped_column(Float)
    dim_objection: Mapped[float | None] = mapped_column(Float)
    dim_negativity: Mapped[float | None] = mapped_column(Float)
    dim_timing: Mapped[float | None] = mapped_column(Float)
    dim_sentiment: Mapped[float | None] = mapped_column(Float)
    extra_dims: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))  # plugin scorers' dimensions
    frt_ms: Mapped[float | None] = mapped_column(Float)
    reply_ms: Mapped[float | None] = mapped_column(Float)
    handling_ms: Mapped[float | None] = mapped_column(Float)
    final_score: Mapped[float | None] = mapped_column(Float)  # set only while the review is done
    final_fatal: Mapped[bool | None] = mapped_column(Boolean)
    final_politeness: Mapped[float | None] = mapped_column(Float)
    final_compliance: Mapped[float | None] = mapped_column(Float)
    final_objection: Mapped[float | None] = mapped_column(Float)
    final_negativity: Mapped[float | None] = mapped_column(Float)
    final_timing: Mapped[float | None] = mapped_column(Float)
    final_sentiment: Mapped[float | None] = mapped_column(Float)
    final_extra_dims: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


class QaDaily(Base):
    """Per day, agent and team: the sums performance records and dashboards read (``storage/rollups.py``)."""

    __tablename__ = "qa_daily"
    __table_args__ = (Index("ix_qa_daily_agent_day", "agent_key", "day"), Index("ix_qa_daily_team_day", "team_key", "day"))

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    agent_key: Mapped[str] = mapped_column(String(200), primary_key=True)  # '' = no agent
    team_key: Mapped[str] = mapped_column(String(200), primary_key=True)  # '' = no team
    n: Mapped[int] = mapped_column(Integer)
    total: Mapped[float] = mapped_column(Float)
    total_sq: Mapped[float] = mapped_column(Float)
    fatal: Mapped[int] = mapped_column(Integer)
    flagged: Mapped[int] = mapped_column(Integer)
    e_total: Mapped[float] = mapped_column(Float)  # final score where the review is done, else the machine's
    dim_politeness_sum: Mapped[float] = mapped_column(Float)
    dim_politeness_n: Mapped[int] = mapped_column(Integer)
    dim_compliance_sum: Mapped[float] = mapped_column(Float)
    dim_compliance_n: Mapped[int] = mapped_column(Integer)
    dim_objection_sum: Mapped[float] = mapped_column(Float)
    dim_objection_n: Mapped[int] = mapped_column(Integer)
    dim_negativity_sum: Mapped[float] = mapped_column(Float)
    dim_negativity_n: Mapped[int] = mapped_column(Integer)
    dim_timing_sum: Mapped[float] = mapped_column(Float)
    dim_timing_n: Mapped[int] = mapped_column(Integer)
    dim_sentiment_sum: Mapped[float] = mapped_column(Float)
    dim_sentiment_n: Mapped[int] = mapped_column(Integer)
    frt_sum: Mapped[float] = mapped_column(Float)
    frt_n: Mapped[int] = mapped_column(Integer)
    reply_sum: Mapped[float] = mapped_column(Float)
    reply_n: Mapped[int] = mapped_column(Integer)
    handling_sum: Mapped[float] = mapped_column(Float)
    handling_n: Mapped[int] = mapped_column(Integer)
    frt_within: Mapped[int] = mapped_column(Integer)  # first responses within QA_PERFORMANCE__FRT_TARGET_SECONDS


class FindingCount(Base):
    """Per day, team and rule: findings that moved points (the dashboard's frequent findings)."""

    __tablename__ = "finding_counts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    team_key: Mapped[str] = mapped_column(String(200), primary_key=True)  # '' = no team
    rule_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(50))
    message: Mapped[str] = mapped_column(Text)
    n: Mapped[int] = mapped_column(Integer)


class QaDailyVersion(Base):
    """Per day and team: how many scored transcripts each scoring version made — the rule pack, its version and
    its scorecard's version that the report records (``storage/scoring_versions.py``), so that a period mixing
    reports made before and after an upgrade is told in a few hundred rows, not a million reports. ``''`` stands
    for none (a report from before the column was recorded)."""

    __tablename__ = "qa_daily_versions"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    team_key: Mapped[str] = mapped_column(String(200), primary_key=True)  # '' = no team
    rule_pack: Mapped[str] = mapped_column(String(200), primary_key=True)
    rule_pack_version: Mapped[str] = mapped_column(String(50), primary_key=True)
    scorecard_version: Mapped[str] = mapped_column(String(50), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class Meta(Base):
    """Small facts about the stored data itself (e.g. the time zone ``qa_facts.day`` was derived in)."""

    __tablename__ = "qa_meta"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
