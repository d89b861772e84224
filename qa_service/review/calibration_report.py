"""Calibration as the pages and the API show it: the figures (``review.calibration``) over the done reviews
of a period and team, counted by the database, with each rule's owner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from qa_service.errors import ConfigError, RulePackError
from qa_service.review.calibration import Calibration, calibrate, pack_owners
from qa_service.storage import reviews as repo

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from qa_service.period import Period
    from qa_service.runtime import Runtime


def calibration(*, session: Session, pass_mark: float, team: str | None = None, period: Period | None = None
                ) -> tuple[Calibration, int, int]:
    """Machine vs reviewers over the done reviews of the team's conversations of the period (each
    optional); returns (figures, done reviews they are counted from, open reviews counted in none)."""
    c = repo.calibration_counts(session=session, pass_mark=pass_mark, team=team,
                                start=period.start if period else None, end=period.end if period else None)
    return calibrate(c.verdicts, c.misses, c.pass_fail), c.reviews, c.reviews_open


@dataclass(frozen=True, slots=True)
class CalibrationReport:
    calibration: Calibration
    reviews: int  # done reviews: what every figure is counted from
    owners: dict[str, str | None]  # rule id → who maintains it
    period: str | None
    team: str | None
    reviews_open: int = 0  # queued or in review, counted in no figure


def calibration_report(*, session: Session, runtime: Runtime, period: Period | None = None,
                       team: str | None = None) -> CalibrationReport:
    """Calibration of the done reviews of ``period`` (all time when None), with each rule's owner: a
    rule's or its defining pack's; a finding no rule defines (``detector.*``, ``objection.*``: its points
    come from the pack's ``detectors:``/``objection:`` settings) the owner of the pack its transcript was
    scored with (was: none, so the low-precision list named no one for them)."""
    cal, n, n_open = calibration(session=session, pass_mark=runtime.settings.review.pass_mark, team=team,
                                 period=period)
    try:
        book = runtime.rulebook.ready()
        owners = book.owners()
    except (RulePackError, ConfigError):  # a broken pack still leaves the figures readable
        return CalibrationReport(cal, n, {}, period.label if period else None, team, n_open)
    packs = repo.rule_packs(session=session, rule_ids=[r for r in cal.rules if r not in owners], team=team,
                            start=period.start if period else None, end=period.end if period else None)
    owners.update(pack_owners(packs, {name: c.pack.spec.owner for name, c in book.packs.items()}, book.default_pack))
    return CalibrationReport(cal, n, owners, period.label if period else None, team, n_open)
