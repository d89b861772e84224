"""A batch is stored one job's worth of transcripts per transaction (the write lock is never held for
the whole batch), with the same outcomes as one transaction: repeats across the cuts are duplicates
or conflicts, every transcript is stored once and queued once (SQLite and PostgreSQL)."""

from __future__ import annotations

from rq import Queue
from sqlalchemy import event, func, select

from qa_service.ingest.schema import TranscriptCreate
from qa_service.ingest.service import ingest
from qa_service.runtime import Runtime
from qa_service.storage.redis import EmbeddedRedis
from qa_service.storage.tables import Transcript
from tests.conftest import make_settings, transcript


def test_a_batch_commits_per_chunk_with_the_outcomes_of_one_transaction(tmp_path, db_url, redis_url, redis_conn):
    rt = Runtime(make_settings(tmp_path, db_url, redis_url, worker={"chunk_size": 2}))
    commits = []
    event.listen(rt.engine, "commit", lambda conn: commits.append(1))
    try:
        changed = transcript("c1", utterances=[{"role": "agent", "text": "内容不同了"}])
        items = [transcript("c1"), transcript("c2"), transcript("c3"), transcript("c1"), changed, transcript("c4")]
        outcomes, queued = ingest([(i, TranscriptCreate(**t)) for i, t in enumerate(items)], runtime=rt)
        assert queued is True
        assert [o.status for o in outcomes] == ["accepted", "accepted", "accepted", "duplicate", "conflict", "accepted"]
        assert outcomes[3].id == outcomes[0].id == outcomes[4].id  # the repeats name the first one
        assert outcomes[3].transcript_status == "queued"
        assert len(commits) == 3  # six items in chunks of two: three transactions
        with rt.sessions() as s:
            assert s.scalar(select(func.count()).select_from(Transcript)) == 4
            assert set(s.scalars(select(Transcript.status))) == {"queued"}
        # one job per chunk, queued after its commit, carrying that chunk's new transcripts only
        jobs = Queue(rt.settings.redis.queue, connection=redis_conn).jobs
        ids = [o.id for o in outcomes]
        assert [j.args[0] for j in jobs] == [[ids[0], ids[1]], [ids[2]], [ids[5]]]
    finally:
        rt.close()


def test_a_queue_that_goes_down_midway_leaves_the_rest_received_for_the_reconciler(tmp_path, db_url):
    embedded = EmbeddedRedis(tmp_path / "own-redis").start()
    rt = Runtime(make_settings(tmp_path, db_url, embedded.url, worker={"chunk_size": 2}))
    commits = []

    def after_commit(conn):  # a real fault: Redis stops once the second chunk is stored
        commits.append(1)
        if len(commits) == 2:
            embedded.stop()

    event.listen(rt.engine, "commit", after_commit)
    try:
        items = [(i, TranscriptCreate(**transcript(f"q{i}"))) for i in range(5)]
        outcomes, queued = ingest(items, runtime=rt)
        assert queued is False  # the first chunk was queued before Redis went
        assert [o.transcript_status for o in outcomes] == ["queued", "queued", "received", "received", "received"]
        with rt.sessions() as s:
            stored = dict(s.execute(select(Transcript.external_id, Transcript.status)).all())
        assert stored == {"q0": "queued", "q1": "queued", "q2": "received", "q3": "received", "q4": "received"}
    finally:
        rt.close()
        embedded.stop()
