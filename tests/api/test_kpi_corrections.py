"""KPI corrections HR makes: monthly ratings next to daily rows, re-imports that change nothing, deleting a
wrong row, and the warnings an import gives about agents, teams and rows it cannot place."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from qa_service.app import create_app
from qa_service.config import AuthSettings
from tests.conftest import bearer_keys, make_settings


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


def test_a_typo_d_agent_is_warned_about_at_import_and_its_rows_deleted(client):
    """A probe's typo.csv (jd-after-sale-01 for jd-after-sales-01) landed without a word and stayed in every
    appraisal: --replace only emptied its fields, and only qa purge (conversations too) removed it."""
    first = "坐席工号,日期,班组,接待量\nd-ok,2026-10-01,t-d,40\n"
    out = _csv(client, first).json()
    assert (out["unknown_agents"], out["unknown_teams"]) == (["d-ok"], ["t-d"])  # a first import: all new
    out = _csv(client, "坐席工号,日期,班组,接待量\nd-ok,2026-10-02,t-d,50\nd-typo,2026-10-02,t-dd,50\n"
                       "d-typo,2026-11-02,t-d,7\n").json()
    assert out["inserted"] == 3
    assert (out["unknown_agents"], out["unknown_teams"]) == (["d-typo"], ["t-dd"])
    assert any("never seen before" in w and "d-typo" in w for w in out["warnings"])
    assert any("nobody has named yet" in w and "t-dd" in w for w in out["warnings"])
    # dry run: counted, nothing deleted
    r = client.delete("/v1/kpis", params={"agent_id": "d-typo", "period": "2026-10", "dry_run": "true"})
    assert r.status_code == 200, r.text
    assert (r.json()["matched"], r.json()["deleted"]) == (1, 0)
    r = client.delete("/v1/kpis", params={"agent_id": "d-typo", "period": "2026-10"})
    assert (r.json()["matched"], r.json()["deleted"], r.json()["period"]) == (1, 1, "2026-10")
    agents = [a["agent_id"] for a in client.get("/v1/appraisals", params={"period": "2026-10"}).json()["rows"]]
    assert agents == ["d-ok"]  # the phantom agent is gone from the appraisal
    assert [k["agent_id"] for k in client.get("/v1/kpis", params={"period": "2026-11"}).json()] == ["d-typo"]
    # team= deletes only rows filed under it; all=true every period
    r = client.delete("/v1/kpis", params={"agent_id": "d-typo", "all": "true", "team": "t-other"})
    assert (r.json()["matched"], r.json()["deleted"]) == (0, 0)
    r = client.delete("/v1/kpis", params={"agent_id": "d-typo", "all": "true"})
    assert r.json()["deleted"] == 1 and client.get("/v1/kpis", params={"period": "2026-11"}).json() == []
    # the deleted id is unknown again: re-importing it warns again
    assert _csv(client, "坐席工号,日期,接待量\nd-typo,2026-10-03,5\n").json()["unknown_agents"] == ["d-typo"]


@pytest.mark.parametrize("params, loc", [
    ({"period": "2026-10"}, "agent_id"),
    ({"agent_id": " ", "period": "2026-10"}, "agent_id"),
    ({"agent_id": "x"}, "period"),
    ({"agent_id": "x", "period": "2026-10", "all": "true"}, "period"),
    ({"agent_id": "x", "period": "2026-13"}, "period"),
])
def test_deleting_kpis_without_an_agent_or_a_period_is_422_naming_it(client, params, loc):
    r = client.delete("/v1/kpis", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["query", loc]


def test_a_row_without_a_team_is_warned_about_when_the_agent_s_other_rows_name_one(client):
    """A probe's rating_noteam.csv: a 主管评分 row without 班组 landed in no team, so HR's company-wide export
    and the team's export gave one agent two totals, without a word at import."""
    assert _csv(client, "坐席工号,日期,班组,接待量\nn1,2026-10-01,t-n,40\n").status_code == 200
    out = _csv(client, "坐席工号,日期,主管评分\nn1,2026-10-31,50\nn2,2026-10-31,60\n").json()
    assert out["inserted"] == 2
    [warning] = [w for w in out["warnings"] if "has no team" in w]
    assert warning.startswith("line 2: team: row has no team; the agent's other rows say t-n")  # n2 has none
    # in the file: the agent's other row names the team
    out = _csv(client, "坐席工号,日期,班组,接待量\nn3,2026-10-01,,40\nn3,2026-10-02,t-n,30\n").json()
    assert [w for w in out["warnings"] if "has no team" in w] == [
        "line 2: team: row has no team; the agent's other rows say t-n (a row naming no team counts under the "
        "agent's team for its period: their latest row there that names one, else their transcripts'; add the team "
        "to be sure)"]
    # a re-import without the team keeps the stored one: nothing to warn about
    out = _csv(client, "坐席工号,日期,接待量\nn1,2026-10-01,41\n").json()
    assert out["warnings"] == []


def test_only_keys_that_may_post_kpis_may_delete_them(tmp_path, db_url, redis_url, redis_conn):
    settings = make_settings(tmp_path, db_url, redis_url, auth=AuthSettings(enabled=True))
    with TestClient(create_app(settings)) as client:
        keys = bearer_keys(client.app.state.runtime.sessions, [
            ("ingest", "ingest", None), ("hr", "hr", None), ("lead", "supervisor", "t-a"), ("admin", "admin", None)])
        rows = {"records": [{"agent_id": "k1", "date": "2026-10-01", "team": "t-a", "contacts": 1}]}
        assert client.post("/v1/kpis", headers=keys["ingest"], json=rows).status_code == 200
        params = {"agent_id": "k1", "period": "2026-10"}
        for name in ("hr", "lead"):  # read-only roles, the team's supervisor too
            r = client.delete("/v1/kpis", headers=keys[name], params=params)
            assert r.status_code == 403, (name, r.text)
        assert client.delete("/v1/kpis", params=params).status_code == 401
        r = client.delete("/v1/kpis", headers=keys["ingest"], params=params)
        assert (r.status_code, r.json()["deleted"]) == (200, 1)


def test_an_id_formatted_000000_or_typed_in_full_width_lands_on_the_agent_excel_shows(client, tmp_path):
    """Was: 123 in a 000000-formatted cell became agent 123 and ０００１２６ an agent of its own, each ranked
    beside (and taking the rows of) 000123 and 000126."""
    from datetime import date

    from openpyxl import Workbook

    assert _csv(client, "坐席工号,日期,班组,接待量\n000123,2026-10-01,售后一组,40\n000126,2026-10-01,售后一组,40\n"
                ).status_code == 200
    wb = Workbook()
    ws = wb.active
    ws.append(["坐席工号", "日期", "班组", "接待量"])
    ws.append([123, date(2026, 10, 4), "售后一组", 50])
    ws.append(["０００１２６", date(2026, 10, 5), "售后一组", 30])
    ws["A2"].number_format = "000000"
    wb.save(tmp_path / "k.xlsx")
    r = client.post("/v1/kpis", content=(tmp_path / "k.xlsx").read_bytes(),
                    headers={"Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"})
    assert r.status_code == 200, r.text
    assert (r.json()["inserted"], r.json()["unknown_agents"], r.json()["warnings"]) == (2, [], [])
    rows = client.get("/v1/kpis", params={"period": "2026-10"}).json()
    assert sorted((k["agent_id"], k["date_from"]) for k in rows) == [
        ("000123", "2026-10-01"), ("000123", "2026-10-04"), ("000126", "2026-10-01"), ("000126", "2026-10-05")]
    # An id asked for in full width is the same agent.
    assert len(client.get("/v1/kpis", params={"period": "2026-10", "agent_id": "０００１２３"}).json()) == 2
    [agent] = client.get("/v1/performance", params={"period": "2026-10", "agent_id": "０００１２６"}).json()["agents"]
    assert (agent["agent_id"], agent["metrics"]["contacts"]) == ("000126", 70)
    r = client.delete("/v1/kpis", params={"agent_id": "０００１２６", "period": "2026-10-05"})
    assert (r.json()["agent_id"], r.json()["deleted"]) == ("000126", 1)


def test_a_rate_is_stored_as_the_nearest_whole_count_half_up_and_the_answer_says_which_rates_no_count_shows(client):
    """Was: 50% of 13 responses stored as 6 (round half to even: that day read 46.2%), without a word."""
    r = _csv(client, "坐席工号,日期,班组,评价数,满意度\nh1,2026-10-04,t-h,13,50%\nh1,2026-10-05,t-h,19,95%\n"
                     "h1,2026-10-06,t-h,18,90%\n")
    assert r.status_code == 200, r.text
    assert [n for n in r.json()["notes"] if "rate(s)" in n] == [
        "2 rate(s) match no whole count at the precision written (line 2: 满意度 50% of 评价数 13 → 7 (53.8%); "
        "line 4: 满意度 90% of 评价数 18 → 16 (88.9%)): a rate is turned back into a count per row, the nearest "
        "whole count (.5 up), so these rows' figures differ a little from the file's rates; check them, or give "
        "the counts (满意数, 一次解决数) to store them exactly"]
    stored = {k["date_from"]: k["values"]["csat_satisfied"] for k in client.get("/v1/kpis", params={"period": "2026-10"}).json()}
    assert stored == {"2026-10-04": 7, "2026-10-05": 18, "2026-10-06": 16}
    [agent] = client.get("/v1/performance", params={"period": "2026-10"}).json()["agents"]
    assert agent["metrics"]["csat"] == pytest.approx(41 / 50)


def test_a_row_crossing_a_month_boundary_is_stored_with_a_warning_that_it_counts_in_no_month(client):
    """Was: 000203,2026-10-25..2026-11-05 stored without a word, then counted in neither month (its appraisal
    said 主观评分: 无数据). The probe's ratings.csv, plus a week over a month's end."""
    text = ("坐席工号,月份,主管评分,同事评分\n"
            "000123,2026年10月,92,88\n"
            "000124,2026-10,85,\n"
            "000201,202610,78,90\n"
            "000202,2026Q4,70,70\n"                      # a whole quarter: meant as one, no warning
            "000203,2026-10-25..2026-11-05,60,60\n"
            "000204,2026-W44,80,\n"                      # 2026-10-26..2026-11-01
            "000205,2026-12-30..2027-01-05,80,\n")      # over a year's end and a week's: in no week, quarter or year
    r = _csv(client, text)
    assert r.status_code == 200 and r.json()["inserted"] == 7, r.text
    [warning] = [w for w in r.json()["warnings"] if "month boundary" in w]
    assert warning == (
        "3 row(s) cross a month boundary: line 6 (2026-10-25..2026-11-05, agent 000203: in 2026-Q4, 2026); "
        "line 7 (2026-10-26..2026-11-01, agent 000204: in 2026-W44, 2026-Q4, 2026); line 8 (2026-12-30..2027-01-05, "
        "agent 000205: in no week, quarter or year). A row counts only in the periods that contain it whole (a week, "
        "quarter, year or FROM..TO range containing all its days), so these count in no month's performance records "
        "or appraisals (kpi_rows_outside counts them there); split each into one row per month, or per day, to "
        "count in each month")
    ids = {a["agent_id"] for a in client.get("/v1/performance", params={"period": "2026-10"}).json()["agents"]}
    assert "000203" not in ids and {"000123", "000124", "000201"} <= ids  # as the warning says
    quarter = client.get("/v1/performance", params={"period": "2026Q4"}).json()["agents"]
    assert {a["agent_id"] for a in quarter} >= {"000202", "000203", "000204"}
    again = _csv(client, text)  # a re-import changes nothing, and says the same
    assert any("3 row(s) cross a month boundary" in w for w in again.json()["warnings"])
