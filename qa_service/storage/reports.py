"""Report repository: write a scored report (replacing an earlier one) and read it back.

Persistence only: what happens next (the review queue) is the caller's business.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from qa_service.domain import QAReport, TranscriptStatus
from qa_service.storage import facts, reviews, scoring_versions
from qa_service.storage.bulk import insert_rows, insert_rows_returning_ids, prepare
from qa_service.storage.tables import Finding, Flag, Report, Transcript, utcnow


def report_summary(dimensions: dict[str, dict[str, Any]], flagged: bool) -> dict[str, Any]:
    """The few numbers performance records need, from a report's stored dimension details."""
    timing = (dimensions.get("timing") or {}).get("metrics") or {}
    reply = timing.get("reply_latency_ms") or {}
    return {
        "dims": {name: (d.get("score") if d.get("applicable", True) else None) for name, d in dimensions.items()},
        "flagged": flagged,
        "frt_ms": timing.get("first_response_ms"),
        "reply_ms": reply.get("mean") if isinstance(reply, dict) else None,
        "handling_ms": timing.get("duration_ms"),
    }


def finding_row(report_id: int, finding_dict: dict[str, Any]) -> dict[str, Any]:
    """A finding's public shape (``Finding.as_dict``) as a ``findings`` row."""
    row = {k: v for k, v in finding_dict.items() if k != "span"}
    row["span_start"], row["span_end"] = finding_dict["span"]
    return {"report_id": report_id, **row}


def _report_row(transcript_id: int, report: QAReport, now) -> dict[str, Any]:
    dimensions = report.dimension_details()
    return {
        "transcript_id": transcript_id, "score": report.score, "fatal": report.fatal, "dimensions": dimensions,
        "weights": report.weights, "scorer_versions": report.scorer_versions, "rule_pack": report.rule_pack,
        "rule_pack_version": report.rule_pack_version, "rule_pack_hash": report.rule_pack_hash,
        "duration_ms": round(report.duration_ms, 3), "summary": report_summary(dimensions, bool(report.flags)),
        "pass_mark": report.pass_mark, "scorecard_version": report.scorecard_version, "created_at": now,
    }


def save_many(*, session: Session, reports: dict[int, QAReport],
              derive: facts.Derivation = facts.Derivation()) -> dict[int, int]:
    """Store each transcript's report (replacing an earlier one) with its facts and rollups (made under
    ``derive``) and mark it ``scored``, in a few multi-row statements whatever the number;
    returns {transcript id: report id}.

    Every row is built and converted (JSON dumped) before the first write: on SQLite the write
    transaction holds the database's only write lock, and ingest waits behind it."""
    if not reports:
        return {}
    conn = session.connection()  # Core statements: no ORM objects on the hot path
    ids = list(reports)
    now = utcnow()
    r = Report.__table__
    rows = [_report_row(tid, rep, now) for tid, rep in reports.items()]
    found = {tid: [f.as_dict() for f in rep.findings] for tid, rep in reports.items()}
    new_reports = prepare(conn, r, rows)
    # findings and flags name their transcript's report by the transcript id until the report has an id
    findings = prepare(conn, Finding.__table__, [finding_row(tid, f) for tid in reports for f in found[tid]])
    flags = prepare(conn, Flag.__table__, [
        {"report_id": tid, "transcript_id": tid, "reason": f.reason, "severity": f.severity.value, "detail": f.detail}
        for tid, rep in reports.items() for f in rep.flags])
    machine = facts.plan_machine(conn, {row["transcript_id"]: (row["score"], row["fatal"], row["summary"])
                                        for row in rows}, found, derive,
                                 {row["transcript_id"]: scoring_versions.of_report(row) for row in rows})
    facts.write_planned(conn, machine)  # the first write (on SQLite the plan has begun the transaction)
    links = reviews.finding_links(conn, ids)  # a re-score: verdicts and appeals on the findings it replaces
    conn.execute(delete(r).where(r.c.transcript_id.in_(ids)))
    report_ids = dict(zip((row["transcript_id"] for row in rows), insert_rows_returning_ids(conn, r, new_reports)))
    for batch in (findings, flags):
        if batch:
            batch.remap("report_id", report_ids)
            insert_rows(conn, batch.table, batch)
    reviews.relink(conn, links, report_ids)
    t = Transcript.__table__
    conn.execute(update(t).where(t.c.id.in_(ids)).values(
        status=TranscriptStatus.scored.value, scored_at=now, status_changed_at=now, last_error=None))
    return report_ids


def save(*, session: Session, transcript_id: int, report: QAReport,
         derive: facts.Derivation = facts.Derivation()) -> int:
    """Store ``report`` for the transcript and mark it ``scored``; return the report id."""
    return save_many(session=session, reports={transcript_id: report}, derive=derive)[transcript_id]


def get_for_transcript(*, session: Session, transcript_id: int) -> Report | None:
    return session.scalars(select(Report).where(Report.transcript_id == transcript_id)).one_or_none()
