"""What the dashboards plot: team trend, agents compared, an agent's dimension profile, frequent findings.

Scores are final where a review is done, machine scores otherwise; a day is the local day of
``QA_PERFORMANCE__TIMEZONE`` (as in performance records).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from statistics import mean
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qa_service.period import Period
from qa_service.storage.tables import Finding, Report, Review, Transcript

TOP_FINDINGS = 10
MAX_AGENTS = 40


def latest_month(*, session: Session, tz: ZoneInfo) -> str | None:
    """The month (YYYY-MM) of the newest scored transcript, for a dashboard opened without a period."""
    when = session.scalar(select(func.max(func.coalesce(Transcript.started_at, Transcript.received_at)))
                          .join(Report, Report.transcript_id == Transcript.id))
    return when.astimezone(tz).strftime("%Y-%m") if when is not None else None


def dashboard(*, session: Session, period: Period, tz: ZoneInfo, team: str | None = None,
              agent_id: str | None = None) -> dict[str, Any]:
    lo, hi = period.bounds(tz)
    when = func.coalesce(Transcript.started_at, Transcript.received_at)
    query = (select(Transcript.agent_id, Transcript.team_id, Transcript.started_at, Transcript.received_at,
                    Report.score, Report.summary, Review.final_score, Review.final_dims, Review.status)
             .join(Report, Report.transcript_id == Transcript.id)
             .outerjoin(Review, Review.transcript_id == Transcript.id)
             .where(when >= lo, when < hi))
    if team:
        query = query.where(Transcript.team_id == team)
    by_team_day: dict[tuple[str, str], list[float]] = defaultdict(list)
    by_agent: dict[str, list[float]] = defaultdict(list)
    agent_team: dict[str, str] = {}
    dims_by_agent: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    dims_by_team: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for agent, team_id, started, received, score, summary, final, final_dims, status in session.execute(query):
        day = (started or received).astimezone(tz).date()
        if day not in period:
            continue
        done = status == "done" and final is not None
        value = final if done else score
        t = team_id or "（无团队）"
        by_team_day[(t, day.isoformat())].append(value)
        if agent:
            by_agent[agent].append(value)
            agent_team[agent] = t
        for name, machine in ((summary or {}).get("dims") or {}).items():
            if machine is None:  # not applicable (timing of a chat without timestamps)
                continue
            v = (final_dims or {}).get(name, machine) if done else machine
            dims_by_team[t][name].append(v)
            if agent:
                dims_by_agent[agent][name].append(v)
    teams = sorted({t for t, _ in by_team_day})
    days = sorted({d for _, d in by_team_day})
    trend = [{"team": t, "days": [d for d in days if (t, d) in by_team_day],
              "mean": [round(mean(by_team_day[(t, d)]), 2) for d in days if (t, d) in by_team_day],
              "n": [len(by_team_day[(t, d)]) for d in days if (t, d) in by_team_day]} for t in teams]
    agents = sorted(({"agent_id": a, "team": agent_team[a], "mean": round(mean(v), 2), "n": len(v)}
                     for a, v in by_agent.items()), key=lambda x: (-x["mean"], x["agent_id"]))[:MAX_AGENTS]
    chosen = agent_id if agent_id in by_agent else (agents[0]["agent_id"] if agents else None)
    radar = None
    if chosen:
        names = sorted(dims_by_agent[chosen])
        own_team = dims_by_team[agent_team[chosen]]
        radar = {"agent_id": chosen, "team": agent_team[chosen], "dimensions": names,
                 "agent": [round(mean(dims_by_agent[chosen][n]), 2) for n in names],
                 "team_mean": [round(mean(own_team[n]), 2) if own_team.get(n) else None for n in names]}
    fq = (select(Finding.rule_id, Finding.message, Finding.dimension, func.count())
          .join(Report, Report.id == Finding.report_id).join(Transcript, Transcript.id == Report.transcript_id)
          .where(when >= lo, when < hi, Finding.points != 0)
          .group_by(Finding.rule_id, Finding.message, Finding.dimension))
    if team:
        fq = fq.where(Transcript.team_id == team)
    counts: Counter = Counter()
    labels: dict[str, tuple[str, str]] = {}
    for rule_id, message, dimension, n in session.execute(fq):
        counts[rule_id] += n
        labels.setdefault(rule_id, (message, dimension))
    top = [{"rule_id": r, "message": labels[r][0], "dimension": labels[r][1], "count": n}
           for r, n in counts.most_common(TOP_FINDINGS)]
    return {"period": period.label, "team": team, "teams": teams, "trend": trend, "agents": agents,
            "radar": radar, "top_findings": top, "transcripts": sum(len(v) for v in by_team_day.values())}
