"""The backlog queue: rows marked to be scored again (a re-score) wait for new conversations — and for those
the reconciler finds left behind — and are topped up a pass at a time instead of copied into Redis at once."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from qa_service.app import create_app
from qa_service.queue.outbox import reconcile
from qa_service.queue.worker import run_worker
from qa_service.storage import transcripts as repo
from qa_service.storage.db import create_db_engine, session_factory
from qa_service.storage.tables import Transcript, utcnow
from tests.conftest import make_settings, transcript


def _rows(sessions) -> dict[str, Transcript]:
    with sessions() as s:
        return {t.external_id: t for t in s.scalars(select(Transcript))}


def test_rescored_rows_wait_in_the_backlog_behind_new_conversations(tmp_path, sqlite_url, redis_url, redis_conn):
    settings = make_settings(tmp_path, sqlite_url, redis_url, worker={"reconcile_batch": 2, "chunk_size": 1})
    sessions = session_factory(create_db_engine(settings))
    client = TestClient(create_app(settings))
    body = client.post("/v1/transcripts/batch", json={"transcripts": [transcript(f"old-{i}") for i in range(6)]})
    assert body.status_code == 202
    run_worker(settings, burst=True, reconcile=False)
    with sessions.begin() as s:  # qa rescore's marking: the six go back to received
        assert len(repo.mark_for_rescoring(session=s, flt=repo.TranscriptFilter(), limit=100)) == 6
        # … and one new conversation was left behind by ingest (Redis away) ten seconds ago
    new_left = client.post("/v1/transcripts", json=transcript("left-behind")).json()["id"]
    with sessions.begin() as s:
        s.execute(update(Transcript).where(Transcript.id == new_left).values(
            status="received", job_id=None, status_changed_at=utcnow() - timedelta(seconds=10)))
    redis_conn.delete(f"rq:queue:{settings.redis.queue}")  # its job is gone with Redis

    first = reconcile(settings=settings, sessions=sessions, connection=redis_conn)
    assert first.received[0] == new_left and len(first.received) == 3  # the left-behind row, and a pass (2)
    second = reconcile(settings=settings, sessions=sessions, connection=redis_conn)
    assert len(second.received) == 2  # topped up to two passes' worth
    third = reconcile(settings=settings, sessions=sessions, connection=redis_conn)
    assert third.received == [] and not third.unreachable  # full: the rest wait in the database, not in Redis
    backlog, queue = f"rq:queue:{settings.redis.queue}-backlog", f"rq:queue:{settings.redis.queue}"
    assert redis_conn.llen(backlog) == 4 and redis_conn.llen(queue) == 1  # the row left behind: on the queue
    assert sum(t.status == "received" for t in _rows(sessions).values()) == 2

    fresh = client.post("/v1/transcripts", json=transcript("fresh")).json()["id"]  # on the queue, after them
    run_worker(settings, burst=True, reconcile=False)
    rows = _rows(sessions)
    done = sorted((t for t in rows.values() if t.status == "scored"), key=lambda t: (t.scored_at, t.id))
    assert {done[0].id, done[1].id} == {new_left, fresh}  # scored before every backlog job queued ahead of them
    assert len(done) == 6 and redis_conn.llen(backlog) == 0
    while any(t.status == "received" for t in _rows(sessions).values()):
        assert reconcile(settings=settings, sessions=sessions, connection=redis_conn).received
        run_worker(settings, burst=True, reconcile=False)
    assert {t.status for t in _rows(sessions).values()} == {"scored"}
