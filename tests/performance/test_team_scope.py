"""Team scope on performance records and appraisals: a team sees the figures of data filed under it
(its transcripts, its KPI records), for every agent who has some in the period — not the agents whose
latest KPI row or most transcripts name it. Found by a probe: a presale supervisor saw agent as-4's
after-sales QA and KPIs because one KPI row of as-4 said presale, and after-sales lost as-4."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient

from qa_service.app import create_app
from qa_service.config import AuthSettings
from qa_service.queue.tasks import record_report
from qa_service.storage.db import session_scope
from tests.api.test_review_api import report
from tests.conftest import bearer_keys, make_settings, transcript

AFTER, PRE = "after-sales", "presale"


@pytest.fixture
def world(tmp_path, db_url, redis_url, redis_conn):
    settings = make_settings(tmp_path, db_url, redis_url, auth=AuthSettings(enabled=True))
    with TestClient(create_app(settings)) as client:
        sessions = client.app.state.runtime.sessions
        keys = bearer_keys(sessions, [("feed", "ingest", None), ("lead.after", "supervisor", AFTER),
                                      ("lead.pre", "supervisor", PRE), ("hr.li", "hr", None)])
        filed = [("as-4", AFTER, day, 80) for day in range(1, 11)]
        filed += [("mix-1", PRE, 3, 90), ("mix-1", PRE, 4, 70), ("mix-1", AFTER, 5, 40)]
        for n, (agent, team, day, score) in enumerate(filed):
            r = client.post("/v1/transcripts", headers=keys["feed"], json=transcript(
                f"T{n}", agent_id=agent, team=team, started_at=f"2026-10-{day:02d}T10:00:00+08:00"))
            assert r.status_code == 202, r.text
            with session_scope(sessions) as s:
                record_report(session=s, transcript_id=r.json()["id"], report=report({"politeness": (score, 1.0, [])}))
        kpis = [{"agent_id": "as-4", "team": AFTER, "date": f"2026-10-{d:02d}", "contacts": 10, "fcr_resolved": 8}
                for d in range(1, 11)]
        kpis += [{"agent_id": "as-4", "team": PRE, "date": "2026-10-20", "contacts": 5, "fcr_resolved": 1},
                 {"agent_id": "p-9", "team": PRE, "period": "2026-09-28..2026-10-04", "contacts": 50}]
        stored = client.post("/v1/kpis", headers=keys["feed"], json={"records": kpis})
        assert stored.status_code == 200 and stored.json()["inserted"] == 12, stored.text
        yield client, keys


def _perf(client, key) -> dict:
    r = client.get("/v1/performance?period=2026-10", headers=key)
    assert r.status_code == 200, r.text
    return r.json()


def test_team_scope_counts_only_what_was_filed_under_the_team(world):
    client, keys = world
    after = _perf(client, keys["lead.after"])
    by = {a["agent_id"]: a for a in after["agents"]}
    assert set(by) == {"as-4", "mix-1"} and {a["team"] for a in after["agents"]} == {AFTER}
    assert by["as-4"]["qa"]["n"] == 10 and by["as-4"]["kpi_rows"] == 10 and by["as-4"]["kpi"]["contacts"] == 100
    assert by["as-4"]["kpi"]["fcr"] == 0.8
    assert by["mix-1"]["qa"]["n"] == 1 and by["mix-1"]["qa"]["mean"] == 40 and by["mix-1"]["kpi_rows"] == 0
    [team] = after["teams"]
    assert team["team"] == AFTER and team["qa"]["n"] == 11 and team["kpi_rows"] == 10
    assert after["kpi_rows_outside"] == 0  # p-9's week reaching into September is presale's

    pre = _perf(client, keys["lead.pre"])
    by = {a["agent_id"]: a for a in pre["agents"]}
    assert set(by) == {"as-4", "mix-1"} and {a["team"] for a in pre["agents"]} == {PRE}
    assert by["as-4"]["qa"]["n"] == 0 and by["as-4"]["kpi_rows"] == 1 and by["as-4"]["kpi"]["contacts"] == 5
    assert by["mix-1"]["qa"]["n"] == 2 and by["mix-1"]["qa"]["mean"] == 80
    assert [t["team"] for t in pre["teams"]] == [PRE] and pre["teams"][0]["qa"]["n"] == 2
    assert pre["kpi_rows_outside"] == 1


def test_team_scope_holds_in_appraisal_exports(world):
    client, keys = world
    for key, team, n in ((keys["lead.after"], AFTER, {"as-4": 10, "mix-1": 1}), (keys["lead.pre"], PRE,
                                                                                 {"as-4": 0, "mix-1": 2})):
        rows = client.get("/v1/appraisals?period=2026-10", headers=key).json()["rows"]
        assert {r["agent_id"]: r["team"] for r in rows} == dict.fromkeys(n, team)
        text = client.get("/v1/appraisals?period=2026-10&format=csv", headers=key).text
        assert {r["agent_id"] for r in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))} == set(n)
        xlsx = client.get("/v1/appraisals?period=2026-10&format=xlsx", headers=key)
        assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


def test_unscoped_view_is_unchanged(world):
    client, keys = world
    everyone = _perf(client, keys["hr.li"])
    by = {a["agent_id"]: a for a in everyone["agents"]}
    assert set(by) == {"as-4", "mix-1"}  # p-9's only row lies partly outside the period
    assert by["as-4"]["team"] == PRE and by["as-4"]["qa"]["n"] == 10 and by["as-4"]["kpi_rows"] == 11
    assert by["mix-1"]["team"] == PRE and by["mix-1"]["qa"]["n"] == 3
    assert everyone["kpi_rows_outside"] == 1
