"""A period that starts before the retention horizon (``qa purge --before DAY``: everything before DAY deleted)
is partial: its figures and appraisals count only the days kept, while its KPI records, which go only when they
lie wholly before the day, stay whole. Said beside the performance records and appraisals; was: ``warnings: []``
for a June appraisal that a purge to 2 June had changed (a retention probe)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from qa_service.period import Period
from qa_service.storage import retention_scope

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def warnings(*, session: Session, period: Period) -> list[str]:
    """One warning when ``period`` starts before the day conversations were purged before (none otherwise)."""
    day = retention_scope.purged_before(session=session)
    if day is None or period.start >= day:
        return []
    if period.end < day:
        return [f"conversations before {day} were purged: none of {period.label} ({period.start}..{period.end}) is "
                "left, so it has no QA figures (its KPI records stay only where the purge kept them, --keep-kpis) "
                "— 本期会话已按保留期限删除"]
    last = day - timedelta(days=1)
    gone = f"its day {last} is" if last == period.start else f"its days {period.start}..{last} are"
    return [f"conversations before {day} were purged: {period.label} is partial, its QA figures count "
            f"{day}..{period.end} only ({gone} gone) while its KPI records stay whole — 本期 {day} 之前的会话已按"
            "保留期限删除，质检数据不完整"]
