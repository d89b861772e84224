"""Bulk inserts (``COPY`` on PostgreSQL, executemany on SQLite) store exactly what executemany stored.

Every case runs on both backends (PostgreSQL when it answers). The texts are the awkward ones for a
``COPY`` stream: tabs, newlines, backslashes, ``\\N``, quotes, non-BMP characters, an empty string.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from qa_service.storage.bulk import _copy_columns, insert_rows
from qa_service.storage.tables import Finding, Report, Transcript, Utterance, utcnow

AWKWARD = ["制表\t符", "换行\n第二行", "反斜杠 \\ 和 \\N 不是空", "引号 \"' ,;", "表情 😡🙏", "", "普通的一句话"]


def _transcript(s) -> int:
    t = Transcript(source="bulk", external_id="b1", content_hash="x")
    s.add(t)
    s.flush()
    return t.id


def test_rows_round_trip_with_awkward_text_nulls_and_defaults(rt):
    with rt.session() as s:
        tid = _transcript(s)
        conn = s.connection()
        rows = [{"transcript_id": tid, "index": i, "role": "customer" if i % 2 else "agent", "text": text,
                 "start_ms": None if i == 3 else i * 1000, "end_ms": None, "asr_confidence": 0.5 if i == 2 else None}
                for i, text in enumerate(AWKWARD)]
        # PostgreSQL (psycopg) takes the COPY path, SQLite executemany
        assert (_copy_columns(conn, Utterance.__table__, set(rows[0])) is not None) == (conn.dialect.name == "postgresql")
        assert _copy_columns(conn, Report.__table__, {"transcript_id", "dimensions"}) is None  # JSON: executemany
        insert_rows(conn, Utterance.__table__, rows)
        report = Report(transcript_id=tid, score=90.0, fatal=False, dimensions={"a": {"score": 1}}, weights={},
                        scorer_versions={}, rule_pack="general", rule_pack_version="1", rule_pack_hash="h",
                        duration_ms=1.0, summary={}, created_at=utcnow())
        s.add(report)
        s.flush()
        insert_rows(conn, Finding.__table__, [  # no "message" nor "fatal": the columns' defaults
            {"report_id": report.id, "dimension": "politeness", "rule_id": "r.1", "utterance_index": 1,
             "span_start": 0, "span_end": 2, "quote": AWKWARD[2], "points": -5.0, "severity": "major",
             "role": None, "probability": None, "model": None, "uncertain": False},
            {"report_id": report.id, "dimension": "objection", "rule_id": "detector.objection", "utterance_index": 4,
             "span_start": 0, "span_end": 3, "quote": AWKWARD[4], "points": -2.5, "severity": "minor",
             "role": "customer", "probability": 0.8125, "model": "qa-detectors@1", "uncertain": True}])
        s.commit()
    with rt.session() as s:
        utts = s.scalars(select(Utterance).order_by(Utterance.index)).all()
        assert [u.text for u in utts] == AWKWARD
        assert [u.start_ms for u in utts] == [0, 1000, 2000, None, 4000, 5000, 6000]
        assert [u.asr_confidence for u in utts] == [None, None, 0.5, None, None, None, None]
        assert {u.role for u in utts} == {"agent", "customer"}
        found = s.scalars(select(Finding).order_by(Finding.utterance_index)).all()
        assert [(f.message, f.fatal, f.uncertain) for f in found] == [("", False, False), ("", False, True)]
        assert [(f.quote, f.probability, f.model, f.role) for f in found] == [
            (AWKWARD[2], None, None, None), (AWKWARD[4], 0.8125, "qa-detectors@1", "customer")]


def test_rows_roll_back_with_the_callers_transaction(rt):
    with rt.session() as s:
        tid = _transcript(s)
        s.commit()
    with rt.session() as s:
        insert_rows(s.connection(), Utterance.__table__,
                    [{"transcript_id": tid, "index": 0, "role": "agent", "text": "您好"}])
        s.rollback()
    with rt.session() as s:
        assert s.scalars(select(Utterance)).all() == []


def test_an_unknown_key_is_refused_before_anything_is_written(rt):
    with rt.session() as s:
        tid = _transcript(s)
        with pytest.raises(Exception, match="nope"):
            insert_rows(s.connection(), Utterance.__table__,
                        [{"transcript_id": tid, "index": 0, "role": "agent", "text": "您好", "nope": 1}])
