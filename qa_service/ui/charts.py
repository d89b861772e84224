"""Each chart's text alternative: a heading, a one-paragraph summary (the chart's ``aria-label``: it is
``role="img"``) and a table of every value it draws (``_charts.html`` shows it in a ``<details>``).

A screen reader met only the axes' tick labels ("合规话术 负面用词 … 0 20 40"); the agent's 94.9 and their
team's mean were nowhere in text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SHOWN_IN_SUMMARY = 3  # the teams, findings … a summary names; the table has them all


@dataclass
class Alternative:
    title: str
    summary: str
    head: list[str]
    rows: list[list[Any]] = field(default_factory=list)


def _score(x: float | None) -> str:
    return "—" if x is None else f"{x:.1f}"


def _trend(trend: list[dict]) -> Alternative:
    parts = []
    for t in trend[:SHOWN_IN_SUMMARY]:
        if t["mean"]:
            parts.append(f"{t['team']}：{len(t['days'])} 天，{t['days'][0]} {_score(t['mean'][0])} 至 "
                         f"{t['days'][-1]} {_score(t['mean'][-1])}，最低 {_score(min(t['mean']))}，"
                         f"最高 {_score(max(t['mean']))}")
    more = f"；另有 {len(trend) - SHOWN_IN_SUMMARY} 个团队见数据表" if len(trend) > SHOWN_IN_SUMMARY else ""
    rows = [[t["team"], day, _score(mean), n] for t in trend for day, mean, n in zip(t["days"], t["mean"], t["n"])]
    return Alternative("团队质检均分趋势", f"团队质检均分趋势（按天）：{'；'.join(parts) or '无数据'}{more}。",
                       ["团队", "日期", "均分", "会话数"], rows)


def _agents(agents: list[dict], k: float = 10.0) -> Alternative:
    few = f"少于 {k:g} 通"
    if agents:
        best, worst = agents[0], agents[-1]
        said = (f"{len(agents)} 名坐席，按校正分排序（均分向团队均分收缩，k = {k:g}），最高 {best['agent_id']} "
                f"{_score(best['adjusted'])}（均分 {_score(best['mean'])}，{best['n']} 通），"
                f"最低 {worst['agent_id']} {_score(worst['adjusted'])}（均分 {_score(worst['mean'])}，{worst['n']} 通）")
        shy = sum(1 for a in agents if a.get("few"))
        said += f"；{shy} 名坐席会话数{few}，校正分以团队均分为主" if shy else ""
    else:
        said = "无数据"
    return Alternative("坐席质检校正分对比", f"坐席质检校正分对比：{said}。",
                       ["坐席", "团队", "校正分", "均分", "会话数", "样本"],
                       [[a["agent_id"], a.get("team") or "—", _score(a["adjusted"]), _score(a["mean"]), a["n"],
                         f"样本少（{few}）" if a.get("few") else ""] for a in agents])


def _radar(radar: dict) -> Alternative:
    team = f"{radar['team']} 均值"
    pairs = list(zip(radar["labels"], radar["agent"], radar["team_mean"]))
    said = "；".join(f"{name} {_score(own)}（团队 {_score(mean)}）" for name, own, mean in pairs)
    return Alternative(f"技能雷达图：{radar['agent_id']}",
                       f"技能雷达图，坐席 {radar['agent_id']} 与 {team}对比（0–100）：{said}。",
                       ["维度", f"坐席 {radar['agent_id']}", team],
                       [[name, _score(own), _score(mean)] for name, own, mean in pairs])


def _findings(top: list[dict]) -> Alternative:
    said = "；".join(f"{f['message']} {f['count']} 次" for f in top[:SHOWN_IN_SUMMARY])
    return Alternative("高频问题", f"高频问题，共 {len(top)} 项，最多的是：{said or '无'}。", ["问题", "规则", "次数"],
                       [[f["message"], f["rule_id"], f["count"]] for f in top])


def dashboard(data: dict) -> dict[str, Alternative]:
    """The dashboard's charts, by the id of the element each is drawn in (``data``: the page's chart data)."""
    out = {"chart-trend": _trend(data["trend"]), "chart-agents": _agents(data["agents"], data.get("shrinkage_n", 10.0))}
    if data.get("radar"):
        out["chart-radar"] = _radar(data["radar"])
    out["chart-findings"] = _findings(data["top_findings"])
    return out


def trajectory(points: dict) -> Alternative:
    """The customer's sentiment, turn by turn (−1 negative … +1 positive)."""
    seq, valence = points["seq"], points["valence"]
    low = min(range(len(valence)), key=valence.__getitem__)
    summary = (f"客户情绪轨迹：{len(seq)} 句客户语句，情绪值 −1（负面）到 +1（正面），从 #{seq[0]} 的 {valence[0]:+.2f} "
               f"到 #{seq[-1]} 的 {valence[-1]:+.2f}，最低 {valence[low]:+.2f}（#{seq[low]}）。")
    return Alternative("客户情绪轨迹", summary, ["语句 #", "情绪值"],
                       [[s, f"{v:+.2f}"] for s, v in zip(seq, valence)])
