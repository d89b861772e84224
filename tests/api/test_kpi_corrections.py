"""KPI corrections HR makes: monthly ratings next to daily rows, re-imports that change nothing, deleting a
wrong row, and the warnings an import gives about agents, teams and rows it cannot place."""

from __future__ import annotations

import pytest


def _csv(client, text: str, **params):
    return client.post("/v1/kpis", content=text.encode(), headers={"Content-Type": "text/csv"}, params=params)


def test_a_month_of_ratings_lands_beside_daily_rows_and_counts_once_among_the_ratings(client):
    """A probe's rating_month.csv (坐席工号,月份,主管评分,同事评分) was refused as 'summed, those days would
    count twice' next to the agent's daily rows; ratings are averaged, one figure per row."""
    days = ("坐席工号,日期,班组,接待量,一次解决数,主管评分\n"
            "r1,2026-10-01,t-r,40,30,90\n"
            "r1,2026-10-02,t-r,60,45,60\n")
    assert _csv(client, days).json()["inserted"] == 2
    r = _csv(client, "坐席工号,月份,主管评分,同事评分\nr1,2026-10,60,80\n")
    assert r.status_code == 200, r.text
    assert (r.json()["inserted"], r.json()["rejected"]) == (1, 0)
    [agent] = client.get("/v1/performance", params={"period": "2026-10"}).json()["agents"]
    m = agent["metrics"]
    assert m["supervisor_rating"] == pytest.approx((90 + 60 + 60) / 3)  # 70: each row once, the month's too
    assert m["peer_rating"] == 80
    assert (m["contacts"], m["contacts_per_day"], m["fcr"]) == (100, 50, pytest.approx(75 / 100))
    assert agent["kpi_rows"] == 3
    [row] = client.get("/v1/appraisals", params={"period": "2026-10"}).json()["rows"]
    assert row["qualitative"] == pytest.approx(0.7 * 70 + 0.3 * 80)  # 73.0, after_sales: supervisor .7, peer .3
    # A summed figure on the month is still refused, whether sent alone or merged onto the stored ratings…
    r = client.post("/v1/kpis", json={"records": [{"agent_id": "r1", "period": "2026-10", "contacts": 500}]})
    assert r.status_code == 422 and "summed, those days would count twice" in r.json()["detail"][0]["msg"]
    # …and daily rows with counts may come after a stored month of ratings alone.
    r = client.post("/v1/kpis", json={"records": [{"agent_id": "r1", "date": "2026-10-03", "contacts": 20}]})
    assert r.status_code == 200 and r.json()["inserted"] == 1


def test_a_rating_only_row_may_overlap_in_one_file_but_counts_may_not(client):
    text = ("agent_id,date,period,contacts,supervisor_rating\n"
            "r2,2026-10-01,,40,\n"
            "r2,,2026-10,,85\n"          # ratings alone over line 2's day: kept
            "r2,2026-10-02,,30,\n"       # a day inside line 3's month of ratings: kept
            "r2,,2026-10,,70\n"          # the same month twice: a duplicate
            "r3,,2026-10,100,\n"
            "r3,2026-10-05,,,90\n"       # ratings alone inside r3's month of counts: kept
            "r3,2026-10-06,,5,\n")       # counts inside it: refused
    out = _csv(client, text).json()
    assert out["inserted"] == 5
    assert [(e["line"], e["field"]) for e in out["errors"]] == [(5, "period"), (8, "date")]
    assert "duplicate of line 3" in out["errors"][0]["problem"]
    assert "count those days twice" in out["errors"][1]["problem"]


def test_updated_fields_lists_only_the_fields_that_changed(client):
    text = "坐席工号,日期,班组,接待量,一次解决数,主管评分\nu1,2026-10-01,t-u,40,30,90\nu1,2026-10-02,t-u,60,45,80\n"
    assert _csv(client, text).json()["inserted"] == 2
    out = _csv(client, text).json()  # the same file again
    assert (out["inserted"], out["replaced"], out["unchanged"], out["updated_fields"]) == (0, 2, 2, [])
    out = _csv(client, text.replace(",45,80", ",45,85")).json()
    assert (out["replaced"], out["unchanged"], out["updated_fields"]) == (2, 1, ["supervisor_rating"])
