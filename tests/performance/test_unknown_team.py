"""An unknown team asked of performance records and appraisals is said, naming the known teams: 200 with the
warning in ``warnings`` (the API answers an unknown filter value with an empty list, as ``/v1/transcripts?team=``
does; 404 is for an id in the path). Found by a probe: ``?team=售后1组`` answered ``rows: []`` and ``warnings: []``."""

from __future__ import annotations

import io

from openpyxl import load_workbook

WARNING = ("team '售后1组' is not known: no conversation, agent, KPI row or key names it (mistyped? known teams: "
           "售后一组, 售后二组) — 未知团队 售后1组")


def test_an_unknown_team_is_warned_about_naming_the_known_ones(client):
    kpis = [{"agent_id": "a1", "team": "售后一组", "date": "2026-10-01", "contacts": 40},
            {"agent_id": "a2", "team": "售后二组", "date": "2026-10-01", "contacts": 40}]
    assert client.post("/v1/kpis", json={"records": kpis}).status_code == 200
    r = client.get("/v1/appraisals", params={"period": "2026-10", "team": "售后1组"})
    assert r.status_code == 200 and r.json()["rows"] == [] and r.json()["warnings"] == [WARNING]
    xlsx = client.get("/v1/appraisals", params={"period": "2026-10", "team": "售后1组", "format": "xlsx"}).content
    info = {row[0]: row[1] for row in load_workbook(io.BytesIO(xlsx))["说明"].iter_rows(values_only=True)}
    assert info["注意"] == WARNING
    perf = client.get("/v1/performance", params={"period": "2026-10", "team": "售后1组"}).json()
    assert perf["agents"] == [] and perf["warnings"] == [WARNING]
    known = client.get("/v1/appraisals", params={"period": "2026-10", "team": "售后一组"}).json()
    assert known["warnings"] == [] and [r["agent_id"] for r in known["rows"]] == ["a1"]
    assert client.get("/v1/performance", params={"period": "2026-10"}).json()["warnings"] == []
