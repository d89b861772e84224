"""A batch is stored one job's worth of transcripts per transaction (the write lock is never held for
the whole batch), with the same outcomes as one transaction: repeats across the cuts are duplicates
or conflicts, every transcript is stored once and queued once (SQLite and PostgreSQL)."""

from __future__ import annotations

from rq import Queue
from sqlalchemy import event, func, select

from qa_service.ingest.schema import TranscriptCreate
from qa_service.ingest.service import ingest
from qa_service.runtime import Runtime
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
        assert len(commits) >= 3  # six items in chunks of two: three transactions
        with rt.sessions() as s:
            assert s.scalar(select(func.count()).select_from(Transcript)) == 4
        jobs = Queue(rt.settings.redis.queue, connection=redis_conn).jobs
        carried = sorted(i for j in jobs for i in j.args[0])
        assert carried == sorted(o.id for o in outcomes if o.status == "accepted")
    finally:
        rt.close()
