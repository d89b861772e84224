"""KPI repository: upsert imported records (same agent and days → replaced), read a period's rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from types import SimpleNamespace
from typing import Sequence

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from qa_service.performance.kpi import KPI_FIELDS, KpiRecord
from qa_service.storage.tables import AgentKpi, utcnow
from qa_service.storage.transcripts import _dialect_insert, ensure_agents_and_teams

CHUNK = 500  # rows per statement (keeps PostgreSQL/SQLite parameter counts well under their limits)


@dataclass
class UpsertResult:
    inserted: int = 0
    replaced: int = 0


def upsert_many(*, session: Session, records: Sequence[KpiRecord], source: str | None = None) -> UpsertResult:
    """Store records; a record for an agent and days already stored replaces it whole (never adds to it)."""
    result = UpsertResult()
    if not records:
        return result
    ensure_agents_and_teams(session=session,
                            items=[SimpleNamespace(agent_id=r.agent_id, team=r.team) for r in records])
    now = utcnow()
    for i in range(0, len(records), CHUNK):
        chunk = records[i : i + CHUNK]
        keys = [r.key for r in chunk]
        existing = {tuple(row) for row in session.execute(
            select(AgentKpi.agent_id, AgentKpi.date_from, AgentKpi.date_to)
            .where(tuple_(AgentKpi.agent_id, AgentKpi.date_from, AgentKpi.date_to).in_(keys)))}
        result.replaced += len(existing)
        result.inserted += len(chunk) - len(existing)
        rows = [
            {"agent_id": r.agent_id, "team_id": r.team, "date_from": r.date_from, "date_to": r.date_to,
             "source": (source or "")[:300] or None, "imported_at": now,
             **{f: r.values.get(f) for f in KPI_FIELDS}}
            for r in chunk
        ]
        stmt = _dialect_insert(session, AgentKpi.__table__)
        update = {c: stmt.excluded[c] for c in ("team_id", "source", "imported_at", *KPI_FIELDS)}
        session.execute(stmt.on_conflict_do_update(
            index_elements=["agent_id", "date_from", "date_to"], set_=update), rows)
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
