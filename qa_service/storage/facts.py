"""``qa_facts``: one narrow row per scored transcript, what period aggregates read, with the rollups over it.

A month of a 1,000-agent centre is a million conversations; performance records, appraisals, the
dashboard and calibration add them up in the database (the per-day rollups of ``rollups.py``, or a
GROUP BY over this table, indexed by day, agent and team) instead of decoding a million report
summaries in Python.

- machine figures are written with the report, in the same transaction (:func:`write_machine`);
- ``final_*`` are set while the transcript's review is done (:func:`set_final`), so a reviewed
  score replaces the machine's where the readers want it;
- ``day`` is the local day in ``QA_PERFORMANCE__TIMEZONE``. ``qa_meta`` records the settings the
  derived rows were made under (:class:`Derivation`), and :func:`sync` derives every one again when
  they change (or on a database that never had them: all of it is rebuilt from reports and reviews).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, delete, func, select, text, update
from sqlalchemy.orm import Session

from qa_service.errors import ConfigError
from qa_service.storage.fact_tables import FACT_DIMENSIONS, FindingCount, Meta, QaDaily, QaDailyVersion, QaFact
from qa_service.storage import rollups, scoring_versions, sqlite_writer
from qa_service.storage.bulk import Prepared, prepare, upsert_rows
from qa_service.storage.tables import Finding, ManualFinding, Report, Review, Transcript, Verdict

log = logging.getLogger(__name__)

VERSION_KEY = "derived_under"
MACHINE = ("agent_id", "team_id", "at", "day", "score", "fatal", "flagged", *(f"dim_{d}" for d in FACT_DIMENSIONS),
           "extra_dims", "frt_ms", "reply_ms", "handling_ms")
FINAL = ("final_score", "final_fatal", *(f"final_{d}" for d in FACT_DIMENSIONS), "final_extra_dims")
_T = QaFact.__table__


def machine_columns(score: float, fatal: bool, summary: Mapping[str, Any]) -> dict[str, Any]:
    """The machine's figures of one report, from its stored summary (``storage.reports.report_summary``)."""
    dims = summary.get("dims") or {}
    out: dict[str, Any] = {"score": score, "fatal": bool(fatal), "flagged": bool(summary.get("flagged")),
                           "frt_ms": summary.get("frt_ms"), "reply_ms": summary.get("reply_ms"),
                           "handling_ms": summary.get("handling_ms")}
    out.update({f"dim_{d}": dims.get(d) for d in FACT_DIMENSIONS})
    out["extra_dims"] = {k: v for k, v in dims.items() if k not in FACT_DIMENSIONS} or None
    return out


def final_columns(score: float | None, fatal: bool | None, dims: Mapping[str, Any] | None) -> dict[str, Any]:
    """A done review's final figures (all None: not reviewed, or no longer done)."""
    if score is None:
        return dict.fromkeys(FINAL)
    dims = dims or {}
    out: dict[str, Any] = {"final_score": score, "final_fatal": bool(fatal)}
    out.update({f"final_{d}": dims.get(d) for d in FACT_DIMENSIONS})
    out["final_extra_dims"] = {k: v for k, v in dims.items() if k not in FACT_DIMENSIONS} or None
    return out


class DerivedElsewhere(ConfigError):
    """The stored facts were derived under other settings (time zone, first-response target) than this process's."""

    def __init__(self, stored: str, wanted: str):
        super().__init__(
            f"the database's figures were derived under {stored}; this process is configured for {wanted} "
            "(QA_PERFORMANCE__TIMEZONE, QA_PERFORMANCE__FRT_TARGET_SECONDS). If the change is meant, stop every "
            "qa process and run `qa db upgrade` with the new settings (it derives the figures again), then start "
            "them all with those settings; otherwise give this process the database's settings")
        self.stored, self.wanted = stored, wanted


@dataclass(frozen=True, slots=True)
class Derivation:
    """What derived rows depend on besides the stored data: the zone of a local day, the first-response target."""

    tz_name: str = "Asia/Shanghai"
    frt_target_ms: float = 30_000.0

    @property
    def tz(self) -> tzinfo:
        return ZoneInfo(self.tz_name)

    @property
    def version(self) -> str:
        return f"tz={self.tz_name};frt_target_ms={self.frt_target_ms:g}"


def _when(started: datetime | None, received: datetime, tz: tzinfo) -> tuple[datetime, Any]:
    at = started or received
    return at, at.astimezone(tz).date()


def _upsert(conn: Connection, rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    upsert_rows(conn, _T, rows, keys=("transcript_id",), replace=columns)


def _stored(conn: Connection, transcript_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The fact rows of these transcripts, locked until the transaction ends (PostgreSQL)."""
    query = select(_T).where(_T.c.transcript_id.in_(transcript_ids)).order_by(_T.c.transcript_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return {r.transcript_id: dict(r._mapping) for r in conn.execute(query)}


@dataclass(slots=True)
class MachinePlan:
    """The rows :func:`write_planned` writes for freshly stored reports — facts, ``qa_daily`` and
    ``finding_counts`` deltas — read, computed and converted first, so the writes come together at the
    end of the caller's transaction (on SQLite the writes hold the database's one write lock); and the
    stored facts they start from."""

    facts: Prepared
    daily: Prepared
    counts: Prepared
    before: dict[int, dict[str, Any]]
    versions: Prepared | None = None  # qa_daily_versions deltas (None: the caller gave no versions)


def plan_machine(conn: Connection, reports: Mapping[int, tuple[float, bool, Mapping[str, Any]]],
                 findings: Mapping[int, list[Mapping[str, Any]]], derive: Derivation,
                 versions: Mapping[int, scoring_versions.Version] | None = None) -> MachinePlan:
    """Plan the facts and rollups of these reports ({transcript id: (score, fatal, summary)} and their
    findings' rows, and the scoring ``versions`` they record, for ``qa_daily_versions``); nothing is written. A
    re-score replaces the machine's figures and keeps the review's final ones. Call it *before* deleting the
    reports being replaced (their findings and versions are taken back).

    The stored facts the deltas start from must not change before the writes: another worker storing a
    report for the same transcript (a slow job whose claim went stale and was taken over), or a review
    closing on it, would otherwise count it twice or leave ``e_total`` off. On PostgreSQL the plan locks
    the transcripts first, then their reviews (``SELECT … FOR UPDATE``, in id order; a review change locks
    its review, then writes the facts): the second writer waits, then plans from what the first stored. SQLite reads outside any transaction until the first write, and holding
    its one write lock while planning would hold up ingest: the plan is made outside it, then the write
    transaction begins (``sqlite_writer.begin_write``) and the stored facts are read again — if another
    writer changed them in between, the plan is made again, under the lock."""
    plan = _plan(conn, reports, findings, derive, versions)
    if reports and sqlite_writer.begin_write(conn) and _stored(conn, sorted(reports)) != plan.before:
        plan = _plan(conn, reports, findings, derive, versions)
    return plan


def _plan(conn: Connection, reports: Mapping[int, tuple[float, bool, Mapping[str, Any]]],
          findings: Mapping[int, list[Mapping[str, Any]]], derive: Derivation,
          versions: Mapping[int, scoring_versions.Version] | None) -> MachinePlan:
    ids = sorted(reports)
    if not ids:
        return MachinePlan(*(prepare(conn, table, []) for table in (_T, QaDaily.__table__, FindingCount.__table__)),
                           before={})
    t = Transcript.__table__
    query = (select(t.c.id, t.c.agent_id, t.c.team_id, t.c.started_at, t.c.received_at)
             .where(t.c.id.in_(ids)).order_by(t.c.id))
    who = conn.execute(query.with_for_update() if conn.dialect.name == "postgresql" else query).all()
    if conn.dialect.name == "postgresql":  # and their reviews, before the facts are read: a review closing
        # (its row, then the facts) is waited for whole, and waits for this in the same order (no deadlock)
        conn.execute(select(Review.id).where(Review.transcript_id.in_(ids)).order_by(Review.id).with_for_update())
    before = _stored(conn, ids)
    taken_back = rollups.stored_findings(conn, [i for i in ids if i in before])
    rows = []
    for tid, agent, team, started, received in who:
        at, day = _when(started, received, derive.tz)
        score, fatal, summary = reports[tid]
        rows.append({"transcript_id": tid, "agent_id": agent, "team_id": team, "at": at, "day": day,
                     **machine_columns(score, fatal, summary)})
    after = [{**before.get(r["transcript_id"], {}), **r} for r in rows]
    added = [(r["day"], r["team_id"], rollups.counted(findings.get(r["transcript_id"], ())), 1) for r in rows]
    daily = rollups.daily_rows(before.values(), after, derive.frt_target_ms)
    counts = rollups.count_rows([*taken_back, *added])
    moved = None
    if versions is not None:
        changes = scoring_versions.stored(conn, [i for i in ids if i in before])
        changes += [(r["day"], r["team_id"], versions[r["transcript_id"]], 1) for r in rows]
        moved = prepare(conn, QaDailyVersion.__table__, scoring_versions.delta_rows(changes))
    return MachinePlan(prepare(conn, _T, rows), prepare(conn, QaDaily.__table__, daily),
                       prepare(conn, FindingCount.__table__, counts), before, moved)


def write_planned(conn: Connection, plan: MachinePlan) -> None:
    """Write the planned facts and move the rollups."""
    upsert_rows(conn, _T, plan.facts, keys=("transcript_id",), replace=MACHINE)
    rollups.write(conn, plan.daily, plan.counts)
    if plan.versions is not None:
        scoring_versions.write(conn, plan.versions)


def write_machine(conn: Connection, reports: Mapping[int, tuple[float, bool, Mapping[str, Any]]],
                  findings: Mapping[int, list[Mapping[str, Any]]], derive: Derivation,
                  versions: Mapping[int, scoring_versions.Version] | None = None) -> None:
    """Facts and rollups of freshly stored reports: :func:`plan_machine` then :func:`write_planned`."""
    write_planned(conn, plan_machine(conn, reports, findings, derive, versions))


def set_final(session: Session, transcript_id: int, *, score: float | None, fatal: bool | None,
              dims: Mapping[str, Any] | None) -> None:
    """Record a done review's final figures on its transcript's facts (None clears them)."""
    conn = session.connection()
    sqlite_writer.begin_write(conn)  # what is read is what the write moves (a re-score may be writing)
    before = _stored(conn, [transcript_id]).get(transcript_id)
    if before is None:
        return
    final = final_columns(score, fatal, dims)
    conn.execute(update(_T).where(_T.c.transcript_id == transcript_id).values(**final))
    # Only the effective total moves: the timings (and so the first-response target) are the same on both sides.
    rollups.apply_facts(conn, [before], [{**before, **final}], frt_target_ms=0.0)


def scopes(session: Session, transcript_ids: Sequence[int]) -> dict[int, tuple[Any, str | None]]:
    """(local day, team) of scored transcripts: the scope their reviews are counted in."""
    query = select(_T.c.transcript_id, _T.c.day, _T.c.team_id).where(_T.c.transcript_id.in_(list(transcript_ids)))
    return {tid: (day, team) for tid, day, team in session.execute(query)}


def rebuild(session: Session, derive: Derivation, *, batch: int = 5000) -> int:
    """Derive every fact, both rollups and the reviews' scope again from the stored reports and
    reviews; returns how many facts."""
    conn = session.connection()
    conn.execute(delete(_T))
    query = (select(Transcript.id, Transcript.agent_id, Transcript.team_id, Transcript.started_at,
                    Transcript.received_at, Report.score, Report.fatal, Report.summary, Review.status,
                    Review.final_score, Review.final_fatal, Review.final_dims)
             .join(Report, Report.transcript_id == Transcript.id)
             .outerjoin(Review, Review.transcript_id == Transcript.id).order_by(Transcript.id).limit(batch))
    last, n = 0, 0
    while rows := conn.execute(query.where(Transcript.id > last)).all():
        out = []
        for tid, agent, team, started, received, score, fatal, summary, status, fs, ff, fd in rows:
            at, day = _when(started, received, derive.tz)
            done = status == "done"
            out.append({"transcript_id": tid, "agent_id": agent, "team_id": team, "at": at, "day": day,
                        **machine_columns(score, fatal, summary or {}),
                        **final_columns(fs if done else None, ff, fd)})
        _upsert(conn, out, (*MACHINE, *FINAL))
        last, n = rows[-1][0], n + len(rows)
    rollups.rebuild(conn, derive.frt_target_ms)
    scoring_versions.rebuild(conn)
    rescope_reviews(conn)
    return n


def rescope_reviews(conn: Connection, transcript_ids: Sequence[int] | None = None) -> None:
    """Reviews, verdicts and manual findings take their transcript's day and team (and pass mark) again (those
    of ``transcript_ids`` only, when given)."""
    r, v, m = Review.__table__, Verdict.__table__, ManualFinding.__table__
    fact = lambda col: select(col).where(_T.c.transcript_id == r.c.transcript_id).scalar_subquery()  # noqa: E731
    mark = select(Report.pass_mark).where(Report.transcript_id == r.c.transcript_id).scalar_subquery()
    only = [] if transcript_ids is None else [r.c.transcript_id.in_(list(transcript_ids))]
    conn.execute(update(r).where(*only).values(day=fact(_T.c.day), team_id=fact(_T.c.team_id), pass_mark=mark))
    for child in (v, m):
        parent = lambda col: select(col).where(r.c.id == child.c.review_id).scalar_subquery()  # noqa: E731
        of = [] if transcript_ids is None else [child.c.review_id.in_(select(r.c.id).where(*only))]
        conn.execute(update(child).where(*of).values(day=parent(r.c.day), team_id=parent(r.c.team_id)))


def _without_facts():
    """A report whose transcript has no fact row: an anti-join on the two tables' unique transcript ids."""
    return ~select(_T.c.transcript_id).where(_T.c.transcript_id == Report.transcript_id).exists()


def count_missing(*, session: Session) -> int:
    """Scored transcripts (with a report) that have no fact row: a worker of a release before the facts
    (revision 0008) still running after the upgrade stores reports without them, and every period figure
    leaves those conversations out. An anti-join on the two tables' unique transcript ids (PostgreSQL: the
    reports' index and the facts' narrow rows, 0.4–0.8 s at a million reports on two cores)."""
    return int(session.scalar(select(func.count()).select_from(Report).where(_without_facts())) or 0)


def missing(*, session: Session, after: int = 0, limit: int = 2000) -> list[int]:
    """Up to ``limit`` transcripts above id ``after`` whose report has no fact row, in id order."""
    query = (select(Report.transcript_id).where(_without_facts(), Report.transcript_id > after)
             .order_by(Report.transcript_id).limit(limit))
    return list(session.scalars(query))


def derive_missing(*, session: Session, transcript_ids: Sequence[int], derive: Derivation) -> int:
    """Facts and rollups of these transcripts' stored reports where they have none (:func:`missing`), as
    the worker would have written them (a done review's final figures too), and their reviews' scope;
    returns how many. The transcripts are locked first (PostgreSQL; SQLite: the write lock), so a worker
    storing a report for one meanwhile is waited for, and one it gave facts is left alone."""
    conn = session.connection()
    sqlite_writer.begin_write(conn)
    t = Transcript.__table__
    lock = select(t.c.id).where(t.c.id.in_(list(transcript_ids))).order_by(t.c.id)
    conn.execute(lock.with_for_update() if conn.dialect.name == "postgresql" else lock)
    rows = conn.execute(select(Report.id, Report.transcript_id, Report.score, Report.fatal, Report.summary,
                               Report.rule_pack, Report.rule_pack_version, Report.scorecard_version)
                        .where(Report.transcript_id.in_(list(transcript_ids)), _without_facts())).all()
    if not rows:
        return 0
    f = Finding.__table__.c
    by_report: dict[int, list[dict[str, Any]]] = {}
    for report_id, rule, dimension, message, points in conn.execute(
            select(f.report_id, f.rule_id, f.dimension, f.message, f.points)
            .where(f.report_id.in_([row.id for row in rows]))):
        by_report.setdefault(report_id, []).append({"rule_id": rule, "dimension": dimension, "message": message,
                                                    "points": points})
    write_machine(conn, {row.transcript_id: (row.score, row.fatal, row.summary or {}) for row in rows},
                  {row.transcript_id: by_report.get(row.id, []) for row in rows}, derive,
                  {row.transcript_id: scoring_versions.of_report(row._mapping) for row in rows})
    ids = [row.transcript_id for row in rows]
    for tid, score, fatal, dims in conn.execute(
            select(Review.transcript_id, Review.final_score, Review.final_fatal, Review.final_dims)
            .where(Review.transcript_id.in_(ids), Review.status == "done")):
        set_final(session, tid, score=score, fatal=fatal, dims=dims)
    rescope_reviews(conn, ids)
    return len(ids)


def is_current(session: Session, derive: Derivation) -> bool:
    """The derived rows were made under ``derive`` (read without a lock: what :func:`sync` would find, usually)."""
    meta = session.get(Meta, VERSION_KEY)
    return meta is not None and meta.value == derive.version


def sync(session: Session, derive: Derivation, *, rederive: bool = True) -> int | None:
    """Derive everything again when it was derived under other settings, or never; returns how many
    facts were derived (None: already current). Safe to call from several processes at once. With
    ``rederive`` False, facts derived under other settings raise :class:`DerivedElsewhere` instead (a
    process starting with other settings must not re-derive everyone's figures under its own)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext('qa_facts_sync'))"))
    meta = session.get(Meta, VERSION_KEY)
    if meta is not None and meta.value == derive.version:
        return None
    if meta is not None and not rederive:
        raise DerivedElsewhere(meta.value, derive.version)
    log.info("deriving qa_facts and rollups under %s (were: %s)", derive.version, meta.value if meta else "never")
    n = rebuild(session, derive)
    if meta is None:
        session.add(Meta(key=VERSION_KEY, value=derive.version))
    else:
        meta.value = derive.version
    return n
