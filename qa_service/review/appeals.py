"""What may be appealed: a finding that still costs points, appealed once. An accepted appeal withdraws its
finding, so one that costs nothing (rejected by the reviewer, 0 points, or sent to review as uncertain)
has nothing to give back, and withdrawing one that adds points (a bonus) would lower the agent's score."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from qa_service.domain import AppealStatus, VerdictKind
from qa_service.errors import Conflict, NotFound

if TYPE_CHECKING:
    from qa_service.storage.tables import Appeal, Finding, Review


def already_appealed(what: str, taken: list[Appeal], field: str) -> Conflict:
    """The 409 for a second appeal on one finding, saying what became of the first."""
    first = taken[0]
    if first.status == AppealStatus.open.value:
        fate = f"appeal {first.id} is open, waiting for a lead's decision"
    else:
        fate = (f"appeal {first.id} was {first.status} by {first.decided_by} on {first.decided_at.isoformat()}"
                + (", which withdrew the finding" if first.status == AppealStatus.accepted.value else
                   ", so the finding stands"))
    return Conflict(f"{what} was already appealed: {fate}; an appeal is decided once, for good", field)


def unappealable(what: str, *, points: float, fatal: bool, uncertain: bool = False, rejected: bool = False
                 ) -> str | None:
    """Why the finding ``what`` cannot be appealed (the 409's words), or None when it can: the API's refusal
    and the transcript page's offer of the 申诉 form both ask this, so they cannot drift (the page offered
    the form on 0-point findings the API then refused)."""
    if rejected:
        return f"{what} was rejected by the reviewer: it costs nothing to appeal"
    if points == 0 and uncertain and not fatal:
        return (f"{what} costs 0 points (sent to review as uncertain: low ASR confidence or a borderline call): "
                "it costs nothing to appeal")
    if points == 0 and not fatal:  # a fatal one zeroes the final score: it may be appealed
        return f"{what} costs 0 points: it costs nothing to appeal"
    if points > 0:  # an accepted appeal withdraws its finding: withdrawing a bonus lowers the agent's score
        return (f"{what} adds {points:+g} points: an accepted appeal withdraws the finding, which would lower the "
                "score; only a deduction can be appealed")
    return None


def appeal_target(review: Review, findings: Sequence[Finding], finding_id: int | None,
                  manual_finding_id: int | None) -> dict[str, Any]:
    """What is appealed (rule, quote, points): ``finding_id`` among the report's ``findings``, or a manual
    finding of the review. One appealed before, one that costs nothing, or one that adds points is a 409."""
    if finding_id is not None:
        verdict = next((v for v in review.verdicts if v.finding_id == finding_id), None)
        if verdict is None:
            raise NotFound(f"finding {finding_id} is not in review {review.id}", "finding_id")
        if taken := [a for a in review.appeals if a.finding_id == finding_id]:
            raise already_appealed(f"finding {finding_id}", taken, "finding_id")
        what, field = f"finding {finding_id}", "finding_id"
        item = next(f for f in findings if f.id == finding_id)
        why = unappealable(what, points=item.points, fatal=item.fatal, uncertain=item.uncertain,
                           rejected=verdict.verdict != VerdictKind.confirmed.value)
    else:
        item = next((m for m in review.manual_findings if m.id == manual_finding_id), None)
        what, field = f"manual finding {manual_finding_id}", "manual_finding_id"
        if item is None:
            raise NotFound(f"{what} is not in review {review.id}", field)
        if taken := [a for a in review.appeals if a.manual_finding_id == manual_finding_id]:
            raise already_appealed(what, taken, field)
        why = unappealable(what, points=item.points, fatal=item.fatal)
    if why:
        raise Conflict(why, field)
    return {"rule_id": item.rule_id, "quote": item.quote, "points": item.points}
