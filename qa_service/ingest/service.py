"""Validate → store → enqueue, for one transcript or a batch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import redis
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from qa_service.api.schemas import TranscriptCreate, errors_from_validation, limit_errors
from qa_service.config import Settings
from qa_service.domain import TranscriptStatus
from qa_service.queue.outbox import enqueue_and_mark
from qa_service.storage import transcripts as transcript_repo
from qa_service.storage.db import session_scope


@dataclass(slots=True)
class Outcome:
    index: int
    status: Literal["accepted", "duplicate", "rejected", "conflict"]
    id: int | None = None
    source: str | None = None
    external_id: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    transcript_status: TranscriptStatus | None = None


def to_new(t: TranscriptCreate) -> transcript_repo.NewTranscript:
    return transcript_repo.NewTranscript(
        source=t.source, external_id=t.external_id, content_hash=t.content_hash(), channel=t.channel.value,
        agent_id=t.agent_id, team=t.team, queue=t.queue, scenario=t.scenario, started_at=t.started_at,
        meta=t.metadata,
        utterances=[
            {"role": u.role.value, "text": u.text, "start_ms": u.start_ms, "end_ms": u.end_ms,
             "asr_confidence": u.asr_confidence}
            for u in t.utterances
        ],
    )


def validate_items(raw: list[Any], settings: Settings) -> tuple[list[tuple[int, TranscriptCreate]], list[Outcome]]:
    """Split raw batch items into valid transcripts and rejections (errors located per item)."""
    valid, rejected = [], []
    for index, item in enumerate(raw):
        loc = ("body", "transcripts", index)
        try:
            t = item if isinstance(item, TranscriptCreate) else TranscriptCreate.model_validate(item)
        except ValidationError as exc:
            keys = item if isinstance(item, dict) else {}
            rejected.append(Outcome(index, "rejected", source=_str(keys.get("source")),
                                    external_id=_str(keys.get("external_id")),
                                    errors=errors_from_validation(exc, loc)))
            continue
        errors = limit_errors(t, settings.api, loc)
        if errors:
            rejected.append(Outcome(index, "rejected", source=t.source, external_id=t.external_id, errors=errors))
        else:
            valid.append((index, t))
    return valid, rejected


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def store(items: list[tuple[int, TranscriptCreate]], *, session: Session) -> list[Outcome]:
    """Insert new transcripts; classify the others as duplicate (same content) or conflict."""
    news = [(i, to_new(t)) for i, t in items]
    existing = transcript_repo.find_existing(session=session, keys=[(n.source, n.external_id) for _, n in news])
    outcomes: dict[int, Outcome] = {}
    first_in_batch: dict[tuple[str, str], transcript_repo.NewTranscript] = {}
    to_insert = []
    for index, new in news:
        key = (new.source, new.external_id)
        prior = existing.get(key)
        earlier = first_in_batch.get(key)
        if prior is not None or earlier is not None:
            same = (prior.content_hash if prior else earlier.content_hash) == new.content_hash
            outcomes[index] = Outcome(index, "duplicate" if same else "conflict", id=prior.id if prior else None,
                                      source=new.source, external_id=new.external_id,
                                      transcript_status=TranscriptStatus(prior.status) if prior else None)
            continue
        first_in_batch[key] = new
        to_insert.append((index, new))
    inserted = transcript_repo.create_many(session=session, items=[n for _, n in to_insert])
    raced = [(i, n) for i, n in to_insert if (n.source, n.external_id) not in inserted]
    if raced:  # another request stored the same key between our lookup and insert
        found = transcript_repo.find_existing(session=session, keys=[(n.source, n.external_id) for _, n in raced])
        for index, new in raced:
            prior = found[(new.source, new.external_id)]
            same = prior.content_hash == new.content_hash
            outcomes[index] = Outcome(index, "duplicate" if same else "conflict", id=prior.id, source=new.source,
                                      external_id=new.external_id, transcript_status=TranscriptStatus(prior.status))
    for index, new in to_insert:
        tid = inserted.get((new.source, new.external_id))
        if tid is not None:
            outcomes[index] = Outcome(index, "accepted", id=tid, source=new.source, external_id=new.external_id,
                                      transcript_status=TranscriptStatus.received)
    # Duplicates of an item inserted earlier in this same batch point at its new id.
    for index, new in news:
        o = outcomes[index]
        if o.id is None and o.status in ("duplicate", "conflict"):
            o.id = inserted.get((new.source, new.external_id))
            o.transcript_status = TranscriptStatus.received
    return [outcomes[i] for i, _ in news]


def ingest(
    items: list[tuple[int, TranscriptCreate]],
    *,
    settings: Settings,
    sessions: sessionmaker[Session],
    connection: redis.Redis | None,
) -> tuple[list[Outcome], bool]:
    """Store first (commit), then enqueue. Returns outcomes and whether the queue took the new ones."""
    with session_scope(sessions) as session:
        outcomes = store(items, session=session)
    new_ids = [o.id for o in outcomes if o.status == "accepted"]
    queued = False
    if new_ids and connection is not None:
        queued = bool(enqueue_and_mark(new_ids, settings=settings, connection=connection, sessions=sessions))
        if queued:
            for o in outcomes:
                if o.status == "accepted":
                    o.transcript_status = TranscriptStatus.queued
    return outcomes, queued or not new_ids
