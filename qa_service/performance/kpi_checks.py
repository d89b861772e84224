"""What a KPI import warns about, and deleting wrong KPI rows.

An import stores a row for an agent id or team nobody has named before (a new hire's first month is
legitimate), but says so: a typo'd id (``jd-after-sale-01``) would otherwise sit in every appraisal
unnoticed, and a misspelt team counts in no real team's figures. A row without a team for an agent whose
other rows name one is said too: a row naming no team counts under the agent's team for its period
(docs/performance.md), which is the team these rows say only when one of them lies in that period. A wrong
row is then deleted with
``qa delete-kpis`` / ``DELETE /v1/kpis``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from qa_service.performance.kpi import where
from qa_service.storage import kpis as kpi_repo

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
            f"team(s) nobody has named yet (no conversation, agent or KPI row): {_listed(out.unknown_teams)}; "
            "stored — check the spelling: a row counts only under its team's exact name")
    out.warnings += _teamless(session, records, rows)
    return out


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
                dry_run: bool = False) -> KpiDeletion:
    """Delete an agent's KPI rows lying wholly inside ``period`` (every period: None), filed under ``team``
    when given; counted first (``dry_run``: only counted)."""
    start, end = (period.start, period.end) if period is not None else (None, None)
    matched = kpi_repo.count_matching(session=session, agent_id=agent_id, start=start, end=end, team=team)
    if dry_run or not matched:
        return KpiDeletion(matched, 0)
    return KpiDeletion(matched, kpi_repo.delete_matching(session=session, agent_id=agent_id, start=start, end=end,
                                                         team=team))


def agent_has_kpis(*, session: Session, agent_id: str) -> bool:
    return kpi_repo.count_matching(session=session, agent_id=agent_id) > 0
