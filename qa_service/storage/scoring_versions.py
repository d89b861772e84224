"""Which scoring made the stored reports: the ``qa_daily_versions`` rollup, and the reports the current packs
would score otherwise.

A stored report keeps the scoring it was made with — its rule pack, the pack's version and its scorecard's
version — until it is scored again. After an upgrade (or a pack edited) a period holds reports of several, and
its figures mix them. ``qa_daily_versions`` counts the scored transcripts per day, team and (pack, version,
scorecard version), moved with the facts in the transaction that writes them (``storage/facts.py``: the report
replaced taken back, the new one added), so a period's mix is read from a few hundred rows, not its reports.
``''`` stands for a value the report does not record.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, func, insert, literal_column, not_, or_, select, true
from sqlalchemy.orm import Session

from qa_service.storage.bulk import Prepared, upsert_rows
from qa_service.storage.fact_tables import QaDailyVersion, QaFact
from qa_service.storage.tables import Report, Transcript

Version = tuple[str | None, str | None, str | None]  # (rule pack, its version, its scorecard's version)
KEYS = ("day", "team_key", "rule_pack", "rule_pack_version", "scorecard_version")
_V = QaDailyVersion.__table__


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
    1,000-agent centre is a few thousand rows."""
    query = (select(_V.c.rule_pack, _V.c.rule_pack_version, _V.c.scorecard_version, func.sum(_V.c.n))
             .where(_V.c.day >= start, _V.c.day <= end, *([_V.c.team_key == team] if team is not None else []))
             .group_by(_V.c.rule_pack, _V.c.rule_pack_version, _V.c.scorecard_version))
    rows = [(pack or None, version or None, card or None, int(n)) for pack, version, card, n in session.execute(query)
            if n]
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
