"""Erasure on request (a customer's deletion request, PIPL Art. 47): one conversation, or all of a customer's,
deleted with everything tied to them, as if they had never been sent.

Conversations are selected by id, by (source, external_id), or by a metadata key's value (a scan of every
transcript). What goes is what a purge deletes (``storage/retention.py``: one path for both): utterances,
reports, findings, flags, reviews with their verdicts, manual findings and appeals, audit events, facts, the
live alerts and their webhook deliveries, the record of the live conversation; their figures are taken out of
the per-day rollups, so performance records and appraisals stop counting them; and what Redis keeps of their
live conversations. Each erased (source, external_id) keeps a tombstone, so the source system sending it again
is refused (410) instead of storing it anew — unless the erasure allows a re-ingest. KPI rows are the agent's
and stay. Each run writes one audit event (who, what was selected, the counts; never the erased text).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from qa_service.runtime import Runtime
from qa_service.storage import erasure as repo
from qa_service.storage import live as live_repo
from qa_service.storage import retention
from qa_service.storage import reviews as audit_repo
from qa_service.storage import transcripts as transcript_repo

if TYPE_CHECKING:
    import redis
    from sqlalchemy.orm import Session

ENTITY, ERASED = "transcripts", "transcripts_erased"  # the audit event: GET /v1/audit?entity=transcripts
LISTED_MOST = 1000  # the audit event lists at most this many ids and keys (all are counted)
BATCH = 500  # transcripts per transaction


@dataclass(slots=True)
class Selection:
    """What was asked to be erased."""

    transcript_ids: list[int] = field(default_factory=list)
    keys: list[tuple[str, str]] = field(default_factory=list)  # (source, external_id)
    metadata: list[tuple[str, str]] = field(default_factory=list)  # (key, value)

    def __bool__(self) -> bool:
        return bool(self.transcript_ids or self.keys or self.metadata)

    def as_dict(self) -> dict[str, Any]:
        return {"transcript_ids": self.transcript_ids[:LISTED_MOST],
                "keys": [{"source": s, "external_id": e} for s, e in self.keys[:LISTED_MOST]],
                "metadata": [{"key": k, "value": v} for k, v in self.metadata]}


@dataclass(slots=True)
class Found:
    """The transcripts a selection matched, and what of it matched none."""

    ids: list[int]
    unknown_ids: list[int]
    unknown_keys: list[tuple[str, str]]
    unmatched_metadata: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Counts:
    """What goes (a dry run) or went: transcripts, their reviews, appeals and live alerts, and the live
    conversations they were."""

    transcripts: int = 0
    reviews: int = 0
    appeals: int = 0
    alerts: int = 0
    live_conversations: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(a + b for a, b in zip(asdict(self).values(), asdict(other).values())))


def find(*, session: Session, selection: Selection) -> Found:
    """The stored transcripts the selection names (ids that exist, keys stored, metadata matched)."""
    ids = set(repo.existing_ids(session=session, ids=selection.transcript_ids))
    unknown_ids = sorted(set(selection.transcript_ids) - ids)
    stored = transcript_repo.find_existing(session=session, keys=selection.keys) if selection.keys else {}
    ids |= {row.id for row in stored.values()}
    unknown_keys = [k for k in dict.fromkeys(selection.keys) if k not in stored]
    by_metadata = repo.scan_metadata(session=session, pairs=selection.metadata) if selection.metadata else {}
    for matched in by_metadata.values():
        ids |= set(matched)
    return Found(sorted(ids), unknown_ids, unknown_keys, [p for p, matched in by_metadata.items() if not matched])


def count(*, session: Session, ids: list[int]) -> Counts:
    """What erasing these transcripts would delete (a dry run: nothing changes)."""
    tied = repo.count_tied(session=session, ids=ids)
    live = sum(len(retention.live_of(session=session, ids=ids[k:k + BATCH])) for k in range(0, len(ids), BATCH))
    return Counts(len(ids), tied["reviews"], tied["appeals"], tied["alerts"], live)


def erase(*, runtime: Runtime, ids: list[int], selection: Selection, actor: str, r: redis.Redis | None,
          key_id: int | None = None, tombstone: bool = True) -> Counts:
    """Erase these transcripts (see the module's docstring), ``BATCH`` to a transaction; the audit event is
    written with the last. What Redis keeps of their live conversations goes first, before anything is deleted:
    Redis not answering raises (``redis.RedisError``) with nothing of that batch erased. ``r``: the Redis that
    keeps live conversations (None: it keeps none of them, an embedded one that never saved any)."""
    total, ids = Counts(), sorted(set(ids))
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        with runtime.session() as session:
            before = count(session=session, ids=chunk)
            live = retention.live_of(session=session, ids=chunk)
        if r is not None:  # a conversation re-opened now is answered from the database alone
            live_repo.forget(r, live)
        with runtime.session() as session:
            keys = repo.keys_of(session=session, ids=chunk)
            gone = retention.delete_transcripts(session=session, ids=chunk,
                                                frt_target_ms=runtime.derivation.frt_target_ms)
            if tombstone:
                repo.add_tombstones(session=session, keys=keys.values())
            total += Counts(gone.transcripts, before.reviews, before.appeals, gone.alerts, len(gone.live))
            if start + BATCH >= len(ids):
                _audit(session, actor=actor, key_id=key_id, selection=selection, ids=ids, counts=total,
                       tombstone=tombstone)
        if r is not None and set(gone.live) - set(live):  # ended meanwhile: gone with the rest
            live_repo.forget(r, sorted(set(gone.live) - set(live)))
    return total


def _audit(session: Session, *, actor: str, key_id: int | None, selection: Selection, ids: list[int],
           counts: Counts, tombstone: bool) -> None:
    after = {"selected": selection.as_dict(), "transcript_ids": ids[:LISTED_MOST], **asdict(counts),
             "reingest": "refused" if tombstone else "allowed"}
    if key_id is not None:
        after["key_id"] = key_id
    audit_repo.add_audit_event(session, actor=actor, action=ERASED, review=None, entity=ENTITY, entity_id=None,
                               after=after)
