"""KPI rows that overlap a period without lying inside it (a rating for 2026-10-25..2026-11-05) count in no month:
the appraisal says so, per agent and in ``warnings``, and ``kpi_rows_outside`` counts the agent's and team's asked
for. Found by a probe: 000203's note read 主观评分: 无数据 though HR had rated them, the JSON said nothing, and
``kpi_rows_outside`` with ``agent_id`` counted other agents' rows."""

from __future__ import annotations

import io

from openpyxl import load_workbook

T, U = "售后二组", "售后一组"
KPIS = [
    {"agent_id": "r1", "team": T, "date": "2026-10-01", "contacts": 60, "fcr_resolved": 54},
    {"agent_id": "r1", "period": "2026-10-25..2026-11-05", "supervisor_rating": 60, "peer_rating": 60},
    {"agent_id": "r2", "team": T, "date": "2026-10-02", "contacts": 60, "fcr_resolved": 54},
    {"agent_id": "r2", "team": T, "period": "2026-10", "supervisor_rating": 80},
    {"agent_id": "r2", "team": T, "period": "2026-09-25..2026-09-27", "contacts": 30},  # before: not overlapping
    {"agent_id": "r2", "team": T, "period": "2026-11-01..2026-11-03", "contacts": 30},  # after: not overlapping
    {"agent_id": "r2", "team": T, "period": "2026-09-29..2026-10-01", "contacts": 30},
    {"agent_id": "o1", "team": U, "date": "2026-10-03", "contacts": 60, "fcr_resolved": 54},
    {"agent_id": "o1", "team": U, "period": "2026-10-30..2026-11-02", "contacts": 10},
]


def _setup(client):
    r = client.post("/v1/kpis", json={"records": KPIS})
    assert r.status_code == 200 and r.json()["inserted"] == len(KPIS), r.text


def _outside(client, query: str) -> int:
    r = client.get(f"/v1/performance?period=2026-10{query}")
    assert r.status_code == 200, r.text
    return r.json()["kpi_rows_outside"]


def test_kpi_rows_outside_counts_only_the_agent_and_team_asked_for(client):
    _setup(client)
    assert _outside(client, "") == 3  # r1's rating, r2's 09-29..10-01, o1's 10-30..11-02
    assert _outside(client, "&agent_id=r1") == 1  # was 3: every agent's
    assert _outside(client, "&agent_id=r2") == 1
    assert _outside(client, f"&team={T}") == 2  # r1's row names no team: r1's team for October is T
    assert _outside(client, f"&team={T}&agent_id=o1") == 0
    assert _outside(client, f"&team={U}") == 1


def test_an_appraisal_says_which_rating_rows_lie_outside_the_period_instead_of_no_data(client):
    _setup(client)
    out = client.get("/v1/appraisals?period=2026-10").json()
    rows = {r["agent_id"]: r for r in out["rows"]}
    # r1: fcr 54/60 = 0.9 → 120, 60 a day → 100: (.25×120 + .10×100)/.35 = 114.2857; its rating is not counted
    assert (rows["r1"]["total"], rows["r1"]["qualitative"]) == (114.2857, None)
    assert "主观评分: 1 条评分记录跨出考核周期（起止日期不全在本期内），未计入，总分只按量化部分计" in rows["r1"]["notes"]
    assert not any("无数据" in n and n.startswith("主观评分") for n in rows["r1"]["notes"])
    assert not any(n.startswith("KPI 记录") for n in rows["r1"]["notes"])  # said once, in the rating's note
    assert "KPI 记录: 1 条跨出考核周期（起止日期不全在本期内），未计入本期数字" in rows["r2"]["notes"]
    assert rows["r2"]["qualitative"] == 80.0
    [warning] = out["warnings"]
    assert warning.startswith("3 KPI row(s) of 3 agent(s) lie partly outside 2026-10 (2026-10-01..2026-10-31) and were "
                              "not counted: o1 (1), r1 (1, 1 with a rating), r2 (1);")
    one = client.get("/v1/appraisals?period=2026-10&agent_id=r1").json()["warnings"]
    assert [w.split(";")[0] for w in one] == [
        "1 KPI row(s) of 1 agent(s) lie partly outside 2026-10 (2026-10-01..2026-10-31) and were not counted: "
        "r1 (1, 1 with a rating)"]
    xlsx = client.get(f"/v1/appraisals?period=2026-10&format=xlsx&team={T}").content
    info = {row[0]: row[1] for row in load_workbook(io.BytesIO(xlsx))["说明"].iter_rows(values_only=True)}
    assert info["注意"].startswith("2 KPI row(s) of 2 agent(s) lie partly outside 2026-10")
    november = client.get("/v1/appraisals?period=2026-11").json()  # r1 has no row inside November
    assert "r1" not in {r["agent_id"] for r in november["rows"]}
    assert [w.split(";")[0] for w in november["warnings"]] == [
        "2 KPI row(s) of 2 agent(s) lie partly outside 2026-11 (2026-11-01..2026-11-30) and were not counted: "
        "o1 (1), r1 (1, 1 with a rating)"]
