"""Jobs. Each takes ids, opens its own sessions, and is safe to run twice.

A job carries a chunk of transcript ids and orchestrates: claim the rows (one statement) → load them
→ score them in one batch → store every report and let the flagged ones enter the review queue (one
transaction). A transcript whose scoring raises is isolated and retried alone, with backoff, until it
runs out of attempts. The worker installs its :class:`~qa_service.runtime.Runtime` (engine, preloaded
pipeline) before taking jobs; a process that never did builds one from the environment on first use
(e.g. under a plain ``rq worker``).
"""

from __future__ import annotations

import logging
import sqlite3
import time
import traceback
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from qa_service import metrics, runtime
from qa_service.queue.outbox import enqueue_jobs, new_job_ids
from qa_service.review import service as review_service
from qa_service.storage import reports as report_repo
from qa_service.storage import transcripts as transcript_repo
from qa_service.storage.tables import utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from qa_service.domain import QAReport, Transcript

log = logging.getLogger(__name__)


def record_reports(*, session: Session, reports: Mapping[int, QAReport]) -> dict[int, int]:
    """Store transcripts' reports and let the flagged ones enter the review queue (the caller's transaction).
    The reviews are read after the reports' first write, not before: on SQLite that read is then inside
    the write lock, so a reviewer closing or opening one cannot slip in between the read and the write."""
    report_ids = report_repo.save_many(session=session, reports=dict(reports), derive=runtime.current().derivation)
    review_service.enqueue_scored_many(session=session, reports=reports)
    return report_ids


def record_report(*, session: Session, transcript_id: int, report: QAReport) -> int:
    return record_reports(session=session, reports={transcript_id: report})[transcript_id]


def _score_each(pipeline, transcripts: Sequence[Transcript]) -> tuple[dict[int, QAReport], dict[int, str]]:
    """Score one at a time (after a batch failed): the reports that came out, and each failure's error."""
    reports, errors = {}, {}
    for t in transcripts:
        try:
            reports[t.id] = pipeline.score(t)
        except Exception as exc:
            errors[t.id] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
    return reports, errors


def score_transcripts(ids: list[int]) -> dict[str, int]:
    """Score a chunk of stored transcripts; returns how many were scored, skipped, retried and failed."""
    t0 = time.perf_counter()
    try:
        outcome = _score_chunk(ids)
    except Exception:
        metrics.JOBS.labels("error").inc()
        raise
    else:
        metrics.JOBS.labels("ok").inc()
    finally:  # a job that raised took its time too
        metrics.JOB_SECONDS.observe(time.perf_counter() - t0)
    for name, n in outcome.items():
        metrics.TRANSCRIPTS.labels(name).inc(n)
    return outcome


def _observe_stages(reports: Mapping[int, QAReport], *, batched: bool) -> None:
    """A batch times each stage over the whole chunk: its reports all carry the per-transcript mean, observed
    once (observing it per report would count one measurement n times). Scored one by one, each report's
    times are its own, observed each."""
    for report in list(reports.values())[:1] if batched else reports.values():
        for stage, ms in report.stage_ms.items():
            metrics.SCORER_SECONDS.labels(stage).observe(ms / 1000)


def _score_chunk(ids: list[int]) -> dict[str, int]:
    rt = runtime.current()
    w = rt.settings.worker
    with rt.session() as session:
        claimed, gave_up = transcript_repo.claim_many(
            session=session, ids=ids, max_attempts=w.max_attempts,
            stale_before=utcnow() - timedelta(seconds=w.stale_scoring_s))
    outcome = {"scored": 0, "skipped": len(ids) - len(claimed) - len(gave_up), "retried": 0,
               "failed": len(gave_up)}
    if not claimed:
        return outcome
    with rt.session() as session:
        transcripts = transcript_repo.load_for_scoring(session=session, ids=list(claimed))
    try:
        reports = dict(zip((t.id for t in transcripts), rt.pipeline.score_many(transcripts)))
        errors: dict[int, str] = {}
        batched = True
    except Exception:
        log.warning("batch of %d failed; scoring them one by one to find the culprit", len(transcripts))
        reports, errors = _score_each(rt.pipeline, transcripts)
        batched = False
    _observe_stages(reports, batched=batched)
    retry = _store(rt, reports, errors, claimed)  # a report the database refuses moves to errors
    outcome["scored"] = len(reports)
    outcome["failed"] += len(errors) - len(retry)
    outcome["retried"] = len(retry)
    _retry(rt, retry, claimed)
    return outcome


# The database away when a scored chunk is to be stored (a restart, a failover, SQLite's lock held past its
# busy timeout): the reports are in hand, so the write is tried again after these waits before the job
# gives up. Given up, the chunk stays `scoring` until QA_WORKER__STALE_SCORING_S and is scored again.
WRITE_RETRY_S = (1, 2, 4, 8, 15)


def _store(rt, reports: dict[int, QAReport], errors: dict[int, str], attempts: dict[int, int]) -> list[int]:
    """Store a chunk's reports and errors in one transaction (tried again while the database is away);
    returns the ids to retry. A write whose commit reached the database before the connection dropped is
    written again as a re-score: the same report replaces itself and the figures stay right. A write the
    database refuses for good (a permission missing, a constraint, a value a column rejects) is tried per
    transcript (``_store_apart``): what it refuses becomes that transcript's error, retried with backoff
    and ``failed`` with that cause in the end. Was: the job raised with nothing recorded, so the chunk
    waited for the stale-scoring net and ended ``failed`` as "worker died mid-job"."""
    waits, stored = list(WRITE_RETRY_S), set()
    refused = False  # the database refused the chunk whole: store it one by one (_store_apart)
    while True:
        try:
            if refused:
                return _store_apart(rt, reports, errors, attempts, stored)
            with rt.session() as session:
                record_reports(session=session, reports=reports)
                return _record_errors(session, errors, attempts, rt.settings.worker.max_attempts)
        except (OperationalError, InterfaceError) as exc:
            if not _transient(exc) or not waits:
                if refused or _transient(exc):
                    raise  # the errors themselves refused, or the database away past the waits: the stale net
                refused = _refusal(exc, len(reports))
                continue
            wait_s = waits.pop(0)  # the one-by-one pass too: what it stored stays stored
            log.warning("storing %d report(s) failed, the database away? (%s); trying again in %ss",
                        len(reports), _first_line(exc), wait_s)
            time.sleep(wait_s)
        except SQLAlchemyError as exc:
            if refused:
                raise
            refused = _refusal(exc, len(reports))


def _refusal(exc: SQLAlchemyError, n: int) -> bool:
    log.error("the database refused a chunk of %d report(s): %s; storing them one by one", n, _first_line(exc))
    return True


def _first_line(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None) or exc
    return f"{type(orig).__name__}: {str(orig).splitlines()[0][:300] if str(orig) else ''}"


def _store_apart(rt, reports: dict[int, QAReport], errors: dict[int, str], attempts: dict[int, int],
                 stored: set[int]) -> list[int]:
    """Store each report of a chunk the database refused whole in a transaction of its own (those not in
    ``stored`` yet); a refused one leaves ``reports`` for ``errors`` with the database's reason. Then the
    errors, in one transaction. A transient error raises to ``_store``, which waits and comes back here."""
    for tid in [t for t in reports if t not in stored]:
        try:
            with rt.session() as session:
                record_reports(session=session, reports={tid: reports[tid]})
            stored.add(tid)
        except SQLAlchemyError as one:
            if isinstance(one, (OperationalError, InterfaceError)) and _transient(one):
                raise
            errors[tid] = f"storing its report failed: {_first_line(one)}"
            del reports[tid]
    with rt.session() as session:
        return _record_errors(session, errors, attempts, rt.settings.worker.max_attempts)


def _transient(exc: OperationalError | InterfaceError) -> bool:
    """Whether trying again may help: the server gone, a deadlock, a lock held past its timeout — not
    SQLite's "no such table" (an OperationalError too), which no wait mends."""
    if isinstance(exc.orig, sqlite3.Error):
        return any(word in str(exc.orig).lower() for word in ("locked", "busy", "disk i/o"))
    return True


def _record_errors(session: Session, errors: dict[int, str], attempts: dict[int, int], max_attempts: int
                   ) -> list[int]:
    """Store each error; a transcript out of attempts ends ``failed``. Returns the ones to retry."""
    retry = []
    for tid, error in errors.items():
        final = attempts[tid] >= max_attempts
        log.warning("transcript %s attempt %d/%d failed: %s", tid, attempts[tid], max_attempts,
                    error.splitlines()[0])
        transcript_repo.record_error(session=session, transcript_id=tid, error=error, final=final)
        if not final:
            retry.append(tid)
    return retry


def _retry(rt, ids: list[int], attempts: dict[int, int]) -> None:
    """Queue failed transcripts again, alone, after QA_WORKER__RETRY_BACKOFF_S (the reconciler is the net)."""
    backoff = rt.settings.worker.retry_backoff_s or [0]
    for tid, job in zip(ids, new_job_ids(len(ids))):
        delay = backoff[min(attempts[tid] - 1, len(backoff) - 1)]
        if enqueue_jobs({job: [tid]}, settings=rt.settings, connection=rt.redis, delay_s=delay):
            with rt.session() as session:
                transcript_repo.mark_queued(session=session, jobs={job: [tid]})


def score_transcript(transcript_id: int) -> str:
    """One transcript (jobs queued by versions before chunked jobs, still found in old queues)."""
    out = score_transcripts([transcript_id])
    return next((k for k in ("scored", "failed", "retried") if out[k]), "skipped")
