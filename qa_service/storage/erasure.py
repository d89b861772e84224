"""Erasure on request: finding a customer's conversations, counting what goes with them, and the tombstones
that keep an erased conversation from coming back when its source system sends it again.

The deleting itself is retention's (``storage/retention.py``: :func:`delete_transcripts`), shared with purge.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qa_service.storage.alert_tables import LiveAlert
from qa_service.storage.tables import Appeal, ErasedTranscript, Review, Transcript, utcnow
from qa_service.storage.upsert import upsert

SCAN_BATCH = 2000  # transcripts read per query by a metadata scan
IN_CHUNK = 900  # values per IN (…): well under every SQLite build's limit on parameters


def _chunks(values: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


def existing_ids(*, session: Session, ids: Iterable[int]) -> list[int]:
    """Those of ``ids`` that are stored transcripts."""
    ids = sorted(set(ids))
    return sorted(x for chunk in _chunks(ids) for x in session.scalars(select(Transcript.id).where(
        Transcript.id.in_(chunk))))


def keys_of(*, session: Session, ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """(source, external_id) of these transcripts."""
    ids = sorted(set(ids))
    return {tid: (source, external_id) for chunk in _chunks(ids) for tid, source, external_id in session.execute(
        select(Transcript.id, Transcript.source, Transcript.external_id).where(Transcript.id.in_(chunk)))}


def metadata_matches(value: Any, wanted: str) -> bool:
    """A stored metadata value equals what was asked: a string as typed, a number or boolean as JSON writes
    it (``12345``, ``true``)."""
    if isinstance(value, str):
        return value == wanted
    if isinstance(value, (int, float, bool)):
        return json.dumps(value) == wanted
    return False


def scan_metadata(*, session: Session, pairs: Sequence[tuple[str, str]], batch: int = SCAN_BATCH
                  ) -> dict[tuple[str, str], list[int]]:
    """The transcripts whose metadata has ``key`` = ``value``, for each pair. Reads every transcript's
    metadata, ``batch`` at a time in id order (the same on SQLite and PostgreSQL, no JSON operator): a scan, for
    a request now and then, not a lookup."""
    found: dict[tuple[str, str], list[int]] = {pair: [] for pair in pairs}
    last = 0
    while rows := session.execute(select(Transcript.id, Transcript.meta).where(Transcript.id > last)
                                  .order_by(Transcript.id).limit(batch)).all():
        for tid, meta in rows:
            if isinstance(meta, dict):
                for key, value in pairs:
                    if key in meta and metadata_matches(meta[key], value):
                        found[(key, value)].append(tid)
        last = rows[-1][0]
    return found


def count_tied(*, session: Session, ids: Sequence[int]) -> dict[str, int]:
    """How many reviews, appeals and live alerts these transcripts have (what a dry run says would go)."""
    out = {"reviews": 0, "appeals": 0, "alerts": 0}
    for chunk in _chunks(sorted(set(ids))):
        out["reviews"] += session.scalar(select(func.count()).select_from(Review)
                                         .where(Review.transcript_id.in_(chunk))) or 0
        out["appeals"] += session.scalar(select(func.count()).select_from(Appeal).join(Review, Review.id == Appeal.review_id)
                                         .where(Review.transcript_id.in_(chunk))) or 0
        out["alerts"] += session.scalar(select(func.count()).select_from(LiveAlert)
                                        .where(LiveAlert.transcript_id.in_(chunk))) or 0
    return out


def add_tombstones(*, session: Session, keys: Iterable[tuple[str, str]], at: datetime | None = None) -> None:
    """Record these (source, external_id) as erased now (an earlier erasure of the same key: the date moves)."""
    at = at or utcnow()
    rows = [{"source": s, "external_id": e, "erased_at": at} for s, e in sorted(set(keys))]
    if rows:
        stmt = upsert(session.get_bind().dialect.name, ErasedTranscript.__table__, ("source", "external_id"),
                      replace=("erased_at",))
        session.execute(stmt, rows)


def tombstones(*, session: Session, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], datetime]:
    """When each of these (source, external_id) that was erased was erased."""
    by_source: dict[str, list[str]] = {}
    for source, external_id in set(keys):
        by_source.setdefault(source, []).append(external_id)
    found: dict[tuple[str, str], datetime] = {}
    t = ErasedTranscript
    for source, ids in by_source.items():
        for chunk in _chunks(sorted(ids)):
            for external_id, at in session.execute(select(t.external_id, t.erased_at).where(
                    t.source == source, t.external_id.in_(chunk))):
                found[(source, external_id)] = at
    return found
