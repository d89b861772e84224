"""Jobs. Each takes ids, opens its own session, and is safe to run twice.

A job orchestrates: claim the row → score → save the report → enter the review queue (the last two
in one transaction). The worker installs its :class:`~qa_service.runtime.Runtime` (engine, preloaded
pipeline) before taking jobs; a process that never did builds one from the environment on first use
(e.g. under a plain ``rq worker``).
"""

from __future__ import annotations

import logging
import traceback
from datetime import timedelta
from typing import TYPE_CHECKING

from qa_service import runtime
from qa_service.review import service as review_service
from qa_service.storage import reports as report_repo
from qa_service.storage import transcripts as transcript_repo
from qa_service.storage.tables import utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from qa_service.domain import QAReport

log = logging.getLogger(__name__)


def record_report(*, session: Session, transcript_id: int, report: QAReport) -> int:
    """Store a transcript's report and let it enter the review queue (one transaction: the caller's)."""
    report_id = report_repo.save(session=session, transcript_id=transcript_id, report=report)
    review_service.enqueue_scored(session=session, transcript_id=transcript_id, report=report)
    return report_id


def score_transcript(transcript_id: int) -> str:
    """Score one stored transcript; returns what happened (scored / skipped / failed).

    Raises on a retryable error so rq retries with backoff; after ``max_attempts`` the
    transcript ends ``failed`` with its error stored, and no further retry happens.
    """
    rt = runtime.current()
    w = rt.settings.worker
    with rt.session() as session:
        claim = transcript_repo.claim_for_scoring(
            session=session, transcript_id=transcript_id, max_attempts=w.max_attempts,
            stale_before=utcnow() - timedelta(seconds=w.stale_scoring_s),
        )
    if not claim.claimed:
        return "failed" if claim.gave_up else "skipped"
    try:
        with rt.session() as session:
            row = transcript_repo.get(session=session, transcript_id=transcript_id, with_report=False)
            transcript = transcript_repo.to_domain(row)
        report = rt.pipeline.score(transcript)
        with rt.session() as session:
            record_report(session=session, transcript_id=transcript_id, report=report)
        return "scored"
    except Exception as exc:
        final = claim.attempts >= w.max_attempts
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
        log.warning("transcript %s attempt %d/%d failed: %s", transcript_id, claim.attempts, w.max_attempts, exc)
        with rt.session() as session:
            transcript_repo.record_error(session=session, transcript_id=transcript_id, error=error, final=final)
        if final:
            return "failed"
        raise
