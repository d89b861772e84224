"""KPI repository: upsert imported records (same agent and days → replaced), read a period's rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from qa_service.storage.tables import AgentKpi, utcnow
from qa_service.storage.transcripts import KnownIds, _dialect_insert, ensure_agents_and_teams

_KEYS = ("id", "agent_id", "team_id", "date_from", "date_to", "source", "imported_at")
KPI_COLUMNS: tuple[str, ...] = tuple(c.key for c in AgentKpi.__table__.c if c.key not in _KEYS)

CHUNK = 500  # rows per statement (keeps PostgreSQL/SQLite parameter counts well under their limits)


@dataclass
class UpsertResult:
    inserted: int = 0
    replaced: int = 0


def upsert_many(*, session: Session, rows: Sequence[dict[str, Any]], known: KnownIds) -> UpsertResult:
    """Store ``agent_kpis`` rows (agent_id, team_id, date_from, date_to, source and KPI columns); a row for
    an agent and days already stored replaces it whole (never adds to it)."""
    result = UpsertResult()
    if not rows:
        return result
    ensure_agents_and_teams(session=session, known=known,
                            items=[SimpleNamespace(agent_id=r["agent_id"], team=r["team_id"]) for r in rows])
    now = utcnow()
    for i in range(0, len(rows), CHUNK):
        chunk = [{**r, "imported_at": now} for r in rows[i : i + CHUNK]]
        keys = [(r["agent_id"], r["date_from"], r["date_to"]) for r in chunk]
        existing = {tuple(row) for row in session.execute(
            select(AgentKpi.agent_id, AgentKpi.date_from, AgentKpi.date_to)
            .where(tuple_(AgentKpi.agent_id, AgentKpi.date_from, AgentKpi.date_to).in_(keys)))}
        result.replaced += len(existing)
        result.inserted += len(chunk) - len(existing)
        stmt = _dialect_insert(session, AgentKpi.__table__)
        update = {c: stmt.excluded[c] for c in ("team_id", "source", "imported_at", *KPI_COLUMNS)}
        session.execute(stmt.on_conflict_do_update(
            index_elements=["agent_id", "date_from", "date_to"], set_=update), chunk)
    return result


def list_in_range(*, session: Session, start: date, end: date, agent_id: str | None = None,
                  team: str | None = None) -> list[AgentKpi]:
    """Records lying wholly inside ``start``..``end`` (a month's row is not part of one of its weeks)."""
    query = select(AgentKpi).where(AgentKpi.date_from >= start, AgentKpi.date_to <= end)
    if agent_id:
        query = query.where(AgentKpi.agent_id == agent_id)
    if team:
        query = query.where(AgentKpi.team_id == team)
    return list(session.scalars(query.order_by(AgentKpi.agent_id, AgentKpi.date_from)))


def count_overlapping_outside(*, session: Session, start: date, end: date) -> int:
    """Records that overlap the range without lying inside it (left out of its figures, and said so)."""
    return session.scalar(
        select(func.count()).select_from(AgentKpi).where(AgentKpi.date_from <= end, AgentKpi.date_to >= start)
        .where((AgentKpi.date_from < start) | (AgentKpi.date_to > end)))
