"""What a KPI import warns about, and deleting wrong KPI rows.

An import stores a row for an agent id or team nobody has named before (a new hire's first month is
legitimate), but says so: a typo'd id (``jd-after-sale-01``) would otherwise sit in every appraisal
unnoticed, and a misspelt team counts in no real team's figures. A row without a team for an agent whose
other rows name one is said too: a row naming no team counts under the agent's team for its period
(docs/performance.md), which is the team these rows say only when one of them lies in that period. So is a
row crossing a month boundary (2026-10-25..2026-11-05): a row counts only in the periods that contain it
whole, so in no month. A wrong row is then deleted with
``qa delete-kpis`` / ``DELETE /v1/kpis``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from qa_service.performance.audit import DELETED_ROWS_KEPT, Actor, record_deletion
from qa_service.performance.kpi import KPI_FIELDS, days_label, where
from qa_service.storage import kpis as kpi_repo
from qa_service.text import fold_id

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from qa_service.performance.kpi import KpiRecord
    from qa_service.period import Period

SHOWN = 10  # ids named in one warning


@dataclass
class ImportNotes:
    unknown_agents: list[str] = field(default_factory=list)
    unknown_teams: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _listed(names: list[str]) -> str:
    return ", ".join(names[:SHOWN]) + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def import_notes(*, session: Session, records: list[KpiRecord], rows: list[dict[str, Any]]) -> ImportNotes:
    """Warnings for ``rows`` (about to be stored; ``records``: every good row of the file, for the teams an
    agent's other rows name), read before they are stored."""
    out = ImportNotes()
    agents = sorted({r["agent_id"] for r in rows})
    out.unknown_agents = sorted(set(agents) - kpi_repo.agents_seen(session=session, agent_ids=agents))
    teams = sorted({r["team_id"] for r in rows if r["team_id"]})
    out.unknown_teams = sorted(set(teams) - kpi_repo.teams_named(session=session, teams=teams))
    if out.unknown_agents:
        out.warnings.append(
            f"agent id(s) never seen before (no conversation and no earlier KPI row): {_listed(out.unknown_agents)}; "
            "stored — check the spelling (delete a wrong row with qa delete-kpis or DELETE /v1/kpis)")
    if out.unknown_teams:
        out.warnings.append(
            f"team(s) nobody has named yet (no conversation, agent, KPI row or key): {_listed(out.unknown_teams)}; "
            "stored — check the spelling: a row counts only under its team's exact name")
    out.warnings += _teamless(session, records, rows)
    out.warnings += _across_months(records, rows)
    return out


def _whole_periods(start: date, end: date) -> list[str]:
    """The ISO week, quarter and year that contain ``start``..``end`` whole (those it lies in)."""
    (wy, ww, _), (ey, ew, _) = start.isocalendar(), end.isocalendar()
    out = [f"{wy}-W{ww:02d}"] if (wy, ww) == (ey, ew) else []
    if start.year == end.year:
        q = (start.month - 1) // 3 + 1
        out += [f"{start.year}-Q{q}"] if q == (end.month - 1) // 3 + 1 else []
        out.append(str(start.year))
    return out


def _quarter_or_year(start: date, end: date) -> bool:
    """Whether ``start``..``end`` is exactly a calendar quarter or year (2026-Q4, 2026)."""
    if start.day != 1 or (end + timedelta(days=1)).day != 1 or start.year != end.year:
        return False
    return (start.month, end.month) == (1, 12) or (start.month % 3 == 1 and end.month == start.month + 2)


def _across_months(records: list[KpiRecord], rows: list[dict[str, Any]]) -> list[str]:
    """One warning naming the rows that cross a month boundary (2026-10-25..2026-11-05, a week over a month's
    end): a row counts only in the periods that contain it whole, so in no month. A whole quarter or year (a
    quarterly rating) is meant as one and not warned about."""
    at = {rec.key: where(rec.line, rec.sheet) for rec in records}
    crossing = []
    for r in rows:
        start, end = r["date_from"], r["date_to"]
        if (start.year, start.month) == (end.year, end.month):
            continue
        if _quarter_or_year(start, end):
            continue
        periods = _whole_periods(start, end)
        shown = ", ".join(periods) if periods else "no week, quarter or year"
        crossing.append(f"{at.get((r['agent_id'], start, end), 'line ?')} ({days_label(start, end)}, agent "
                        f"{r['agent_id']}: in {shown})")
    if not crossing:
        return []
    listed = "; ".join(crossing[:SHOWN]) + (f"; and {len(crossing) - SHOWN} more" if len(crossing) > SHOWN else "")
    return [f"{len(crossing)} row(s) cross a month boundary: {listed}. A row counts only in the periods "
            "that contain it whole (a week, quarter, year or FROM..TO range containing all its days), so these count "
            "in no month's performance records or appraisals (kpi_rows_outside counts them there); split each into "
            "one row per month, or per day, to count in each month"]


def _teamless(session: Session, records: list[KpiRecord], rows: list[dict[str, Any]]) -> list[str]:
    """A row stored without a team, for an agent whose other rows in the file (else stored) name one."""
    bare = [r for r in rows if not r["team_id"]]
    if not bare:
        return []
    in_file: dict[str, tuple[date, str]] = {}
    for rec in records:
        if rec.team and (rec.agent_id not in in_file or rec.date_to >= in_file[rec.agent_id][0]):
            in_file[rec.agent_id] = (rec.date_to, rec.team)
    named = {a: t for a, (_, t) in in_file.items()}
    missing = sorted({r["agent_id"] for r in bare} - set(named))
    named |= kpi_repo.latest_named_teams(session=session, agent_ids=missing) if missing else {}
    at = {rec.key: where(rec.line, rec.sheet) for rec in records}
    out = []
    for r in bare:
        if r["agent_id"] in named:
            days = (r["agent_id"], r["date_from"], r["date_to"])
            out.append(f"{at.get(days, 'line ?')}: team: row has no team; the agent's other rows say "
                       f"{named[r['agent_id']]} (a row naming no team counts under the agent's team for its period: "
                       "their latest row there that names one, else their transcripts'; add the team to be sure)")
    return out


@dataclass
class KpiDeletion:
    matched: int
    deleted: int


def delete_kpis(*, session: Session, agent_id: str, period: Period | None, team: str | None = None,
                dry_run: bool = False, actor: Actor | None = None) -> KpiDeletion:
    """Delete an agent's KPI rows (stored under ``agent_id`` as given or folded: ``text.id_forms``) lying wholly
    inside ``period`` (every period: None), filed under ``team`` when given; counted first (``dry_run``: only
    counted). ``actor``: who deletes, written to the audit trail (the agent's id folded) with the rows deleted,
    in the same transaction."""
    start, end = (period.start, period.end) if period is not None else (None, None)
    matched = kpi_repo.count_matching(session=session, agent_id=agent_id, start=start, end=end, team=team)
    if dry_run or not matched:
        return KpiDeletion(matched, 0)
    rows = kpi_repo.list_matching(session=session, agent_id=agent_id, start=start, end=end, team=team,
                                  fields=tuple(KPI_FIELDS), limit=DELETED_ROWS_KEPT) if actor else []
    deleted = kpi_repo.delete_matching(session=session, agent_id=agent_id, start=start, end=end, team=team)
    if actor is not None:
        record_deletion(session=session, actor=actor, agent_id=fold_id(agent_id), period=period, team=team,
                        deleted=deleted, rows=rows)
    return KpiDeletion(matched, deleted)


def agent_has_kpis(*, session: Session, agent_id: str) -> bool:
    return kpi_repo.count_matching(session=session, agent_id=agent_id) > 0
