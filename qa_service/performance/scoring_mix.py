"""A period whose reports come from more than one scoring: said beside its performance records and appraisals.

A stored report keeps the scoring it was made with (rule pack, pack version, scorecard version) until it is
scored again. After an upgrade, or a pack edited, a period mixes reports of both: the same conversation scored
85 now read 99 before (an upgrade probe: every after-sales agent went from 优秀 to 良好 once the period was
scored again), so an agent with more conversations after the change ranks lower for it alone, and nothing said
so. Read from the ``qa_daily_versions`` rollup: a few hundred rows for a month of a million conversations.
"""

from __future__ import annotations

import shlex
from collections import defaultdict
from typing import TYPE_CHECKING

from qa_service.period import Period
from qa_service.storage import scoring_versions as version_repo

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

SHOWN = 6  # scoring versions named in a warning (most conversations first)


def version_name(pack: str | None, version: str | None, card: str | None) -> str:
    """``general 1.3.3 / scorecard golden-oof-2026-11-28c``; what a report does not record, said so."""
    return (f"{pack or 'no rule pack recorded'} {version or '(no version)'} / "
            + (f"scorecard {card}" if card else "no scorecard version (scored before 2026-11-27)"))


def warnings(*, session: Session, period: Period, team: str | None = None) -> list[str]:
    """One warning when a rule pack's reports of the period (of ``team``) come from more than one version of the
    pack or of its scorecard, naming every scoring version of the period with its count, and the re-score that
    makes them one. Packs that each keep their own scorecard version (one pack per team) are no mix."""
    rows = version_repo.in_period(session=session, start=period.start, end=period.end, team=team)
    per_pack: dict[str | None, int] = defaultdict(int)
    for pack, *_ in rows:
        per_pack[pack] += 1
    if all(n == 1 for n in per_pack.values()):
        return []
    named = "; ".join(f"{version_name(pack, version, card)}: {n}" for pack, version, card, n in rows[:SHOWN])
    more = f"; and {len(rows) - SHOWN} more" if len(rows) > SHOWN else ""
    scope = f"--period {shlex.quote(period.label)}" + (f" --team {shlex.quote(team)}" if team else "")
    return [f"the reports of {period.label}" + (f" for team {team}" if team else "") + " come from more than one "
            f"scoring version (rule pack version, scorecard version), so their figures mix them: {named}{more}. "
            "Stored reports keep the scoring they were made with; `qa rescore " + scope + " --outdated` scores "
            "again those the current rule packs would score otherwise (conversations under review or reviewed keep "
            "their scores) — 本期质检报告来自多个评分版本（规则包或评分卡版本不同），分数口径不一致；"
            "可用 qa rescore --outdated 按当前版本重新评分"]
