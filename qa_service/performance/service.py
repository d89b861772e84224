"""Agent performance: KPI imports, performance records and appraisal exports (the API and the CLI both
call these; the arithmetic is in ``record.py``, ``appraisal.py`` and ``export.py``)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from qa_service.config import Settings
from qa_service.errors import Invalid
from qa_service.performance import export, horizon, scoring_mix
from qa_service.performance.appraisal import appraisal_rows
from qa_service.performance.kpi import KPI_FIELDS, KpiRecord, RowError, days_label, range_field, row_problems, where
from qa_service.performance.kpi_checks import ImportNotes, import_notes
from qa_service.performance.kpi_fields import RATING_FIELDS, rating_only
from qa_service.performance.qa_stats import TIMES, QaStats, median_of_counts
from qa_service.performance.record import (
    MEANS,
    RATINGS,
    RATIOS,
    SUMS,
    KpiTotals,
    PerformanceRecord,
    TeamMedian,
    assemble,
)
from qa_service.domain import DIMENSIONS
from qa_service.period import Period
from qa_service.rules.scheme import AppraisalScheme
from qa_service.storage import alerts as alert_repo
from qa_service.storage import keys as key_repo
from qa_service.storage import kpis as kpi_repo
from qa_service.storage import performance as perf_repo
from qa_service.storage.transcripts import KnownIds
from qa_service.text import id_forms

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
KNOWN_SHOWN = 20  # known teams named when an unknown one is asked for


@dataclass
class KpiImport:
    """What an import stored, and the rows it refused against what is stored."""

    inserted: int = 0
    replaced: int = 0
    errors: list[RowError] = field(default_factory=list)
    updated_fields: list[str] = field(default_factory=list)  # changed on rows already stored
    unchanged: int = 0  # rows already stored that the import left exactly as they were
    notes: ImportNotes = field(default_factory=ImportNotes)  # unknown agents and teams, rows without a team
    cleared_fields: list[str] = field(default_factory=list)  # stored, emptied by a whole-row replace


def _overlap_errors(session: Session, records: list[KpiRecord], effective: list[dict[str, Any]]
                    ) -> dict[int, RowError]:
    """Records sharing a day with a stored record of the same agent over other days: index → row error.
    Ratings are averaged, not summed: a record whose figures (``effective``: as they will be stored) are
    ratings alone clashes with nothing, and nothing clashes with a stored record of ratings alone."""
    clashes: dict[int, list[tuple]] = defaultdict(list)
    summed = [f for f in KPI_FIELDS if f not in RATING_FIELDS]
    for n, start, end, carries in kpi_repo.overlapping(session=session, spans=[r.key for r in records],
                                                       summed=summed):
        if carries and not rating_only(effective[n]):
            clashes[n].append((start, end))
    errors = {}
    for n, stored in clashes.items():
        r = records[n]
        shown = ", ".join(days_label(*s) for s in stored[:3]) + (f" and {len(stored) - 3} more" if len(stored) > 3 else "")
        what = "the stored row" if len(stored) == 1 else f"{len(stored)} stored rows"
        errors[n] = RowError(r.line, range_field(r), (
            f"{days_label(r.date_from, r.date_to)} overlaps {what} of agent {r.agent_id} for {shown} (summed, those "
            "days would count twice); replace that row or import the same granularity (a row of ratings alone, "
            "主管评分/同事评分, may overlap: ratings are averaged)"),
            days_label(r.date_from, r.date_to), r.sheet)
    return errors


def _duplicate_errors(records: list[KpiRecord]) -> dict[int, RowError]:
    """A record of an agent and days an earlier record of the batch has: index → row error. Stored one after
    the other, the later would overwrite the earlier (its fields lost) and both would count as inserted; a
    parsed file never holds two (``parse_rows`` refuses them), a caller's own records may."""
    first: dict[tuple, KpiRecord] = {}
    errors = {}
    for n, r in enumerate(records):
        if r.key in first:
            errors[n] = RowError(r.line, range_field(r), (
                f"duplicate of {where(first[r.key].line, first[r.key].sheet)} for agent {r.agent_id} "
                f"({days_label(r.date_from, r.date_to)}); one row per agent and day"), sheet=r.sheet)
        first.setdefault(r.key, r)
    return errors


def import_kpis(*, session: Session, records: list[KpiRecord], source: str | None, known: KnownIds,
                replace: bool = False) -> KpiImport:
    """Store parsed KPI records; an agent and days already stored is updated, never added to.

    A re-imported record sets the fields it carries and the team if it names one, and keeps the stored
    others (a file of 主管评分 alone leaves the day's contacts); ``replace`` replaces the stored record
    whole instead (how a wrong value is cleared). A record whose merged figures break a row rule
    (resolved above contacts) is refused, as is one sharing a day with a stored record of the same agent
    over other days (a month next to its days; summed, those days would count twice) unless one of the two
    carries ratings alone: a row error, and nothing stored changes for it. ``updated_fields`` lists the
    fields whose stored value changed; ``unchanged`` counts the stored records the import left as they were.
    """
    out = KpiImport()
    stored = kpi_repo.get_many(session=session, keys=[r.key for r in records])
    merged = []
    for r in records:
        before = stored.get(r.key)
        values = {f: r.values.get(f) for f in KPI_FIELDS}
        if before is not None and not replace:
            values = {f: before[f] if values[f] is None else values[f] for f in KPI_FIELDS}
        merged.append(values)
    refused = _duplicate_errors(records) | _overlap_errors(session, records, merged)
    rows, updated, cleared = [], set(), set()
    for n, r in enumerate(records):
        before, values = stored.get(r.key), merged[n]
        if before is not None and not replace:
            problems = row_problems(values)
            if problems and n not in refused:
                f, problem = problems[0]
                refused[n] = RowError(r.line, f, (
                    f"with the fields stored for agent {r.agent_id} on {days_label(r.date_from, r.date_to)} (kept when "
                    f"a row does not carry them): {problem}; import those fields together, or replace the whole row"),
                    None if values[f] is None else str(values[f]), r.sheet)
        if n in refused:
            continue
        team = r.team or (None if replace or before is None else before["team_id"])
        if before is not None:
            changed = {f for f in KPI_FIELDS if values[f] is not None and values[f] != before[f]}
            changed |= {"team"} if team and team != before["team_id"] else set()
            gone = {f for f in KPI_FIELDS if before[f] is not None and values[f] is None}
            gone |= {"team"} if before["team_id"] and not team else set()
            updated, cleared = updated | changed, cleared | gone
            out.unchanged += not (changed or gone)
        rows.append({"agent_id": r.agent_id, "date_from": r.date_from, "date_to": r.date_to, "team_id": team,
                     "source": (source or "")[:300] or None, **values})
    out.notes = import_notes(session=session, records=records, rows=rows)  # before the rows make them known
    result = kpi_repo.upsert_many(session=session, rows=rows, known=known)
    order = ["team", *KPI_FIELDS]
    out.inserted, out.replaced = result.inserted, result.replaced
    out.errors = [refused[n] for n in sorted(refused)]  # in the file's order (a workbook's sheets, then lines)
    out.updated_fields = [f for f in order if f in updated]
    out.cleared_fields = [f for f in order if f in cleared]
    return out


def qa_stats(*, session: Session, period: Period, final: bool, frt_target_s: float, team: str | None = None
             ) -> tuple[dict[str, QaStats], TeamMedian]:
    """Each agent's QA sums over the period (added up by the database), and how to get a team's median;
    ``team``: of the transcripts filed under that team only."""
    start, end = period.start, period.end
    stats: dict[str, QaStats] = {}
    for row in perf_repo.qa_sums(session=session, start=start, end=end, final=final,
                                 frt_target_ms=frt_target_s * 1000, team=team):
        s = QaStats(n=row["n"], total=row["total"], total_sq=row["total_sq"], fatal=row["fatal"],
                    flagged=row["flagged"], frt_within=row["frt_within"] or 0)
        for d in DIMENSIONS:
            if row[f"dim_{d}_n"]:
                s.dim_sum[d], s.dim_n[d] = row[f"dim_{d}_sum"], row[f"dim_{d}_n"]
        for t in TIMES:
            if row[f"{t}_n"]:
                s.time_sum[t], s.time_n[t] = row[f"{t}_sum"], row[f"{t}_n"]
        s.teams[row["team_id"]] = row["n"]
        agent = row["agent_id"]
        stats[agent] = stats[agent] + s if agent in stats else s
    for agent, day in perf_repo.qa_days(session=session, start=start, end=end, final=final, team=team):
        stats[agent].days.add(day)
    scores: dict[str, Counter[float]] = defaultdict(Counter)
    for agent, score, n in perf_repo.score_counts(session=session, start=start, end=end, final=final, team=team):
        scores[agent][score] += n
    for agent, counts in scores.items():
        stats[agent].median = median_of_counts(counts)
    for agent, machine, reviewed in perf_repo.extra_dims(session=session, start=start, end=end, final=final,
                                                         team=team):
        for name, value in machine.items():
            if value is not None:
                stats[agent].dim_sum[name] += (reviewed or {}).get(name, value)
                stats[agent].dim_n[name] += 1

    def team_median(_team: str | None, members: list[str]) -> float | None:
        merged: Counter[float] = Counter()
        for a in members:
            merged.update(scores.get(a, {}))
        return median_of_counts(merged)

    return stats, team_median


def sla_share(row: dict[str, Any]) -> float | None:
    """The share of decided alerts (``alert_repo.intervention``) acknowledged within the SLA: one not
    acknowledged whose SLA has not run out is neither met nor missed (counted as missed, the share read
    0 % minutes after a burst of alerts); None while none is decided."""
    return row["within_sla"] / row["decided"] if row["decided"] else None


def _intervention(session: Session, settings: Settings, period: Period, agents: list[PerformanceRecord],
                  teams: list[PerformanceRecord], team: str | None = None) -> None:
    """情感管理时效 from live QA: major alerts, the share acknowledged within QA_LIVE__INTERVENTION_SLA, and
    the mean minutes to acknowledgement, per agent and per team (alerts raised in the period; ``team``:
    of that team's conversations only)."""
    since, until = period.bounds(ZoneInfo(settings.performance.timezone))
    sla_s = settings.live.intervention_sla.total_seconds()
    for by, records in (("agent", agents), ("team", teams)):
        rows = {r["key"]: r for r in alert_repo.intervention(session=session, since=since, until=until, sla_s=sla_s,
                                                              by=by, team=team)}
        for rec in records:
            row = rows.get(rec.agent_id if by == "agent" else rec.team)
            if row is None:
                continue
            rec.metrics.update(intervention_alerts=row["alerts"],
                               intervention_sla_share=sla_share(row),
                               intervention_minutes=row["mean_minutes"])
            rec.sources.update(dict.fromkeys(("intervention_alerts", "intervention_sla_share",
                                              "intervention_minutes"), "live"))


def kpi_totals(*, session: Session, period: Period, team: str | None = None, final: bool = False
               ) -> tuple[dict[str, KpiTotals], dict[str, str]]:
    """Each agent's KPI sums over the records inside the period (added up by the database), and their
    team on the latest record that names one; ``team``: of that team's records only — those filed under it
    and those naming no team of the agents whose team for the period it is (``final``: as reviewed
    transcripts decide it, for an agent without a KPI record naming a team)."""
    start, end = period.start, period.end
    totals = {row["agent_id"]: KpiTotals.of_sums(row) for row in kpi_repo.sums_by_agent(
        session=session, start=start, end=end, sums=SUMS, ratios=RATIOS, means=MEANS, ratings=RATINGS, team=team,
        final=final)}
    for agent, day, contacts in kpi_repo.single_days(session=session, start=start, end=end, team=team, final=final):
        totals[agent].worked(day, contacts)
    if team is not None:
        return totals, dict.fromkeys(totals, team)
    return totals, kpi_repo.latest_teams(session=session, start=start, end=end)


def records(*, session: Session, settings: Settings, period: Period, agent_id: str | None = None,
            team: str | None = None, final: bool = False) -> tuple[list[PerformanceRecord], list[PerformanceRecord]]:
    """(agent records, team records) for the period, from stored KPIs and scored transcripts.

    ``final``: QA figures from finalised reviews only (final scores after review and appeals).
    Team figures (and the team mean that adjusted QA scores shrink toward) always cover the whole
    team, even when one agent is asked for.

    Without ``team`` an agent is listed once, under their team for the period — the team of their latest
    KPI record, else the one most of their transcripts were filed under — with all their figures. With
    ``team`` (a team-scoped caller's, or one asked for) only data filed under that team counts — its
    transcripts, KPI records and live alerts, and the KPI records naming no team of the agents whose team
    for the period it is (``storage.kpis.home_agents``: their figures read the same in both views) — and
    every agent with some in the period is listed under it: an agent who moved teams shows each team only
    what was filed under it.
    """
    p = settings.performance
    agent_kpi, kpi_team = kpi_totals(session=session, period=period, team=team, final=final)
    stats, team_median = qa_stats(session=session, period=period, final=final, frt_target_s=p.frt_target_seconds,
                                  team=team)
    if team is not None:
        kpi_team = dict.fromkeys((*agent_kpi, *stats), team)
    agents, teams = assemble(period, agent_kpi, kpi_team, stats, team_median, shrinkage_n=p.shrinkage_n)
    _intervention(session, settings, period, agents, teams, team)
    outside = kpi_repo.outside_by_agent(session=session, start=period.start, end=period.end, team=team,
                                        ratings=RATINGS, final=final)
    for rec in agents:
        rec.kpi_rows_outside, rec.ratings_outside = outside.get(rec.agent_id, (0, 0))
    if agent_id:
        agents = [r for r in agents if r.agent_id in id_forms(agent_id)]  # legacy full-width ids too
        teams = [t for t in teams if any(a.team == t.team for a in agents)]
    if team:
        agents = [r for r in agents if r.team == team]
        teams = [t for t in teams if t.team == team]
    return agents, teams


def kpi_rows_outside(*, session: Session, period: Period, team: str | None = None, agent_id: str | None = None,
                     final: bool = False) -> int:
    """KPI rows that overlap the period without lying inside it (left out of its figures, and said so);
    ``team``: of that team's rows only, as its figures count them; ``agent_id``: of that agent's only."""
    return kpi_repo.count_overlapping_outside(session=session, start=period.start, end=period.end, team=team,
                                              agent_id=agent_id, final=final)


def unknown_team(*, session: Session, team: str | None, scoped: bool = False) -> str | None:
    """What is wrong with ``team`` when no conversation, agent, KPI row or key has named it (None: it is
    known, or no team was asked for): a mistyped team (售后1组 for 售后一组) gave an export with no rows and
    no word why. Named with the teams that are known, as ``qa eval --from-reviews`` names them — but never to
    a caller ``scoped`` to its team by its key, who may not map other teams (docs/access.md); a key's own team
    is known anyway: the key names it."""
    if team is None or kpi_repo.teams_named(session=session, teams=[team]):
        return None
    if scoped:
        return f"team {team!r} is not known: no conversation, agent, KPI row or key names it — 未知团队 {team}"
    known = key_repo.team_ids(session=session, limit=KNOWN_SHOWN + 1)
    listed = ", ".join(known[:KNOWN_SHOWN]) + (" …" if len(known) > KNOWN_SHOWN else "")
    return (f"team {team!r} is not known: no conversation, agent, KPI row or key names it (mistyped? known teams: "
            f"{listed or 'none yet'}) — 未知团队 {team}")


def _outside_warning(session: Session, period: Period, team: str | None, agent_id: str | None, final: bool
                     ) -> list[str]:
    """KPI rows of the agents exported that overlap the period without lying inside it (a rating for
    2026-10-25..2026-11-05): counted in no month's appraisal, which said 主观评分: 无数据 without a word."""
    outside = kpi_repo.outside_by_agent(session=session, start=period.start, end=period.end, team=team,
                                        agent_id=agent_id, ratings=RATINGS, final=final)
    if not outside:
        return []
    n = sum(rows for rows, _ in outside.values())
    named = ", ".join(f"{a} ({rows}" + (f", {rated} with a rating" if rated else "") + ")"
                      for a, (rows, rated) in sorted(outside.items())[:10])
    more = f" and {len(outside) - 10} more agents" if len(outside) > 10 else ""
    return [f"{n} KPI row(s) of {len(outside)} agent(s) lie partly outside {period.label} "
            f"({period.start}..{period.end}) and were not counted: {named}{more}; import them split by the "
            f"period's days, or appraise a period that holds them — {n} 条 KPI 记录跨出考核周期，未计入"]


@dataclass(frozen=True, slots=True)
class AppraisalExport:
    content: bytes | str
    media_type: str
    filename: str
    rows: int
    warnings: list[str] = field(default_factory=list)


_UNSAFE_IN_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]')


def export_filename(period: Period, team: str | None, ext: str) -> str:
    """``appraisal-<period>[-<team>].<ext>``; characters no file name may hold become ``_`` (a Chinese team
    name stays: the API sends it RFC 5987-encoded)."""
    name = f"appraisal-{period.label.replace('..', '_')}" + (f"-{team}" if team else "")
    return f"{_UNSAFE_IN_NAME.sub('_', name)}.{ext}"


def _final_warning(rows: list[dict[str, Any]], period: Period, team: str | None) -> list[str]:
    """With reviewed scores, a period where no review was finished has no QA figure for anyone: the QA metrics'
    weight goes to the others (or they score as missing), and the totals move without a word otherwise."""
    if not rows or any(r["qa_n"] for r in rows):
        return []
    return [f"scores=final: no review finished in {period.label}" + (f" for team {team}" if team else "")
            + "; no agent has a QA figure, so the QA metrics are missing and their weight is spread over the KPIs "
              "(each scheme's missing rule) — 本期没有复核完成的会话，质检指标无数据，其权重已分摊到其余 KPI"]


def export_appraisals(*, session: Session, settings: Settings, schemes: dict[str, AppraisalScheme],
                      period: Period, fmt: str, scheme: str | None = None, team: str | None = None,
                      agent_id: str | None = None, final: bool = False, scoped: bool = False) -> AppraisalExport:
    """One row per agent — every metric's value, attainment, points, total, grade, rank — as JSON, CSV or XLSX.
    ``scoped``: ``team`` is the caller's key's (its warnings name no other team)."""
    if scheme and scheme not in schemes:
        raise Invalid(f"no scheme {scheme!r}; loaded: {', '.join(sorted(schemes))}", "scheme",
                      loc=("query", "scheme"))
    agents, _ = records(session=session, settings=settings, period=period, team=team, final=final)
    rows = appraisal_rows(agents, schemes, scheme)
    if agent_id:
        rows = [r for r in rows if r["agent_id"] in id_forms(agent_id)]
    unknown = unknown_team(session=session, team=team, scoped=scoped)
    warnings = [*([unknown] if unknown else []), *(_final_warning(rows, period, team) if final else []),
                *_outside_warning(session, period, team, agent_id, final),
                *scoring_mix.warnings(session=session, period=period, team=team),
                *horizon.warnings(session=session, period=period)]
    scores, name = ("final" if final else "machine"), export_filename(period, team, fmt)
    if fmt == "csv":
        return AppraisalExport(export.to_csv(rows), "text/csv; charset=utf-8", name, len(rows), warnings)
    if fmt == "xlsx":
        content = export.to_xlsx(rows, period, schemes, scores, team, warnings, tz=settings.performance.timezone,
                                 shrinkage_n=settings.performance.shrinkage_n)
        return AppraisalExport(content, XLSX, name, len(rows), warnings)
    return AppraisalExport(export.to_json(rows, period, schemes, scores, team, warnings), "application/json", name,
                           len(rows), warnings)
