"""Agent performance: KPI imports, performance records and appraisal exports (the API and the CLI both
call these; the arithmetic is in ``record.py``, ``appraisal.py`` and ``export.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from qa_service.config import Settings
from qa_service.errors import Invalid
from qa_service.performance import export
from qa_service.performance.appraisal import appraisal_rows
from qa_service.performance.kpi import KPI_FIELDS, KpiRecord
from qa_service.performance.record import PerformanceRecord, QaRow, build_records
from qa_service.period import Period
from qa_service.rules.scheme import AppraisalScheme
from qa_service.storage import kpis as kpi_repo
from qa_service.storage import performance as perf_repo
from qa_service.storage.transcripts import KnownIds

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def import_kpis(*, session: Session, records: list[KpiRecord], source: str | None, known: KnownIds
                ) -> kpi_repo.UpsertResult:
    """Store parsed KPI records; an agent and days already stored is replaced, never added to."""
    rows = [{"agent_id": r.agent_id, "team_id": r.team, "date_from": r.date_from, "date_to": r.date_to,
             "source": (source or "")[:300] or None, **{f: r.values.get(f) for f in KPI_FIELDS}} for r in records]
    return kpi_repo.upsert_many(session=session, rows=rows, known=known)


def qa_rows(*, session: Session, period: Period, tz: ZoneInfo, final: bool = False) -> list[QaRow]:
    """Scored transcripts of the period's local days (``final``: reviewed ones, with final scores)."""
    since, until = period.bounds(tz)
    out = []
    for agent, team, started, received, score, fatal, summary, final_dims in perf_repo.qa_rows(
            session=session, since=since, until=until, final=final):
        day = (started or received).astimezone(tz).date()
        if day not in period:
            continue
        summary = summary or {}
        if final:  # reviewed dimension scores; inapplicable ones stay out
            dims = summary.get("dims") or {}
            summary = {**summary, "dims": {n: (final_dims or {}).get(n, v) if v is not None else None
                                            for n, v in dims.items()}}
        out.append(QaRow(agent, team, day, score, bool(fatal), summary))
    return out


def records(*, session: Session, settings: Settings, period: Period, agent_id: str | None = None,
            team: str | None = None, final: bool = False) -> tuple[list[PerformanceRecord], list[PerformanceRecord]]:
    """(agent records, team records) for the period, from stored KPIs and scored transcripts.

    ``final``: QA figures from finalised reviews only (final scores after review and appeals).
    Team figures (and the team mean that adjusted QA scores shrink toward) always cover the whole
    team, even when one agent is asked for.
    """
    p = settings.performance
    kpis = perf_repo.kpi_rows(session=session, start=period.start, end=period.end)
    qas = qa_rows(session=session, period=period, tz=ZoneInfo(p.timezone), final=final)
    agents, teams = build_records(period, kpis, qas, shrinkage_n=p.shrinkage_n, frt_target_s=p.frt_target_seconds)
    if agent_id:
        agents = [r for r in agents if r.agent_id == agent_id]
        teams = [t for t in teams if any(a.team == t.team for a in agents)]
    if team:
        agents = [r for r in agents if r.team == team]
        teams = [t for t in teams if t.team == team]
    return agents, teams


def kpi_rows_outside(*, session: Session, period: Period) -> int:
    """KPI rows that overlap the period without lying inside it (left out of its figures, and said so)."""
    return kpi_repo.count_overlapping_outside(session=session, start=period.start, end=period.end)


@dataclass(frozen=True, slots=True)
class AppraisalExport:
    content: bytes | str
    media_type: str
    filename: str
    rows: int


def export_appraisals(*, session: Session, settings: Settings, schemes: dict[str, AppraisalScheme],
                      period: Period, fmt: str, scheme: str | None = None, team: str | None = None,
                      agent_id: str | None = None, final: bool = False) -> AppraisalExport:
    """One row per agent — every metric's value, attainment, points, total, grade, rank — as JSON, CSV or XLSX."""
    if scheme and scheme not in schemes:
        raise Invalid(f"no scheme {scheme!r}; loaded: {', '.join(sorted(schemes))}", "scheme",
                      loc=("query", "scheme"))
    agents, _ = records(session=session, settings=settings, period=period, team=team, final=final)
    rows = appraisal_rows(agents, schemes, scheme)
    if agent_id:
        rows = [r for r in rows if r["agent_id"] == agent_id]
    name = f"appraisal-{period.label.replace('..', '_')}"
    if fmt == "csv":
        return AppraisalExport(export.to_csv(rows), "text/csv; charset=utf-8", f"{name}.csv", len(rows))
    if fmt == "xlsx":
        return AppraisalExport(export.to_xlsx(rows, period, schemes), XLSX, f"{name}.xlsx", len(rows))
    return AppraisalExport(export.to_json(rows, period, schemes), "application/json", f"{name}.json", len(rows))
