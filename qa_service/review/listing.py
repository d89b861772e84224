"""The review queue as a list: the one reading of its filters that ``GET /v1/reviews`` and ``/ui/queue`` share,
and the flag reasons a filter may name.

Was: the UI page and the route each checked status, severity, reason and period by hand, each defined the queue's
own reasons, and both built the repository's filter and called it themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from qa_service.domain import Severity
from qa_service.errors import ConfigError, Invalid, RulePackError
from qa_service.period import parse_period
from qa_service.review.queue import MANUAL_REASON, SAMPLE_REASON
from qa_service.scoring.base import FLAG_REASONS
from qa_service.storage import reviews as repo
from qa_service.storage import transcripts as transcript_repo
from qa_service.storage.reviews import QueueFilter

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from qa_service.rules.book import RuleBook
    from qa_service.storage.tables import Review, Transcript

QUEUE_STATUSES = ("open", "queued", "in_review", "done", "all")
QUEUE_REASONS = (SAMPLE_REASON, MANUAL_REASON)  # why a review is queued besides its flags
SEVERITIES = tuple(s.value for s in Severity)


def known_flag_reason(reason: str | None, *, session: Session, rulebook: RuleBook, also: tuple[str, ...] = (),
                      source: str = "query") -> str | None:
    """A ``reason`` filter the pipeline can raise (a scorer's, a loaded rule's, or one stored by an older pack)
    or one of ``also``; an unknown one is Invalid naming it, since an empty page would read as "none flagged"."""
    if not reason or reason in FLAG_REASONS or reason in also:
        return reason
    known = {*FLAG_REASONS, *also}
    try:
        known |= rulebook.ready().flags()
    except (RulePackError, ConfigError):
        pass  # rule packs that do not load: the built-in reasons and the stored ones still filter
    if reason in known or transcript_repo.has_flag_reason(session=session, reason=reason):
        return reason
    raise Invalid(f"unknown flag reason {reason!r}; known: {', '.join(sorted(known))}", "reason",
                  loc=(source, "reason"))


@dataclass(slots=True)
class QueueQuery:
    """What a caller asks of the queue, as given (``team``: already limited to the caller's own)."""

    status: str = "open"
    team: str | None = None
    agent_id: str | None = None
    rule: str | None = None
    reason: str | None = None
    severity: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    period: str | None = None  # instead of since/until
    score_min: float | None = None
    score_max: float | None = None
    assigned_to: str | None = None
    unassigned: bool | None = None


def queue_filter(query: QueueQuery, *, session: Session, rulebook: RuleBook, timezone: ZoneInfo,
                 source: str = "query") -> tuple[QueueFilter, list[Invalid]]:
    """The filter ``query`` asks for, and every part of it that cannot be applied (each an Invalid naming its
    field, located in the request's ``source``: "query" or "body"; that part is left out of the filter, which a
    caller then does not list: the unfiltered queue would read as the filtered one)."""
    problems: list[Invalid] = []
    status, severity, reason = query.status, query.severity, query.reason
    since, until = query.since, query.until
    if status not in QUEUE_STATUSES:
        problems.append(Invalid(f"status {status!r} is not one of {', '.join(QUEUE_STATUSES)}", "status",
                                loc=(source, "status")))
        status = "open"
    if severity is not None and severity not in SEVERITIES:
        problems.append(Invalid(f"severity {severity!r} is not one of {', '.join(SEVERITIES)}", "severity",
                                loc=(source, "severity")))
        severity = None
    try:
        reason = known_flag_reason(reason, session=session, rulebook=rulebook, also=QUEUE_REASONS, source=source)
    except Invalid as exc:
        problems.append(exc)
    if query.period is not None:
        try:
            since, until = parse_period(query.period).bounds(timezone)
        except ValueError as exc:
            problems.append(Invalid(str(exc), "period", loc=(source, "period")))
    flt = QueueFilter(status=status, team=query.team, agent_id=query.agent_id, rule=query.rule, reason=reason,
                      severity=severity, since=since, until=until, score_min=query.score_min,
                      score_max=query.score_max, assigned_to=query.assigned_to, unassigned=query.unassigned)
    return flt, problems


def list_queue(*, session: Session, flt: QueueFilter, limit: int, offset: int
               ) -> tuple[list[tuple[Review, Transcript]], int]:
    """A page of the queue (open reviews most urgent first, done ones newest first) and how many match."""
    return repo.list_queue(session=session, flt=flt, limit=limit, offset=offset)
