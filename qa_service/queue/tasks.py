"""Jobs. Each takes ids, opens its own session, and is safe to run twice.

The worker calls ``configure(settings)`` once before taking jobs, which builds the engine and
preloads the scoring pipeline; a process that never called it configures itself from the
environment on first use (e.g. under a plain ``rq worker``).
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from qa_service.config import Settings, get_settings
from qa_service.domain import Channel, Role, Transcript, Utterance
from qa_service.scoring.pipeline import Pipeline
from qa_service.storage import reports as report_repo
from qa_service.storage import transcripts as transcript_repo
from qa_service.storage.db import create_db_engine, session_factory, session_scope
from qa_service.storage.tables import Transcript as TranscriptRow
from qa_service.storage.tables import utcnow

log = logging.getLogger(__name__)


@dataclass(slots=True)
class WorkerState:
    settings: Settings
    sessions: sessionmaker[Session]
    pipeline: Pipeline


_state: WorkerState | None = None
_pipelines: dict[str, Pipeline] = {}


def configure(settings: Settings, pipeline: Pipeline | None = None) -> WorkerState:
    """Build the engine and load the pipeline once per worker process (and per scoring settings)."""
    global _state
    engine = create_db_engine(settings)
    if pipeline is None:
        key = settings.scoring.model_dump_json()
        pipeline = _pipelines.get(key) or Pipeline.from_settings(settings.scoring)
        _pipelines[key] = pipeline
    pipeline.initialize()
    _state = WorkerState(settings=settings, sessions=session_factory(engine), pipeline=pipeline)
    return _state


def state() -> WorkerState:
    return _state or configure(get_settings())


def to_domain(row: TranscriptRow) -> Transcript:
    return Transcript(
        id=row.id,
        source=row.source,
        external_id=row.external_id,
        channel=Channel(row.channel),
        agent_id=row.agent_id,
        team=row.team_id,
        scenario=row.scenario,
        started_at=row.started_at,
        utterances=tuple(
            Utterance(seq=u.seq, role=Role(u.role), text=u.text, start_ms=u.start_ms, end_ms=u.end_ms,
                      asr_confidence=u.asr_confidence)
            for u in row.utterances
        ),
    )


def score_transcript(transcript_id: int) -> str:
    """Score one stored transcript; returns what happened (scored / skipped / failed).

    Raises on a retryable error so rq retries with backoff; after ``max_attempts`` the
    transcript ends ``failed`` with its error stored, and no further retry happens.
    """
    st = state()
    w = st.settings.worker
    with session_scope(st.sessions) as session:
        claim = transcript_repo.claim_for_scoring(
            session=session, transcript_id=transcript_id, max_attempts=w.max_attempts,
            stale_before=utcnow() - timedelta(seconds=w.stale_scoring_s),
        )
    if not claim.claimed:
        return "failed" if claim.gave_up else "skipped"
    try:
        with session_scope(st.sessions) as session:
            row = transcript_repo.get(session=session, transcript_id=transcript_id, with_report=False)
            transcript = to_domain(row)
        report = st.pipeline.score(transcript)
        with session_scope(st.sessions) as session:
            report_repo.save(session=session, transcript_id=transcript_id, report=report)
        return "scored"
    except Exception as exc:
        final = claim.attempts >= w.max_attempts
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
        log.warning("transcript %s attempt %d/%d failed: %s", transcript_id, claim.attempts, w.max_attempts, exc)
        with session_scope(st.sessions) as session:
            transcript_repo.record_error(session=session, transcript_id=transcript_id, error=error, final=final)
        if final:
            return "failed"
        raise
