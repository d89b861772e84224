"""Embedded SQLite: writers from different engines (processes, in production) queue on the blocking file
lock and wake as soon as it is released; readers are never held up by it."""

from __future__ import annotations

import threading
import time

import pytest

from sqlalchemy import text

from qa_service import timing
from qa_service.config import Settings
from qa_service.storage import sqlite_writer
from qa_service.storage.db import create_db_engine, upgrade
from tests.conftest import wait_for


def test_a_second_writer_waits_for_the_first_and_wakes_at_its_commit(tmp_path):
    settings = Settings(data_dir=tmp_path)
    first, second, third = (create_db_engine(settings) for _ in range(3))  # as three processes
    upgrade(first)
    assert (tmp_path / "qa.sqlite3.writer").exists()
    done = {}

    def write_second():
        parts = {}  # as the API's middleware sets it for each request
        timing.REQUEST_TIMINGS.set(parts)
        t0 = time.perf_counter()
        with second.begin() as c:
            c.execute(text("INSERT INTO teams (id, created_at) VALUES ('b', CURRENT_TIMESTAMP)"))
        done["at"] = time.perf_counter()
        done["waited"] = done["at"] - t0
        done["lock_wait"] = parts["lock"]

    with first.connect() as c:
        c.execute(text("INSERT INTO teams (id, created_at) VALUES ('a', CURRENT_TIMESTAMP)"))  # takes the lock
        writer = threading.Thread(target=write_second)
        writer.start()
        time.sleep(0.05)
        with third.connect() as reader:  # a read is not held up by the writer's lock
            t0 = time.perf_counter()
            assert reader.execute(text("SELECT count(*) FROM teams")).scalar() == 0
            assert time.perf_counter() - t0 < 0.05
        time.sleep(0.25)
        assert "at" not in done  # still waiting for the first writer
        c.commit()
    released = time.perf_counter()
    writer.join(5)
    assert done["waited"] >= 0.25
    assert 0.25 <= done["lock_wait"] <= done["waited"]  # what Server-Timing reports as lock;dur
    assert done["at"] - released < 0.05  # woken by the release, not by a polling sleep
    with first.connect() as c:
        assert [r[0] for r in c.execute(text("SELECT id FROM teams ORDER BY id"))] == ["a", "b"]
    for engine in (first, second, third):
        engine.dispose()


def test_an_api_process_checkpoints_a_long_log_in_the_background(tmp_path, monkeypatch):
    """Without workers nothing else checkpoints: the log would grow to the 100 MB safety net, whose
    checkpoint stalls a commit. The API's thread copies it into the database, off the requests' path."""
    monkeypatch.setattr(sqlite_writer, "_checkpointer", False)  # as in an API process (a worker test set it)
    settings = Settings(data_dir=tmp_path)
    engine = create_db_engine(settings)
    upgrade(engine)
    database = tmp_path / "qa.sqlite3"
    with engine.begin() as c:
        c.execute(text("CREATE TABLE filler (b BLOB)"))
        for _ in range(3):  # 6 MB of log: past CHECKPOINT_BYTES, far below the safety net
            c.execute(text("INSERT INTO filler SELECT randomblob(4096) FROM "
                           "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) SELECT i FROM n)"))
    wal = tmp_path / "qa.sqlite3-wal"
    assert wal.stat().st_size > sqlite_writer.CHECKPOINT_BYTES and database.stat().st_size < 2_000_000
    checkpoints = sqlite_writer.BackgroundCheckpoints.for_engine(engine)
    checkpoints.interval_s = 0.05
    checkpoints.start()
    try:
        wait_for(lambda: database.stat().st_size > 6_000_000, timeout_s=10)
    finally:
        checkpoints.stop()
    assert not checkpoints.is_alive()
    with engine.connect() as c:  # the data is all there, read through the checkpointed file
        assert c.execute(text("SELECT count(*) FROM filler")).scalar_one() == 1500
    with engine.begin() as c:  # the log restarts and its file is cut back: its size says what waits again
        c.execute(text("INSERT INTO filler VALUES (x'00')"))
    assert wal.stat().st_size <= sqlite_writer.CHECKPOINT_BYTES
    engine.dispose()


def test_the_log_restarts_under_steady_writes(tmp_path, monkeypatch):
    """A passive checkpoint never copies frames written while it runs, and SQLite restarts the log
    only once all of it is copied: under steady writes (200 POSTs a second) the log grew to the 100 MB
    safety net, whose checkpoint then stalled a request's commit for 30-50 ms. The checkpoint now
    finishes the last frames holding the writer lock, so the log restarts and stays near its limit."""
    monkeypatch.setattr(sqlite_writer, "_checkpointer", False)  # as in an API process
    settings = Settings(data_dir=tmp_path)
    engine, writer = create_db_engine(settings), create_db_engine(settings)  # the API; another process writing
    upgrade(engine)
    with engine.begin() as c:
        c.execute(text("CREATE TABLE filler (b BLOB)"))
    wal = tmp_path / "qa.sqlite3-wal"
    checkpoints = sqlite_writer.BackgroundCheckpoints.for_engine(engine)
    checkpoints.interval_s = 0.05
    checkpoints.start()
    largest, written = 0, 0
    try:
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:  # small transactions every 2 ms: none of the gaps fits a checkpoint
            with writer.begin() as c:
                c.execute(text("INSERT INTO filler SELECT randomblob(4096) FROM "
                               "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 8) "
                               "SELECT i FROM n)"))
            written += 8 * 4096
            largest = max(largest, wal.stat().st_size)
            time.sleep(0.002)
    finally:
        checkpoints.stop()
    assert written > 4 * sqlite_writer.CHECKPOINT_BYTES  # enough log for a stuck one to show
    assert largest < 3 * sqlite_writer.CHECKPOINT_BYTES, (largest, written)
    engine.dispose()
    writer.dispose()


@pytest.mark.postgres
def test_no_background_checkpoints_off_sqlite(postgres_engine):
    assert sqlite_writer.BackgroundCheckpoints.for_engine(postgres_engine) is None


def test_a_rescore_and_a_review_closing_on_the_same_facts_do_not_interleave(tmp_path):
    """A worker re-scoring a transcript plans its facts' rollup deltas from the stored facts; a reviewer
    closing the transcript's review moves the same rollups by the final score. On SQLite reads happen
    outside any transaction until the first write, so the review could close between the worker's read
    and its write, and the worker's delta (from a fact with no final score) would leave ``qa_daily``
    off for good. The re-score begins its write transaction before reading the facts again: the review
    waits for it, then reads what it wrote, and the rollups equal those derived from the facts."""
    from qa_service.domain import DimensionScore, QAReport
    from qa_service.storage import facts, reports
    from qa_service.storage.db import session_factory
    from qa_service.storage.tables import Transcript

    settings = Settings(data_dir=tmp_path)
    worker, reviewer = create_db_engine(settings), create_db_engine(settings)  # as two processes
    upgrade(worker)
    derive = facts.Derivation()

    def report(score: float) -> QAReport:
        dim = DimensionScore("politeness", score, "politeness.v2")
        return QAReport(score=score, dimensions={"politeness": dim}, weights={"politeness": 1.0}, scorer_versions={})

    with session_factory(worker)() as s:
        t = Transcript(source="race", external_id="t1", content_hash="x")
        s.add(t)
        s.flush()
        tid = t.id
        reports.save_many(session=s, reports={tid: report(60.0)}, derive=derive)
        s.commit()
    closed = threading.Event()

    def close_review():
        with session_factory(reviewer)() as s:
            facts.set_final(s, tid, score=90.0, fatal=False, dims={"politeness": 90.0})
            s.commit()
        closed.set()

    with session_factory(worker)() as s:
        conn = s.connection()
        plan = facts.plan_machine(conn, {tid: (70.0, False, {"dims": {"politeness": 70.0}})}, {}, derive)
        review = threading.Thread(target=close_review)
        review.start()
        assert not closed.wait(0.3)  # the review waits for the re-score's transaction
        facts.write_planned(conn, plan)
        s.commit()
    review.join(10)
    assert closed.is_set()
    with worker.connect() as c:
        stored = c.execute(text("SELECT score, final_score FROM qa_facts")).one()
        daily = c.execute(text("SELECT n, total, e_total FROM qa_daily")).one()
    assert tuple(stored) == (70.0, 90.0)
    assert tuple(daily) == (1, 70.0, 90.0)  # derived from the facts: one conversation, machine 70, final 90
    worker.dispose()
    reviewer.dispose()


def test_server_timing_names_a_wait_for_the_writer_lock(tmp_path, sqlite_url, redis_url, redis_conn):
    """A POST that queued behind another process's write says so: ``lock;dur`` beside ``app;dur``."""
    from fastapi.testclient import TestClient

    from qa_service.app import create_app
    from tests.conftest import make_settings, transcript

    settings = make_settings(tmp_path, sqlite_url, redis_url)
    other = create_db_engine(settings)  # another process's writer
    with TestClient(create_app(settings)) as client:
        quick = client.post("/v1/transcripts", json=transcript("t-quick"))
        assert quick.status_code == 202 and quick.headers["server-timing"].startswith("app;dur=")
        parts = dict(p.strip().split(";dur=") for p in quick.headers["server-timing"].split(","))
        assert list(parts) == ["app", "redact", "lock", "store", "queue"]  # in the order they ended
        # took the free lock: microseconds, but a loaded 2-core machine's scheduler can add tens of ms (27 ms seen);
        # what matters is that it is far below the held case's wait (>= 150 ms, below)
        assert float(parts["lock"]) < 100
        assert float(parts["lock"]) <= float(parts["store"]) and sum(map(float, parts.values())) < 2 * float(parts["app"])
        assert "lock;dur" not in client.get("/healthz").headers["server-timing"]  # no write, no lock
        with other.connect() as c:
            c.execute(text("INSERT INTO teams (id, created_at) VALUES ('held', CURRENT_TIMESTAMP)"))
            def release():  # the lock goes with the connection back to its pool, as after a worker's write
                c.commit()
                c.close()

            threading.Timer(0.2, release).start()
            slow = client.post("/v1/transcripts", json=transcript("t-slow"))
        assert slow.status_code == 202
        parts = dict(p.strip().split(";dur=") for p in slow.headers["server-timing"].split(","))
        assert 150 <= float(parts["lock"]) <= float(parts["app"])
    other.dispose()
