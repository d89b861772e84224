"""Nothing accepted is lost: Redis down at ingest, Redis emptied, worker SIGKILLed, poison transcripts."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from qa_service.app import create_app
from qa_service.config import DEFAULT_RULES_DIR
from qa_service.storage.redis import EmbeddedRedis
from qa_service.queue.outbox import reconcile
from qa_service.queue.worker import run_worker
from qa_service.storage.db import create_db_engine, session_factory
from qa_service.storage.tables import Report, Transcript
from tests.conftest import WORKER_CMD, make_settings, transcript, wait_for, worker_env


def _status(sessions, tid: int) -> Transcript:
    with sessions() as s:
        return s.scalars(select(Transcript).where(Transcript.id == tid)).one()


def test_redis_down_ingest_still_202_then_reconciler_queues_and_scores(tmp_path, sqlite_url):
    redis_dir = tmp_path / "own-redis"
    embedded = EmbeddedRedis(redis_dir).start()
    settings = make_settings(tmp_path, sqlite_url, embedded.url)
    sessions = session_factory(create_db_engine(settings))
    client = TestClient(create_app(settings))
    try:
        first = client.post("/v1/transcripts", json=transcript("before")).json()
        assert first["status"] == "queued"

        embedded.stop()  # Redis goes away
        resp = client.post("/v1/transcripts", json=transcript("during"))
        assert resp.status_code == 202 and resp.json()["status"] == "received"
        batch = client.post("/v1/transcripts/batch", json={"transcripts": [transcript("during-b")]}).json()
        assert batch["accepted"] == 1 and batch["queued"] is False
        assert client.get("/readyz").status_code == 503
        assert _status(sessions, resp.json()["id"]).status == "received"

        embedded = EmbeddedRedis(redis_dir).start()  # Redis is back (its queue kept on disk or not)
        result = reconcile(settings=settings, sessions=sessions, connection=embedded.client())
        assert set(result.received) == {resp.json()["id"], batch["items"][0]["id"]}
        run_worker(settings, burst=True, reconcile=False)
        for tid in (first["id"], resp.json()["id"], batch["items"][0]["id"]):
            assert _status(sessions, tid).status == "scored"
    finally:
        embedded.stop()


def test_jobs_lost_from_redis_are_requeued(client, settings, sessions, redis_conn):
    ids = [client.post("/v1/transcripts", json=transcript(f"l{i}")).json()["id"] for i in range(3)]
    redis_conn.flushdb()  # Redis restarted without persistence: the queue is gone
    result = reconcile(settings=settings, sessions=sessions, connection=redis_conn)
    assert sorted(result.lost) == sorted(ids)
    assert reconcile(settings=settings, sessions=sessions, connection=redis_conn).total == 0  # now queued
    run_worker(settings, burst=True, reconcile=False)
    assert all(_status(sessions, i).status == "scored" for i in ids)


def test_job_taken_by_a_worker_that_died_before_claiming_is_requeued(client, settings, sessions, redis_conn):
    """SIGKILL between rq starting the job and the job claiming its row: rq would wait for the job timeout."""
    from datetime import UTC, datetime, timedelta

    from rq import Queue
    from rq.job import Job, JobStatus

    from qa_service.queue.outbox import CLAIM_DEADLINE_S

    dead, busy = (client.post("/v1/transcripts", json=transcript(f"d{i}")).json()["id"] for i in range(2))
    queue = Queue(settings.redis.queue, connection=redis_conn)
    for tid, started in [(dead, datetime.now(UTC) - timedelta(seconds=CLAIM_DEADLINE_S + 30)),
                         (busy, datetime.now(UTC))]:
        job = Job.fetch(_status(sessions, tid).job_id, connection=redis_conn)  # the job named on the row
        queue.remove(job)  # a worker popped it …
        job.started_at = started
        job.save()
        job.set_status(JobStatus.STARTED)  # … and started it; the row is still `queued`
    result = reconcile(settings=settings, sessions=sessions, connection=redis_conn)
    assert result.lost == [dead]  # the one that started just now is left to its worker
    run_worker(settings, burst=True, reconcile=False)
    assert _status(sessions, dead).status == "scored"
    assert _status(sessions, busy).status == "queued"


def test_requeue_command_queues_left_behind(tmp_path, sqlite_url, redis_url, redis_conn):
    from typer.testing import CliRunner

    from qa_service.cli import app

    settings = make_settings(tmp_path, sqlite_url, redis_url)
    client = TestClient(create_app(settings))
    tid = client.post("/v1/transcripts", json=transcript("r1")).json()["id"]
    redis_conn.flushdb()
    env = {"QA_DB__URL": sqlite_url, "QA_REDIS__URL": redis_url, "QA_REDIS__QUEUE": settings.redis.queue}
    from qa_service.config import get_settings

    get_settings.cache_clear()
    try:
        out = CliRunner().invoke(app, ["requeue"], env=env)
    finally:
        get_settings.cache_clear()
    assert out.exit_code == 0, out.output
    assert "1 lost from the queue" in out.output
    assert redis_conn.llen(f"rq:queue:{settings.redis.queue}") == 1  # a conversation: not the backlog
    assert redis_conn.llen(f"rq:queue:{settings.redis.queue}-backlog") == 0
    sessions = session_factory(create_db_engine(settings))
    assert _status(sessions, tid).status == "queued"


@pytest.mark.slow
def test_worker_killed_mid_chunk_loses_nothing_and_scores_each_once(tmp_path, sqlite_url, redis_url, redis_conn):
    """A chunk of 12 in one job; the worker dies after claiming them, before writing a report. (A single
    POST is a job of one: the same path.)"""
    settings = make_settings(tmp_path, sqlite_url, redis_url, worker={"stale_scoring_s": 2.0})
    sessions = session_factory(create_db_engine(settings))
    client = TestClient(create_app(settings))
    body = client.post("/v1/transcripts/batch", json={"transcripts": [transcript(f"chunk-{i}") for i in range(12)]})
    ids = [item["id"] for item in body.json()["items"]]
    assert len({_status(sessions, i).job_id for i in ids}) == 1  # one job carries the chunk
    env = worker_env(settings, QA_SCORING__SCORERS='["negativity.v1", "tests.support:SlowScorer"]')
    victim = subprocess.Popen([*WORKER_CMD, "--no-reconcile"], env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: all(_status(sessions, i).status == "scoring" for i in ids), timeout_s=60)
        os.killpg(victim.pid, signal.SIGKILL)  # mid-chunk: claimed, scoring, nothing written
        victim.wait(timeout=10)
    finally:
        if victim.poll() is None:
            os.killpg(victim.pid, signal.SIGKILL)
    rescuer = subprocess.Popen(WORKER_CMD, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: all(_status(sessions, i).status == "scored" for i in ids), timeout_s=120)
    finally:
        os.killpg(rescuer.pid, signal.SIGTERM)
        rescuer.wait(timeout=30)
    with sessions() as s:
        reports = s.scalars(select(Report.transcript_id)).all()
        rows = [s.get(Transcript, i) for i in ids]
    assert sorted(reports) == sorted(ids)  # every one scored, each exactly once
    assert all(r.attempts == 2 for r in rows)  # the killed attempt counts; no third scoring
    assert client.get(f"/v1/transcripts/{ids[0]}").json()["report"]["score"] is not None


def test_poison_transcript_ends_failed_with_error_after_max_attempts(tmp_path, sqlite_url, redis_url, redis_conn):
    settings = make_settings(tmp_path, sqlite_url, redis_url,
                             scoring={"scorers": ["negativity.v1", "tests.support:ExplodingScorer"]})
    sessions = session_factory(create_db_engine(settings))
    client = TestClient(create_app(settings))
    bad = client.post("/v1/transcripts", json=transcript("poison", utterances=[
        {"role": "customer", "text": "POISON"}])).json()["id"]
    good = client.post("/v1/transcripts", json=transcript("fine")).json()["id"]
    run_worker(settings, burst=True, reconcile=False)
    row = _status(sessions, bad)
    assert row.status == "failed"
    assert row.attempts == settings.worker.max_attempts == 3
    assert "cannot score a transcript that mentions POISON" in row.last_error
    assert _status(sessions, good).status == "scored"
    # A later requeue does not loop on it: it stays failed until someone resets it.
    reconcile(settings=settings, sessions=sessions, connection=redis_conn)
    run_worker(settings, burst=True, reconcile=False)
    assert _status(sessions, bad).status == "failed"
    got = client.get(f"/v1/transcripts/{bad}").json()
    assert got["status"] == "failed" and "POISON" in got["last_error"] and got["report"] is None


def test_backtracking_rule_fails_the_transcript_it_stalls_on_not_the_worker(tmp_path, sqlite_url, redis_url,
                                                                           redis_conn):
    """A deployed pattern that backtracks catastrophically: the transcript that trips it ends failed with R009
    (after its retries), the rest of its chunk is scored, and the worker goes on."""
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules)
    general = (rules / "general.yaml").read_text(encoding="utf-8").replace("\nrules:\n", "\nrules:\n" + STALL_RULE, 1)
    (rules / "general.yaml").write_text(general, encoding="utf-8")
    settings = make_settings(tmp_path, sqlite_url, redis_url, scoring={"rules_dir": rules})
    sessions = session_factory(create_db_engine(settings))
    client = TestClient(create_app(settings))
    body = client.post("/v1/transcripts/batch", json={"transcripts": [
        transcript("stalls", utterances=[{"role": "agent", "text": "您好"}, {"role": "customer", "text": "a" * 40 + "b"}]),
        transcript("fine")]}).json()
    bad, good = (item["id"] for item in body["items"])
    run_worker(settings, burst=True, reconcile=False)
    row = _status(sessions, bad)
    assert row.status == "failed" and row.attempts == settings.worker.max_attempts
    assert "R009" in row.last_error and "general.stall" in row.last_error
    assert _status(sessions, good).status == "scored"


STALL_RULE = """\
  - id: stall
    dimension: politeness
    role: customer
    points: -1
    message: x
    match: {regex: '^(a|aa)+$'}
    examples: {match: [aaa], no_match: [b]}
"""


def test_worker_with_missing_model_fails_at_start_with_clear_error(tmp_path, sqlite_url, redis_url, redis_conn):
    settings = make_settings(tmp_path, sqlite_url, redis_url)
    env = worker_env(settings, QA_SCORING__DETECTOR_MODEL=str(tmp_path / "no-such-model"))
    proc = subprocess.run([*WORKER_CMD, "--burst"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    err = proc.stderr.replace("\n", "")  # rich wraps at 80 columns, inside the (long) path too
    assert "no-such-model" in err and "not an existing directory" in err


def test_a_retry_queued_for_later_runs_as_the_task_it_names(tmp_path, sqlite_url, redis_url, redis_conn):
    """A failed transcript is queued again after QA_WORKER__RETRY_BACKOFF_S through rq's scheduler; such a
    job must reach the task with its ids alone (rq 3 passed an unknown ``timeout`` keyword to the task,
    and every delayed retry died with a TypeError, leaving the reconciler to find it a minute later)."""
    import time

    from rq.job import Job
    from rq.scheduler import RQScheduler

    from qa_service.queue.outbox import enqueue_jobs, make_queue

    settings = make_settings(tmp_path, sqlite_url, redis_url)
    sessions = session_factory(create_db_engine(settings))
    client = TestClient(create_app(settings))
    tid = client.post("/v1/transcripts", json=transcript("later")).json()["id"]
    queue = make_queue(settings, redis_conn)
    queue.empty()  # as if its first job had failed: only the delayed retry is left
    assert enqueue_jobs({"qa-retry-later": [tid]}, settings=settings, connection=redis_conn, delay_s=0.2)
    job = Job.fetch("qa-retry-later", connection=redis_conn)
    assert job.args == ([tid],) and job.kwargs == {} and job.timeout == settings.worker.job_timeout_s
    time.sleep(0.3)
    scheduler = RQScheduler([queue], connection=redis_conn)  # what a worker's scheduler does
    scheduler.acquire_locks()
    scheduler.enqueue_scheduled_jobs()
    scheduler.release_locks()
    run_worker(settings, burst=True, reconcile=False)
    assert Job.fetch("qa-retry-later", connection=redis_conn).get_status() == "finished"
    assert _status(sessions, tid).status == "scored"


def test_a_chunk_whose_write_meets_the_database_away_is_stored_when_it_answers_again(client, settings, sessions,
                                                                                     redis_conn, monkeypatch):
    """The reports of a scored chunk are in hand when the database goes away: the write is tried again, and
    the chunk is stored once it answers — not left `scoring` for QA_WORKER__STALE_SCORING_S (6 minutes) and
    scored a second time, an attempt spent."""
    from sqlalchemy.exc import OperationalError

    from qa_service.queue import tasks

    ids = [item["id"] for item in client.post("/v1/transcripts/batch", json={
        "transcripts": [transcript(f"away-{i}") for i in range(3)]}).json()["items"]]
    real, calls = tasks.record_reports, []

    def away_twice(**kwargs):
        calls.append(len(kwargs["reports"]))
        if len(calls) <= 2:  # what psycopg says when the server went away mid-transaction
            raise OperationalError("INSERT INTO reports …", {}, Exception("server closed the connection unexpectedly"))
        return real(**kwargs)

    monkeypatch.setattr(tasks, "record_reports", away_twice)
    monkeypatch.setattr(tasks, "WRITE_RETRY_S", (0.01, 0.01, 0.01))
    run_worker(settings, burst=True, reconcile=False)
    assert calls == [3, 3, 3]
    rows = [_status(sessions, i) for i in ids]
    assert [(r.status, r.attempts) for r in rows] == [("scored", 1)] * 3
    with sessions() as s:
        assert sorted(s.scalars(select(Report.transcript_id)).all()) == sorted(ids)

    # Away for longer than the waits: the job fails, the chunk stays `scoring` for the reconciler.
    more = [item["id"] for item in client.post("/v1/transcripts/batch", json={
        "transcripts": [transcript(f"gone-{i}") for i in range(2)]}).json()["items"]]
    tries = []

    def away(**kwargs):
        tries.append(len(kwargs["reports"]))
        raise OperationalError("INSERT INTO reports …", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(tasks, "record_reports", away)
    run_worker(settings, burst=True, reconcile=False)
    assert tries == [2] * 4  # the first try and three more
    assert {_status(sessions, i).status for i in more} == {"scoring"}


def test_the_write_is_tried_again_only_for_what_a_wait_can_mend():
    """SQLite says "no such table" as an OperationalError too: waiting 30 s on it helps nobody."""
    import sqlite3

    from sqlalchemy.exc import InterfaceError, OperationalError

    from qa_service.queue.tasks import _transient

    def sqlite_error(text):
        return OperationalError("INSERT INTO reports …", {}, sqlite3.OperationalError(text))

    assert _transient(sqlite_error("database is locked"))
    assert not _transient(sqlite_error("no such table: reports"))
    assert _transient(OperationalError("INSERT …", {}, Exception("server closed the connection unexpectedly")))
    assert _transient(InterfaceError("INSERT …", {}, Exception("connection already closed")))


def _refuse_reports(engine, transcript_ids: list[int] | None) -> None:
    """A trigger that refuses to store the reports of ``transcript_ids`` (all when None), as a database role
    without INSERT on reports does (PostgreSQL: the same error code, insufficient_privilege)."""
    from sqlalchemy import text

    when = f"NEW.transcript_id IN ({', '.join(map(str, transcript_ids))})" if transcript_ids else "TRUE"
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text(f"CREATE TRIGGER refuse_reports BEFORE INSERT ON reports WHEN {when} "
                              "BEGIN SELECT RAISE(ABORT, 'permission denied for table reports'); END"))
        else:
            conn.execute(text(f"CREATE FUNCTION refuse_reports() RETURNS trigger AS $$ BEGIN IF {when} THEN "
                              "RAISE EXCEPTION 'permission denied for table reports' USING ERRCODE = "
                              "'insufficient_privilege'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"))
            conn.execute(text("CREATE TRIGGER refuse_reports BEFORE INSERT ON reports FOR EACH ROW "
                              "EXECUTE FUNCTION refuse_reports()"))


def _allow_reports(engine) -> None:
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER IF EXISTS refuse_reports" + (" ON reports" if engine.dialect.name != "sqlite"
                                                                       else "")))
        if engine.dialect.name != "sqlite":
            conn.execute(text("DROP FUNCTION IF EXISTS refuse_reports()"))


def test_a_report_the_database_refuses_is_that_transcripts_error_retried_then_failed(client, settings, sessions):
    """An operator's probe: a worker whose database role lacked INSERT on reports. Each job raised with
    nothing recorded; the chunk sat `scoring` for the stale-scoring net (6 minutes a round, the backoff never
    used) and ended `failed` as "worker died mid-job". Now the refused report is that transcript's error,
    retried with backoff and `failed` with the database's words in the end; the rest of its chunk is stored."""
    from qa_service import metrics

    engine = client.app.state.runtime.engine
    ids = [item["id"] for item in client.post("/v1/transcripts/batch", json={
        "transcripts": [transcript(f"grant-{i}") for i in range(3)]}).json()["items"]]
    failed_before = metrics.TRANSCRIPTS.labels("failed")._value.get()
    _refuse_reports(engine, [ids[1]])
    try:
        run_worker(settings, burst=True, reconcile=False)
        rows = [_status(sessions, i) for i in ids]
        assert [r.status for r in rows] == ["scored", "failed", "scored"]
        assert rows[1].attempts == settings.worker.max_attempts
        assert rows[1].last_error.startswith("storing its report failed: ")
        assert "permission denied for table reports" in rows[1].last_error
        assert metrics.TRANSCRIPTS.labels("failed")._value.get() - failed_before == 1

        # The whole chunk refused (no INSERT at all): every one ends failed with that cause, none "died"
        more = [item["id"] for item in client.post("/v1/transcripts/batch", json={
            "transcripts": [transcript(f"nogrant-{i}") for i in range(2)]}).json()["items"]]
        _allow_reports(engine)
        _refuse_reports(engine, None)
        run_worker(settings, burst=True, reconcile=False)
        assert {(_status(sessions, i).status, "permission denied" in _status(sessions, i).last_error)
                for i in more} == {("failed", True)}
    finally:
        _allow_reports(engine)
    with sessions() as s:
        assert sorted(s.scalars(select(Report.transcript_id)).all()) == [ids[0], ids[2]]


def test_the_database_away_during_the_one_by_one_pass_is_waited_for_too(client, settings, sessions, monkeypatch):
    """The pass that stores a refused chunk report by report raised at the first transient error (the rest
    then waited for the stale-scoring net, attempts spent); it waits as the whole-chunk write does, and what
    it had stored stays stored, written once (an independent review)."""
    from sqlalchemy.exc import OperationalError

    from qa_service.queue import tasks

    engine = client.app.state.runtime.engine
    ids = [item["id"] for item in client.post("/v1/transcripts/batch", json={
        "transcripts": [transcript(f"apart-{i}") for i in range(3)]}).json()["items"]]
    real, singles = tasks.record_reports, []

    def away_once_apart(**kwargs):
        if len(kwargs["reports"]) == 1:
            singles.append(next(iter(kwargs["reports"])))
            if len(singles) == 2:  # the second report's own write meets the database away
                raise OperationalError("INSERT INTO reports …", {}, Exception("server closed the connection unexpectedly"))
        return real(**kwargs)

    monkeypatch.setattr(tasks, "record_reports", away_once_apart)
    monkeypatch.setattr(tasks, "WRITE_RETRY_S", (0.01, 0.01))
    _refuse_reports(engine, [ids[1]])
    try:
        run_worker(settings, burst=True, reconcile=False)
    finally:
        _allow_reports(engine)
    assert singles[:3] == [ids[0], ids[1], ids[1]]  # the first stored once, the second tried again after a wait
    rows = [_status(sessions, i) for i in ids]
    assert [r.status for r in rows] == ["scored", "failed", "scored"]
    assert [r.attempts for r in rows] == [1, settings.worker.max_attempts, 1]  # none left to the stale net
    assert "permission denied for table reports" in rows[1].last_error
