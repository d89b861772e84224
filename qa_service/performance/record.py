"""Performance records: a period's KPI figures (ratios of sums) next to its QA figures (with sample sizes).

Pure functions over plain rows: storage hands in KPI rows and per-transcript QA rows, this module
adds them up. Every ratio is Σ numerator / Σ denominator over the rows that carry both, never a mean
of daily ratios; every QA mean carries its n, a 95% confidence interval and a mean shrunk toward
the team's (so three good chats do not outrank three hundred).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterable, Mapping

from qa_service.period import Period
from qa_service.rules.scheme import METRICS

DIMENSION_LABELS = {"politeness": "礼貌用语", "compliance": "合规话术", "objection": "异议处理",
                    "negativity": "负面用语", "timing": "通话时效", "sentiment": "情绪"}
# Two-sided 95% Student t quantiles by degrees of freedom (1–30); 1.96 beyond.
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
        2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
        2.045, 2.042)

# ratio metric: (numerator field, denominator field, scale)
_RATIOS: dict[str, tuple[str, str]] = {
    "fcr": ("fcr_resolved", "contacts"),
    "csat": ("csat_satisfied", "csat_responses"),
    "frt_within_target_share": ("frt_within_target", "contacts"),
    "transfer_rate": ("transfers", "contacts"),
    "escalation_rate": ("escalations", "contacts"),
    "complaint_rate": ("complaints", "contacts"),
    "repeat_complaint_rate": ("repeat_complaints", "complaints"),
    "recontact_rate": ("recontacts", "contacts"),
    "conversion": ("orders", "consultations"),
}
# weighted mean metric: (mean field, weight field)
_MEANS: dict[str, tuple[str, str]] = {
    "frt_seconds": ("frt_seconds_mean", "contacts"),
    "aht_seconds": ("aht_seconds_mean", "contacts"),
    "csat_score": ("csat_score_mean", "csat_responses"),
}
_SUMS = ("contacts", "csat_responses", "complaints", "consultations", "orders", "sales_amount")
_RATINGS = ("supervisor_rating", "peer_rating")


def metric_label(metric: str) -> str:
    if metric.startswith("qa."):
        name = metric[3:]
        return f"质检·{DIMENSION_LABELS.get(name, name)}"
    return METRICS.get(metric, (metric, ""))[0]


def metric_kind(metric: str) -> str:
    return "score" if metric.startswith("qa.") else METRICS.get(metric, ("", "number"))[1]


@dataclass(frozen=True)
class QaRow:
    """One scored transcript: who, which local day, the score and the report's summary."""

    agent_id: str
    team: str | None
    day: date
    score: float
    fatal: bool
    summary: Mapping[str, Any]


class KpiTotals:
    """Running sums of KPI rows; ``figures()`` turns them into a period's metrics."""

    def __init__(self) -> None:
        self.num: Counter[str] = Counter()
        self.den: Counter[str] = Counter()
        self.sums: Counter[str] = Counter()
        self.present: set[str] = set()
        self.ratings: dict[str, list[float]] = defaultdict(list)
        self.days: set[date] = set()
        self.rows = 0

    def add(self, row: Mapping[str, Any]) -> None:
        self.rows += 1
        if row["date_from"] == row["date_to"]:
            self.days.add(row["date_from"])
        for f in _SUMS:
            if row.get(f) is not None:
                self.sums[f] += row[f]
                self.present.add(f)
        for metric, (n, d) in _RATIOS.items():
            if row.get(n) is not None and row.get(d) is not None:
                self.num[metric] += row[n]
                self.den[metric] += row[d]
        for metric, (m, w) in _MEANS.items():
            if row.get(m) is not None and row.get(w) is not None:
                self.num[metric] += row[m] * row[w]
                self.den[metric] += row[w]
        p, pa, d = (row.get(k) for k in ("nps_promoters", "nps_passives", "nps_detractors"))
        if p is not None or d is not None:
            self.num["nps"] += (p or 0) - (d or 0)
            self.den["nps"] += (p or 0) + (pa or 0) + (d or 0)
        for f in _RATINGS:
            if row.get(f) is not None:
                self.ratings[f].append(row[f])

    def figures(self) -> dict[str, float | int | None]:
        out: dict[str, float | int | None] = {f: (self.sums[f] if f in self.present else None) for f in _SUMS}
        for metric in (*_RATIOS, *_MEANS):
            out[metric] = self.num[metric] / self.den[metric] if self.den[metric] else None
        out["nps"] = 100.0 * self.num["nps"] / self.den["nps"] if self.den["nps"] else None
        out["nps_responses"] = self.den["nps"] or None
        days = len(self.days)
        out["contacts_per_day"] = out["contacts"] / days if out["contacts"] is not None and days else None
        for f in _RATINGS:
            out[f] = statistics.fmean(self.ratings[f]) if self.ratings[f] else None
        return out


@dataclass
class QaFigures:
    n: int = 0
    mean: float | None = None
    median: float | None = None
    sd: float | None = None
    ci95: tuple[float, float] | None = None
    adjusted: float | None = None
    fatal: int = 0
    flagged: int = 0
    dimensions: dict[str, float] = field(default_factory=dict)
    dimension_n: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        r = lambda v: None if v is None else round(v, 2)  # noqa: E731
        return {
            "n": self.n, "mean": r(self.mean), "median": r(self.median), "sd": r(self.sd),
            "ci95": [r(self.ci95[0]), r(self.ci95[1])] if self.ci95 else None, "adjusted": r(self.adjusted),
            "fatal": self.fatal, "flagged": self.flagged,
            "flagged_share": round(self.flagged / self.n, 4) if self.n else None,
            "dimensions": {k: r(v) for k, v in sorted(self.dimensions.items())},
            "dimension_n": dict(sorted(self.dimension_n.items())),
        }


def qa_figures(rows: list[QaRow], *, prior_mean: float | None, prior_n: float) -> QaFigures:
    """n, mean, median, 95% CI (Student t), and the mean shrunk toward ``prior_mean`` as if it
    had ``prior_n`` more transcripts: (n·mean + k·prior) / (n + k)."""
    q = QaFigures(n=len(rows))
    if not rows:
        return q
    scores = [r.score for r in rows]
    q.mean = statistics.fmean(scores)
    q.median = statistics.median(scores)
    if len(scores) > 1:
        q.sd = statistics.stdev(scores)
        t = _T95[len(scores) - 2] if len(scores) - 1 <= len(_T95) else 1.96
        half = t * q.sd / math.sqrt(len(scores))
        q.ci95 = (max(0.0, q.mean - half), min(100.0, q.mean + half))
    prior = q.mean if prior_mean is None else prior_mean
    q.adjusted = (q.n * q.mean + prior_n * prior) / (q.n + prior_n)
    q.fatal = sum(r.fatal for r in rows)
    q.flagged = sum(bool(r.summary.get("flagged")) for r in rows)
    by_dim: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        for name, score in (r.summary.get("dims") or {}).items():
            if score is not None:
                by_dim[name].append(score)
    q.dimensions = {k: statistics.fmean(v) for k, v in by_dim.items()}
    q.dimension_n = {k: len(v) for k, v in by_dim.items()}
    return q


def transcript_kpis(rows: list[QaRow], *, frt_target_s: float) -> dict[str, float | int | None]:
    """What the transcripts' timestamps tell, for teams without a KPI export."""
    def mean_s(key: str) -> float | None:
        vals = [r.summary[key] / 1000 for r in rows if r.summary.get(key) is not None]
        return statistics.fmean(vals) if vals else None

    frts = [r.summary["frt_ms"] / 1000 for r in rows if r.summary.get("frt_ms") is not None]
    days = {r.day for r in rows}
    return {
        "contacts": len(rows),
        "contacts_per_day": len(rows) / len(days) if days else None,
        "frt_seconds": statistics.fmean(frts) if frts else None,
        "frt_within_target_share": sum(f <= frt_target_s for f in frts) / len(frts) if frts else None,
        "reply_seconds": mean_s("reply_ms"),
        "aht_seconds": mean_s("handling_ms"),
        "timed_transcripts": len(frts),
    }


@dataclass
class PerformanceRecord:
    """One agent (or one team) over one period."""

    agent_id: str | None
    team: str | None
    period: Period
    kpi: dict[str, Any]
    kpi_rows: int
    qa: QaFigures
    from_transcripts: dict[str, Any]
    metrics: dict[str, Any]
    sources: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id, "team": self.team, "period": self.period.label,
            "from": self.period.start.isoformat(), "to": self.period.end.isoformat(),
            "metrics": _rounded(self.metrics), "sources": self.sources,
            "kpi": _rounded(self.kpi), "kpi_rows": self.kpi_rows, "qa": self.qa.as_dict(),
            "from_transcripts": _rounded(self.from_transcripts),
        }


def _rounded(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in d.items()}


def _merge(kpi: dict[str, Any], kpi_rows: int, qa: QaFigures, derived: dict[str, Any]
           ) -> tuple[dict[str, Any], dict[str, str]]:
    metrics: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name in METRICS:
        if name.startswith("qa_"):
            continue
        if kpi.get(name) is not None:
            metrics[name], sources[name] = kpi[name], "kpi"
        elif derived.get(name) is not None and (kpi_rows == 0 or name not in ("contacts", "contacts_per_day")):
            # Counted contacts only stand in when nothing was imported: a KPI export's contacts
            # include conversations never sent for QA.
            metrics[name], sources[name] = derived[name], "transcripts"
        else:
            metrics[name] = None
    metrics.update({
        "qa_score": qa.adjusted, "qa_score_mean": qa.mean, "qa_score_median": qa.median, "qa_n": qa.n,
        "qa_fatal": qa.fatal, "qa_fatal_rate": qa.fatal / qa.n if qa.n else None,
        "qa_flagged_share": qa.flagged / qa.n if qa.n else None,
    })
    for name, score in qa.dimensions.items():
        metrics[f"qa.{name}"] = score
    return metrics, sources


def build_records(period: Period, kpi_rows: Iterable[Mapping[str, Any]], qa_rows: Iterable[QaRow], *,
                  shrinkage_n: float = 10.0, frt_target_s: float = 30.0) -> tuple[list[PerformanceRecord],
                                                                                   list[PerformanceRecord]]:
    """Per-agent and per-team records for ``period``.

    Args:
        kpi_rows: mappings with ``agent_id``, ``team_id``, ``date_from``, ``date_to`` and KPI fields,
            all inside the period.
        qa_rows: scored transcripts whose local day is inside the period.
        shrinkage_n: how many transcripts' weight the team mean gets in an agent's adjusted QA score.

    Returns:
        (agent records, team records), each sorted by team then id.
    """
    agent_kpi: dict[str, KpiTotals] = defaultdict(KpiTotals)
    kpi_team: dict[str, tuple[date, str]] = {}
    for row in kpi_rows:
        agent_kpi[row["agent_id"]].add(row)
        if row.get("team_id"):
            latest = kpi_team.get(row["agent_id"])
            if latest is None or row["date_to"] >= latest[0]:
                kpi_team[row["agent_id"]] = (row["date_to"], row["team_id"])
    by_agent: dict[str, list[QaRow]] = defaultdict(list)
    for r in qa_rows:
        if r.day in period:
            by_agent[r.agent_id].append(r)

    def team_of(agent: str) -> str | None:
        if agent in kpi_team:
            return kpi_team[agent][1]
        teams = Counter(r.team for r in by_agent.get(agent, ()) if r.team)
        return teams.most_common(1)[0][0] if teams else None

    agents = sorted(set(agent_kpi) | set(by_agent))
    teams = {a: team_of(a) for a in agents}
    team_rows: dict[str | None, list[QaRow]] = defaultdict(list)
    for a in agents:
        team_rows[teams[a]].extend(by_agent.get(a, ()))
    team_means = {t: statistics.fmean(r.score for r in rows) if rows else None for t, rows in team_rows.items()}

    records = []
    for a in agents:
        totals = agent_kpi.get(a) or KpiTotals()
        kpi = totals.figures()
        rows = by_agent.get(a, [])
        qa = qa_figures(rows, prior_mean=team_means.get(teams[a]), prior_n=shrinkage_n)
        derived = transcript_kpis(rows, frt_target_s=frt_target_s)
        metrics, sources = _merge(kpi, totals.rows, qa, derived)
        records.append(PerformanceRecord(a, teams[a], period, kpi, totals.rows, qa, derived, metrics, sources))

    team_records = []
    for t in sorted(team_rows, key=lambda x: (x is None, x or "")):
        totals = KpiTotals()
        members = [a for a in agents if teams[a] == t]
        for a in members:
            if a in agent_kpi:
                _merge_totals(totals, agent_kpi[a])
        rows = team_rows[t]
        qa = qa_figures(rows, prior_mean=None, prior_n=0)
        derived = transcript_kpis(rows, frt_target_s=frt_target_s)
        metrics, sources = _merge(totals.figures(), totals.rows, qa, derived)
        metrics["agents"] = len(members)
        team_records.append(PerformanceRecord(None, t, period, totals.figures(), totals.rows, qa, derived,
                                              metrics, sources))
    records.sort(key=lambda r: (r.team is None, r.team or "", r.agent_id))
    return records, team_records


def _merge_totals(into: KpiTotals, other: KpiTotals) -> None:
    into.num.update(other.num)
    into.den.update(other.den)
    into.sums.update(other.sums)
    into.present |= other.present
    for k, v in other.ratings.items():
        into.ratings[k].extend(v)
    into.days |= other.days
    into.rows += other.rows
