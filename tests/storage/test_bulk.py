"""Bulk writes (``COPY`` and unnest arrays on PostgreSQL, the driver's executemany and multi-row
``INSERT … RETURNING`` on SQLite, the rows converted first) store exactly what SQLAlchemy's executemany stored.

Every case runs on both backends (PostgreSQL when it answers). The texts are the awkward ones for a
``COPY`` stream: tabs, newlines, backslashes, ``\\N``, quotes, non-BMP characters, an empty string.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from qa_service.storage.bulk import _fast_columns, insert_rows, insert_rows_returning_ids
from qa_service.storage.tables import Finding, Flag, Report, Transcript, Utterance, utcnow

AWKWARD = ["制表\t符", "换行\n第二行", "反斜杠 \\ 和 \\N 不是空", "引号 \"' ,;", "表情 😡🙏", "", "普通的一句话"]


def _transcript(s, external_id: str = "b1") -> int:
    t = Transcript(source="bulk", external_id=external_id, content_hash="x")
    s.add(t)
    s.flush()
    return t.id


def _transcripts(s, prefix: str, n: int) -> list[int]:
    return [_transcript(s, f"{prefix}{k}") for k in range(n)]


def test_rows_round_trip_with_awkward_text_nulls_and_defaults(rt):
    with rt.session() as s:
        tid = _transcript(s)
        conn = s.connection()
        rows = [{"transcript_id": tid, "index": i, "role": "customer" if i % 2 else "agent", "text": text,
                 "start_ms": None if i == 3 else i * 1000, "end_ms": None, "asr_confidence": 0.5 if i == 2 else None}
                for i, text in enumerate(AWKWARD)]
        # both drivers take the fast path (COPY on PostgreSQL, the driver's executemany on SQLite)
        assert _fast_columns(conn, Utterance.__table__, set(rows[0])) is not None
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
        flags = [{"report_id": report.id, "transcript_id": tid, "reason": "low_score", "severity": "major",
                  "detail": AWKWARD[1]},
                 {"report_id": report.id, "transcript_id": tid, "reason": "uncertain", "severity": "minor",
                  "detail": AWKWARD[5]}]
        for table, given in ((Finding.__table__, {"report_id", "quote"}), (Flag.__table__, set(flags[0]))):
            assert _fast_columns(conn, table, given) is not None
        insert_rows(conn, Flag.__table__, flags)
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
        stored = s.scalars(select(Flag).order_by(Flag.reason)).all()
        assert [(f.reason, f.severity, f.detail) for f in stored] == [
            ("low_score", "major", AWKWARD[1]), ("uncertain", "minor", "")]


def _report_row(tid: int, **over) -> dict:
    return {"transcript_id": tid, "score": 71.5, "fatal": False, "weights": {"sentiment": 30},
            "dimensions": {"politeness": {"score": 80, "note": AWKWARD[2], "list": [1, None, "😡"]}},
            "scorer_versions": {"politeness": "v2"}, "rule_pack": "general", "rule_pack_version": "3",
            "rule_pack_hash": "h", "duration_ms": 2.5, "summary": {"dims": {"a": None}, "flagged": True},
            "pass_mark": 60.0, "scorecard_version": "s1", "created_at": utcnow(), **over}


def test_rows_with_ids_store_what_executemany_stores(rt):
    """Reports (JSON columns, a timezone decorator, a serial id) through ``insert_rows_returning_ids``:
    the ids come back in row order and every stored value — JSON ``null`` (not SQL NULL) for a ``None``,
    a naive time taken as UTC, an aware one moved to UTC — is what SQLAlchemy's own executemany stores
    for the same rows, compared as the database's text."""
    from datetime import UTC, datetime, timedelta, timezone

    from sqlalchemy import insert, text

    with rt.session() as s:
        tids = _transcripts(s, "r", 4)
        conn = s.connection()
        table = Report.__table__
        naive = datetime(2026, 11, 28, 8, 30, 5, 123000)
        beijing = datetime(2026, 11, 28, 16, 30, 5, tzinfo=timezone(timedelta(hours=8)))
        rows = [_report_row(tids[0], created_at=beijing),
                _report_row(tids[1], summary=None, created_at=naive, rule_pack=AWKWARD[1])]
        assert _fast_columns(conn, table, set(rows[0])) is not None
        ids = insert_rows_returning_ids(conn, table, rows)
        conn.execute(insert(table), [{**r, "transcript_id": tid} for r, tid in zip(rows, tids[2:])])
        s.commit()
        got = {r.transcript_id: r.id for r in s.execute(select(table.c.id, table.c.transcript_id))}
        assert ids == [got[tids[0]], got[tids[1]]] and ids[0] != ids[1]
        json_type = "json_typeof" if conn.dialect.name == "postgresql" else "json_type"
        raw = (f"SELECT transcript_id, CAST(dimensions AS TEXT), CAST(weights AS TEXT), CAST(summary AS TEXT), "
               f"summary IS NULL, {json_type}(summary), CAST(created_at AS TEXT), rule_pack, fatal, duration_ms "
               "FROM reports ORDER BY transcript_id")
        stored = {r[0]: r[1:] for r in s.execute(text(raw))}
        assert stored[tids[0]] == stored[tids[2]] and stored[tids[1]] == stored[tids[3]]
        assert stored[tids[1]][3:5] == (False, "null")  # JSON null, as executemany stores a None
        assert isinstance(stored[tids[0]][0], str) and json.loads(stored[tids[0]][0]) == rows[0]["dimensions"]
        back = {r.transcript_id: r for r in s.scalars(select(Report))}
        assert back[tids[1]].created_at == naive.replace(tzinfo=UTC)
        assert back[tids[0]].created_at == beijing and back[tids[0]].created_at.hour == 8  # stored as UTC
        assert back[tids[0]].dimensions == rows[0]["dimensions"] and back[tids[1]].rule_pack == AWKWARD[1]
        assert insert_rows_returning_ids(conn, table, []) == []


def test_rows_roll_back_with_the_callers_transaction(rt):
    with rt.session() as s:
        tid = _transcript(s)
        s.commit()
    with rt.session() as s:
        insert_rows(s.connection(), Utterance.__table__,
                    [{"transcript_id": tid, "index": 0, "role": "agent", "text": "您好"}])
        s.rollback()
    with rt.session() as s:
        assert s.scalars(select(Utterance)).all() == [] and s.scalars(select(Report)).all() == []


def test_rows_that_cannot_go_in_as_given_are_refused_and_nothing_is_written(rt):
    """An unknown key (executemany would drop it silently), rows whose keys differ (executemany reads
    the first row's only), and a row the database refuses — the same error type on both backends."""
    from sqlalchemy.exc import IntegrityError, StatementError

    with rt.session() as s:
        tid = _transcript(s)
        s.commit()
    ok = {"transcript_id": tid, "index": 0, "role": "agent", "text": "您好"}
    with rt.session() as s:
        with pytest.raises(KeyError, match="nope"):
            insert_rows(s.connection(), Utterance.__table__, [{**ok, "nope": 1}])
        with pytest.raises(ValueError, match="same keys"):
            insert_rows(s.connection(), Utterance.__table__, [ok, {**ok, "index": 1, "start_ms": 5}])
    with rt.session() as s:  # a value its column's type cannot take: SQLAlchemy's error on both paths
        with pytest.raises(StatementError):
            insert_rows_returning_ids(s.connection(), Report.__table__,
                                      [_report_row(tid, dimensions={"not json": object()})])
        s.rollback()
    with rt.session() as s:
        with pytest.raises(IntegrityError):  # text NOT NULL: SQLAlchemy's error on the COPY path too
            insert_rows(s.connection(), Utterance.__table__, [ok, {**ok, "index": 1, "text": None}])
        s.rollback()
    with rt.session() as s:
        assert s.scalars(select(Utterance)).all() == [] and s.scalars(select(Report)).all() == []


def test_new_rows_skip_stored_keys_and_store_what_an_insert_stores(rt):
    """Transcripts through ``insert_new_rows`` (unnest arrays on PostgreSQL): only rows whose key is not
    stored go in, their ids come back, and every stored value — JSON metadata, an aware time moved to
    UTC, NULLs, awkward text — is what SQLAlchemy's own insert stores for the same values."""
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import insert, text
    from sqlalchemy.exc import DataError, IntegrityError, StatementError

    from qa_service.storage.bulk import insert_new_rows

    table = Transcript.__table__
    beijing = datetime(2026, 11, 28, 16, 30, 5, tzinfo=timezone(timedelta(hours=8)))

    def row(key: str, **over) -> dict:
        return {"source": "bulk", "external_id": key, "channel": "chat", "agent_id": None, "team_id": None,
                "queue": AWKWARD[0], "scenario": None, "started_at": beijing, "received_at": utcnow(),
                "metadata": {"说明": AWKWARD[1], "n": [1, None]}, "content_hash": "h", "status": "queued",
                "status_changed_at": utcnow(), "attempts": 0, "job_id": None, **over}

    with rt.session() as s:
        conn = s.connection()
        # both drivers take the fast path (unnest arrays on PostgreSQL, multi-row VALUES on SQLite)
        assert _fast_columns(conn, table, set(row("k"))) is not None
        now = utcnow()
        rows = [row("n1", received_at=now, status_changed_at=now),
                row("n2", started_at=None, metadata={}, queue=None, received_at=now, status_changed_at=now)]
        got = insert_new_rows(conn, table, rows, conflict=("source", "external_id"), returning=("id", "external_id"))
        conn.execute(insert(table), [{**r, "external_id": "x" + r["external_id"]} for r in rows])
        s.commit()
        ids = {r.external_id: r.id for r in s.execute(select(table.c.id, table.c.external_id))}
        assert sorted((r.external_id, r.id) for r in got) == [("n1", ids["n1"]), ("n2", ids["n2"])]
        raw = ("SELECT external_id, channel, queue, scenario, CAST(started_at AS TEXT), CAST(received_at AS TEXT), "
               "CAST(metadata AS TEXT), status, attempts, job_id FROM transcripts ORDER BY external_id")
        stored = {r[0]: r[1:] for r in s.execute(text(raw))}
        assert stored["n1"] == stored["xn1"] and stored["n2"] == stored["xn2"]
        back = {t.external_id: t for t in s.scalars(select(Transcript))}
        assert back["n1"].started_at == beijing and back["n1"].started_at.tzinfo is not None
        assert back["n1"].meta == rows[0]["metadata"] and back["n1"].queue == AWKWARD[0]
        assert back["n2"].started_at is None and back["n2"].meta == {}

        # a stored key is skipped (left as it was), a new one goes in: only the new one comes back
        again = insert_new_rows(s.connection(), table, [row("n1", status="received"), row("n3")],
                                conflict=("source", "external_id"), returning=("id", "source", "external_id"))
        s.commit()
        assert [(r.source, r.external_id) for r in again] == [("bulk", "n3")]
        assert s.scalars(select(Transcript.status).where(Transcript.external_id == "n1")).one() == "queued"
        assert insert_new_rows(s.connection(), table, [], conflict=("source", "external_id"), returning=("id",)) == []
    with rt.session() as s:  # a value its column's type cannot take: SQLAlchemy's error on both paths
        with pytest.raises(StatementError):
            insert_new_rows(s.connection(), table, [row("n4", metadata={"x": object()})],
                            conflict=("source", "external_id"), returning=("id",))
        s.rollback()
    long = ["k" * 200 + "1", "k" * 200 + "2"]  # over VARCHAR(200), equal in their first 200 characters
    with rt.session() as s:
        postgres = s.connection().dialect.name == "postgresql"
        if postgres:  # refused as an INSERT refuses it, never cut short (two keys would become one)
            with pytest.raises(DataError):
                insert_new_rows(s.connection(), table, [row(k) for k in long], conflict=("source", "external_id"),
                                returning=("id",))
            s.rollback()
        else:  # SQLite does not check lengths: both kept whole
            insert_new_rows(s.connection(), table, [row(k) for k in long], conflict=("source", "external_id"),
                            returning=("id",))
            s.commit()
    with rt.session() as s:  # a foreign key with nothing behind it: SQLAlchemy's IntegrityError on both paths
        with pytest.raises(IntegrityError):
            insert_new_rows(s.connection(), table, [row("n5", agent_id="no-such-agent")],
                            conflict=("source", "external_id"), returning=("id",))
        s.rollback()
    with rt.session() as s:
        stored = set(s.scalars(select(Transcript.external_id)))
        assert {"n4", "n5"} & stored == set()
        assert {k for k in stored if k.startswith("kkk")} == (set() if postgres else set(long))


def test_upserted_rows_replace_and_add_as_the_on_conflict_statement_does(rt):
    """``upsert_rows`` (the driver's executemany on converted rows on SQLite; SQLAlchemy's on PostgreSQL) against SQLAlchemy's own
    ``INSERT … ON CONFLICT DO UPDATE`` on twin rows: new keys go in, stored ones get the ``replace``
    columns replaced and the ``add`` columns added (a float column's int ``0`` beside floats; NULLs;
    a ``none_as_null`` JSON column), and the stored text is the same on both."""
    from datetime import date

    from sqlalchemy import text

    from qa_service.storage.bulk import upsert_rows
    from qa_service.storage.fact_tables import QaDaily, QaFact
    from qa_service.storage.upsert import upsert

    daily = QaDaily.__table__
    sums = [c.key for c in daily.columns if c.key not in ("day", "agent_key", "team_key")]

    def day_row(agent: str, n: int, total) -> dict:
        return {"day": date(2026, 11, 28), "agent_key": agent, "team_key": "", "n": n, "total": total,
                **{c: 0 for c in sums if c not in ("n", "total")}}

    with rt.session() as s:
        conn = s.connection()
        first = [day_row("a1", 1, 71.5), day_row("a2", 2, 0)]
        upsert_rows(conn, daily, first, keys=("day", "agent_key", "team_key"), add=sums)
        conn.execute(upsert(conn.dialect.name, daily, ("day", "agent_key", "team_key"), add=tuple(sums)),
                     [{**r, "agent_key": "x" + r["agent_key"]} for r in first])
        again = [day_row("a1", 1, 0), day_row("a3", 1, 88.25)]
        upsert_rows(conn, daily, again, keys=("day", "agent_key", "team_key"), add=sums)
        conn.execute(upsert(conn.dialect.name, daily, ("day", "agent_key", "team_key"), add=tuple(sums)),
                     [{**r, "agent_key": "x" + r["agent_key"]} for r in again])
        s.commit()
        got = {r[0]: r[1:] for r in s.execute(text(
            "SELECT agent_key, n, CAST(total AS TEXT), total_sq FROM qa_daily ORDER BY agent_key"))}
        assert {k: (v[0], float(v[1])) for k, v in got.items() if not k.startswith("x")} == {
            "a1": (2, 71.5), "a2": (2, 0.0), "a3": (1, 88.25)}
        assert all(got[k] == got["x" + k] for k in ("a1", "a2", "a3"))

    with rt.session() as s:
        tids = [_transcript(s), _transcript(s, "b2")]
        conn = s.connection()
        facts = QaFact.__table__
        replace = ("score", "extra_dims", "dim_timing")

        def fact(tid: int, score: float, extra, timing) -> dict:
            return {"transcript_id": tid, "agent_id": None, "team_id": "t1", "at": utcnow(),
                    "day": date(2026, 11, 28), "score": score, "fatal": False, "flagged": True,
                    "extra_dims": extra, "dim_timing": timing}

        upsert_rows(conn, facts, [fact(tids[0], 50.0, None, 1.0)], keys=("transcript_id",), replace=replace)
        conn.execute(upsert(conn.dialect.name, facts, ("transcript_id",), replace=replace),
                     [fact(tids[1], 50.0, None, 1.0)])
        upsert_rows(conn, facts, [fact(tids[0], 75.0, {"plugin": 3.5}, None)], keys=("transcript_id",), replace=replace)
        conn.execute(upsert(conn.dialect.name, facts, ("transcript_id",), replace=replace),
                     [fact(tids[1], 75.0, {"plugin": 3.5}, None)])
        s.commit()
        raw = ("SELECT transcript_id, score, CAST(extra_dims AS TEXT), dim_timing, team_id, flagged, CAST(day AS TEXT) "
               "FROM qa_facts ORDER BY transcript_id")
        a, b = (r[1:] for r in s.execute(text(raw)))
        assert a == b and a[0] == 75.0 and a[2] is None and json.loads(a[1]) == {"plugin": 3.5}
    with rt.session() as s:  # none_as_null: a None goes in as SQL NULL, as the ON CONFLICT statement stores it
        upsert_rows(s.connection(), facts, [fact(tids[0], 60.0, None, 2.0)], keys=("transcript_id",), replace=replace)
        s.commit()
        assert s.execute(text(f"SELECT extra_dims IS NULL FROM qa_facts WHERE transcript_id = {tids[0]}")).scalar()


def _scored(tid: int, n_findings: int, flagged: bool):
    from qa_service.domain import DimensionScore, Finding as F, Flag as G, QAReport, Role, Severity

    findings = [F("politeness", f"rule.{tid}.{k}", k, (0, 2), f"第{tid}-{k}句", -1.0 - k, Severity.minor, Role.agent,
                  message=AWKWARD[k % len(AWKWARD)]) for k in range(n_findings)]
    flags = [G("low_score", Severity.major, f"{tid}")] if flagged else []
    dim = DimensionScore("politeness", 90.0 - n_findings, "politeness.v2", findings, flags, {"n": n_findings})
    return QAReport(score=90.0 - n_findings, dimensions={"politeness": dim}, weights={"politeness": 1.0},
                    scorer_versions={"politeness": "v2"}, rule_pack="general")


def test_a_scored_chunk_stores_each_finding_and_flag_under_its_own_report(rt):
    """``reports.save_many`` prepares findings and flags before the reports have ids (each names its
    transcript until then): every one ends up under its own transcript's report, on a first score and
    on a re-score that replaces the reports."""
    from qa_service.storage.reports import save_many

    with rt.session() as s:
        tids = _transcripts(s, "s", 3)
        s.commit()
    for round_, counts in enumerate(([2, 0, 5], [1, 3, 0])):
        with rt.session() as s:
            ids = save_many(session=s, reports={tid: _scored(tid, n, n > 2) for tid, n in zip(tids, counts)})
            s.commit()
        with rt.session() as s:
            reports = {r.transcript_id: r for r in s.scalars(select(Report))}
            assert {tid: reports[tid].id for tid in tids} == ids and len(reports) == 3
            for tid, n in zip(tids, counts):
                found = s.scalars(select(Finding).where(Finding.report_id == ids[tid]).order_by(Finding.id)).all()
                assert [f.rule_id for f in found] == [f"rule.{tid}.{k}" for k in range(n)], round_
                assert [f.quote for f in found] == [f"第{tid}-{k}句" for k in range(n)]
                flags = s.scalars(select(Flag).where(Flag.report_id == ids[tid])).all()
                assert [(f.transcript_id, f.detail) for f in flags] == ([(tid, str(tid))] if n > 2 else [])
            assert s.scalar(select(func.count()).select_from(Finding)) == sum(counts)


def test_sqlite_pages_a_multi_row_insert_by_the_builds_parameter_limit(rt):
    """SQLite takes a limited number of parameters per statement (a build may set fewer than the usual
    32,766): the multi-row ``INSERT … RETURNING`` goes in pages and the ids still come back in row order."""
    import sqlite3

    with rt.session() as s:
        conn = s.connection()
        if conn.dialect.name != "sqlite":
            pytest.skip("SQLite's parameter limit")
        tids = _transcripts(s, "p", 7)
        conn.connection.driver_connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 40)  # 2 reports a statement
        ids = insert_rows_returning_ids(conn, Report.__table__, [_report_row(tid, score=float(k))
                                                                  for k, tid in enumerate(tids)])
        s.commit()
        by_id = {r.id: (r.transcript_id, r.score) for r in s.scalars(select(Report))}
        assert [by_id[i] for i in ids] == [(tid, float(k)) for k, tid in enumerate(tids)]


def test_a_scored_chunk_reads_the_transcripts_reviews_after_its_first_write(rt, monkeypatch):
    """The reviews a re-score updates are read inside the write transaction, after its first write: on
    SQLite only then is the read under the write lock, so a reviewer cannot close (or open) a review
    between the worker's read and its write and have the worker undo it."""
    from sqlalchemy import event

    from qa_service import runtime
    from qa_service.queue.tasks import record_reports

    with rt.session() as s:
        tid = _transcript(s, "r1")
        s.commit()
    seen: list[str] = []
    listener = lambda _c, _cur, statement, *_a: seen.append(" ".join(statement.split()))  # noqa: E731
    event.listen(rt.engine, "before_cursor_execute", listener)
    monkeypatch.setattr(runtime, "_installed", rt)  # record_reports reads the runtime's derivation settings
    try:
        with rt.session() as s:
            record_reports(session=s, reports={tid: _scored(tid, 3, True)})
    finally:
        event.remove(rt.engine, "before_cursor_execute", listener)
    first_write = next(i for i, q in enumerate(seen) if q.split()[0] in ("INSERT", "UPDATE", "DELETE"))
    reviews_read = next(i for i, q in enumerate(seen)
                        if q.startswith("SELECT") and "FROM reviews" in q and "FOR UPDATE" not in q)
    assert first_write < reviews_read
    if rt.engine.dialect.name == "postgresql":  # there the reviews are locked before the facts are read
        locked = next(i for i, q in enumerate(seen) if "FROM reviews" in q and q.endswith("FOR UPDATE"))
        facts_read = next(i for i, q in enumerate(seen) if q.startswith("SELECT") and "FROM qa_facts" in q)
        assert locked < facts_read
    with rt.session() as s:
        assert s.scalar(select(func.count()).select_from(Finding)) == 3


def test_two_workers_storing_the_same_transcript_count_it_once(rt):
    """A slow job's claim goes stale, another worker takes the transcript over, and both store a report.
    The second to plan its facts waits for the first to commit, then plans from what it stored (a
    re-score): one report, one row in the rollups, whichever order they come in."""
    import threading

    from sqlalchemy import text

    from qa_service.storage import facts
    from qa_service.storage.db import create_db_engine, session_factory
    from qa_service.storage.reports import save_many

    with rt.session() as s:
        tid = _transcript(s, "twice")
        s.commit()
    derive = facts.Derivation()
    stored = threading.Event()

    other_worker = create_db_engine(rt.settings)  # another process: its own engine (and, on SQLite, file lock)

    def takeover():
        with session_factory(other_worker)() as s:
            save_many(session=s, reports={tid: _scored(tid, 1, False)}, derive=derive)  # score 89
            s.commit()
        stored.set()

    with rt.session() as s:  # the slow job has planned its first score when the other worker stores its own
        conn = s.connection()
        plan = facts.plan_machine(conn, {tid: (60.0, False, {"dims": {"politeness": 60.0}})}, {}, derive)
        other = threading.Thread(target=takeover)
        other.start()
        assert not stored.wait(0.3)  # it waits for the slow job's transaction
        facts.write_planned(conn, plan)
        s.commit()
    other.join(30)
    other_worker.dispose()
    assert stored.is_set()
    with rt.session() as s:
        assert s.execute(text("SELECT score FROM qa_facts")).scalars().all() == [89.0]
        assert tuple(s.execute(text("SELECT sum(n), sum(total) FROM qa_daily")).one()) == (1, 89.0)
        assert s.scalars(select(Report.score)).all() == [89.0]
