"""KPI rows naming no team (HR's monthly ratings file, a daily export without 班组) count under the agent's team
for the period in that team's view too, so an agent's total and rank read the same whichever scope reads them.

Found by a probe: 售后二组's supervisor saw 000203 first and 000202 second, HR the other way round, because the
rating rows had no 班组 and a team-scoped export left them out (``a row naming no team belongs to none``).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from qa_service.app import create_app
from qa_service.config import AuthSettings
from qa_service.queue.tasks import record_report
from qa_service.storage.db import session_scope
from tests.api.test_review_api import report
from tests.conftest import bearer_keys, make_settings, transcript

T, U = "售后二组", "售后一组"


@pytest.fixture
def world(tmp_path, db_url, redis_url, redis_conn):
    settings = make_settings(tmp_path, db_url, redis_url, auth=AuthSettings(enabled=True))
    with TestClient(create_app(settings)) as client:
        sessions = client.app.state.runtime.sessions
        keys = bearer_keys(sessions, [("feed", "ingest", None), ("lead.t", "supervisor", T),
                                      ("hr.all", "hr", None), ("hr.t", "hr", T)])
        # b3 has no KPI row naming a team: its team for October is the one its transcripts were filed under
        for n, (agent, team, day, score) in enumerate([("b3", T, 2, 80), ("b3", T, 3, 90), ("u1", U, 2, 70)]):
            r = client.post("/v1/transcripts", headers=keys["feed"], json=transcript(
                f"T{n}", agent_id=agent, team=team, started_at=f"2026-10-{day:02d}T10:00:00+08:00"))
            assert r.status_code == 202, r.text
            with session_scope(sessions) as s:
                record_report(session=s, transcript_id=r.json()["id"], report=report({"politeness": (score, 1.0, [])}))
        kpis = [{"agent_id": "b1", "team": T, "date": "2026-10-01", "contacts": 80, "fcr_resolved": 72},
                {"agent_id": "b2", "team": T, "date": "2026-10-01", "contacts": 60, "fcr_resolved": 54},
                # m moved from T to U: its latest row names U, so its team-less rating is U's
                {"agent_id": "m1", "team": T, "date": "2026-10-01", "contacts": 60, "fcr_resolved": 30},
                {"agent_id": "m1", "team": U, "date": "2026-10-20", "contacts": 60, "fcr_resolved": 54},
                {"agent_id": "u1", "team": U, "date": "2026-10-01", "contacts": 60, "fcr_resolved": 54},
                # HR's ratings file: 坐席工号,月份,主管评分,同事评分 — no 班组
                {"agent_id": "b1", "period": "2026-10", "supervisor_rating": 80, "peer_rating": 90},
                {"agent_id": "b3", "period": "2026-10", "supervisor_rating": 70},
                {"agent_id": "m1", "period": "2026-10", "supervisor_rating": 50},
                {"agent_id": "u1", "period": "2026-10", "supervisor_rating": 60},
                # no team anywhere in October: company-wide it is 未分组, and no team's
                {"agent_id": "z9", "period": "2026-10", "supervisor_rating": 99}]
        stored = client.post("/v1/kpis", headers=keys["feed"], json={"records": kpis})
        assert stored.status_code == 200 and stored.json()["inserted"] == len(kpis), stored.text
        yield client, keys


def _rows(client, key, query="") -> dict[str, dict]:
    r = client.get(f"/v1/appraisals?period=2026-10{query}", headers=key)
    assert r.status_code == 200, r.text
    return {row["agent_id"]: row for row in r.json()["rows"]}


def _figures(row: dict) -> tuple:
    return row["total"], row["rank"], row["team_size"], row["qualitative"], row["grade"]


def test_teamless_rating_rows_count_in_the_agents_team_view_as_company_wide(world):
    client, keys = world
    company = _rows(client, keys["hr.all"])
    # b1: fcr 72/80 = 0.9 → 120, 80 a day → 120 (capped): quantitative 120; rating .7×80 + .3×90 = 83;
    # total .8×120 + .2×83 = 112.6. b2: fcr 0.9 → 120, 60 a day → 100: (.25×120 + .10×100)/.35 = 114.2857.
    assert (company["b1"]["team"], company["b1"]["qualitative"], company["b1"]["total"]) == (T, 83.0, 112.6)
    assert (company["b2"]["total"], company["b2"]["rank"], company["b1"]["rank"]) == (114.2857, 1, 2)
    # b3: QA mean 85, its team's mean 85 (its transcripts are T's only ones) → 85 → 80 points, the only metric
    # (a KPI row, its rating, keeps transcripts from standing in for contacts); total .8×80 + .2×70 = 78
    assert (company["b3"]["team"], company["b3"]["total"], company["b3"]["rank"]) == (T, 78.0, 3)
    assert company["z9"]["team"] is None
    for key, query in ((keys["lead.t"], ""), (keys["hr.t"], ""), (keys["hr.all"], f"&team={T}")):
        scoped = _rows(client, key, query)
        assert set(scoped) == {"b1", "b2", "b3", "m1"}  # m1's row filed under T; z9 and u1 are no one's here
        for agent in ("b1", "b2", "b3"):  # was b1 120.0 rank 1 (its rating left out), b2 rank 2
            assert _figures(scoped[agent])[:2] == _figures(company[agent])[:2], (agent, query)
            assert _figures(scoped[agent])[3:] == _figures(company[agent])[3:], (agent, query)
        assert scoped["b3"]["qualitative"] == 70.0 and scoped["b1"]["qualitative"] == 83.0
        # m1's team for October is U: its rating counts there; here its T row (fcr 0.5 → 0): 10/.35 = 28.5714
        assert (scoped["m1"]["qualitative"], scoped["m1"]["total"], scoped["m1"]["rank"]) == (None, 28.5714, 4)
    u = _rows(client, keys["hr.all"], f"&team={U}")
    assert (u["m1"]["qualitative"], u["u1"]["qualitative"]) == (50.0, 60.0) and "b1" not in u


def test_teamless_rows_count_in_the_team_records_and_rows_outside(world):
    client, keys = world
    r = client.get("/v1/performance?period=2026-10", headers=keys["lead.t"]).json()
    by = {a["agent_id"]: a for a in r["agents"]}
    assert by["b1"]["kpi_rows"] == 2 and by["b1"]["kpi"]["supervisor_rating"] == 80
    [team] = r["teams"]
    assert team["kpi_rows"] == 2 + 1 + 1 + 1  # b1's two, b2's, b3's rating, m1's T row


def test_a_teams_kpi_listing_holds_the_rows_its_figures_count(world):
    """Was: GET /v1/kpis for a team-scoped key (or ?team=) listed only the rows filed under the team, so a
    supervisor saw figures (b1's and b3's ratings) they could not list (review of 2026-11-29)."""
    client, keys = world

    def listed(key, query=""):
        r = client.get(f"/v1/kpis?period=2026-10{query}", headers=key)
        assert r.status_code == 200, r.text
        return sorted((k["agent_id"], k["team"] or "", k["date_from"], k["date_to"]) for k in r.json())

    month = ("2026-10-01", "2026-10-31")
    expected = [("b1", "", *month), ("b1", T, "2026-10-01", "2026-10-01"), ("b2", T, "2026-10-01", "2026-10-01"),
                ("b3", "", *month), ("m1", T, "2026-10-01", "2026-10-01")]  # m1's rating is U's: its team then
    for key, query in ((keys["lead.t"], ""), (keys["hr.t"], ""), (keys["hr.all"], f"&team={T}")):
        assert listed(key, query) == expected, query
    [team] = client.get("/v1/performance?period=2026-10", headers=keys["lead.t"]).json()["teams"]
    assert team["kpi_rows"] == len(expected)  # the rows listed are the rows counted
    assert [row for row in listed(keys["hr.all"], f"&team={U}") if row[0] == "m1"] == [
        ("m1", "", *month), ("m1", U, "2026-10-20", "2026-10-20")]
    assert ("z9", "", *month) in listed(keys["hr.all"])  # no team's: listed company-wide only
    assert listed(keys["lead.t"], "&agent_id=b3") == [("b3", "", *month)]
