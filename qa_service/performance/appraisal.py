"""Appraisals: a scheme applied to performance records → points per metric, total, grade, rank in team."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Mapping

from qa_service.errors import RuleError
from qa_service.performance.record import PerformanceRecord, metric_label
from qa_service.rules.scheme import (
    SAMPLE_OF,
    WEIGHT_TOLERANCE,
    AppraisalScheme,
    Direction,
    Missing,
    SchemeMetric,
    scheme_for,
)

INSUFFICIENT = "数据不足"  # the grade of an agent scored on less of the metric weight than min_coverage


def metric_points(m: SchemeMetric, value: float) -> float:
    """Points for ``value``: ``below`` short of the baseline, linear baseline→target→challenge, capped there.

    A lower-is-better metric is the same line read right to left.
    """
    sign = 1 if m.direction is Direction.higher else -1
    v, b, t, c = (sign * x for x in (value, m.baseline, m.target, m.challenge))
    p = m.points
    if v < b:
        return p.below
    if v < t:
        return p.baseline + (v - b) / (t - b) * (p.target - p.baseline)
    if v < c:
        return p.target + (v - t) / (c - t) * (p.challenge - p.target)
    return p.challenge


def attainment(m: SchemeMetric, value: float) -> float | None:
    """Value against target: ``value / target`` (higher is better) or ``target / value`` (lower)."""
    if m.direction is Direction.higher:
        return value / m.target if m.target else None
    return m.target / value if value else None


def shown(total: float) -> float:
    """The total as exports show it: to two decimals, half up, from the 4-decimal figure exports carry (what
    Excel's 0.00 shows of that cell). Grades are read off this value, so a total never reads 90.00 next to
    a grade below 优秀 (≥ 90): 89.996 shows and grades as 90.00."""
    return float(Decimal(repr(round(total, 4))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def grade_for(scheme: AppraisalScheme, total: float) -> str:
    for g in sorted(scheme.spec.grades, key=lambda g: -g.min):
        if total >= g.min:
            return g.name
    return sorted(scheme.spec.grades, key=lambda g: g.min)[0].name


@dataclass
class Appraisal:
    scheme: AppraisalScheme | None
    items: list[dict[str, Any]] = field(default_factory=list)
    quantitative: float | None = None
    qualitative: float | None = None
    total: float | None = None
    grade: str | None = None
    notes: list[str] = field(default_factory=list)
    metrics_scored: int = 0  # scheme metrics with a value: what the quantitative part rests on
    weight_scored: float = 0.0  # their share of the metric weights
    sufficient: bool = True  # weight_scored reaches the scheme's min_coverage: graded and ranked


def appraise(scheme: AppraisalScheme, metrics: Mapping[str, Any], samples: Mapping[str, Any] | None = None,
             ratings_outside: int = 0) -> Appraisal:
    """Score one set of metric values with ``scheme``. ``samples``: the observations behind each metric (a
    performance record's); without it a metric's sample is the count ``SAMPLE_OF`` names in ``metrics``.
    ``ratings_outside``: rating records overlapping the period without lying inside it (not counted): an
    agent without a rating is then told that, not 无数据."""
    spec = scheme.spec
    out = Appraisal(scheme)
    weighted = weights = 0.0
    for m in spec.metrics:
        value = metrics.get(m.metric)
        if samples is not None:
            sample = samples.get(m.metric)
        else:
            sample_key = SAMPLE_OF.get(m.metric)
            sample = metrics.get(sample_key) if sample_key else None
        item = {"id": m.id, "label": m.label or metric_label(m.metric), "metric": m.metric, "value": value,
                "direction": m.direction.value, "baseline": m.baseline, "target": m.target,
                "challenge": m.challenge, "weight": m.weight, "sample": sample, "attainment": None,
                "points": None, "weighted": None, "note": None}
        if value is not None and m.min_sample and (sample or 0) < m.min_sample:
            item["note"] = f"样本不足 ({sample or 0} < {m.min_sample})"
            value = None
        if value is None:
            item["note"] = item["note"] or "无数据"
            if spec.missing == Missing.zero:
                item["points"], item["weighted"] = m.points.below, m.points.below * m.weight
                weighted += item["weighted"]
                weights += m.weight
            out.notes.append(f"{item['label']}: {item['note']}"
                             + ("，不计入" if spec.missing == Missing.exclude else f"，按 {m.points.below:g} 分计"))
        else:
            pts = metric_points(m, value)
            item.update(attainment=attainment(m, value), points=pts, weighted=pts * m.weight)
            weighted += pts * m.weight
            weights += m.weight
            out.metrics_scored += 1
            out.weight_scored += m.weight
        out.items.append(item)
    if weights:
        out.quantitative = weighted / weights
    q = spec.qualitative
    if q:
        # A weighted mean over the ratings the agent has (a scheme's rating weights are above 0: A002).
        given = {k: metrics.get(k) for k, w in q.ratings.items() if metrics.get(k) is not None and w > 0}
        if given:
            out.qualitative = sum(q.ratings[k] * v for k, v in given.items()) / sum(q.ratings[k] for k in given)
        else:
            why = (f"{ratings_outside} 条评分记录跨出考核周期（起止日期不全在本期内），未计入" if ratings_outside
                   else "无数据")
            if spec.missing == Missing.zero:
                out.qualitative = 0.0
                out.notes.append(f"主观评分: {why}，按 0 分计")
            else:
                out.notes.append(f"主观评分: {why}，总分只按量化部分计")
    if out.quantitative is not None and out.qualitative is not None:
        out.total = (1 - q.weight) * out.quantitative + q.weight * out.qualitative
    elif out.quantitative is not None:
        out.total = out.quantitative
    elif out.qualitative is not None and spec.missing == Missing.exclude:
        out.total = out.qualitative
    if out.total is not None:
        out.grade = grade_for(scheme, shown(out.total))
    if spec.min_coverage and out.weight_scored + WEIGHT_TOLERANCE < spec.min_coverage:
        out.sufficient, out.grade = False, INSUFFICIENT
        out.notes.append(f"数据不足: 计分指标权重 {out.weight_scored:.0%} 低于方案要求的 {spec.min_coverage:.0%}"
                         "（min_coverage），不评等级、不参与排名")
    return out


def _rank(rows: list[dict[str, Any]]) -> None:
    """Competition ranking by total as shown (two decimals, as it is graded) within each team (1, 2, 2, 4):
    two agents shown 90.00 share a rank; rows without a total, or scored on less than the scheme's
    ``min_coverage`` (graded 数据不足), stay unranked."""
    by_team: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_team[r["team"]].append(r)
    for members in by_team.values():
        scored = sorted((r for r in members if r["total"] is not None and (r.get("coverage") or {}).get(
            "sufficient", True)), key=lambda r: -shown(r["total"]))
        for r in members:
            r["team_size"] = len(members)
            r["rank"] = None
        for i, r in enumerate(scored):
            r["rank"] = scored[i - 1]["rank"] if i and shown(r["total"]) == shown(scored[i - 1]["total"]) \
                else i + 1


# An agent without a KPI row giving contacts: 日均接待量 counted from the QA transcripts, usually a sample.
TRANSCRIPT_CONTACTS_NOTE = "日均接待量: 无 KPI 接待量，按质检会话计（质检会话多为抽样，可能低于实际接待量）"


def appraisal_rows(records: list[PerformanceRecord], schemes: dict[str, AppraisalScheme],
                   scheme: str | None = None) -> list[dict[str, Any]]:
    """One row per agent: every metric's value, attainment, points, the total, grade and rank in team.

    Raises:
        KeyError: ``scheme`` names no loaded scheme.
    """
    forced = schemes[scheme] if scheme else None
    rows = []
    for rec in records:
        s = forced or scheme_for(schemes, rec.team)
        result = appraise(s, rec.metrics, rec.samples, rec.ratings_outside) if s else Appraisal(
            None, notes=[f"没有适用于团队 {rec.team} 的考核方案"])
        m = rec.metrics
        told = rec.ratings_outside if any(n.startswith("主观评分:") and "跨出" in n for n in result.notes) else 0
        if rec.kpi_rows_outside > told:
            result.notes.append(f"KPI 记录: {rec.kpi_rows_outside - told} 条跨出考核周期（起止日期不全在本期内），"
                                "未计入本期数字")
        if rec.sources.get("contacts_per_day") == "transcripts" and s and any(
                x.metric == "contacts_per_day" for x in s.spec.metrics):
            result.notes.append(TRANSCRIPT_CONTACTS_NOTE)
        rows.append({
            "agent_id": rec.agent_id, "team": rec.team, "period": rec.period.label,
            "from": rec.period.start.isoformat(), "to": rec.period.end.isoformat(),
            "scheme": s.name if s else None, "scheme_version": s.spec.version if s else None,
            "total": _r(result.total), "grade": result.grade,
            "quantitative": _r(result.quantitative), "qualitative": _r(result.qualitative),
            "items": [{k: _r(v) for k, v in item.items()} for item in result.items],
            "metrics": {k: _r(v) for k, v in m.items()},
            "sources": rec.sources,
            "qa_score_mean": _r(m.get("qa_score_mean")), "qa_score_adjusted": _r(m.get("qa_score")),
            "qa_n": rec.qa.n, "qa_ci95": [_r(x) for x in rec.qa.ci95] if rec.qa.ci95 else None,
            "coverage": {"metrics_scored": result.metrics_scored, "metrics": len(s.spec.metrics) if s else 0,
                         "weight_scored": _r(result.weight_scored),
                         "min_weight_scored": (s.spec.min_coverage or None) if s else None,
                         "sufficient": result.sufficient},
            "samples": {"qa_n": rec.qa.n, "kpi_rows": rec.kpi_rows, "contacts": m.get("contacts"),
                        "csat_responses": m.get("csat_responses"), "nps_responses": m.get("nps_responses")},
            "notes": result.notes,
        })
    _rank(rows)
    rows.sort(key=lambda r: (r["team"] is None, r["team"] or "", r["rank"] is None, r["rank"] or 0, r["agent_id"]))
    return rows


def _r(v: Any) -> Any:
    return round(v, 4) if isinstance(v, float) else v


def example_errors(scheme: AppraisalScheme) -> list[RuleError]:
    """A009 for each declared example whose total (to 0.01) or grade comes out otherwise."""
    errors = []
    for i, ex in enumerate(scheme.spec.examples):
        got = appraise(scheme, ex.metrics)
        if got.total is None or abs(got.total - ex.total) > 0.01 or got.grade != ex.grade:
            errors.append(RuleError("A009", scheme.path, f"example {i + 1}: expected total {ex.total} ({ex.grade}), "
                                                         f"got {got.total if got.total is None else round(got.total, 2)}"
                                                         f" ({got.grade})",
                                    "fix the thresholds, or the example's expected total and grade"))
    return errors
