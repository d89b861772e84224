"""Which scoring made the stored reports: the ``qa_daily_versions`` rollup, and the reports the current packs
would score otherwise.

A stored report keeps the scoring it was made with — its rule pack, the pack's version and its scorecard's
version — until it is scored again. After an upgrade (or a pack edited) a period holds reports of several, and
its figures mix them. ``qa_daily_versions`` counts the scored transcripts per day, team and (pack, version,
scorecard version), moved with the facts in the transaction that writes them (``storage/facts.py``: the report
replaced taken back, the new one added), so a period's mix is read from a few hundred rows, not its reports.
``''`` stands for a value the report does not record.

A worker of a release before 0015 left running after the upgrade writes the facts but not this rollup; a report
it stored and a current worker later replaces is taken back from a count that never had it (``n`` below zero).
:func:`drift` finds that (each day's counts against its facts, and counts below zero), ``qa db upgrade`` derives
the rollup again when it finds any (:func:`repair`), ``qa status`` says so, and :func:`in_period` leaves such
rows out.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import (Connection, and_, case, delete, exists, func, insert, literal_column, not_, or_, select, text,
                        true, union_all)
from sqlalchemy.orm import Session

from qa_service.storage import sqlite_writer
from qa_service.storage.bulk import Prepared, upsert_rows
from qa_service.storage.fact_tables import QaDailyVersion, QaFact
from qa_service.storage.tables import Report, Transcript

Version = tuple[str | None, str | None, str | None]  # (rule pack, its version, its scorecard's version)
KEYS = ("day", "team_key", "rule_pack", "rule_pack_version", "scorecard_version")
_V = QaDailyVersion.__table__
log = logging.getLogger(__name__)
_said_below_zero = False  # in_period logs counts below zero once per process


def of_report(report: Mapping[str, Any]) -> Version:
    """The scoring version a report row (or its dict) records."""
    return report.get("rule_pack"), report.get("rule_pack_version"), report.get("scorecard_version")


def stored(conn: Connection, transcript_ids: Sequence[int]) -> list[tuple[Any, str | None, Version, int]]:
    """The versions of these transcripts' stored reports, where they are counted (they have facts), as changes
    that take them back: (day, team, version, -1). Read before the reports are replaced."""
    if not transcript_ids:
        return []
    query = (select(QaFact.day, QaFact.team_id, Report.rule_pack, Report.rule_pack_version, Report.scorecard_version)
             .join(Report, Report.transcript_id == QaFact.transcript_id)
             .where(QaFact.transcript_id.in_(list(transcript_ids))))
    return [(day, team, (pack, version, card), -1) for day, team, pack, version, card in conn.execute(query)]


def delta_rows(changes: Iterable[tuple[Any, str | None, Version, int]]) -> list[dict[str, Any]]:
    """The ``qa_daily_versions`` deltas of (day, team, version, sign) changes, in key order (no deadlocks)."""
    totals: Counter = Counter()
    for day, team, (pack, version, card), sign in changes:
        totals[(day, team or "", pack or "", version or "", card or "")] += sign
    return [dict(zip((*KEYS, "n"), (*key, n))) for key, n in sorted(totals.items()) if n]


def write(conn: Connection, rows: Sequence[dict[str, Any]] | Prepared) -> None:
    """Add deltas of :func:`delta_rows` (or those rows prepared) to the rollup."""
    upsert_rows(conn, _V, rows, keys=KEYS, add=("n",))


def rebuild(conn: Connection) -> None:
    """Derive the rollup again from ``qa_facts`` and the stored reports."""
    conn.execute(delete(_V))
    none = literal_column("''")  # not a parameter: GROUP BY must see the same expression as SELECT
    cols = [QaFact.day, func.coalesce(QaFact.team_id, none), func.coalesce(Report.rule_pack, none),
            func.coalesce(Report.rule_pack_version, none), func.coalesce(Report.scorecard_version, none)]
    grouped = (select(*cols, func.count()).join(Report, Report.transcript_id == QaFact.transcript_id)
               .group_by(*cols))
    conn.execute(insert(_V).from_select([*KEYS, "n"], grouped))


@dataclass(frozen=True, slots=True)
class Drift:
    """How far the rollup is from the facts it counts: local days whose counts add up to another number than
    their scored transcripts (``qa_facts``), and rows counting below zero."""

    days: int = 0
    below_zero: int = 0

    def __bool__(self) -> bool:
        return bool(self.days or self.below_zero)

    def describe(self) -> str:
        return (f"{self.days} day(s) whose scoring-version counts differ from their scored transcripts, "
                f"{self.below_zero} count(s) below zero")


def drift(conn: Connection) -> Drift:
    """Whether the rollup still counts what ``qa_facts`` holds: per day ``SUM(n)`` against ``COUNT(*)`` of the
    facts, and rows with ``n < 0``. One statement, so one snapshot: a worker storing a report meanwhile cannot
    make a difference that is not there. Reads every fact's day (an index-only scan of ``ix_qa_facts_day_agent``
    on PostgreSQL): for admin commands, not a request's path."""
    counted = select(_V.c.day.label("day"), func.sum(_V.c.n).label("n")).group_by(_V.c.day)
    facts = select(QaFact.day.label("day"), (-func.count()).label("n")).group_by(QaFact.day)
    both = union_all(counted, facts).subquery()
    days = select(both.c.day).group_by(both.c.day).having(func.sum(both.c.n) != 0).subquery()
    row = conn.execute(select(select(func.count()).select_from(days).scalar_subquery(),
                              select(func.count()).select_from(_V).where(_V.c.n < 0).scalar_subquery())).one()
    return Drift(int(row[0] or 0), int(row[1] or 0))


def repair(session: Session) -> Drift:
    """:func:`drift`, and when there is any, the rollup derived again (:func:`rebuild`) with the workers' writes
    to it held off until this transaction ends (PostgreSQL: ``LOCK TABLE … IN EXCLUSIVE MODE``, so a report
    stored meanwhile moves the rebuilt counts after; SQLite: the write lock); returns what differed."""
    conn = session.connection()
    found = drift(conn)
    if found:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"LOCK TABLE {_V.name} IN EXCLUSIVE MODE"))
        else:
            sqlite_writer.begin_write(conn)
        rebuild(conn)
    return found


def take_out(conn: Connection, transcript_ids: Sequence[int]) -> None:
    """Subtract these transcripts' stored reports from the rollup before they are deleted (an erasure); a row
    left counting nothing goes, as if they had never been stored."""
    changes = stored(conn, transcript_ids)
    if changes:
        write(conn, delta_rows(changes))
        conn.execute(delete(_V).where(_V.c.day.in_(sorted({day for day, *_ in changes})), _V.c.n <= 0))


def purge(session: Session, *, before: date) -> None:
    """The rollup's days before ``before`` (retention)."""
    session.execute(delete(_V).where(_V.c.day < before))


def in_period(*, session: Session, start: date, end: date, team: str | None = None
              ) -> list[tuple[str | None, str | None, str | None, int]]:
    """(rule pack, version, scorecard version, scored transcripts) of the local days ``start``..``end`` (of
    ``team`` only), most first; None where a report records none. A range of the rollup's key: a month of a
    1,000-agent centre is a few thousand rows. Rows counting zero or less are left out (below zero: a count an
    older worker never added, taken back; logged once per process): a negative count named a scoring no report
    of the period had."""
    global _said_below_zero
    query = (select(_V.c.rule_pack, _V.c.rule_pack_version, _V.c.scorecard_version,
                    func.sum(case((_V.c.n > 0, _V.c.n), else_=0)), func.min(_V.c.n))
             .where(_V.c.day >= start, _V.c.day <= end, *([_V.c.team_key == team] if team is not None else []))
             .group_by(_V.c.rule_pack, _V.c.rule_pack_version, _V.c.scorecard_version))
    found = session.execute(query).all()
    if not _said_below_zero and any(low < 0 for *_, low in found):
        _said_below_zero = True
        log.warning("qa_daily_versions counts a scoring version below zero (a report stored by a worker of a "
                    "release before 0015, scored again since): those counts are left out; run qa db upgrade to "
                    "derive the rollup again (said once per process)")
    rows = [(pack or None, version or None, card or None, int(n)) for pack, version, card, n, _ in found if n]
    return sorted(rows, key=lambda r: (-r[3], tuple(v or "" for v in r[:3])))


@dataclass(frozen=True, slots=True)
class Current:
    """What a report scored now would record: per scenario a pack serves (its scenario or its name), and for
    any other scenario (the default pack's)."""

    default: Version
    by_scenario: dict[str, Version] = field(default_factory=dict)


def _records(r, version: Version):
    pack, pack_version, card = version
    return and_(r.c.rule_pack == pack, r.c.rule_pack_version == pack_version,
                r.c.scorecard_version.is_not_distinct_from(card))


def outdated(current: Current):
    """A transcript whose report records another rule pack, pack version or scorecard version than the
    current packs would (by its scenario, as the pipeline chooses the pack): a clause on ``transcripts``."""
    r = Report.__table__.alias("scored")  # the query it goes into may join reports itself
    served = list(current.by_scenario)
    now = [and_(Transcript.scenario == scenario, _records(r, v)) for scenario, v in current.by_scenario.items()]
    other = or_(Transcript.scenario.is_(None), Transcript.scenario.not_in(served)) if served else true()
    now.append(and_(other, _records(r, current.default)))
    return exists(select(r.c.id).where(r.c.transcript_id == Transcript.id, not_(or_(*now))))
