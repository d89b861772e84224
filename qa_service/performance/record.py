"""Performance records: a period's KPI figures (ratios of sums) next to its QA figures (with sample sizes).

Pure functions over plain rows: storage hands in KPI rows and per-transcript QA rows, this module
adds them up. Every ratio is Σ numerator / Σ denominator over the rows that carry both, never a mean
of daily ratios; every QA mean carries its n, a 95% confidence interval and a mean shrunk toward
the team's (so three good chats do not outrank three hundred).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from qa_service.performance.qa_stats import QaFigures, QaRow, QaStats, qa_figures, transcript_kpis
from qa_service.period import Period
from qa_service.rules.scheme import METRICS, SAMPLE_OF

DIMENSION_LABELS = {"politeness": "礼貌用语", "compliance": "合规话术", "objection": "异议处理",
                    "negativity": "负面用语", "timing": "通话时效", "sentiment": "情绪"}
# ratio metric: (numerator field, denominator field, scale)
RATIOS: dict[str, tuple[str, str]] = {
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
MEANS: dict[str, tuple[str, str]] = {
    "frt_seconds": ("frt_seconds_mean", "contacts"),
    "aht_seconds": ("aht_seconds_mean", "contacts"),
    "csat_score": ("csat_score_mean", "csat_responses"),
}
SUMS = ("contacts", "csat_responses", "complaints", "consultations", "orders", "sales_amount")
RATINGS = ("supervisor_rating", "peer_rating")


def metric_label(metric: str) -> str:
    if metric.startswith("qa."):
        name = metric[3:]
        return f"质检·{DIMENSION_LABELS.get(name, name)}"
    return METRICS.get(metric, (metric, ""))[0]


def metric_kind(metric: str) -> str:
    return "score" if metric.startswith("qa.") else METRICS.get(metric, ("", "number"))[1]


class KpiTotals:
    """Running sums of KPI rows; ``figures()`` turns them into a period's metrics."""

    def __init__(self) -> None:
        self.num: Counter[str] = Counter()
        self.den: Counter[str] = Counter()
        self.sums: Counter[str] = Counter()
        self.present: set[str] = set()
        self.rating_sum: Counter[str] = Counter()
        self.rating_n: Counter[str] = Counter()
        self.days: set[date] = set()  # the one-day records that carry contacts: the days worked
        self.day_contacts = 0.0  # the contacts of those days (a month record's contacts have no days to go with)
        self.agent_days = 0  # a team's: the days its agents worked, added up (0: len(days))
        self.rows = 0

    @classmethod
    def of_sums(cls, row: Mapping[str, Any]) -> KpiTotals:
        """From one agent's row of ``storage.kpis.sums_by_agent`` (days added by the caller)."""
        t = cls()
        t.rows = row["rows"]
        for f in SUMS:
            if row[f"has_{f}"]:
                t.sums[f], t.present = row[f"sum_{f}"], t.present | {f}
        for metric in (*RATIOS, *MEANS, "nps"):
            if row[f"den_{metric}"] is not None:
                t.num[metric], t.den[metric] = row[f"num_{metric}"], row[f"den_{metric}"]
        for f in RATINGS:
            if row[f"rn_{f}"]:
                t.rating_sum[f], t.rating_n[f] = row[f"rsum_{f}"], row[f"rn_{f}"]
        return t

    def add(self, row: Mapping[str, Any]) -> None:
        self.rows += 1
        if row["date_from"] == row["date_to"] and row.get("contacts") is not None:  # a ratings-only day: no day worked
            self.worked(row["date_from"], row["contacts"])
        for f in SUMS:
            if row.get(f) is not None:
                self.sums[f] += row[f]
                self.present.add(f)
        for metric, (n, d) in RATIOS.items():
            if row.get(n) is not None and row.get(d) is not None:
                self.num[metric] += row[n]
                self.den[metric] += row[d]
        for metric, (m, w) in MEANS.items():
            if row.get(m) is not None and row.get(w) is not None:
                self.num[metric] += row[m] * row[w]
                self.den[metric] += row[w]
        p, pa, d = (row.get(k) for k in ("nps_promoters", "nps_passives", "nps_detractors"))
        if p is not None or d is not None:
            self.num["nps"] += (p or 0) - (d or 0)
            self.den["nps"] += (p or 0) + (pa or 0) + (d or 0)
        for f in RATINGS:
            if row.get(f) is not None:
                self.rating_sum[f] += row[f]
                self.rating_n[f] += 1

    def worked(self, day: date, contacts: float) -> None:
        """A day worked: a one-day record carrying contacts."""
        self.days.add(day)
        self.day_contacts += contacts

    def figures(self) -> dict[str, float | int | None]:
        out: dict[str, float | int | None] = {f: (self.sums[f] if f in self.present else None) for f in SUMS}
        for metric in (*RATIOS, *MEANS):
            out[metric] = self.num[metric] / self.den[metric] if self.den[metric] else None
        out["nps"] = 100.0 * self.num["nps"] / self.den["nps"] if self.den["nps"] else None
        out["nps_responses"] = self.den["nps"] or None
        # contacts of the days worked over those days: a week's or month's record adds contacts but no days
        # (a probe's month row of 1,100 contacts made 46.8 a day 146.8); a team's over its agents' days
        days = self.agent_days or len(self.days)
        out["contacts_per_day"] = self.day_contacts / days if days else None
        for f in RATINGS:
            out[f] = self.rating_sum[f] / self.rating_n[f] if self.rating_n[f] else None
        return out

    def samples(self) -> dict[str, float]:
        """Each ratio's and mean's denominator over the records carrying both its fields: the observations
        behind it (an FCR reported on 20 of 500 contacts rests on 20, not 500)."""
        return {metric: self.den[metric] for metric in (*RATIOS, *MEANS, "nps") if self.den[metric]}


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
    samples: dict[str, float | int | None] = field(default_factory=dict)  # observations behind a metric
    kpi_rows_outside: int = 0  # KPI records overlapping the period without lying inside it: not counted
    ratings_outside: int = 0  # of those, the ones carrying a rating (主管评分/同事评分)

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
        "qa_fatal": qa.fatal if qa.n else None,  # empty, like qa_n's figures, without a scored conversation
        "qa_fatal_rate": qa.fatal / qa.n if qa.n else None,
        "qa_flagged_share": qa.flagged / qa.n if qa.n else None,
    })
    for name, score in qa.dimensions.items():
        metrics[f"qa.{name}"] = score
    return metrics, sources


def build_records(period: Period, kpi_rows: Iterable[Mapping[str, Any]], qa_rows: Iterable[QaRow], *,
                  shrinkage_n: float = 10.0, frt_target_s: float = 30.0
                  ) -> tuple[list[PerformanceRecord], list[PerformanceRecord]]:
    """Per-agent and per-team records for ``period`` from plain rows (what the SQL path is checked against).

    Args:
        kpi_rows: mappings with ``agent_id``, ``team_id``, ``date_from``, ``date_to`` and KPI fields,
            all inside the period.
        qa_rows: scored transcripts; those whose local day is outside the period are left out.
        shrinkage_n: how many transcripts' weight the team mean gets in an agent's adjusted QA score.
    """
    by_agent: dict[str, list[QaRow]] = defaultdict(list)
    for r in qa_rows:
        if r.day in period:
            by_agent[r.agent_id].append(r)
    stats = {a: QaStats.of_rows(rows, frt_target_s=frt_target_s) for a, rows in by_agent.items()}

    def team_median(_team: str | None, members: list[str]) -> float | None:
        scores = [r.score for a in members for r in by_agent.get(a, ())]
        return statistics.median(scores) if scores else None

    return assemble(period, *kpi_totals(kpi_rows), stats, team_median, shrinkage_n=shrinkage_n)


def kpi_totals(kpi_rows: Iterable[Mapping[str, Any]]) -> tuple[dict[str, KpiTotals], dict[str, str]]:
    """Each agent's KPI sums, and the team on their latest row that names one."""
    totals: dict[str, KpiTotals] = defaultdict(KpiTotals)
    latest: dict[str, tuple[date, str]] = {}
    for row in kpi_rows:
        totals[row["agent_id"]].add(row)
        if row.get("team_id"):
            seen = latest.get(row["agent_id"])
            if seen is None or row["date_to"] >= seen[0]:
                latest[row["agent_id"]] = (row["date_to"], row["team_id"])
    return dict(totals), {a: team for a, (_, team) in latest.items()}


TeamMedian = Callable[[str | None, list[str]], float | None]


def assemble(period: Period, agent_kpi: Mapping[str, KpiTotals], kpi_team: Mapping[str, str],
             stats: Mapping[str, QaStats], team_median: TeamMedian, *, shrinkage_n: float = 10.0
             ) -> tuple[list[PerformanceRecord], list[PerformanceRecord]]:
    """Per-agent and per-team records from each agent's KPI sums and QA sums.

    An agent's team is the one on their latest KPI row, else the one most of their transcripts were
    filed under; a team's QA figures cover its members' transcripts (``team_median(team, members)``
    gives the one figure sums cannot). Returns (agent records, team records), each sorted by team then id.
    """
    agents = sorted(set(agent_kpi) | set(stats))
    teams = {a: kpi_team[a] if a in kpi_team else (stats[a].team if a in stats else None) for a in agents}
    members: dict[str | None, list[str]] = defaultdict(list)
    for a in agents:
        members[teams[a]].append(a)
    team_stats: dict[str | None, QaStats] = {}
    for t, names in members.items():
        team_stats[t] = sum((stats[a] for a in names if a in stats), QaStats())
        team_stats[t].agent_days = sum(len(stats[a].days) for a in names if a in stats)
        team_stats[t].median = team_median(t, names) if team_stats[t].n else None

    records = []
    for a in agents:
        totals = agent_kpi.get(a) or KpiTotals()
        kpi = totals.figures()
        own = stats.get(a) or QaStats()
        qa = qa_figures(own, prior_mean=team_stats[teams[a]].mean, prior_n=shrinkage_n)
        derived = transcript_kpis(own)
        metrics, sources = _merge(kpi, totals.rows, qa, derived)
        records.append(PerformanceRecord(a, teams[a], period, kpi, totals.rows, qa, derived, metrics, sources,
                                         _samples(totals, derived, metrics, sources)))

    team_records = []
    for t in sorted(members, key=lambda x: (x is None, x or "")):
        totals = KpiTotals()
        for a in members[t]:
            if a in agent_kpi:
                _merge_totals(totals, agent_kpi[a])
        qa = qa_figures(team_stats[t], prior_mean=None, prior_n=0)
        derived = transcript_kpis(team_stats[t])
        metrics, sources = _merge(totals.figures(), totals.rows, qa, derived)
        _team_contacts(metrics, sources, [r for r in records if r.team == t], agent_kpi, stats)
        metrics["agents"] = len(members[t])
        team_records.append(PerformanceRecord(None, t, period, totals.figures(), totals.rows, qa, derived,
                                              metrics, sources, _samples(totals, derived, metrics, sources)))
    records.sort(key=lambda r: (r.team is None, r.team or "", r.agent_id))
    return records, team_records


def _team_contacts(metrics: dict[str, Any], sources: dict[str, str], agents: list[PerformanceRecord],
                   agent_kpi: Mapping[str, KpiTotals], stats: Mapping[str, QaStats]) -> None:
    """A team's contacts and contacts per day from the same sources its agents' come from: their contacts
    added up, and the contacts of their days worked over those days, each agent's from KPI rows or from
    transcripts as the agent's own figure is (was: KPI contacts only, so an agent counted from transcripts
    was missing from the team's 959 against the agents' 960). ``sources``: kpi, transcripts, or both
    (``kpi+transcripts``) when the agents' differ."""
    contacts, day_contacts, days = 0, 0.0, 0
    used: dict[str, set[str]] = {"contacts": set(), "contacts_per_day": set()}
    for rec in agents:
        if rec.metrics.get("contacts") is not None:
            contacts += rec.metrics["contacts"]
            used["contacts"].add(rec.sources["contacts"])
        if rec.metrics.get("contacts_per_day") is not None:
            source = rec.sources["contacts_per_day"]
            used["contacts_per_day"].add(source)
            if source == "kpi":
                kpi = agent_kpi[rec.agent_id]
                day_contacts, days = day_contacts + kpi.day_contacts, days + len(kpi.days)
            else:
                own = stats[rec.agent_id]
                day_contacts, days = day_contacts + own.n, days + len(own.days)
    metrics["contacts"] = contacts if used["contacts"] else None
    metrics["contacts_per_day"] = day_contacts / days if days else None
    for name, kinds in used.items():
        sources.pop(name, None)
        if metrics[name] is not None:
            sources[name] = "+".join(sorted(kinds))


def _samples(totals: KpiTotals, derived: Mapping[str, Any], metrics: Mapping[str, Any], sources: Mapping[str, str]
             ) -> dict[str, float | int | None]:
    """The observations behind each metric ``min_sample`` applies to: a KPI ratio's or mean's denominator over
    the records that carry it, the timed transcripts behind a figure read from timestamps, the scored
    transcripts behind a QA figure."""
    den = totals.samples()
    out: dict[str, float | int | None] = {}
    for metric in SAMPLE_OF:
        if metrics.get(metric) is None:
            continue
        if metric.startswith("qa_"):
            out[metric] = metrics.get("qa_n")
        elif sources.get(metric) == "transcripts":
            out[metric] = derived.get("timed_transcripts")
        else:  # a ratio, a weighted mean or NPS
            out[metric] = den.get(metric)
    return out


def _merge_totals(into: KpiTotals, other: KpiTotals) -> None:
    for mine, theirs in ((into.num, other.num), (into.den, other.den), (into.sums, other.sums),
                         (into.rating_sum, other.rating_sum), (into.rating_n, other.rating_n)):
        mine.update(theirs)
    into.present |= other.present
    into.agent_days += other.agent_days or len(other.days)
    into.day_contacts += other.day_contacts
    into.days |= other.days
    into.rows += other.rows
