"""Validate → store → enqueue, for one transcript or a batch."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from qa_service import metrics
from qa_service.config import Settings
from qa_service.domain import Transcript, TranscriptStatus
from qa_service.ingest import pii
from qa_service.ingest.schema import TranscriptCreate, UtteranceCreate, errors_from_validation, limit_errors
from qa_service.ingest.unserved import note_unserved, unserved_warnings
from qa_service.queue.outbox import enqueue_jobs, new_job_ids
from qa_service.runtime import Runtime
from qa_service.storage import erasure as erasure_repo
from qa_service.storage import transcripts as transcript_repo
from qa_service.timing import timed

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@dataclass(slots=True)
class Outcome:
    index: int
    status: Literal["accepted", "duplicate", "rejected", "conflict"]
    id: int | None = None
    source: str | None = None
    external_id: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    transcript_status: TranscriptStatus | None = None
    field: str | None = None  # a conflict: the first field whose value differs from what is stored
    warnings: list[str] = dataclasses.field(default_factory=list)  # stored, but worth saying (a scenario no pack serves)


def redact_transcript(t: TranscriptCreate, settings: Settings) -> TranscriptCreate:
    """The transcript with personal data in its utterances and metadata replaced (QA_PII__*).

    Runs before the content hash too: a stored hash of the original text would let anyone
    holding the database brute-force an 11-digit phone number back out of it.
    """
    policy = pii.policy_for(settings.pii, t.source)
    if policy is None:
        return t
    texts = pii.redact_split([pii.redact(u.text, policy) for u in t.utterances], [u.role for u in t.utterances],
                             policy)
    utterances = [u if text == u.text else u.model_copy(update={"text": text}) for u, text in zip(t.utterances, texts)]
    metadata = pii.redact_value(t.metadata, policy) if t.metadata else t.metadata
    # Labels, not ids: 回拨13900001111 happens in either. Was: the scenario was stored and shown as sent.
    labels = {name: pii.redact(value, policy) for name in ("queue", "scenario") if (value := getattr(t, name))}
    return t.model_copy(update={"utterances": utterances, "metadata": metadata, **labels})


def redact_unstored(t: Transcript, settings: Settings) -> Transcript:
    """A conversation scored without being stored (``qa eval``'s labelled ones) with its personal data replaced as
    ingest replaces it, through :func:`redact_transcript` under the policy of ``t.source``: its non-empty turns, in
    order, as the API takes them (it takes no empty turn; ``qa import`` drops them), so a number split over two turns
    is found as the service finds it; empty turns stay in place, so turn indices still count every turn."""
    kept = [u for u in t.utterances if u.text.strip()]
    if not kept or pii.policy_for(settings.pii, t.source) is None:
        return t
    sent = TranscriptCreate.model_construct(  # built, not validated: only the text is redacted here
        source=t.source, external_id=t.external_id, channel=t.channel, scenario=t.scenario, queue=None, metadata={},
        utterances=[UtteranceCreate.model_construct(role=u.role, text=u.text) for u in kept])
    redacted = redact_transcript(sent, settings)
    texts = {u.index: r.text for u, r in zip(kept, redacted.utterances)}
    return dataclasses.replace(t, scenario=redacted.scenario, utterances=tuple(
        dataclasses.replace(u, text=texts[u.index]) if texts.get(u.index, u.text) != u.text else u
        for u in t.utterances))


def to_new(t: TranscriptCreate) -> transcript_repo.NewTranscript:
    content_hash, earlier_hashes = t.content_hashes()
    return transcript_repo.NewTranscript(
        source=t.source, external_id=t.external_id, content_hash=content_hash, earlier_hashes=earlier_hashes,
        channel=t.channel.value,
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
    if rejected:
        metrics.INGESTED.labels("rejected").inc(len(rejected))
    return valid, rejected


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def store(items: list[tuple[int, TranscriptCreate]], *, session: Session, known: transcript_repo.KnownIds,
          jobs: list[str] | None = None, chunk_size: int = 1, settings: Settings | None = None) -> list[Outcome]:
    """Insert new transcripts as ``queued``; classify the others as duplicate (same content) or conflict; refuse
    those whose (source, external_id) was erased on request (:func:`erased_error`). With ``settings``, a stored transcript whose hash differs is redacted again under them before it is
    called a conflict (:func:`_same_once_redacted_again`).

    Rows are written as ``queued`` in the same transaction, before any job exists, each naming the job
    that will carry it (``jobs[k]`` for the k-th chunk of ``chunk_size`` items): if the enqueue that
    follows the commit fails they are set back to ``received``, and if this process dies in between,
    the reconciler finds ``queued`` rows whose job does not exist.
    """
    news = [(i, to_new(t)) for i, t in items]
    if jobs:
        for position, (_, new) in enumerate(news):
            new.job_id = jobs[position // chunk_size]
    first: dict[tuple[str, str], transcript_repo.NewTranscript] = {}
    for _, new in news:
        first.setdefault((new.source, new.external_id), new)
    erased = erasure_repo.tombstones(session=session, keys=first)
    first = {k: v for k, v in first.items() if k not in erased}
    inserted = transcript_repo.create_many(
        session=session, items=list(first.values()), known=known, status=TranscriptStatus.queued
    )
    existing_keys = [k for k in first if k not in inserted]
    existing = transcript_repo.find_existing(session=session, keys=existing_keys) if existing_keys else {}
    outcomes = []
    seen: set[tuple[str, str]] = set()
    for index, new in news:
        key = (new.source, new.external_id)
        if key in erased:
            outcomes.append(Outcome(index, "rejected", source=new.source, external_id=new.external_id,
                                    errors=[erased_error(key, erased[key], index)]))
        elif key in inserted and key not in seen:
            outcomes.append(Outcome(index, "accepted", id=inserted[key], source=new.source,
                                    external_id=new.external_id, transcript_status=TranscriptStatus.queued))
        elif key in inserted:  # a repeat of an item stored earlier in this batch
            same = new.same_content(first[key].content_hash)
            outcomes.append(Outcome(index, "duplicate" if same else "conflict", id=inserted[key], source=new.source,
                                    external_id=new.external_id, transcript_status=TranscriptStatus.queued,
                                    field=None if same else first_difference(_fields(new), _fields(first[key]))))
        else:
            prior = existing[key]
            same = new.same_content(prior.content_hash) or (
                settings is not None and _same_once_redacted_again(session, prior.id, new.content_hash, settings))
            outcomes.append(Outcome(index, "duplicate" if same else "conflict", id=prior.id, source=new.source,
                                    external_id=new.external_id, transcript_status=TranscriptStatus(prior.status),
                                    field=None if same else _stored_difference(session, prior.id, new)))
        seen.add(key)
    return outcomes


def erased_error(key: tuple[str, str], at: datetime, index: int = 0) -> dict[str, Any]:
    """The error of a conversation whose (source, external_id) was erased on request (``qa erase``): it is
    not stored again. ``msg`` names the field and when; ``loc`` as a batch item's."""
    when = _instant(at)
    return {"loc": ["body", "transcripts", index, "external_id"], "type": "erased", "field": "external_id",
            "msg": f"external_id: source={key[0]!r}, external_id={key[1]!r} was erased on request on "
                   f"{when:%Y-%m-%d} ({when:%H:%M} UTC) and is not stored again"}


def _instant(v: datetime | None) -> datetime | None:
    """A time as an instant (SQLite gives stored times back without their offset: UTC)."""
    return None if v is None else (v.replace(tzinfo=UTC) if v.tzinfo is None else v).astimezone(UTC)


_TURN = ("role", "text", "start_ms", "end_ms", "asr_confidence")


def _fields(t: Any) -> list[tuple[str, Any]]:
    """A transcript's compared fields in the API's names, in the order a conflict names the first: a
    ``NewTranscript`` or a stored row (whose team is ``team_id`` and turns are rows). The turns are one
    field: named turn by turn, a resend could test a guess at one turn's words after another (an ingest
    key may not read transcripts)."""
    turns = tuple(tuple(u[k] for k in _TURN) if isinstance(u, dict) else tuple(getattr(u, k) for k in _TURN)
                  for u in t.utterances)
    return [("channel", t.channel), ("agent_id", t.agent_id), ("team", getattr(t, "team_id", getattr(t, "team", None))),
            ("queue", t.queue), ("scenario", t.scenario), ("started_at", _instant(t.started_at)),
            ("metadata", t.meta or {}), ("utterances", turns)]


def first_difference(new: list[tuple[str, Any]], stored: list[tuple[str, Any]]) -> str | None:
    """The name of the first field whose value differs, or None. Names only: values (redacted or not) never
    leave here."""
    return next((name for (name, a), (_, b) in zip(new, stored) if a != b), None)


def _stored_difference(session: Session, transcript_id: int, new: transcript_repo.NewTranscript) -> str | None:
    """What a changed resend changed, compared as stored: the new content is redacted already, as the stored
    row is, so only redacted text is compared (and only a field's name is given back). None when the
    difference is not in what is stored field by field (a redaction rule that changed since)."""
    row = transcript_repo.get(session=session, transcript_id=transcript_id, with_report=False)
    return None if row is None else first_difference(_fields(new), _fields(row))


def _same_once_redacted_again(session: Session, transcript_id: int, content_hash: str, settings: Settings) -> bool:
    """Whether the stored transcript, redacted again under today's rules, hashes as the one just sent. The
    hash is of the redacted content, and redaction learns: a number a release before left as typed (139
    0000 1111 with two spaces, 13822220005.0 in metadata) is a placeholder now, so a client resending a
    conversation stored then sent the same one, not other content. Only on this path, a key's rare
    mismatch; the stored text is already redacted, so redacting it again only adds what it lacked."""
    row = transcript_repo.get(session=session, transcript_id=transcript_id, with_report=False)
    if row is None:
        return False
    try:
        stored = TranscriptCreate.model_validate({
            "source": row.source, "external_id": row.external_id, "channel": row.channel, "agent_id": row.agent_id,
            "team": row.team_id, "queue": row.queue, "scenario": row.scenario, "started_at": row.started_at,
            "metadata": row.meta, "utterances": [
                {"role": u.role, "text": u.text, "start_ms": u.start_ms, "end_ms": u.end_ms,
                 "asr_confidence": u.asr_confidence} for u in row.utterances]})
    except ValidationError:  # stored before a check it would fail now: not provably the same
        return False
    return redact_transcript(stored, settings).content_hashes()[0] == content_hash


def _store_committed(items: list[tuple[int, TranscriptCreate]], *, runtime: Runtime, job: str) -> list[Outcome]:
    size = runtime.settings.worker.chunk_size

    def once() -> list[Outcome]:
        with runtime.session() as session:
            return store(items, session=session, known=runtime.known_ids, jobs=[job], chunk_size=size,
                         settings=runtime.settings)

    return transcript_repo.retry_with_fresh_ids(runtime.known_ids, once)


def ingest(items: list[tuple[int, TranscriptCreate]], *, runtime: Runtime) -> tuple[list[Outcome], bool]:
    """Redact, store (commit), then enqueue, a job's worth of transcripts at a time. Returns outcomes and
    whether the queue took all the new ones.

    One transaction and one job per ``QA_WORKER__CHUNK_SIZE`` transcripts: a big batch must not hold
    the database's write lock (SQLite has one) for its whole length while live alerts and single posts
    wait behind it, and each chunk is queued as soon as it is stored (workers start on the first while
    the rest is written; no stored row waits long for its job). A batch cut short by an error is safe
    to send again: what was stored comes back as duplicates, and it was queued already."""
    settings = runtime.settings
    with timed("redact"):
        items = [(i, redact_transcript(t, settings)) for i, t in items]
    warnings = unserved_warnings(items, runtime=runtime)  # of the scenario as stored (redacted), as scored
    size = settings.worker.chunk_size
    jobs = new_job_ids((len(items) + size - 1) // size)
    outcomes: list[Outcome] = []
    queued = True
    for job, k in zip(jobs, range(0, len(items), size)):
        with timed("store"):
            stored = _store_committed(items[k:k + size], runtime=runtime, job=job)
        outcomes += stored
        for o in stored:
            metrics.INGESTED.labels(o.status).inc()
        new_ids = [o.id for o in stored if o.status == "accepted"]
        if not new_ids:
            continue
        # once the queue has failed, the rest of the batch goes straight to the reconciler
        with timed("queue"):
            queued = queued and enqueue_jobs({job: new_ids}, settings=settings, connection=runtime.redis)
        if not queued:
            with runtime.session() as session:
                transcript_repo.mark_received(session=session, ids=new_ids)
            for o in stored:
                if o.status == "accepted":
                    o.transcript_status = TranscriptStatus.received
    if warnings:
        _warn_unserved(outcomes, dict(items), warnings)
    return outcomes, queued


def _warn_unserved(outcomes: list[Outcome], items: dict[int, TranscriptCreate], warnings: dict[int, str]) -> None:
    """Each stored item whose scenario no pack serves carries the warning; the new ones are counted and logged."""
    accepted: dict[str, int] = {}
    for o in outcomes:
        if o.index in warnings and o.status in ("accepted", "duplicate"):
            o.warnings.append(warnings[o.index])
            if o.status == "accepted":
                scenario = items[o.index].scenario
                accepted[scenario] = accepted.get(scenario, 0) + 1
    for scenario, n in accepted.items():
        note_unserved(scenario, n, next(w for i, w in warnings.items() if items[i].scenario == scenario))
