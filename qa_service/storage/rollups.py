"""Per-day rollups kept current as facts are written, so a month's figures read thousands of rows, not millions.

- ``qa_daily`` (day, agent, team): count, score sums, fatal, flagged, the effective total (final
  where a review is done), dimension and timing sums. Written as deltas in the transaction that
  writes the facts: a new report adds its row, a re-score subtracts the old one, a review that
  closes swaps the machine score for the final one in the effective total.
- ``finding_counts`` (day, team, rule): findings that cost or earned points (the dashboard's
  frequent findings), added when a report is stored and taken back when it is replaced.

Both are derived from ``qa_facts`` and the findings by :func:`rebuild` (a changed time zone or
first-response target, a repair). ``''`` stands for "no agent" / "no team" in their keys. Conversations
erased one by one (``qa erase``) are taken out of them by :func:`take_out`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, case, delete, func, insert, literal_column, select

from qa_service.storage.fact_tables import FACT_DIMENSIONS as DIMENSIONS
from qa_service.storage.fact_tables import FindingCount, QaDaily, QaFact
from qa_service.storage.tables import Finding, Report
from qa_service.storage.bulk import Prepared, upsert_rows

TIMES = ("frt", "reply", "handling")
SUMS = ("n", "total", "total_sq", "fatal", "flagged", "e_total",
        *(f"dim_{d}_{k}" for d in DIMENSIONS for k in ("sum", "n")), *(f"{t}_{k}" for t in TIMES for k in ("sum", "n")),
        "frt_within")
_D = QaDaily.__table__
_C = FindingCount.__table__


def _key(value: str | None) -> str:
    return value or ""


def contribution(fact: Mapping[str, Any], frt_target_ms: float) -> dict[str, float]:
    """What one fact row adds to its day's ``qa_daily`` sums."""
    score = fact["score"]
    final = fact.get("final_score")
    out = {"n": 1, "total": score, "total_sq": score * score, "fatal": int(bool(fact["fatal"])),
           "flagged": int(bool(fact["flagged"])), "e_total": final if final is not None else score}
    for d in DIMENSIONS:
        v = fact.get(f"dim_{d}")
        if v is not None:
            out[f"dim_{d}_sum"], out[f"dim_{d}_n"] = v, 1
    for t in TIMES:
        v = fact.get(f"{t}_ms")
        if v is not None:
            out[f"{t}_sum"], out[f"{t}_n"] = v, 1
    frt = fact.get("frt_ms")
    out["frt_within"] = int(frt is not None and frt <= frt_target_ms)
    return out


DAILY_KEYS = ("day", "agent_key", "team_key")
COUNT_KEYS = ("day", "team_key", "rule_id")


def daily_rows(before: Iterable[Mapping[str, Any]], after: Iterable[Mapping[str, Any]],
               frt_target_ms: float) -> list[dict[str, Any]]:
    """The ``qa_daily`` deltas that move it from the fact rows ``before`` to the rows ``after`` (new,
    replaced or updated), in key order (writers lock rows in the same order: no deadlocks)."""
    deltas: dict[tuple, Counter] = defaultdict(Counter)
    for sign, facts in ((-1, before), (1, after)):
        for f in facts:
            key = (f["day"], _key(f["agent_id"]), _key(f["team_id"]))
            for col, v in contribution(f, frt_target_ms).items():
                deltas[key][col] += sign * v
    return [{"day": d, "agent_key": a, "team_key": t, **{c: delta.get(c, 0) for c in SUMS}}
            for (d, a, t), delta in sorted(deltas.items()) if any(delta.values())]


def counted(findings: Iterable[Mapping[str, Any]]) -> Counter:
    """(rule, dimension, message) → how many of these findings moved points."""
    return Counter((f["rule_id"], f["dimension"], f.get("message") or "") for f in findings if f["points"])


def count_rows(changes: Iterable[tuple[Any, str | None, Counter, int]]) -> list[dict[str, Any]]:
    """The ``finding_counts`` deltas of counted findings added (sign +1) or taken back (−1) in a (day,
    team): ``changes`` = (day, team, counts, sign); in key order."""
    totals: dict[tuple, int] = Counter()
    labels: dict[tuple, tuple[str, str]] = {}
    for day, team, counts, sign in changes:
        for (rule, dimension, message), n in counts.items():
            key = (day, _key(team), rule)
            totals[key] += sign * n
            labels[key] = (dimension, message)
    return [{"day": d, "team_key": t, "rule_id": r, "dimension": labels[(d, t, r)][0],
             "message": labels[(d, t, r)][1], "n": n} for (d, t, r), n in sorted(totals.items()) if n]


def write(conn: Connection, daily: Sequence[dict[str, Any]] | Prepared = (),
          counts: Sequence[dict[str, Any]] | Prepared = ()) -> None:
    """Add deltas of :func:`daily_rows` and :func:`count_rows` (or those rows prepared) to the rollups."""
    upsert_rows(conn, _D, daily, keys=DAILY_KEYS, add=SUMS)
    upsert_rows(conn, _C, counts, keys=COUNT_KEYS, add=("n",), replace=("dimension", "message"))


def apply_facts(conn: Connection, before: Iterable[Mapping[str, Any]], after: Iterable[Mapping[str, Any]],
                frt_target_ms: float) -> None:
    """Move ``qa_daily`` from the fact rows ``before`` to the rows ``after`` (new, replaced or updated)."""
    write(conn, daily=daily_rows(before, after, frt_target_ms))


def stored_findings(conn: Connection, transcript_ids: list[int]) -> list[tuple[Any, str | None, Counter, int]]:
    """The counted findings of these transcripts' stored reports, as changes that take them back."""
    if not transcript_ids:
        return []
    f = Finding.__table__
    query = (select(QaFact.day, QaFact.team_id, f.c.rule_id, f.c.dimension, f.c.message, func.count())
             .join(Report, Report.id == f.c.report_id).join(QaFact, QaFact.transcript_id == Report.transcript_id)
             .where(Report.transcript_id.in_(transcript_ids), f.c.points != 0)
             .group_by(QaFact.day, QaFact.team_id, f.c.rule_id, f.c.dimension, f.c.message))
    return [(day, team, Counter({(rule, dim, msg or ""): n}), -1) for day, team, rule, dim, msg, n in conn.execute(query)]


def take_out(conn: Connection, transcript_ids: Sequence[int], frt_target_ms: float) -> None:
    """Take these transcripts' figures out of both rollups, before their facts, reports and findings are
    deleted (an erasure): their ``qa_daily`` contributions and counted findings are subtracted, and a row
    left counting nothing goes, as if they had never been stored. The facts are locked first on PostgreSQL
    (the caller has locked the transcripts and their reviews, as a report being stored or a review closing
    does: same order, no deadlock); on SQLite the caller's write transaction has begun."""
    if not transcript_ids:
        return
    F = QaFact.__table__
    query = select(F).where(F.c.transcript_id.in_(list(transcript_ids))).order_by(F.c.transcript_id)
    gone = [dict(r._mapping) for r in conn.execute(
        query.with_for_update() if conn.dialect.name == "postgresql" else query)]
    if not gone:
        return
    daily = daily_rows(gone, [], frt_target_ms)
    counts = count_rows(stored_findings(conn, [f["transcript_id"] for f in gone]))
    write(conn, daily, counts)
    days = sorted({f["day"] for f in gone})
    conn.execute(delete(_D).where(_D.c.day.in_(days), _D.c.n <= 0))
    conn.execute(delete(_C).where(_C.c.day.in_(days), _C.c.n <= 0))


def rebuild(conn: Connection, frt_target_ms: float) -> None:
    """Derive both rollups again from ``qa_facts`` and the stored findings."""
    conn.execute(delete(_D))
    conn.execute(delete(_C))
    F = QaFact.__table__.c
    one = lambda cond: func.sum(case((cond, 1), else_=0))  # noqa: E731
    none = literal_column("''")  # not a parameter: GROUP BY must see the same expression as SELECT
    agent, team = func.coalesce(F.agent_id, none), func.coalesce(F.team_id, none)
    cols = {"day": F.day, "agent_key": agent, "team_key": team,
            "n": func.count(), "total": func.sum(F.score), "total_sq": func.sum(F.score * F.score),
            "fatal": one(F.fatal.is_(True)), "flagged": one(F.flagged.is_(True)),
            "e_total": func.sum(func.coalesce(F.final_score, F.score)), "frt_within": one(F.frt_ms <= frt_target_ms)}
    for d in DIMENSIONS:
        cols[f"dim_{d}_sum"] = func.coalesce(func.sum(F[f"dim_{d}"]), 0)
        cols[f"dim_{d}_n"] = func.count(F[f"dim_{d}"])
    for t in TIMES:
        cols[f"{t}_sum"] = func.coalesce(func.sum(F[f"{t}_ms"]), 0)
        cols[f"{t}_n"] = func.count(F[f"{t}_ms"])
    grouped = select(*(c.label(k) for k, c in cols.items())).group_by(F.day, agent, team)
    conn.execute(insert(_D).from_select(list(cols), grouped))
    f = Finding.__table__.c
    counts = (select(F.day, team, f.rule_id, func.max(f.dimension), func.max(f.message), func.count())
              .select_from(Finding.__table__).join(Report, Report.id == f.report_id)
              .join(QaFact, QaFact.transcript_id == Report.transcript_id).where(f.points != 0)
              .group_by(F.day, team, f.rule_id))
    conn.execute(insert(_C).from_select(["day", "team_key", "rule_id", "dimension", "message", "n"], counts))
