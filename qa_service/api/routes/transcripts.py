"""/v1/transcripts: ingest (single, batch), read, list."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from fastapi.exceptions import RequestValidationError

from qa_service.api.auth import Ingest, QARead, check_team, scope_team
from qa_service.api.deps import RedisDep, RowId, SessionDep, SessionsDep, SettingsDep
from qa_service.api.schemas import (
    BatchCreate,
    BatchItemResult,
    BatchResult,
    FindingRead,
    FlagRead,
    ReportRead,
    TranscriptAccepted,
    TranscriptCreate,
    TranscriptPage,
    TranscriptRead,
    TranscriptSummary,
    UtteranceRead,
    limit_errors,
)
from qa_service.domain import TranscriptStatus
from qa_service.errors import IngestConflict
from qa_service.ingest.service import ingest, validate_items
from qa_service.storage import transcripts as transcript_repo
from qa_service.storage.tables import Report, Transcript

router = APIRouter(prefix="/v1/transcripts", tags=["transcripts"])


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TranscriptAccepted,
    responses={200: {"description": "Already stored with the same content (idempotent resend)"},
               409: {"description": "Same (source, external_id) stored with different content"}},
)
def create_transcript(
    body: TranscriptCreate, response: Response, settings: SettingsDep, sessions: SessionsDep, redis: RedisDep,
    _principal: Ingest,
) -> TranscriptAccepted:
    """Store one transcript, then queue it for scoring. 202 even when the queue is down (status `received`)."""
    errors = limit_errors(body, settings.api)
    if errors:
        raise RequestValidationError(errors)
    [outcome], _ = ingest([(0, body)], settings=settings, sessions=sessions, connection=redis)
    if outcome.status == "conflict":
        raise IngestConflict(body.source, body.external_id, outcome.id)
    if outcome.status == "duplicate":
        response.status_code = status.HTTP_200_OK
    return TranscriptAccepted(id=outcome.id, source=body.source, external_id=body.external_id,
                              status=outcome.transcript_status, duplicate=outcome.status == "duplicate")


@router.post("/batch", response_model=BatchResult, status_code=status.HTTP_207_MULTI_STATUS)
def create_batch(
    body: BatchCreate, settings: SettingsDep, sessions: SessionsDep, redis: RedisDep, response: Response,
    _principal: Ingest,
) -> BatchResult:
    """Store many transcripts; each item is accepted, a duplicate, or rejected with its reasons."""
    limit = settings.api.max_batch_items
    if len(body.transcripts) > limit:
        raise RequestValidationError([{
            "loc": ["body", "transcripts"], "type": "too_long",
            "msg": f"batch has {len(body.transcripts)} items; the limit is {limit} (QA_API__MAX_BATCH_ITEMS)",
        }])
    if not body.transcripts:
        raise RequestValidationError([{"loc": ["body", "transcripts"], "type": "too_short",
                                       "msg": "batch is empty; send at least one transcript"}])
    valid, rejected = validate_items(body.transcripts, settings)
    outcomes, queued = ingest(valid, settings=settings, sessions=sessions, connection=redis) if valid else ([], True)
    items = []
    for o in sorted([*outcomes, *rejected], key=lambda o: o.index):
        if o.status == "conflict":
            items.append(BatchItemResult(
                index=o.index, status="rejected", id=o.id, source=o.source, external_id=o.external_id,
                errors=[{"loc": ["body", "transcripts", o.index], "type": "conflict",
                         "msg": str(IngestConflict(o.source, o.external_id, o.id))}],
            ))
        else:
            items.append(BatchItemResult(index=o.index, status=o.status, id=o.id, source=o.source,
                                         external_id=o.external_id, errors=o.errors))
    accepted = sum(i.status == "accepted" for i in items)
    duplicates = sum(i.status == "duplicate" for i in items)
    if accepted + duplicates == len(items):
        response.status_code = status.HTTP_202_ACCEPTED
    return BatchResult(accepted=accepted, duplicates=duplicates, rejected=len(items) - accepted - duplicates,
                       queued=queued, items=items)


def _report_read(report: Report) -> ReportRead:
    return ReportRead(
        score=report.score,
        fatal=report.fatal,
        dimensions={name: d["score"] for name, d in report.dimensions.items()},
        dimension_details=report.dimensions,
        weights=report.weights,
        scorer_versions=report.scorer_versions,
        rule_pack=report.rule_pack,
        rule_pack_version=report.rule_pack_version,
        rule_pack_hash=report.rule_pack_hash,
        created_at=report.created_at,
        findings=[
            FindingRead(id=f.id, dimension=f.dimension, rule_id=f.rule_id, utterance_index=f.utterance_seq,
                        span=(f.span_start, f.span_end), quote=f.quote, points=f.points, severity=f.severity,
                        role=f.role, message=f.message, fatal=f.fatal)
            for f in report.findings
        ],
        flags=[FlagRead(reason=f.reason, severity=f.severity, detail=f.detail) for f in report.flags],
    )


def transcript_read(row: Transcript) -> TranscriptRead:
    return TranscriptRead(
        id=row.id, source=row.source, external_id=row.external_id, channel=row.channel, agent_id=row.agent_id,
        team=row.team_id, queue=row.queue, scenario=row.scenario, started_at=row.started_at,
        received_at=row.received_at, status=row.status, attempts=row.attempts, last_error=row.last_error,
        metadata=row.meta or {},
        utterances=[
            UtteranceRead(seq=u.seq, role=u.role, text=u.text, start_ms=u.start_ms, end_ms=u.end_ms,
                          asr_confidence=u.asr_confidence)
            for u in row.utterances
        ],
        report=_report_read(row.report) if row.report and row.status == TranscriptStatus.scored.value else None,
    )


@router.get("/{transcript_id}", response_model=TranscriptRead)
def get_transcript(transcript_id: RowId, session: SessionDep, principal: QARead) -> TranscriptRead:
    """A transcript with its utterances and, once scored, its report (`report` is null until then)."""
    row = transcript_repo.get(session=session, transcript_id=transcript_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"transcript {transcript_id} not found")
    check_team(principal, row.team_id)
    return transcript_read(row)


@router.get("", response_model=TranscriptPage)
def list_transcripts(
    session: SessionDep,
    settings: SettingsDep,
    principal: QARead,
    agent_id: str | None = None,
    team: str | None = None,
    source: str | None = None,
    status_: Annotated[TranscriptStatus | None, Query(alias="status")] = None,
    flagged: bool | None = None,
    reason: Annotated[str | None, Query(description="Only transcripts with a flag of this reason")] = None,
    since: Annotated[datetime | None, Query(description="started_at (or received_at) >= since")] = None,
    until: Annotated[datetime | None, Query(description="started_at (or received_at) < until")] = None,
    limit: Annotated[int, Query(ge=1)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> TranscriptPage:
    """Transcripts newest first, filtered, paginated with limit/offset."""
    if limit > settings.api.page_size_max:
        raise RequestValidationError([{"loc": ["query", "limit"], "type": "less_than_equal",
                                       "msg": f"must be <= {settings.api.page_size_max}"}])
    flt = transcript_repo.TranscriptFilter(
        agent_id=agent_id, team=scope_team(principal, team), source=source, status=status_.value if status_ else None,
        flagged=flagged, reason=reason, since=since, until=until,
    )
    rows, total = transcript_repo.list_filtered(session=session, flt=flt, limit=limit, offset=offset)
    items = [
        TranscriptSummary(
            id=r.id, source=r.source, external_id=r.external_id, channel=r.channel, agent_id=r.agent_id,
            team=r.team_id, status=r.status, started_at=r.started_at, received_at=r.received_at,
            score=r.report.score if r.report else None,
            flags=sorted({f.reason for f in r.report.flags}) if r.report else [],
        )
        for r in rows
    ]
    return TranscriptPage(items=items, total=total, limit=limit, offset=offset)
