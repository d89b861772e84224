"""Store first, then enqueue; the reconciler queues whatever was left behind.

Two queues, taken in order by every worker: conversations (``QA_REDIS__QUEUE``: new ones, and those
the reconciler finds left behind, lost or abandoned), then the backlog (``<queue>-backlog``): rows
``qa rescore`` and ``qa requeue --failed`` marked to be scored again. A re-score of a month never holds
up today's conversations, and the reconciler tops the backlog up to :data:`BACKLOG_BATCHES` passes'
worth instead of copying a million rows into Redis at once.

The database is the source of truth. A transcript is committed as ``received`` before any
job exists. Enqueueing can fail (Redis down) or be lost (Redis restarted without
persistence, worker SIGKILLed mid-job): the reconciler finds such rows by status and age
and queues them again. Jobs are idempotent (the claim in ``tasks`` and the report
replace-on-write), so queuing twice is harmless; losing one is not possible.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Sequence

import redis
from rq import Queue
from rq.job import Job, JobStatus
from sqlalchemy.orm import Session, sessionmaker

from qa_service import metrics
from qa_service.config import Settings
from qa_service.domain import TranscriptStatus
from qa_service.storage import transcripts as transcript_repo
from qa_service.storage.db import session_scope
from qa_service.storage.tables import utcnow

log = logging.getLogger(__name__)

TASK = "qa_service.queue.tasks.score_transcripts"
RECONCILE_LOCK = "qa:reconcile:lock"


def job_id(transcript_id: int) -> str:
    """The job of one transcript as versions before chunked jobs named it (still found in old queues)."""
    return f"qa-score-{transcript_id}"


def new_job_ids(n: int) -> list[str]:
    """Names for ``n`` new chunk jobs (one request or one reconcile pass)."""
    batch = uuid.uuid4().hex[:16]
    return [f"qa-{batch}-{k}" for k in range(n)]


def chunked(ids: Sequence[int], size: int) -> list[list[int]]:
    return [list(ids[i:i + size]) for i in range(0, len(ids), size)]


BACKLOG_BATCHES = 2  # the reconciler queues received rows while the backlog holds fewer than this many passes


def backlog_name(settings: Settings) -> str:
    return f"{settings.redis.queue}-backlog"


def make_queue(settings: Settings, connection: redis.Redis, *, backlog: bool = False) -> Queue:
    """The queue of new conversations, or with ``backlog`` the one workers take from when it is empty."""
    return Queue(backlog_name(settings) if backlog else settings.redis.queue, connection=connection)


def worker_queues(settings: Settings, connection: redis.Redis) -> list[Queue]:
    """What a worker takes jobs from, first queue first."""
    return [make_queue(settings, connection), make_queue(settings, connection, backlog=True)]


def enqueue_jobs(jobs: dict[str, list[int]], *, settings: Settings, connection: redis.Redis,
                 delay_s: float = 0.0, backlog: bool = False) -> bool:
    """Queue one scoring job per chunk (job id → transcript ids) in a single pipeline (``delay_s`` later
    through rq's scheduler; on the backlog queue with ``backlog``); False when Redis is unreachable."""
    if not jobs:
        return True
    queue = make_queue(settings, connection, backlog=backlog)
    ttls = {"result_ttl": 3600, "failure_ttl": 7 * 24 * 3600}
    timeout = settings.worker.job_timeout_s
    try:
        if delay_s > 0:  # rq's enqueue_at passes every keyword it does not know to the task: its timeout is job_timeout
            for jid, ids in jobs.items():
                queue.enqueue_in(timedelta(seconds=delay_s), TASK, args=(ids,), job_id=jid, job_timeout=timeout,
                                 description=f"score transcripts {ids[0]}… ({len(ids)})", **ttls)
        else:
            queue.enqueue_many([Queue.prepare_data(TASK, args=(ids,), job_id=jid, timeout=timeout,
                                                   description=f"score transcripts {ids[0]}… ({len(ids)})",
                                                   **ttls) for jid, ids in jobs.items()])
    except (redis.RedisError, OSError) as exc:
        n = sum(map(len, jobs.values()))
        log.warning("queue unreachable, %d transcript(s) left for the reconciler: %s", n, exc)
        return False
    return True


def enqueue_transcripts(ids: Sequence[int], *, settings: Settings, connection: redis.Redis, backlog: bool = False
                        ) -> dict[str, list[int]]:
    """Queue ``ids`` in chunks of QA_WORKER__CHUNK_SIZE; returns the jobs queued ({} if Redis is unreachable)."""
    chunks = chunked(list(ids), settings.worker.chunk_size)
    jobs = dict(zip(new_job_ids(len(chunks)), chunks))
    return jobs if enqueue_jobs(jobs, settings=settings, connection=connection, backlog=backlog) else {}


def enqueue_and_mark(
    ids: Sequence[int],
    *,
    settings: Settings,
    connection: redis.Redis,
    sessions: sessionmaker[Session],
    stale_before: datetime | None = None,
    backlog: bool = False,
) -> list[int]:
    """Enqueue committed transcripts, then move them to ``queued`` under their new jobs."""
    jobs = enqueue_transcripts(ids, settings=settings, connection=connection, backlog=backlog)
    if jobs:
        with session_scope(sessions) as session:
            transcript_repo.mark_queued(session=session, jobs=jobs, stale_before=stale_before)
    return [i for chunk in jobs.values() for i in chunk]


@dataclass(slots=True)
class ReconcileResult:
    received: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    stale: list[int] = field(default_factory=list)
    unreachable: bool = False  # Redis did not take the jobs: nothing was queued, all is left for the next pass

    @property
    def total(self) -> int:
        return len(self.received) + len(self.lost) + len(self.stale)


_LIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
# A job claims its row first thing: a row still `queued` whose job started longer ago than this was
# taken by a worker that died before claiming (SIGKILL, OOM). rq itself would only notice after the
# job timeout; requeueing is harmless if the worker is merely slow (the claim lets one run score).
CLAIM_DEADLINE_S = 30.0


def _lost(by_job: dict[str | None, list[int]], connection: redis.Redis, started_before: datetime) -> list[int]:
    """Rows whose job no longer exists, is no longer waiting/running, or started and never claimed them."""
    if not by_job:
        return []
    names = [(job or job_id(ids[0]), ids) for job, ids in by_job.items() for ids in
             ([ids] if job else [[i] for i in ids])]  # rows queued before chunked jobs: one old job each
    jobs = Job.fetch_many([name for name, _ in names], connection=connection)
    lost = []
    for (_, ids), job in zip(names, jobs):
        status = job.get_status(refresh=False) if job is not None else None
        if status not in _LIVE or (status == JobStatus.STARTED and _started_before(job, started_before)):
            lost += ids
    return lost


def _started_before(job: Job, moment: datetime) -> bool:
    started = job.started_at
    if started is None:
        return False
    if started.tzinfo is None:  # rq stores naive UTC
        started = started.replace(tzinfo=UTC)
    return started < moment


def backlog_room(settings: Settings, connection: redis.Redis) -> int:
    """How many received rows the reconciler queues now: the backlog is topped up to BACKLOG_BATCHES passes'
    worth of transcripts (its jobs counted as full chunks), a pass at most."""
    w = settings.worker
    waiting = make_queue(settings, connection, backlog=True).count * w.chunk_size
    return max(0, min(w.reconcile_batch, BACKLOG_BATCHES * w.reconcile_batch - waiting))


def reconcile(
    *, settings: Settings, sessions: sessionmaker[Session], connection: redis.Redis, grace_s: float | None = None
) -> ReconcileResult:
    """Queue transcripts that were stored but never queued, lost from the queue, or abandoned; those marked to
    be scored again (``qa rescore``, ``qa requeue --failed``) on the backlog, while it has room."""
    w = settings.worker
    grace = timedelta(seconds=w.received_grace_s if grace_s is None else grace_s)
    now = utcnow()
    stale_before = now - timedelta(seconds=w.stale_scoring_s)
    result = ReconcileResult()
    try:
        room = backlog_room(settings, connection)
    except (redis.RedisError, OSError) as exc:
        log.warning("queue unreachable, nothing requeued: %s", exc)
        room, result.unreachable = w.reconcile_batch, True  # still counted below, for the caller's message
    with session_scope(sessions) as session:
        left = transcript_repo.ids_to_reconcile(session=session, status=TranscriptStatus.received,
                                               changed_before=now - grace, limit=w.reconcile_batch, marked=False)
        marked = transcript_repo.ids_to_reconcile(session=session, status=TranscriptStatus.received,
                                                 changed_before=now - grace, limit=room, marked=True) if room else []
        result.received = left + marked
        queued = transcript_repo.queued_by_job(session=session, changed_before=now - grace, limit=w.reconcile_batch)
        result.stale = transcript_repo.ids_to_reconcile(
            session=session, status=TranscriptStatus.scoring, changed_before=stale_before, limit=w.reconcile_batch,
        )
    if result.unreachable:
        return result
    try:
        result.lost = _lost(queued, connection, started_before=now - timedelta(seconds=CLAIM_DEADLINE_S))
    except (redis.RedisError, OSError) as exc:
        log.warning("queue unreachable, nothing requeued: %s", exc)
        result.unreachable = True
        return result
    todo = left + result.lost + result.stale  # new conversations that went astray: the queue
    if todo or marked:
        queued = set(enqueue_and_mark(todo, settings=settings, connection=connection, sessions=sessions,
                                      stale_before=stale_before))
        queued |= set(enqueue_and_mark(marked, settings=settings, connection=connection, sessions=sessions,
                                       stale_before=stale_before, backlog=True))  # marked to score again
        result.unreachable = not queued
        for reason in ("received", "lost", "stale"):  # only what Redis took
            metrics.REQUEUED.labels(reason).inc(sum(1 for i in getattr(result, reason) if i in queued))
        if result.unreachable:
            return result
        log.info("reconciler queued %d received, %d lost, %d stale transcript(s)",
                 len(result.received), len(result.lost), len(result.stale))
    return result


class Reconciler(threading.Thread):
    """Runs ``reconcile`` every ``reconcile_interval_s`` in a worker, one worker at a time (Redis lock)."""

    def __init__(self, *, settings: Settings, sessions: sessionmaker[Session], connection: redis.Redis):
        super().__init__(name="qa-reconciler", daemon=True)
        self.settings = settings
        self.sessions = sessions
        self.connection = connection
        self.stop_event = threading.Event()
        self.warned_at = float("-inf")

    def run(self) -> None:
        interval = self.settings.worker.reconcile_interval_s
        while not self.stop_event.is_set():
            try:
                if self.connection.set(RECONCILE_LOCK, "1", nx=True, ex=max(int(interval), 1)):
                    reconcile(settings=self.settings, sessions=self.sessions, connection=self.connection)
            except (redis.RedisError, OSError) as exc:  # Redis down: a line a minute, not a traceback a pass
                if time.monotonic() - self.warned_at >= 60:
                    log.warning("reconcile pass failed, the queue does not answer: %s", exc)
                    self.warned_at = time.monotonic()
            except Exception:  # keep reconciling after transient DB errors
                log.exception("reconcile pass failed; retrying in %.0fs", interval)
            self.stop_event.wait(interval)

    def stop(self) -> None:
        self.stop_event.set()
