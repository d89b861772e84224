"""A team's figures add up from its agents' as the agents' own are counted: an agent without a KPI row has
contacts counted from transcripts, and the team's contacts and contacts per day include them. Found by a probe:
售后一组's contacts were 959 while its agents' added up to 960 (000127 had one conversation and no KPI row)."""

from __future__ import annotations

import pytest

from qa_service.performance import service
from tests.performance.test_appraisal_exports import OCTOBER, _kpis, _scored, rt  # noqa: F401 (the fixture)

TEAM = "售后一组"


@pytest.mark.parametrize("team", [None, TEAM])
def test_team_contacts_add_up_from_agents_counted_from_kpis_and_from_transcripts(rt, team):  # noqa: F811
    _kpis(rt, [{"agent_id": "k1", "date": "2026-10-01", "team": TEAM, "contacts": 40},
               {"agent_id": "k1", "date": "2026-10-02", "team": TEAM, "contacts": 50}])
    for n, day in enumerate((1, 1, 2)):
        _scored(rt, "c1", TEAM, day, 90, n)
    with rt.session() as s:
        agents, teams = service.records(session=s, settings=rt.settings, period=OCTOBER, team=team)
    by = {a.agent_id: a for a in agents}
    assert (by["k1"].metrics["contacts"], by["k1"].metrics["contacts_per_day"], by["k1"].sources["contacts"]) == (
        90, 45.0, "kpi")
    # c1: 3 transcripts on 2 days, no KPI row
    assert (by["c1"].metrics["contacts"], by["c1"].metrics["contacts_per_day"], by["c1"].sources["contacts"]) == (
        3, 1.5, "transcripts")
    [t] = teams
    # 90 + 3 = 93 (was 90); (40 + 50 + 3) contacts of 2 + 2 days worked = 23.25 a day (was 45.0)
    assert (t.metrics["contacts"], t.metrics["contacts_per_day"]) == (93, 23.25)
    assert t.sources["contacts"] == t.sources["contacts_per_day"] == "kpi+transcripts"
    assert t.metrics["contacts"] == sum(a.metrics["contacts"] for a in agents)
