"""What the migrations need from the application, frozen as it was when they were written.

A migration must upgrade an old database the same way forever, so it never imports live code (which
moves on): the column type, the report summary (revision 0003) and the review-queue entry
(revision 0004) are copied here as they were.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """Timezone-aware datetimes on every backend: stored as UTC, read back as UTC (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def report_summary_0003(dimensions: dict[str, dict[str, Any]], flagged: bool) -> dict[str, Any]:
    """The report summary of revision 0003: dimension scores, flagged, first-response/reply/handling times."""
    timing = (dimensions.get("timing") or {}).get("metrics") or {}
    reply = timing.get("reply_latency_ms") or {}
    return {
        "dims": {name: (d.get("score") if d.get("applicable", True) else None) for name, d in dimensions.items()},
        "flagged": flagged,
        "frt_ms": timing.get("first_response_ms"),
        "reply_ms": reply.get("mean") if isinstance(reply, dict) else None,
        "handling_ms": timing.get("duration_ms"),
    }


_SEVERITY_ORDER = ("info", "minor", "major", "critical")
_PRIORITY = {"critical": 1, "major": 2, "minor": 3, "info": 4}


def queue_entry_0004(flags: list[tuple[str, str]]) -> tuple[list[str], str, int]:
    """(reasons, worst severity, priority) of revision 0004's review queue for a flagged report."""
    reasons = sorted({reason for reason, _ in flags})
    worst = max((s for _, s in flags), key=lambda s: _SEVERITY_ORDER.index(s) if s in _SEVERITY_ORDER else 0)
    priority = 0 if "fatal_rule" in reasons else _PRIORITY.get(worst, 4)
    return reasons, worst, priority
