"""/v1/kpis, /v1/performance, /v1/appraisals against a real database (SQLite, and PostgreSQL when up).

The figures are the hand computation in tests/performance/test_records.py (its docstring shows the
arithmetic): the same KPI rows go in through the API, the same QA scores are stored as reports of
real ingested transcripts, and the service must give the same numbers.
"""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from qa_service.domain import DimensionScore, QAReport
from qa_service.queue.tasks import record_report
from qa_service.storage.db import session_scope
from tests.conftest import transcript

PERIOD = "2026-10-01..2026-10-03"
KPIS = [
    {"agent_id": "a1", "date": "2026-10-01", "team": "after-sales", "contacts": 40, "frt_seconds_mean": 20,
     "aht_seconds_mean": 300, "fcr_resolved": 30, "csat_responses": 10, "csat_satisfied": 9, "nps_promoters": 6,
     "nps_passives": 2, "nps_detractors": 2},
    {"agent_id": "a1", "date": "2026-10-02", "team": "after-sales", "contacts": 60, "frt_seconds_mean": 40,
     "aht_seconds_mean": 400, "fcr_resolved": 54, "csat_responses": 20, "csat_satisfied": 19, "nps_promoters": 10,
     "nps_passives": 5, "nps_detractors": 5, "supervisor_rating": 80, "peer_rating": 90},
    {"agent_id": "a2", "date": "2026-10-01", "team": "after-sales", "contacts": 50, "frt_seconds_mean": 30,
     "fcr_resolved": 35, "csat_responses": 5, "csat_satisfied": 4, "nps_promoters": 1, "nps_passives": 1,
     "nps_detractors": 3},
]
# (agent, started_at, score): local days are China time, so 2026-09-30T17:00Z is 10-01 01:00 (in) and
# 2026-10-03T16:30Z is 10-04 00:30 (out).
SCORED = [("a1", "2026-09-30T17:00:00Z", 100), ("a1", "2026-10-01T10:00:00+08:00", 90),
          ("a1", "2026-10-03T23:59:00+08:00", 80), ("a2", "2026-10-02T12:00:00+08:00", 70),
          ("a1", "2026-10-03T16:30:00Z", 0), ("a1", "2026-09-30T15:59:00Z", 0)]


def _report(score: float) -> QAReport:
    dim = DimensionScore("politeness", score, "1")
    return QAReport(score=score, dimensions={"politeness": dim}, weights={"politeness": 1.0},
                    scorer_versions={"politeness": "politeness.v1"})


@pytest.fixture
def period_data(client, sessions):
    r = client.post("/v1/kpis", json={"records": KPIS, "source": "test"})
    assert r.status_code == 200, r.text
    assert (r.json()["inserted"], r.json()["rejected"]) == (3, 0)
    for i, (agent, started, score) in enumerate(SCORED):
        resp = client.post("/v1/transcripts", json=transcript(f"P{i}", agent_id=agent, team="after-sales",
                                                               started_at=started))
        with session_scope(sessions) as s:
            record_report(session=s, transcript_id=resp.json()["id"], report=_report(score))
    return client


def test_kpis_import_reports_bad_rows_and_keeps_good_ones(client):
    body = {"records": [
        {"agent_id": "a1", "date": "2026-10-01", "contacts": 10, "fcr_resolved": 8},
        {"agent_id": "a2", "date": "2026-10-01", "contacts": "ten"},
        {"date": "2026-10-01", "contacts": 1},
        ["not", "an", "object"],
    ]}
    r = client.post("/v1/kpis", json=body)
    assert r.status_code == 200
    out = r.json()
    assert (out["inserted"], out["replaced"], out["rejected"]) == (1, 0, 3)
    assert [(e["line"], e["field"]) for e in out["errors"]] == [(2, "contacts"), (3, "agent_id"), (4, "record")]
    stored = client.get("/v1/kpis", params={"period": "2026-10"}).json()
    assert [(k["agent_id"], k["values"]) for k in stored] == [("a1", {"contacts": 10, "fcr_resolved": 8})]


def test_kpis_json_errors_name_the_record_s_index_in_loc_and_its_position_in_line(client):
    """A body of one bad record was answered with loc body.records.1 (there is no record 1): loc is the index
    in records (first = 0), line stays the record's position as documented (first = 1)."""
    r = client.post("/v1/kpis", json={"records": [{"agent_id": "k9", "date": "2026-10-07", "contacts": -1}]})
    assert r.status_code == 422
    [err] = r.json()["detail"]
    assert err["loc"] == ["body", "records", 0, "contacts"] and "negative" in err["msg"]
    day = {"agent_id": "k9", "date": "2026-10-07", "contacts": 3}
    r = client.post("/v1/kpis", json={"records": [day, {**day, "contacts": -1}, {**day, "contacts": 4}, day]})
    assert r.status_code == 200 and r.json()["inserted"] == 1
    assert [(e["line"], e["field"]) for e in r.json()["errors"]] == [(2, "contacts"), (3, "date")]
    assert "duplicate of record 1 for agent k9" in r.json()["errors"][1]["problem"]
    assert "skipped record 4: the same as record 1 in every column (a row exported twice)" in r.json()["notes"]
    csv_body = "agent_id,date,contacts\nk8,2026-10-07,-1\n".encode()
    for ctype in ("text/csv", "text/plain"):  # CSV keeps its line numbers (header = 1)
        r = client.post("/v1/kpis", content=csv_body, headers={"Content-Type": ctype})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "csv", 2, "contacts"], r.text


def test_kpis_reimport_replaces_never_double_counts(client):
    csv_v1 = "坐席工号,日期,接待量,一次解决数\na1,2026-10-01,10,8\na1,2026-10-02,10,5\n"
    csv_v2 = "坐席工号,日期,接待量,一次解决数\na1,2026-10-01,20,10\n"
    for text in (csv_v1, csv_v1):
        r = client.post("/v1/kpis", content=text.encode(), headers={"Content-Type": "text/csv"})
        assert r.status_code == 200
    assert (r.json()["inserted"], r.json()["replaced"]) == (0, 2)
    r = client.post("/v1/kpis", content=csv_v2.encode(), headers={"Content-Type": "text/csv"})
    assert (r.json()["inserted"], r.json()["replaced"]) == (0, 1)
    [a1] = client.get("/v1/performance", params={"period": "2026-10"}).json()["agents"]
    assert a1["metrics"]["contacts"] == 30 and a1["metrics"]["fcr"] == pytest.approx(15 / 30)


def test_kpis_month_row_over_stored_days_is_refused_and_counts_once(client):
    days = "agent_id,date,team,contacts,fcr_resolved\np-dd,2026-09-01,t,50,40\np-dd,2026-09-02,t,50,40\n"
    month = "agent_id,period,team,contacts,fcr_resolved\np-dd,2026-09,t,100,80\np-ok,2026-09,t,30,20\n"
    for text in (days, month):
        r = client.post("/v1/kpis", content=text.encode(), headers={"Content-Type": "text/csv"})
        assert r.status_code == 200, r.text
    out = r.json()
    assert (out["inserted"], out["replaced"], out["rejected"]) == (1, 0, 1)
    [err] = out["errors"]
    assert (err["line"], err["field"]) == (2, "period")
    assert "overlaps 2 stored rows of agent p-dd for 2026-09-01, 2026-09-02" in err["problem"]
    assert "import the same granularity" in err["problem"]
    agents = {a["agent_id"]: a for a in client.get("/v1/performance", params={"period": "2026-09"}).json()["agents"]}
    assert agents["p-dd"]["metrics"]["contacts"] == 100 and agents["p-dd"]["metrics"]["contacts_per_day"] == 50
    assert agents["p-dd"]["kpi_rows"] == 2
    # The other way round: a day inside a stored month is refused too; nothing stored changes, so 422.
    r = client.post("/v1/kpis", json={"records": [{"agent_id": "p-ok", "date": "2026-09-15", "contacts": 99}]})
    assert r.status_code == 422
    [detail] = r.json()["detail"]
    assert detail["loc"] == ["body", "records", 0, "date"] and "stored row of agent p-ok for 2026-09-01..2026-09-30" \
        in detail["msg"]
    # The same days again replace, as before.
    r = client.post("/v1/kpis", json={"records": [{"agent_id": "p-ok", "period": "2026-09", "contacts": 40}]})
    assert (r.json()["inserted"], r.json()["replaced"], r.json()["rejected"]) == (0, 1, 0)
    stored = client.get("/v1/kpis", params={"period": "2026-09", "agent_id": "p-ok"}).json()
    assert [(k["date_from"], k["date_to"], k["values"]["contacts"]) for k in stored] == [("2026-09-01", "2026-09-30", 40)]


def test_kpis_partial_reimport_sets_its_fields_and_keeps_the_others(client):
    day = {"agent_id": "p-a1", "date": "2026-09-03", "team": "probe-after-sales", "contacts": 60, "fcr_resolved": 51,
           "csat_responses": 30, "csat_satisfied": 30}
    assert client.post("/v1/kpis", json={"records": [day]}).status_code == 200
    r = client.post("/v1/kpis", content="坐席工号,日期,主管评分\np-a1,2026-09-03,92\n".encode(),
                    headers={"Content-Type": "text/csv"})
    out = r.json()
    assert (out["inserted"], out["replaced"], out["updated_fields"], out["cleared_fields"]) == \
        (0, 1, ["supervisor_rating"], [])
    [stored] = client.get("/v1/kpis", params={"period": "2026-09-03", "agent_id": "p-a1"}).json()
    assert stored["team"] == "probe-after-sales"
    assert stored["values"] == {"contacts": 60, "fcr_resolved": 51, "csat_responses": 30, "csat_satisfied": 30,
                                "supervisor_rating": 92.0}
    # Contacts alone would leave the stored 51 resolved above 40 contacts: refused, nothing changes.
    r = client.post("/v1/kpis", json={"records": [{"agent_id": "p-a1", "date": "2026-09-03", "contacts": 40}]})
    assert r.status_code == 422
    [detail] = r.json()["detail"]
    assert detail["loc"][-1] == "fcr_resolved" and "51 is more than contacts (40)" in detail["msg"]
    assert "stored for agent p-a1 on 2026-09-03" in detail["msg"]
    assert client.get("/v1/kpis", params={"period": "2026-09-03"}).json()[0]["values"]["contacts"] == 60
    # replace=true: the row is replaced whole; what it lacks is cleared, and said so.
    r = client.post("/v1/kpis", params={"replace": "true"},
                    json={"records": [{"agent_id": "p-a1", "date": "2026-09-03", "contacts": 40}]})
    out = r.json()
    assert (out["replaced"], out["updated_fields"]) == (1, ["contacts"])
    assert out["cleared_fields"] == ["team", "fcr_resolved", "csat_responses", "csat_satisfied", "supervisor_rating"]
    [stored] = client.get("/v1/kpis", params={"period": "2026-09-03"}).json()
    assert (stored["team"], stored["values"]) == (None, {"contacts": 40})


def test_contacts_per_day_counts_only_days_with_contacts(client):
    records = [{"agent_id": "p-d1", "date": "2026-09-01", "contacts": 60},
               {"agent_id": "p-d1", "date": "2026-09-02", "contacts": 60},
               {"agent_id": "p-d1", "date": "2026-09-30", "supervisor_rating": 90}]
    assert client.post("/v1/kpis", json={"records": records}).json()["inserted"] == 3
    [row] = client.get("/v1/appraisals", params={"period": "2026-09", "agent_id": "p-d1"}).json()["rows"]
    assert row["metrics"]["contacts"] == 120 and row["metrics"]["contacts_per_day"] == 60
    [item] = [i for i in row["items"] if i["metric"] == "contacts_per_day"]
    assert item["points"] == 100  # at target (60/day), not 40/day


def test_contacts_per_day_leaves_week_and_month_rows_out_and_a_team_is_per_agent_day(client):
    """A probe's case: a July month row of 1,100 contacts beside 11 daily rows (515 contacts) made 46.8 a
    day 146.8 and capped the appraisal's contribution item; a team's figure was all contacts over the union
    of days (a colleague's month row in it too)."""
    days = [{"agent_id": "p-w1", "team": "t-w", "date": f"2026-07-{d:02d}", "contacts": 50} for d in (1, 2, 3, 4)]
    days += [{"agent_id": "p-w2", "team": "t-w", "date": "2026-07-01", "contacts": 30}]
    months = [{"agent_id": "p-w1", "team": "t-w", "period": "2026-W28", "contacts": 900},
              {"agent_id": "p-w3", "team": "t-w", "period": "2026-07", "contacts": 1200}]
    assert client.post("/v1/kpis", json={"records": days + months}).json()["inserted"] == 7
    out = client.get("/v1/performance", params={"period": "2026-07", "team": "t-w"}).json()
    agents = {a["agent_id"]: a["metrics"] for a in out["agents"]}
    assert agents["p-w1"]["contacts"] == 1100 and agents["p-w1"]["contacts_per_day"] == 50
    assert agents["p-w3"]["contacts"] == 1200 and agents["p-w3"].get("contacts_per_day") is None
    [team] = out["teams"]
    assert team["metrics"]["contacts_per_day"] == (200 + 30) / 5  # per agent-day: 4 of p-w1's and 1 of p-w2's


def test_appraisal_says_how_many_scheme_metrics_a_total_rests_on(client):
    records = [{"agent_id": "p-m2", "date": "2026-09-01", "csat_responses": 20, "csat_satisfied": 20},
               {"agent_id": "p-r1", "date": "2026-09-01", "supervisor_rating": 95}]
    assert client.post("/v1/kpis", json={"records": records}).json()["inserted"] == 2
    rows = {r["agent_id"]: r for r in client.get("/v1/appraisals", params={"period": "2026-09"}).json()["rows"]}
    off = {"min_weight_scored": None, "sufficient": True}  # the scheme sets no min_coverage
    assert rows["p-m2"]["coverage"] == {"metrics_scored": 1, "metrics": 5, "weight_scored": 0.3, **off}
    assert rows["p-r1"]["coverage"] == {"metrics_scored": 0, "metrics": 5, "weight_scored": 0.0, **off}
    assert rows["p-r1"]["total"] == 95.0  # unchanged: a rating-only total, now visibly resting on no metric
    text = client.get("/v1/appraisals", params={"period": "2026-09", "format": "csv"}).text
    by_agent = {r["agent_id"]: r for r in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))}
    assert (by_agent["p-m2"]["metrics_scored"], by_agent["p-m2"]["weight_scored"]) == ("1", "0.3")


def test_kpis_all_bad_is_422_naming_line_and_field_and_stores_nothing(client):
    r = client.post("/v1/kpis", content=b"agent_id,date,contacts\na1,2026-10-01,-1\na2,yesterday,1\n",
                    headers={"Content-Type": "text/csv"})
    assert r.status_code == 422
    locs = [(d["loc"][-2], d["loc"][-1]) for d in r.json()["detail"]]
    assert locs == [(2, "contacts"), (3, "date")]
    assert client.get("/v1/kpis", params={"period": "2026-10"}).json() == []


@pytest.mark.parametrize("content, ctype, needle", [
    (b'{"records": []}', "application/json", "no records"),
    (b'{"rows": []}', "application/json", "records"),
    (b'{"records": [{}], "extra": 1}', "application/json", "unknown key"),
    (b"{not json", "application/json", "not JSON"),
    (b"\xff\xfe\x00", "application/json", "not valid UTF-8"),
    (b"name,when\nx,y\n", "text/csv", "no agent column"),
    ('{"records": [{"工号": "p-l2", "日期": "2026-09-11", "量": 5}], "mapping": {"量": "bogus_field"}}'.encode(),
     "application/json", "unknown target field(s) bogus_field"),
])
def test_kpis_malformed_bodies_are_422(client, content, ctype, needle):
    r = client.post("/v1/kpis", content=content, headers={"Content-Type": ctype})
    assert r.status_code == 422
    assert needle in r.text
    if "mapping" in needle or b'"mapping"' in content:
        assert r.json()["detail"][0]["loc"] == ["body", "mapping"]


def test_performance_matches_hand_computation(period_data):
    # A whole-month row does not lie inside 10-01..10-03: left out of the figures, and counted as such.
    period_data.post("/v1/kpis", json={"records": [{"agent_id": "a9", "period": "2026-10", "supervisor_rating": 10}]})
    body = period_data.get("/v1/performance", params={"period": PERIOD}).json()
    assert body["kpi_rows_outside"] == 1
    a1, a2 = body["agents"]
    assert a1["metrics"]["fcr"] == 0.84 and a1["metrics"]["nps"] == 30.0
    assert a1["metrics"]["csat"] == pytest.approx(28 / 30, abs=1e-4)
    assert a1["metrics"]["frt_seconds"] == 32.0 and a1["metrics"]["aht_seconds"] == 360.0
    assert a1["metrics"]["supervisor_rating"] == 80
    assert a1["qa"]["n"] == 3 and a1["qa"]["mean"] == 90.0 and a1["qa"]["ci95"] == [65.16, 100.0]
    assert a1["qa"]["adjusted"] == pytest.approx(1120 / 13, abs=0.01)
    assert a1["qa"]["dimensions"] == {"politeness": 90.0}
    assert a2["qa"]["n"] == 1 and a2["metrics"]["nps"] == -40.0
    [team] = body["teams"]
    assert team["metrics"]["contacts"] == 150 and team["metrics"]["nps"] == 20.0 and team["qa"]["mean"] == 85.0
    one = period_data.get("/v1/performance", params={"period": PERIOD, "agent_id": "a2"}).json()
    assert [a["agent_id"] for a in one["agents"]] == ["a2"]
    assert one["agents"][0]["qa"]["adjusted"] == pytest.approx(920 / 11, abs=0.01)  # still the team's mean


def test_appraisals_json_rows_carry_the_public_fields(period_data):
    body = period_data.get("/v1/appraisals", params={"period": PERIOD}).json()
    assert body["period"] == PERIOD and "after_sales" in body["schemes"]
    a1, a2 = body["rows"]
    for row in (a1, a2):
        assert {"agent_id", "metrics", "qa_score_mean", "qa_n", "total", "grade", "rank", "items"} <= set(row)
    assert a1["agent_id"] == "a1" and a1["total"] == pytest.approx(95.6072, abs=1e-3) and a1["grade"] == "优秀"
    assert a1["metrics"]["fcr"] == 0.84 and a1["metrics"]["csat"] == pytest.approx(0.9333, abs=1e-4)
    assert a1["qa_score_mean"] == 90.0 and a1["qa_n"] == 3
    assert a2["total"] == pytest.approx(77.4026, abs=1e-3) and (a2["grade"], a2["rank"]) == ("良好", 2)
    forced = period_data.get("/v1/appraisals", params={"period": PERIOD, "scheme": "presale"}).json()
    assert {r["scheme"] for r in forced["rows"]} == {"presale"}


def test_appraisals_xlsx_has_chinese_headers_a_sheet_per_team_and_numbers(period_data):
    r = period_data.get("/v1/appraisals", params={"period": PERIOD, "format": "xlsx"})
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["说明", "汇总", "团队 after-sales"]
    ws = wb["团队 after-sales"]
    header = [c.value for c in ws[1]]
    assert header[:6] == ["团队排名", "坐席工号", "团队", "考核方案", "总分", "等级"]
    rows = [dict(zip(header, row)) for row in ws.iter_rows(min_row=2, values_only=True)]
    assert [(r["坐席工号"], r["团队排名"], r["等级"]) for r in rows] == [("a1", 1, "优秀"), ("a2", 2, "良好")]
    assert rows[0]["总分"] == pytest.approx(95.6072, abs=1e-3)
    assert rows[0]["一次解决率"] == 0.84 and rows[0]["NPS"] == 30.0 and rows[0]["质检样本数"] == 3
    assert ws.cell(row=2, column=header.index("一次解决率") + 1).number_format == "0.0%"


def test_appraisals_csv_opens_in_excel(period_data):
    r = period_data.get("/v1/appraisals", params={"period": PERIOD, "format": "csv"})
    assert r.content.startswith("\ufeff".encode())  # BOM: Excel reads the UTF-8 right
    lines = r.text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("rank,agent_id,team,scheme,total,grade")
    assert lines[1].startswith("1,a1,after-sales,after_sales,95.607")


@pytest.mark.parametrize("params, loc", [
    ({"period": "2026-13"}, ["query", "period"]),
    ({"period": "2026-10", "scheme": "nope"}, ["query", "scheme"]),
    ({"period": "2026-10", "format": "pdf"}, ["query", "format"]),
])
def test_appraisals_bad_query_is_422_naming_the_parameter(client, params, loc):
    r = client.get("/v1/appraisals", params=params)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == loc


def test_appraisal_schemes_are_listed(client):
    names = [s["name"] for s in client.get("/v1/appraisal-schemes").json()]
    assert names == ["after_sales", "presale"]


def test_aggregate_pages_read_the_replica_when_one_is_configured(period_data, settings, tmp_path):
    """QA_DB__READ_URL: performance, appraisals, calibration and the dashboard read it; writes do not."""
    from fastapi.testclient import TestClient

    from qa_service.app import create_app
    from qa_service.storage.db import create_db_engine, upgrade

    replica = f"sqlite:///{tmp_path / 'replica.sqlite3'}"  # an empty replica: what is read shows where from
    upgrade(create_db_engine(settings, replica))
    on_replica = settings.model_copy(update={"db": settings.db.model_copy(update={"read_url": replica})})
    with TestClient(create_app(on_replica)) as c:
        assert [a["agent_id"] for a in period_data.get(f"/v1/performance?period={PERIOD}").json()["agents"]] == \
            ["a1", "a2"]
        assert c.get(f"/v1/performance?period={PERIOD}").json()["agents"] == []
        assert c.get(f"/v1/appraisals?period={PERIOD}").json()["rows"] == []
        assert c.get("/v1/calibration").json()["reviews"] == 0
        assert c.get("/v1/transcripts").json()["total"] == len(SCORED)  # lists read the primary


def test_appraisal_download_is_named_after_the_team_when_filtered(client):
    """A probe: team=jd-after-sales downloaded as appraisal-2026-Q4.csv, like the whole company's file."""
    records = [{"agent_id": "n-a", "date": "2026-10-01", "team": "jd-after-sales", "contacts": 40},
               {"agent_id": "n-b", "date": "2026-10-01", "team": "售后/一组", "contacts": 40}]
    assert client.post("/v1/kpis", json={"records": records}).status_code == 200
    r = client.get("/v1/appraisals", params={"period": "2026-Q4", "format": "csv", "team": "jd-after-sales"})
    assert r.headers["content-disposition"] == 'attachment; filename="appraisal-2026-Q4-jd-after-sales.csv"'
    r = client.get("/v1/appraisals", params={"period": "2026-10", "format": "xlsx", "team": "售后/一组"})
    assert r.status_code == 200
    # an ASCII fallback, and the exact name RFC 5987-encoded (the slash no file name may hold: _)
    assert r.headers["content-disposition"] == (
        'attachment; filename="appraisal-2026-10-_____.xlsx"; '
        "filename*=UTF-8''appraisal-2026-10-%E5%94%AE%E5%90%8E_%E4%B8%80%E7%BB%84.xlsx")
    r = client.get("/v1/appraisals", params={"period": "2026-10", "format": "csv"})
    assert r.headers["content-disposition"] == 'attachment; filename="appraisal-2026-10.csv"'


def test_kpis_csv_body_in_its_declared_charset_and_xlsx_bodies(client, tmp_path):
    """Was: a GBK body declared as charset=gbk, and any XLSX body, were 422 'not valid UTF-8'."""
    from io import BytesIO

    from openpyxl import Workbook

    gbk = "坐席工号,日期,班组,接待量\ncs-g1,2026-10-01,售后一组,5\n".encode("gbk")
    for ctype in ("text/csv; charset=gbk", "text/csv; charset=GB18030", "text/csv"):
        r = client.post("/v1/kpis", content=gbk, headers={"Content-Type": ctype})
        assert r.status_code == 200 and r.json()["inserted"] + r.json()["replaced"] == 1, r.text
    bad = "坐席工号,日期,接待量\ncs-v1,2026-10-01,x\n".encode("gbk")  # Windows gives a .csv this type
    r = client.post("/v1/kpis", content=bad, headers={"Content-Type": "application/vnd.ms-excel"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][:3] == ["body", "csv", 2], r.text  # not "xlsx"
    r = client.post("/v1/kpis", content=gbk, headers={"Content-Type": "text/csv; charset=big5"})
    assert r.status_code == 422 and "not valid big5" in r.text
    wb = Workbook()
    wb.active.title = "说明"
    ws = wb.create_sheet("数据")
    ws.append(["坐席工号", "日期", "接待量"])
    ws.append(["cs-x1", "2026-10-01", 7])
    ws.append(["cs-x2", "2026-10-01", "x"])
    buf = BytesIO()
    wb.save(buf)
    r = client.post("/v1/kpis", content=buf.getvalue(), headers={
        "Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["inserted"], body["rejected"], body["notes"]) == (1, 1, ["skipped sheet '说明': no agent column"])
    assert body["errors"][0] | {"problem": ""} == {"line": 3, "field": "contacts", "problem": "", "value": "x",
                                                   "sheet": "数据"}
    r = client.post("/v1/kpis?sheet=数据", content=buf.getvalue(), headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200 and (r.json()["replaced"], r.json()["notes"]) == (1, [])
    ws.delete_rows(2)  # only the bad row left: nothing stored, a 422 naming sheet and row
    buf = BytesIO()
    wb.save(buf)
    r = client.post("/v1/kpis", content=buf.getvalue(), headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "xlsx", "数据", 2, "contacts"]
    r = client.post("/v1/kpis", content=b"\xd0\xcf\x11\xe0" + b"\0" * 60, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "save it as .xlsx" in r.text


def test_kpis_xlsx_one_agent_and_month_on_two_sheets_is_one_row_and_one_error(client):
    """Was: 评分 (主管评分 90) then 接待 (接待量 300) for a1 and 2026-10 answered inserted 2, rejected 0, and
    the one row stored held contacts 300 alone: the rating was lost."""
    from io import BytesIO

    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "评分"
    wb.active.append(["坐席工号", "月份", "主管评分"])
    wb.active.append(["a1", "2026-10", 90])
    ws = wb.create_sheet("接待")
    ws.append(["坐席工号", "月份", "接待量"])
    ws.append(["a1", "2026-10", 300])
    buf = BytesIO()
    wb.save(buf)
    r = client.post("/v1/kpis", content=buf.getvalue(), headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["inserted"], body["rejected"]) == (1, 1)
    assert (body["errors"][0]["sheet"], body["errors"][0]["line"]) == ("接待", 2)
    assert "duplicate of sheet '评分' line 2" in body["errors"][0]["problem"]
    [row] = client.get("/v1/kpis", params={"period": "2026-10"}).json()
    assert row["values"] == {"supervisor_rating": 90}
