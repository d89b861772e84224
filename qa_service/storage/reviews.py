"""Review repository: reviews, verdicts, manual findings, appeals and audit events — persistence only.

What enters the queue, who may change what and how the final score follows are decided in
``review/service.py``; these functions read and write rows.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import String, and_, case, cast, exists, func, or_, select, update
from sqlalchemy.orm import Session, selectinload

from qa_service.domain import AppealStatus, ReviewStatus, Severity
from qa_service.storage.bulk import insert_rows
from qa_service.storage.fact_tables import QaFact
from qa_service.storage.sqlite_writer import begin_write
from qa_service.storage.tables import (
    Appeal,
    AuditEvent,
    Finding,
    ManualFinding,
    Report,
    Review,
    Transcript,
    Verdict,
    utcnow,
)
from qa_service.text import id_forms

OPEN = (ReviewStatus.queued.value, ReviewStatus.in_review.value)
SEVERITY_ORDER = [s.value for s in Severity]


# --- audit ---------------------------------------------------------------------------------------------------

def add_audit_event(session: Session, *, actor: str, action: str, review: Review | None, entity: str,
                    entity_id: int | None, before: dict[str, Any] | None = None,
                    after: dict[str, Any] | None = None) -> None:
    session.add(AuditEvent(at=utcnow(), actor=actor, action=action, review_id=review.id if review else None,
                           transcript_id=review.transcript_id if review else None, entity=entity,
                           entity_id=entity_id, before=before, after=after))


def audit_trail(*, session: Session, review_id: int | None = None, transcript_id: int | None = None,
                team: str | None = None, limit: int = 500, entity: str | None = None,
                action: str | None = None, only: Collection[str] | None = None, leave_out: Collection[str] = (),
                team_recorded: Collection[str] = ()) -> list[AuditEvent]:
    """Audit events, oldest first: of a review or transcript, of an ``entity`` or ``action``, of the entities
    ``only`` names (None: any) but those of ``leave_out``; with ``team``, of that team's transcripts and of
    the events of ``team_recorded`` entities whose ``after.team`` names it (events of no transcript: KPI
    deletions and appraisal exports record the team they were for); other events of no transcript are then
    left out."""
    query = select(AuditEvent).order_by(AuditEvent.id).limit(limit)
    if entity is not None:
        query = query.where(AuditEvent.entity == entity)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if only is not None:
        query = query.where(AuditEvent.entity.in_(list(only)))
    if leave_out:
        query = query.where(AuditEvent.entity.not_in(list(leave_out)))
    if team is not None:
        own = Transcript.team_id == team
        if team_recorded:
            own = or_(own, and_(AuditEvent.entity.in_(list(team_recorded)),
                                AuditEvent.after["team"].as_string() == team))
        query = query.outerjoin(Transcript, Transcript.id == AuditEvent.transcript_id).where(own)
    if review_id is not None:
        query = query.where(AuditEvent.review_id == review_id)
    if transcript_id is not None:
        query = query.where(AuditEvent.transcript_id == transcript_id)
    return list(session.scalars(query))


# --- reading one -----------------------------------------------------------------------------------------------

def get(*, session: Session, review_id: int) -> Review | None:
    """A review with everything a reader needs loaded (verdicts, manual findings, appeals, transcript, report)."""
    return session.scalars(
        select(Review).where(Review.id == review_id).options(
            selectinload(Review.verdicts), selectinload(Review.manual_findings), selectinload(Review.appeals),
            selectinload(Review.transcript).options(
                selectinload(Transcript.utterances),
                selectinload(Transcript.report).options(selectinload(Report.findings), selectinload(Report.flags))),
        )).one_or_none()


def id_for_transcript(*, session: Session, transcript_id: int) -> int | None:
    return session.scalar(select(Review.id).where(Review.transcript_id == transcript_id))


def for_transcripts(*, session: Session, transcript_ids: Sequence[int]) -> dict[int, Review]:
    """The review rows of these transcripts (those that have one)."""
    if not transcript_ids:
        return {}
    return {r.transcript_id: r for r in session.scalars(select(Review).where(Review.transcript_id.in_(transcript_ids)))}


def team_of(*, session: Session, review_id: int) -> tuple[bool, str | None]:
    """(exists, team) of a review's transcript."""
    row = session.execute(select(Transcript.team_id).join(Review, Review.transcript_id == Transcript.id)
                          .where(Review.id == review_id)).one_or_none()
    return (row is not None, row[0] if row else None)


def get_appeal(*, session: Session, appeal_id: int) -> Appeal | None:
    return session.get(Appeal, appeal_id)


def lock_for_change(*, session: Session, table, row_id: int) -> None:
    """Take this transaction's write lock on a row before reading the state a change checks: on
    PostgreSQL the row (``FOR UPDATE``), on SQLite the database's one writer (``BEGIN IMMEDIATE``).
    Two requests changing one review — from two reviewers, or two API processes — then take turns,
    and the second sees what the first did."""
    if not begin_write(session.connection()):  # PostgreSQL, or a write already begun (lock held)
        session.execute(select(table.c.id).where(table.c.id == row_id).with_for_update())


# --- writing ---------------------------------------------------------------------------------------------------

def create(*, session: Session, transcript_id: int, reasons: list[str], severity: str, priority: int,
           machine_score: float | None, machine_fatal: bool, pass_mark: float | None,
           scope: tuple[date | None, str | None], sample_week: str | None = None) -> Review:
    """A queued review; ``scope``: the transcript's (local day, team), what calibration counts it under."""
    now = utcnow()
    review = Review(transcript_id=transcript_id, status=ReviewStatus.queued.value, reasons=reasons,
                    severity=severity, priority=priority, sample_week=sample_week, machine_score=machine_score,
                    machine_fatal=machine_fatal, pass_mark=pass_mark, day=scope[0], team_id=scope[1],
                    created_at=now, updated_at=now)
    session.add(review)
    return review


@dataclass(frozen=True, slots=True)
class NewReview:
    """A queued review to write with :func:`create_many` (what :func:`create` takes, as a row)."""

    transcript_id: int
    reasons: list[str]
    severity: str
    priority: int
    machine_score: float | None
    machine_fatal: bool
    pass_mark: float | None
    scope: tuple[date | None, str | None]


def create_many(*, session: Session, reviews: Sequence[NewReview]) -> None:
    """Queued reviews in one bulk insert (a scored chunk's flagged transcripts): no ORM objects."""
    now = utcnow()
    insert_rows(session.connection(), Review.__table__, [
        {"transcript_id": r.transcript_id, "status": ReviewStatus.queued.value, "reasons": r.reasons,
         "severity": r.severity, "priority": r.priority, "machine_score": r.machine_score,
         "machine_fatal": r.machine_fatal, "pass_mark": r.pass_mark, "day": r.scope[0], "team_id": r.scope[1],
         "created_at": now, "updated_at": now} for r in reviews])


# --- the queue -------------------------------------------------------------------------------------------------

@dataclass(slots=True)
class QueueFilter:
    status: str | None = "open"  # open | queued | in_review | done | all
    team: str | None = None
    agent_id: str | None = None
    rule: str | None = None
    reason: str | None = None
    severity: str | None = None  # at least this severity
    since: datetime | None = None
    until: datetime | None = None
    score_min: float | None = None
    score_max: float | None = None
    assigned_to: str | None = None
    unassigned: bool | None = None


def _filtered(query, flt: QueueFilter, *, joined: bool = False):
    """``query`` (over reviews; ``joined``: and their transcripts) narrowed by the filter, joining
    transcripts only when it filters on them."""
    if flt.team or flt.agent_id or flt.since or flt.until:
        if not joined:
            query = query.join(Transcript, Transcript.id == Review.transcript_id)
        when = func.coalesce(Transcript.started_at, Transcript.received_at)
        if flt.team:
            query = query.where(Transcript.team_id == flt.team)
        if flt.agent_id:
            query = query.where(Transcript.agent_id.in_(id_forms(flt.agent_id)))  # legacy full-width ids too
        if flt.since:
            query = query.where(when >= flt.since)
        if flt.until:
            query = query.where(when < flt.until)
    if flt.status == "open":
        query = query.where(Review.status.in_(OPEN))
    elif flt.status and flt.status != "all":
        query = query.where(Review.status == flt.status)
    if flt.rule:
        query = query.where(exists().where(Report.transcript_id == Review.transcript_id,
                                           Finding.report_id == Report.id, Finding.rule_id == flt.rule))
    if flt.reason:
        literal = flt.reason.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")  # the reason, not a pattern
        query = query.where(cast(Review.reasons, String).like(f'%"{literal}"%', escape="\\"))
    if flt.severity:
        query = query.where(Review.severity.in_(SEVERITY_ORDER[SEVERITY_ORDER.index(flt.severity):]))
    score = func.coalesce(Review.final_score, Review.machine_score)
    if flt.score_min is not None:
        query = query.where(score >= flt.score_min)
    if flt.score_max is not None:
        query = query.where(score <= flt.score_max)
    if flt.assigned_to:
        query = query.where(Review.assigned_to == flt.assigned_to)
    if flt.unassigned:
        query = query.where(Review.assigned_to.is_(None))
    return query


QUEUE_ORDER = (Review.priority, Review.created_at, Review.id)


def list_queue(*, session: Session, flt: QueueFilter, limit: int, offset: int
               ) -> tuple[list[tuple[Review, Transcript]], int]:
    """Open reviews most urgent first (fatal, then by severity, oldest first); done ones newest first."""
    total = session.scalar(select(func.count()).select_from(_filtered(select(Review.id), flt).subquery()))
    order = [Review.completed_at.desc(), Review.id.desc()] if flt.status == "done" else list(QUEUE_ORDER)
    page = _filtered(select(Review, Transcript).join(Transcript, Transcript.id == Review.transcript_id), flt,
                     joined=True)
    rows = session.execute(page.order_by(*order).limit(limit).offset(offset)).all()
    return [(r, t) for r, t in rows], total or 0


def unassigned_ids(*, session: Session, flt: QueueFilter, limit: int) -> list[int]:
    query = _filtered(select(Review.id), replace(flt, unassigned=True)).order_by(*QUEUE_ORDER).limit(limit)
    return list(session.scalars(query))


def list_by_ids(*, session: Session, review_ids: Sequence[int]) -> list[Review]:
    """These reviews in queue order."""
    return list(session.scalars(select(Review).where(Review.id.in_(review_ids)).order_by(*QUEUE_ORDER)))


def open_load(*, session: Session, reviewers: Sequence[str], excluding: Sequence[int]) -> dict[str, int]:
    """Open reviews per reviewer, not counting ``excluding``."""
    rows = session.execute(select(Review.assigned_to, func.count()).where(
        Review.assigned_to.in_(reviewers), Review.status.in_(OPEN), Review.id.not_in(excluding))
        .group_by(Review.assigned_to))
    return {name: n for name, n in rows}


def open_assigned_to(*, session: Session, name: str) -> list[Review]:
    """The reviews not done yet that are assigned to ``name``, in queue order."""
    return list(session.scalars(select(Review).where(Review.assigned_to == name, Review.status.in_(OPEN))
                                .order_by(*QUEUE_ORDER)))


@dataclass(frozen=True, slots=True)
class Candidate:
    transcript_id: int
    agent_id: str
    day: date
    team_id: str | None
    score: float
    fatal: bool
    pass_mark: float | None
    review_id: int | None
    sample_week: str | None


def sample_candidates(*, session: Session, start: date, end: date) -> list[Candidate]:
    """Scored transcripts with an agent on the local days [start, end], with their review (if any)."""
    query = (select(QaFact.transcript_id, QaFact.agent_id, QaFact.day, QaFact.team_id, QaFact.score, QaFact.fatal,
                    Report.pass_mark, Review.id, Review.sample_week)
             .join(Report, Report.transcript_id == QaFact.transcript_id)
             .outerjoin(Review, Review.transcript_id == QaFact.transcript_id)
             .where(QaFact.agent_id.is_not(None), QaFact.day >= start, QaFact.day <= end))
    return [Candidate(*row) for row in session.execute(query)]


# --- appeals ---------------------------------------------------------------------------------------------------

def list_appeals(*, session: Session, status: str | None = None, team: str | None = None,
                 agent_id: str | None = None, limit: int = 100, offset: int = 0
                 ) -> tuple[list[tuple[Appeal, Review, Transcript]], int]:
    base = (select(Appeal, Review, Transcript).join(Review, Review.id == Appeal.review_id)
            .join(Transcript, Transcript.id == Review.transcript_id))
    if status:
        base = base.where(Appeal.status == status)
    if team:
        base = base.where(Transcript.team_id == team)
    if agent_id:
        base = base.where(Transcript.agent_id.in_(id_forms(agent_id)))
    total = session.scalar(select(func.count()).select_from(base.with_only_columns(Appeal.id).subquery()))
    rows = session.execute(base.order_by(Appeal.created_at, Appeal.id).limit(limit).offset(offset)).all()
    return [tuple(r) for r in rows], total or 0


# --- calibration -----------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CalibrationCounts:
    """What calibration counts, over *done* reviews only (verdicts and misses of an open review are a
    reviewer's unfinished work: they may still change)."""

    verdicts: list[tuple[str, str, str, int]]  # (rule id, dimension, verdict, how many)
    misses: list[tuple[str | None, str, int]]  # (rule id, dimension, how many) of manual findings
    pass_fail: list[tuple[bool, bool, int]]  # (machine fails, reviewer fails, how many) of done reviews
    reviews: int  # done reviews in scope: what every figure above is counted from
    reviews_open: int = 0  # queued or in review in scope (counted in no figure)


def _scoped(query, table, team: str | None, start: date | None, end: date | None):
    """Rows of ``table`` (reviews, verdicts or manual findings: each carries its review's day and team)
    in the team and the local days [start, end] (each optional)."""
    if team:
        query = query.where(table.team_id == team)
    if start:
        query = query.where(table.day >= start)
    if end:
        query = query.where(table.day <= end)
    return query


def _of_done(query, table):
    """Rows of ``table`` (verdicts or manual findings) whose review is done: EXISTS per row, as the
    dashboard's frequent findings test it (SQLite reads the period's rows by day, not every done review)."""
    return query.where(exists().where(Review.id == table.review_id, Review.status == ReviewStatus.done.value))


def _fails(score, fatal, pass_mark: float):
    mark = func.coalesce(Review.pass_mark, pass_mark)
    return case((or_(fatal.is_(True), and_(score.is_not(None), score < mark)), True), else_=False)


def calibration_counts(*, session: Session, pass_mark: float, team: str | None = None, start: date | None = None,
                       end: date | None = None) -> CalibrationCounts:
    """Verdicts, misses and pass/fail agreement of the done reviews in scope, counted by the database from
    the scope each row carries (``pass_mark``: where the report had none of its own).

    Was: verdicts and manual findings of open reviews were counted too (a reviewer's half-finished work
    moved a rule's precision), and ``reviews`` counted open reviews, while κ counted done ones only."""
    verdicts = session.execute(_of_done(_scoped(
        select(Verdict.rule_id, Verdict.dimension, Verdict.verdict, func.count()), Verdict, team, start, end), Verdict)
        .group_by(Verdict.rule_id, Verdict.dimension, Verdict.verdict)).all()
    misses = session.execute(_of_done(_scoped(
        select(ManualFinding.rule_id, ManualFinding.dimension, func.count()), ManualFinding, team, start, end),
        ManualFinding).where(ManualFinding.withdrawn_at.is_(None))
        .group_by(ManualFinding.rule_id, ManualFinding.dimension)).all()
    machine = _fails(Review.machine_score, Review.machine_fatal, pass_mark).label("m")
    human = _fails(Review.final_score, Review.final_fatal, pass_mark).label("h")
    pass_fail = session.execute(_scoped(select(machine, human, func.count()), Review, team, start, end)
                                .where(Review.status == ReviewStatus.done.value).group_by(machine, human)).all()
    by_status = dict(session.execute(_scoped(select(Review.status, func.count()), Review, team, start, end)
                                     .group_by(Review.status)).all())
    done = by_status.pop(ReviewStatus.done.value, 0)
    return CalibrationCounts([tuple(v) for v in verdicts], [tuple(m) for m in misses],
                             [(bool(m), bool(h), k) for m, h, k in pass_fail], done, sum(by_status.values()))


def rule_packs(*, session: Session, rule_ids: Sequence[str], team: str | None = None, start: date | None = None,
               end: date | None = None) -> list[tuple[str, str | None, int]]:
    """(rule id, the pack its transcript was scored with, how many) of these rules' verdicts and misses in
    the done reviews in scope: whose a finding with no rule of its own (``detector.*``) is."""
    if not rule_ids:
        return []
    out: dict[tuple[str, str | None], int] = {}
    for table in (Verdict, ManualFinding):
        query = (_scoped(select(table.rule_id, Report.rule_pack, func.count()), table, team, start, end)
                 .join(Review, Review.id == table.review_id).join(Report, Report.transcript_id == Review.transcript_id)
                 .where(Review.status == ReviewStatus.done.value))
        if table is ManualFinding:
            query = query.where(ManualFinding.withdrawn_at.is_(None))
        for rule_id, pack, k in session.execute(query.where(table.rule_id.in_(list(rule_ids)))
                                                .group_by(table.rule_id, Report.rule_pack)):
            out[(rule_id, pack)] = out.get((rule_id, pack), 0) + k
    return [(rule_id, pack, k) for (rule_id, pack), k in out.items()]


def score_pairs(*, session: Session, team: str | None = None, start: date | None = None,
                end: date | None = None) -> list[tuple[float, float]]:
    """(machine score, final score) of done reviews in scope."""
    query = _scoped(select(Review.machine_score, Review.final_score), Review, team, start, end).where(
        Review.status == ReviewStatus.done.value, Review.final_score.is_not(None), Review.machine_score.is_not(None))
    return [(float(m), float(f)) for m, f in session.execute(query)]


def counts(*, session: Session, team: str | None = None) -> dict[str, int]:
    """Reviews by status and open appeals; ``team``: of that team's conversations only (as the queue filters)."""
    reviews = select(Review.status, func.count()).group_by(Review.status)
    appeals = select(func.count()).select_from(Appeal).where(Appeal.status == AppealStatus.open.value)
    if team is not None:
        reviews = reviews.join(Transcript, Transcript.id == Review.transcript_id).where(Transcript.team_id == team)
        appeals = (appeals.join(Review, Review.id == Appeal.review_id)
                   .join(Transcript, Transcript.id == Review.transcript_id).where(Transcript.team_id == team))
    out = dict(session.execute(reviews).all())
    out["appeals_open"] = session.scalar(appeals) or 0
    return out


# --- re-scoring: verdicts and appeals follow their finding into the new report ----------------------------

FindingLink = tuple[Any, int, int, tuple]  # (verdicts or appeals table, its row id, transcript id, finding key)


def _finding_key(f) -> list:
    """What makes a finding the same one in a new report: its dimension, rule and the words it quotes."""
    return [f.c.dimension, f.c.rule_id, f.c.utterance_index, f.c.span_start, f.c.span_end, f.c.quote]


def finding_links(conn, transcript_ids: Sequence[int]) -> list[FindingLink]:
    """Verdicts and appeals on these transcripts' machine findings, with each finding's key: read before a
    re-score deletes the findings (the links go to NULL then; :func:`relink` restores them). Reads from
    the reviews of the transcripts (indexed), so a first score costs one empty lookup."""
    f, rv = Finding.__table__, Review.__table__
    links: list[FindingLink] = []
    for table in (Verdict.__table__, Appeal.__table__):
        stmt = (select(table.c.id, rv.c.transcript_id, *_finding_key(f))
                .select_from(table.join(rv, table.c.review_id == rv.c.id).join(f, table.c.finding_id == f.c.id))
                .where(rv.c.transcript_id.in_(list(transcript_ids))))
        links += [(table, row[0], row[1], tuple(row[2:])) for row in conn.execute(stmt)]
    return links


def relink(conn, links: list[FindingLink], report_ids: dict[int, int]) -> None:
    """Point each verdict and appeal at the new report's finding with the same key. One whose finding is
    gone from the new report stays unlinked, with its snapshot (what it judged, and by whom)."""
    if not links:
        return
    f = Finding.__table__
    transcript_of = {rid: tid for tid, rid in report_ids.items()}
    rows = conn.execute(select(f.c.id, f.c.report_id, *_finding_key(f))
                        .where(f.c.report_id.in_([report_ids[t] for t in {link[2] for link in links} if t in report_ids])))
    new_id: dict[tuple[int, tuple], int] = {}
    for row in rows:
        new_id.setdefault((transcript_of[row[1]], tuple(row[2:])), row[0])
    judged: set[int] = set()
    for table, row_id, tid, key in links:
        target = new_id.get((tid, key))
        if target is None or (table is Verdict.__table__ and target in judged):  # one verdict a finding (unique)
            continue
        if table is Verdict.__table__:
            judged.add(target)
        conn.execute(update(table).where(table.c.id == row_id).values(finding_id=target))
