"""The dashboard compares agents as appraisals rank them: by the QA mean shrunk toward the team's mean
(k = QA_PERFORMANCE__SHRINKAGE_N), showing both scores with n, and marking agents with fewer than k scored
conversations. Found by a probe: an agent with one conversation of 91.8 ranked first in 售后一组 on the
dashboard, and the radar opened on them, while the appraisal ranked them on 88.0."""

from __future__ import annotations

import json
import re

from tests.api.test_review_api import report, store
from tests.ui.test_chart_alternatives import parse


def test_agents_are_ranked_by_the_adjusted_score_with_both_scores_and_small_samples_marked(client):
    sessions = client.app.state.runtime.sessions
    scored = [("a1", 95)] + [("a2", 92)] * 10 + [("a3", 70)] * 10
    for n, (agent, score) in enumerate(scored):
        store(client, sessions, f"R{n}", report({"politeness": (score, 1.0, [])}), agent=agent)
    html = client.get("/ui/", params={"period": "2026-10"}).text
    data = json.loads(re.search(r'<script id="dash-data" type="application/json">(.*?)</script>', html, re.S).group(1))
    # team mean (95 + 10×92 + 10×70)/21 = 81.6667; adjusted (n·mean + 10 × 81.6667)/(n + 10):
    # a2 (920 + 816.667)/20 = 86.83, a1 (95 + 816.667)/11 = 82.88, a3 (700 + 816.667)/20 = 75.83
    assert [(a["agent_id"], a["adjusted"], a["mean"], a["n"], a["few"]) for a in data["agents"]] == [
        ("a2", 86.83, 92.0, 10, False), ("a1", 82.88, 95.0, 1, True), ("a3", 75.83, 70.0, 10, False)]
    assert data["radar"]["agent_id"] == "a2"  # was a1: the best raw mean, on one conversation
    page = parse(html)
    table = page.tables["坐席质检校正分对比"]
    assert table[0] == ["坐席", "团队", "校正分", "均分", "会话数", "样本"]
    assert table[1:] == [["a2", "after-sales", "86.8", "92.0", "10", ""],
                         ["a1", "after-sales", "82.9", "95.0", "1", "样本少（少于 10 通）"],
                         ["a3", "after-sales", "75.8", "70.0", "10", ""]]
    said = page.images["chart-agents"]
    assert "按校正分排序" in said and "最高 a2 86.8（均分 92.0，10 通）" in said and "1 名坐席会话数少于 10 通" in said
