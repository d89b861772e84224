"""Transcript repository: idempotent bulk insert, status transitions, queries.

Every function takes ``*, session``; callers own the transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, event, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from qa_service.domain import Channel, ReviewStatus, Role, TranscriptStatus
from qa_service.domain import Transcript as DomainTranscript
from qa_service.domain import Utterance as DomainUtterance
from qa_service.storage import scoring_versions
from qa_service.storage.bulk import insert_new_rows, insert_rows
from qa_service.storage.upsert import dialect_insert
from qa_service.storage.tables import Agent, Flag, Report, Review, Team, Transcript, Utterance, utcnow
from qa_service.text import id_forms


@dataclass(slots=True)
class NewTranscript:
    """A validated transcript ready to store (built by the ingest layer)."""

    source: str
    external_id: str
    content_hash: str
    channel: str
    agent_id: str | None
    team: str | None
    queue: str | None
    scenario: str | None
    started_at: datetime | None
    meta: dict[str, Any]
    utterances: list[dict[str, Any]]
    job_id: str | None = None  # the scoring job that will carry it
    earlier_hashes: tuple[str, ...] = ()  # what earlier versions hashed the same content to

    def same_content(self, content_hash: str) -> bool:
        return content_hash == self.content_hash or content_hash in self.earlier_hashes


@dataclass(slots=True)
class Existing:
    id: int
    content_hash: str
    status: str


def find_existing(*, session: Session, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Existing]:
    """Stored transcripts for these (source, external_id) keys."""
    by_source: dict[str, list[str]] = {}
    for source, external_id in keys:
        by_source.setdefault(source, []).append(external_id)
    found: dict[tuple[str, str], Existing] = {}
    t = Transcript.__table__
    conn = session.connection()  # Core statements: skip the ORM execution layer
    for source, ids in by_source.items():
        for i in range(0, len(ids), 900):
            rows = conn.execute(
                select(t.c.id, t.c.external_id, t.c.content_hash, t.c.status).where(
                    t.c.source == source, t.c.external_id.in_(ids[i : i + 900])
                )
            )
            for row in rows:
                found[(source, row.external_id)] = Existing(row.id, row.content_hash, row.status)
    return found


_PENDING = "qa_known_ids_pending"  # session.info key: ids to remember when the transaction commits
T = TypeVar("T")


class KnownIds:
    """Agents and teams only ever get created, so a process remembers the ids it has seen (per
    database URL) and skips the lookup next time. One per process, held by the Runtime."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str, str], set[str]] = {}

    def for_table(self, url: str, table: str) -> set[str]:
        return self._ids.setdefault((url, table), set())

    def forget(self) -> None:
        """Drop everything (after agents or teams were deleted outside this process)."""
        self._ids.clear()


def ensure_agents_and_teams(*, session: Session, items: Sequence[NewTranscript], known: KnownIds) -> None:
    """Create the agents and teams named by ``items`` that do not exist yet (race-safe)."""
    url = str(session.get_bind().url)
    teams = {i.team for i in items if i.team}
    agents = {i.agent_id: i.team for i in items if i.agent_id}
    for table, wanted in ((Team.__table__, {t: None for t in teams}), (Agent.__table__, agents)):
        seen = known.for_table(url, table.name)
        todo = [k for k in wanted if k not in seen]
        if not todo:
            continue
        now = utcnow()
        rows = [{"id": k, "created_at": now, **({"team_id": wanted[k]} if table is Agent.__table__ else {"name": k})}
                for k in todo]
        stmt = dialect_insert(session.get_bind().dialect.name, table)
        session.connection().execute(stmt.on_conflict_do_nothing(index_elements=["id"]), rows)
        _remember_on_commit(session, seen, todo)


def _remember_on_commit(session: Session, seen: set[str], ids: list[str]) -> None:
    """Add ``ids`` to ``seen`` once this session's transaction commits (forgotten if it rolls back): this
    module's own hooks on the session, so no caller has to know about the cache."""
    if not event.contains(session, "after_commit", _committed):
        event.listen(session, "after_commit", _committed)
        event.listen(session, "after_rollback", _rolled_back)
    session.info.setdefault(_PENDING, []).append((seen, ids))


def _committed(session: Session) -> None:
    for seen, ids in session.info.pop(_PENDING, []):
        seen.update(ids)


def _rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)


def retry_with_fresh_ids(known: KnownIds, work: Callable[[], T]) -> T:
    """``work()`` (a transaction that creates transcripts or KPIs), run once more after forgetting ``known`` if
    it failed on an integrity error: a remembered agent or team id no longer exists (its rows were deleted, or
    the database restored), so the insert that skipped creating it broke a foreign key. A second failure is
    raised."""
    try:
        return work()
    except IntegrityError:
        known.forget()
        return work()


def create_many(
    *, session: Session, items: Sequence[NewTranscript], known: KnownIds,
    status: TranscriptStatus = TranscriptStatus.received,
) -> dict[tuple[str, str], int]:
    """Insert transcripts and their utterances; keys that already exist are skipped.

    Returns the ids of the rows this call inserted, by (source, external_id).
    """
    if not items:
        return {}
    ensure_agents_and_teams(session=session, items=items, known=known)
    t = Transcript.__table__
    now = utcnow()
    rows = [
        {
            "source": i.source, "external_id": i.external_id, "channel": i.channel,
            "agent_id": i.agent_id, "team_id": i.team, "queue": i.queue, "scenario": i.scenario,
            "started_at": i.started_at, "received_at": now, "metadata": i.meta,
            "content_hash": i.content_hash, "status": status.value,
            "status_changed_at": now, "attempts": 0, "job_id": i.job_id,
        }
        for i in items
    ]
    conn = session.connection()  # Core statements: skip the ORM execution layer
    inserted = {(row.source, row.external_id): row.id for row in insert_new_rows(
        conn, t, rows, conflict=("source", "external_id"), returning=("id", "source", "external_id"))}
    utt_rows = [
        {"transcript_id": inserted[(i.source, i.external_id)], "index": index, **u}
        for i in items
        if (i.source, i.external_id) in inserted
        for index, u in enumerate(i.utterances)
    ]
    if utt_rows:
        insert_rows(conn, Utterance.__table__, utt_rows)
    return inserted


def mark_received(*, session: Session, ids: Sequence[int]) -> int:
    """queued → received for ids the queue refused, so the reconciler picks them up at once."""
    if not ids:
        return 0
    result = session.execute(
        update(Transcript)
        .where(Transcript.id.in_(ids), Transcript.status == TranscriptStatus.queued.value)
        .values(status=TranscriptStatus.received.value, status_changed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def mark_queued(*, session: Session, jobs: dict[str, Sequence[int]], stale_before: datetime | None = None) -> int:
    """received, queued (its job lost) or abandoned scoring (older than ``stale_before``) → queued, naming
    the job just enqueued for it. A row a worker took in the meantime is left alone."""
    movable = Transcript.status.in_([TranscriptStatus.received.value, TranscriptStatus.queued.value])
    if stale_before is not None:
        movable = or_(movable, and_(Transcript.status == TranscriptStatus.scoring.value,
                                    Transcript.status_changed_at < stale_before))
    moved = 0
    for job, ids in jobs.items():
        moved += session.execute(
            update(Transcript)
            .where(Transcript.id.in_(ids), movable)
            .values(status=TranscriptStatus.queued.value, status_changed_at=utcnow(), job_id=job)
            .execution_options(synchronize_session=False)
        ).rowcount
    return moved


def queued_by_job(*, session: Session, changed_before: datetime, limit: int) -> dict[str | None, list[int]]:
    """``queued`` rows older than ``changed_before``, by the job that should be carrying them."""
    rows = session.execute(
        select(Transcript.id, Transcript.job_id)
        .where(Transcript.status == TranscriptStatus.queued.value, Transcript.status_changed_at < changed_before)
        .order_by(Transcript.id).limit(limit))
    out: dict[str | None, list[int]] = {}
    for tid, job in rows:
        out.setdefault(job, []).append(tid)
    return out


def claim_many(*, session: Session, ids: Sequence[int], max_attempts: int, stale_before: datetime
               ) -> tuple[dict[int, int], list[int]]:
    """Move every transcript nobody else holds to ``scoring`` in one statement; give up on those out of
    attempts. Returns ({claimed id: attempts}, [ids that just ended failed])."""
    claimable = or_(
        Transcript.status.in_([TranscriptStatus.received.value, TranscriptStatus.queued.value]),
        and_(Transcript.status == TranscriptStatus.scoring.value, Transcript.status_changed_at < stale_before),
    )
    now = utcnow()
    t = Transcript.__table__
    claimed = {row.id: row.attempts for row in session.execute(
        update(t).where(t.c.id.in_(ids), claimable, t.c.attempts < max_attempts)
        .values(status=TranscriptStatus.scoring.value, attempts=t.c.attempts + 1, status_changed_at=now)
        .returning(t.c.id, t.c.attempts))}
    rest = [i for i in ids if i not in claimed]
    gave_up = []
    if rest:
        gave_up = [row.id for row in session.execute(
            update(t).where(t.c.id.in_(rest), claimable, t.c.attempts >= max_attempts)
            .values(status=TranscriptStatus.failed.value, status_changed_at=now,
                    last_error=func.coalesce(t.c.last_error, "worker died mid-job"))
            .returning(t.c.id))]
    return claimed, gave_up


def load_for_scoring(*, session: Session, ids: Sequence[int]) -> list[DomainTranscript]:
    """The transcripts, as the scorers read them, in two Core queries (no ORM objects; rows fetched at
    once and unpacked as tuples: a chunk is ~1,000 utterances, and per-row fetches and attribute
    lookups were half the load's time)."""
    t, u = Transcript.__table__, Utterance.__table__
    conn = session.connection()
    heads = {r[0]: r for r in conn.execute(
        select(t.c.id, t.c.source, t.c.external_id, t.c.channel, t.c.agent_id, t.c.team_id, t.c.scenario,
               t.c.started_at).where(t.c.id.in_(ids))).all()}
    turns: dict[int, list[DomainUtterance]] = {i: [] for i in heads}
    roles = {r.value: r for r in Role}
    for tid, index, role, said, start_ms, end_ms, conf in conn.execute(
            select(u.c.transcript_id, u.c["index"], u.c.role, u.c.text, u.c.start_ms, u.c.end_ms, u.c.asr_confidence)
            .where(u.c.transcript_id.in_(ids)).order_by(u.c.transcript_id, u.c["index"])).all():
        turns[tid].append(DomainUtterance(index, roles[role], said, start_ms, end_ms, conf))
    return [DomainTranscript(utterances=tuple(turns[i]), id=i, source=h.source, external_id=h.external_id,
                             channel=Channel(h.channel), agent_id=h.agent_id, team=h.team_id, scenario=h.scenario,
                             started_at=h.started_at)
            for i, h in ((i, heads[i]) for i in ids if i in heads)]


def record_error(*, session: Session, transcript_id: int, error: str, final: bool) -> None:
    """Store the error; ``final`` ends the transcript as ``failed``, else it waits for a retry."""
    status = TranscriptStatus.failed if final else TranscriptStatus.queued
    session.execute(
        update(Transcript)
        .where(Transcript.id == transcript_id, Transcript.status == TranscriptStatus.scoring.value)
        .values(status=status.value, last_error=error[:4000], status_changed_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def team_of(*, session: Session, transcript_id: int) -> tuple[bool, str | None]:
    """(exists, team) of a transcript."""
    row = session.execute(select(Transcript.team_id).where(Transcript.id == transcript_id)).one_or_none()
    return (row is not None, row[0] if row else None)


def get(*, session: Session, transcript_id: int, with_report: bool = True) -> Transcript | None:
    opts = [selectinload(Transcript.utterances)]
    if with_report:
        opts.append(
            selectinload(Transcript.report).options(selectinload(Report.findings), selectinload(Report.flags))
        )
    return session.scalars(select(Transcript).where(Transcript.id == transcript_id).options(*opts)).one_or_none()


@dataclass(slots=True)
class TranscriptFilter:
    agent_id: str | None = None
    team: str | None = None
    source: str | None = None
    external_id: str | None = None  # with source: the conversation's key (the unique index's columns)
    status: str | None = None
    flagged: bool | None = None
    reason: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None  # keyset pagination: only ids below this one
    outdated: scoring_versions.Current | None = None  # only reports recording another scoring than this one


def _filtered(query: Select, f: TranscriptFilter) -> Select:
    when = func.coalesce(Transcript.started_at, Transcript.received_at)
    if f.agent_id:
        query = query.where(Transcript.agent_id.in_(id_forms(f.agent_id)))  # legacy full-width ids too
    if f.team:
        query = query.where(Transcript.team_id == f.team)
    if f.source:
        query = query.where(Transcript.source == f.source)
    if f.external_id:
        query = query.where(Transcript.external_id == f.external_id)
    if f.status:
        query = query.where(Transcript.status == f.status)
    if f.since:
        query = query.where(when >= f.since)
    if f.until:
        query = query.where(when < f.until)
    if f.before_id is not None:
        query = query.where(Transcript.id < f.before_id)
    if f.outdated is not None:
        query = query.where(scoring_versions.outdated(f.outdated))
    if f.reason:
        query = query.where(select(Flag.id).where(Flag.transcript_id == Transcript.id, Flag.reason == f.reason).exists())
    elif f.flagged is not None:
        has_flag = select(Flag.id).where(Flag.transcript_id == Transcript.id).exists()
        query = query.where(has_flag if f.flagged else ~has_flag)
    return query


def has_flag_reason(*, session: Session, reason: str) -> bool:
    """Whether any stored flag has this reason (one a rule pack no longer raises still filters)."""
    return session.scalar(select(Flag.id).where(Flag.reason == reason).limit(1)) is not None


def list_filtered(
    *, session: Session, flt: TranscriptFilter, limit: int, offset: int
) -> tuple[list[Transcript], int]:
    """A page of transcripts (newest first) with their reports and flags, and the total count (of the
    filter without ``before_id``: the same on every page)."""
    total = session.scalar(_filtered(select(func.count(Transcript.id)), replace(flt, before_id=None)))
    query = (
        _filtered(select(Transcript), flt)
        .options(selectinload(Transcript.report).options(selectinload(Report.flags)))
        .order_by(Transcript.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(query)), int(total or 0)


# The status time of rows ``qa rescore`` and ``qa requeue --failed`` mark to be scored again: the reconciler
# queues those on the backlog (behind new conversations); a received row with any other was left behind.
MARKED_AT = datetime(2000, 1, 1, tzinfo=UTC)


def ids_to_reconcile(*, session: Session, status: TranscriptStatus, changed_before: datetime, limit: int,
                     marked: bool | None = None) -> list[int]:
    """Up to ``limit`` rows of ``status`` unchanged since ``changed_before``, by id; ``marked``: only those
    marked to be scored again (True) or only the others (False)."""
    query = select(Transcript.id).where(Transcript.status == status.value, Transcript.status_changed_at < changed_before)
    if marked is not None:
        query = query.where(Transcript.status_changed_at <= MARKED_AT if marked else Transcript.status_changed_at > MARKED_AT)
    return list(session.scalars(query.order_by(Transcript.id).limit(limit)))


def reset_failed(*, session: Session, ids: Sequence[int] | None = None) -> list[int]:
    """failed → received with attempts reset (``qa requeue --failed``)."""
    query = select(Transcript.id).where(Transcript.status == TranscriptStatus.failed.value)
    if ids:
        query = query.where(Transcript.id.in_(ids))
    found = list(session.scalars(query))
    if found:
        session.execute(
            update(Transcript)
            .where(Transcript.id.in_(found))
            .values(status=TranscriptStatus.received.value, attempts=0, status_changed_at=MARKED_AT)
            .execution_options(synchronize_session=False)
        )
    return found


def _rescorable(query: Select, flt: TranscriptFilter, reviewed: bool = False) -> Select:
    """Scored transcripts of the filter without (``reviewed``: with) a review under way or done. A reviewer's
    verdicts are on a reviewed one's findings: scored again, its final figures would take in new findings
    nobody judged and no agent could appeal."""
    under_review = select(Review.id).where(Review.transcript_id == Transcript.id,
                                           Review.status != ReviewStatus.queued.value).exists()
    return _filtered(query, replace(flt, status=TranscriptStatus.scored.value)).where(
        under_review if reviewed else ~under_review)


def mark_for_rescoring(*, session: Session, flt: TranscriptFilter, limit: int) -> list[int]:
    """Up to ``limit`` scored transcripts of the filter (none under review or reviewed), the newest below
    ``flt.before_id``, moved to ``received`` with their attempts reset and status time MARKED_AT: the
    reconciler queues them on the backlog and the workers score them again (``qa rescore``). Their reports stay until the
    new ones replace them. Returns their ids, newest first."""
    chosen = _rescorable(select(Transcript.id), flt).order_by(Transcript.id.desc()).limit(limit)
    # One statement, the ids chosen inside it: a list of them as parameters would pass SQLite's limit on
    # how many one statement may carry at a large ``limit``.
    return sorted(session.scalars(
        update(Transcript)
        .where(Transcript.id.in_(chosen.scalar_subquery()), Transcript.status == TranscriptStatus.scored.value)
        .values(status=TranscriptStatus.received.value, attempts=0, last_error=None,
                status_changed_at=MARKED_AT)
        .returning(Transcript.id)
        .execution_options(synchronize_session=False)
    ), reverse=True)


def count_rescorable(*, session: Session, flt: TranscriptFilter) -> tuple[int, int, int]:
    """What ``qa rescore`` would take of the filter: (scored transcripts to score again, those left because
    under review or reviewed, those already waiting to be scored — an earlier rescore's, or new)."""
    count = select(func.count(Transcript.id))
    waiting = _filtered(count, flt).where(Transcript.status.in_(
        [TranscriptStatus.received.value, TranscriptStatus.queued.value, TranscriptStatus.scoring.value]))
    return (int(session.scalar(_rescorable(count, flt)) or 0),
            int(session.scalar(_rescorable(count, flt, reviewed=True)) or 0), int(session.scalar(waiting) or 0))


def rescorable_versions(*, session: Session, flt: TranscriptFilter) -> list[tuple[str | None, str | None, str | None,
                                                                                   int]]:
    """The scoring versions (rule pack, its version, scorecard version) the reports ``qa rescore`` would take of
    the filter record, with how many each, most first."""
    cols = (Report.rule_pack, Report.rule_pack_version, Report.scorecard_version)
    query = _rescorable(select(*cols, func.count()).select_from(Transcript)
                        .join(Report, Report.transcript_id == Transcript.id), flt)
    return sorted(((*row[:3], int(row[3])) for row in session.execute(query.group_by(*cols))),
                  key=lambda r: (-r[3], tuple(v or "" for v in r[:3])))


def unknown_names(*, session: Session, agent_id: str | None, team: str | None, source: str | None) -> list[str]:
    """Those of the given agent (either form: ``text.id_forms``), team and source under which no transcript at
    all is filed (mistyped?)."""
    given = {"agent": (Transcript.agent_id, id_forms(agent_id) if agent_id else ()),
             "team": (Transcript.team_id, (team,) if team else ()),
             "source": (Transcript.source, (source,) if source else ())}
    return [f"{name} {values[0]!r}" for name, (column, values) in given.items()
            if values and session.scalar(select(Transcript.id).where(column.in_(values)).limit(1)) is None]


PENDING = (TranscriptStatus.received.value, TranscriptStatus.queued.value, TranscriptStatus.scoring.value,
           TranscriptStatus.failed.value)


def count_pending(*, session: Session) -> dict[str, int]:
    """Transcripts per not-yet-scored status (an index range each: cheap however many are scored)."""
    rows = session.execute(select(Transcript.status, func.count()).where(Transcript.status.in_(PENDING))
                           .group_by(Transcript.status))
    return {status: n for status, n in rows}


def count_by_status(*, session: Session) -> dict[str, int]:
    rows = session.execute(select(Transcript.status, func.count()).group_by(Transcript.status))
    return {status: n for status, n in rows}


def failed_errors(*, session: Session, limit_rows: int = 10_000) -> list[tuple[str, int]]:
    """The first line of each failed transcript's last error, most common first (over at most ``limit_rows``)."""
    rows = session.scalars(select(Transcript.last_error).where(Transcript.status == TranscriptStatus.failed.value)
                           .limit(limit_rows))
    lines = ((e or "").strip().splitlines() for e in rows)
    return Counter(ls[0] if ls else "(no error recorded)" for ls in lines).most_common()
