"""/v1/transcripts: ingest (single, batch), read, list."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi.exceptions import RequestValidationError

from qa_service.api import presenters
from qa_service.api.auth import Admin, Ingest, QARead, check_team, scope_team
from qa_service.api.deps import OFFSET_MAX, AgentQuery, Instant, RowId, RuntimeDep, SessionDep, SettingsDep, flag_reason
from qa_service.api.ids import Id
from qa_service.api.schemas import (
    BatchCreate,
    BatchItemResult,
    BatchResult,
    RefusalRead,
    TranscriptAccepted,
    TranscriptConflictRead,
    TranscriptCreate,
    TranscriptPage,
    TranscriptRead,
)
from qa_service.domain import TranscriptStatus
from qa_service.access.service import missing
from qa_service.errors import Gone, IngestConflict, NotFound
from qa_service.ingest import erasure
from qa_service.ingest.schema import limit_errors
from qa_service.ingest.service import ingest, validate_items
from qa_service.storage import transcripts as transcript_repo

router = APIRouter(prefix="/v1/transcripts", tags=["transcripts"])


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TranscriptAccepted,
    responses={200: {"model": TranscriptAccepted,
                     "description": "Already stored with the same content (idempotent resend)"},
               409: {"model": TranscriptConflictRead,
                     "description": "Same (source, external_id) stored with different content"},
               410: {"model": RefusalRead,
                     "description": "This (source, external_id) was erased on request (qa erase, DELETE "
                                    "/v1/transcripts/{id}) and is not stored again; `field` is external_id"}},
)
def create_transcript(body: TranscriptCreate, response: Response, runtime: RuntimeDep, _principal: Ingest
                      ) -> TranscriptAccepted:
    """Store one transcript, then queue it for scoring. 202 even when the queue is down (status `received`)."""
    errors = limit_errors(body, runtime.settings.api)
    if errors:
        raise RequestValidationError(errors)
    [outcome], _ = ingest([(0, body)], runtime=runtime)
    if outcome.status == "rejected":  # erased on request: the only refusal left once the body is valid
        raise Gone(outcome.errors[0]["msg"], "external_id")
    if outcome.status == "conflict":
        raise IngestConflict(body.source, body.external_id, outcome.id, outcome.field)
    if outcome.status == "duplicate":
        response.status_code = status.HTTP_200_OK
    return TranscriptAccepted(id=outcome.id, source=body.source, external_id=body.external_id,
                              status=outcome.transcript_status, duplicate=outcome.status == "duplicate",
                              warnings=outcome.warnings)


@router.post("/batch", response_model=BatchResult, status_code=status.HTTP_207_MULTI_STATUS,
             responses={202: {"model": BatchResult, "description": "Every item accepted or a duplicate"},
                        207: {"description": "Some items rejected (each with its errors); the others stored"}})
def create_batch(body: BatchCreate, runtime: RuntimeDep, response: Response, _principal: Ingest) -> BatchResult:
    """Store many transcripts; each item is accepted, a duplicate, or rejected with its reasons: 202 when none
    was rejected, else 207."""
    limit = runtime.settings.api.max_batch_items
    if len(body.transcripts) > limit:
        raise RequestValidationError([{
            "loc": ["body", "transcripts"], "type": "too_long",
            "msg": f"batch has {len(body.transcripts)} items; the limit is {limit} (QA_API__MAX_BATCH_ITEMS)",
        }])
    if not body.transcripts:
        raise RequestValidationError([{"loc": ["body", "transcripts"], "type": "too_short",
                                       "msg": "batch is empty; send at least one transcript"}])
    valid, rejected = validate_items(body.transcripts, runtime.settings)
    outcomes, queued = ingest(valid, runtime=runtime) if valid else ([], True)
    items = []
    for o in sorted([*outcomes, *rejected], key=lambda o: o.index):
        if o.status == "conflict":
            items.append(BatchItemResult(
                index=o.index, status="rejected", id=o.id, source=o.source, external_id=o.external_id,
                errors=[{"loc": ["body", "transcripts", o.index], "type": "conflict", "field": o.field,
                         "msg": str(IngestConflict(o.source, o.external_id, o.id, o.field))}],
            ))
        else:
            items.append(BatchItemResult(index=o.index, status=o.status, id=o.id, source=o.source,
                                         external_id=o.external_id, errors=o.errors, warnings=o.warnings))
    accepted = sum(i.status == "accepted" for i in items)
    duplicates = sum(i.status == "duplicate" for i in items)
    if accepted + duplicates == len(items):
        response.status_code = status.HTTP_202_ACCEPTED
    return BatchResult(accepted=accepted, duplicates=duplicates, rejected=len(items) - accepted - duplicates,
                       queued=queued, items=items, warnings=list(dict.fromkeys(w for i in items for w in i.warnings)))


@router.get("/{transcript_id}", response_model=TranscriptRead)
def get_transcript(transcript_id: RowId, session: SessionDep, principal: QARead) -> TranscriptRead:
    """A transcript with its utterances and, once scored, its report (`report` is null until then)."""
    row = transcript_repo.get(session=session, transcript_id=transcript_id)
    if row is None:
        raise missing(principal.team, f"transcript {transcript_id} not found", "transcript_id")
    check_team(principal, row.team_id)
    return presenters.transcript_read(row)


@router.delete("/{transcript_id}", status_code=status.HTTP_204_NO_CONTENT)
def erase_transcript(
    transcript_id: RowId, runtime: RuntimeDep, principal: Admin,
    allow_reingest: Annotated[bool, Query(description=(
        "Keep no tombstone: the source system may send the conversation again (default: refused, 410)"))] = False,
) -> None:
    """Erase one conversation on request (PIPL Art. 47), as ``qa erase`` does: with its report, review,
    appeals, live alerts and their deliveries, audit events and figures (performance records and appraisals stop
    counting it), and what Redis keeps of it. Its (source, external_id) is then refused if sent again (410)
    unless ``allow_reingest``. One audit event names the key. 503 when Redis, which keeps the state of a live
    conversation it was, does not answer (nothing erased)."""
    selection = erasure.Selection(transcript_ids=[transcript_id])
    with runtime.session() as session:
        found = erasure.find(session=session, selection=selection)
    if not found.ids:
        raise NotFound(f"transcript {transcript_id} not found", "transcript_id")
    erasure.erase(runtime=runtime, ids=found.ids, selection=selection, actor=principal.name or "anonymous",
                  key_id=principal.key_id, tombstone=not allow_reingest, r=runtime.redis)


@router.get("", response_model=TranscriptPage)
def list_transcripts(
    session: SessionDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
    principal: QARead,
    agent_id: AgentQuery = None,
    team: str | None = None,
    source: str | None = None,
    external_id: Annotated[str | None, Query(description=(
        "With source: the conversation sent under this (source, external_id), if any"))] = None,
    status_: Annotated[TranscriptStatus | None, Query(alias="status")] = None,
    flagged: bool | None = None,
    reason: Annotated[str | None, Query(description="Only transcripts with a flag of this reason")] = None,
    since: Annotated[datetime | None, Query(description="started_at (or received_at) >= since"), Instant] = None,
    until: Annotated[datetime | None, Query(description="started_at (or received_at) < until"), Instant] = None,
    limit: Annotated[int, Query(ge=1)] = 50,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
    before_id: Annotated[Id | None, Query(
        description="Keyset pagination: the previous page's next_before_id")] = None,
) -> TranscriptPage:
    """Transcripts newest first, filtered, paginated with ``before_id`` (keyset, fast at any depth) or
    limit/offset."""
    if limit > settings.api.page_size_max:
        raise RequestValidationError([{"loc": ["query", "limit"], "type": "less_than_equal",
                                       "msg": f"must be <= {settings.api.page_size_max}"}])
    if external_id is not None and not source:
        raise RequestValidationError([{"loc": ["query", "external_id"], "type": "missing_source",
                                       "msg": "needs source too: a conversation's key is (source, external_id)"}])
    if external_id is not None and not external_id:  # blank would read as no filter: the whole source's list
        raise RequestValidationError([{"loc": ["query", "external_id"], "type": "string_too_short",
                                       "msg": "is empty; give the conversation's external_id"}])
    flt = transcript_repo.TranscriptFilter(
        agent_id=agent_id, team=scope_team(principal, team), source=source, external_id=external_id, status=status_.value if status_ else None,
        flagged=flagged, reason=flag_reason(runtime, session, reason), since=since, until=until,
        before_id=before_id,
    )
    # One row past the page says whether there is a next one: a last page that is exactly full has none.
    rows, total = transcript_repo.list_filtered(session=session, flt=flt, limit=limit + 1, offset=offset)
    more, rows = len(rows) > limit, rows[:limit]
    return TranscriptPage(items=[presenters.transcript_summary(r) for r in rows], total=total, limit=limit,
                          offset=offset, next_before_id=rows[-1].id if more else None)
