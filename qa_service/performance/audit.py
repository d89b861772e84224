"""The audit trail of performance data: who imported KPI rows, deleted them, or exported appraisals — when,
from which file, how many rows, over which days (``audit_events``, read with ``GET /v1/audit?entity=…``).

An appraisal file affects pay, so HR asks "who exported, imported or deleted what, when". Imports and
deletions are written in the transaction that changes the rows (both or neither). An export is a read: its
event is written afterwards, on the primary (a read replica takes no writes), and a failure to write it is
logged and said, never turned into a failed export.
"""

from __future__ import annotations

import getpass
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qa_service.storage import reviews as audit_repo

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from qa_service.performance.kpi import KpiRecord, RowError
    from qa_service.period import Period
    from qa_service.runtime import Runtime

log = logging.getLogger(__name__)

KPIS, APPRAISALS = "kpis", "appraisals"  # the events' entity: GET /v1/audit?entity=kpis
PERFORMANCE_ENTITIES = (KPIS, APPRAISALS)  # read by the keys that read KPIs and performance (hr, supervisor)
IMPORTED, DELETED, EXPORTED = "kpis_imported", "kpis_deleted", "appraisals_exported"  # their action
DELETED_ROWS_KEPT = 1000  # a deletion's event lists at most this many of the rows it deleted (all are counted)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: an API key's name and id, ``anonymous`` with access control off, ``cli:<os user>``."""

    name: str
    key_id: int | None = None

    def fields(self) -> dict[str, Any]:
        return {"key_id": self.key_id} if self.key_id is not None else {}


def cli_actor() -> Actor:
    """``cli:<os user>``: a command works on the database directly, with no key to name."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (a bare container)
        user = "unknown"
    return Actor(f"cli:{user}"[:200])


def _span(records: list[KpiRecord]) -> dict[str, str | None]:
    return {"from": min(r.date_from for r in records).isoformat() if records else None,
            "to": max(r.date_to for r in records).isoformat() if records else None}


def record_import(*, session: Session, actor: Actor, file: str | None, records: list[KpiRecord], inserted: int,
                  replaced: int, unchanged: int, refused: list[RowError], rejected: int, replace: bool) -> None:
    """A KPI import (API or CLI), in its own transaction: the file, the rows inserted, replaced (of them
    unchanged) and rejected, and the days and agents of the rows stored. An import that stored no row (every row
    refused) changed nothing and writes no event: its refusals went back to whoever sent it."""
    if not inserted and not replaced:
        return
    refused_at = {(e.sheet, e.line) for e in refused}
    stored = [r for r in records if (r.sheet, r.line) not in refused_at]
    audit_repo.add_audit_event(session, actor=actor.name, action=IMPORTED, review=None, entity=KPIS, entity_id=None,
                               after={"file": file, "inserted": inserted, "replaced": replaced, "unchanged": unchanged,
                                      "rejected": rejected, "replace": replace, **_span(stored),
                                      "agents": len({r.agent_id for r in stored}), **actor.fields()})


def record_deletion(*, session: Session, actor: Actor, agent_id: str, period: Period | None, team: str | None,
                    deleted: int, rows: list[dict[str, Any]]) -> None:
    """A KPI deletion, in its transaction: what was asked (agent, period or every row, team) and the rows
    deleted, with their figures (``before``; the first ``DELETED_ROWS_KEPT``)."""
    audit_repo.add_audit_event(
        session, actor=actor.name, action=DELETED, review=None, entity=KPIS, entity_id=None,
        before={"rows": rows[:DELETED_ROWS_KEPT]},
        after={"agent_id": agent_id, "period": period.label if period else None,
               "from": period.start.isoformat() if period else None, "to": period.end.isoformat() if period else None,
               "all": period is None, "team": team, "deleted": deleted, **actor.fields()})


def record_export(*, runtime: Runtime, actor: Actor, period: Period, team: str | None, fmt: str, rows: int,
                  scheme: str | None = None, scores: str = "machine", agent_id: str | None = None,
                  read: Session | None = None) -> str | None:
    """An appraisal export (API or CLI), written on the primary in a transaction of its own. ``read``: the
    session the export was read in, still open; its transaction is ended first, which hands its connection
    back (SQLite has one per process: waiting for a second while holding it would wait out the busy timeout).
    Returns None, or why the event could not be written (logged too): the export has succeeded and stands."""
    after = {"period": period.label, "from": period.start.isoformat(), "to": period.end.isoformat(), "team": team,
             "format": fmt, "rows": rows, "scheme": scheme, "scores": scores, "agent_id": agent_id, **actor.fields()}
    try:
        if read is not None:
            read.rollback()  # it only read
        with runtime.session() as session:
            audit_repo.add_audit_event(session, actor=actor.name, action=EXPORTED, review=None, entity=APPRAISALS,
                                       entity_id=None, after=after)
    except Exception as exc:  # noqa: BLE001 — a read must not fail for its audit: a read-only or unreachable primary
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200] or type(exc).__name__
        log.warning("appraisal export by %s (%s, team %s, %s, %d rows) answered but not recorded in the audit "
                    "trail: %s", actor.name, period.label, team or "all", fmt, rows, reason)
        return reason
    return None
