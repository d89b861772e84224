"""Reviews handed back to the queue: a revoked key's open reviews are nobody's again."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qa_service.storage import reviews as repo
from qa_service.storage.tables import utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

KEY_REVOKED = "key revoked"


def release(*, session: Session, reviewer: str, reason: str, by: str) -> list[int]:
    """Every open review assigned to ``reviewer`` back to nobody, each written to the audit trail as
    ``unassigned`` (before: the assignee; after: none, and ``reason``); their ids. A revoked key's reviews were
    left assigned to a person who could no longer open them: 仅未分配 did not list them, 分配 could not deal
    them out, and each had to be taken over by hand."""
    now = utcnow()
    released = []
    for review in repo.open_assigned_to(session=session, name=reviewer):
        before = {"status": review.status, "assigned_to": review.assigned_to}
        review.assigned_to, review.assigned_at, review.updated_at = None, None, now
        repo.add_audit_event(session, actor=by, action="unassigned", review=review, entity="review",
                             entity_id=review.id, before=before,
                             after={"status": review.status, "assigned_to": None, "reason": reason})
        released.append(review.id)
    return released
