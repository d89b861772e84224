"""KPI files: canonical, Chinese and mapped headers; CSV, XLSX, JSON, JSONL; bad rows by line and field."""

from __future__ import annotations

import json
from datetime import date, time, timedelta

import pytest
from openpyxl import Workbook

from qa_service.performance.kpi import KpiFileError, load_mapping
from qa_service.performance.kpi_files import parse_csv_text, read_kpi_file

CANONICAL = (
    "agent_id,date,team,contacts,frt_seconds_mean,aht_seconds_mean,fcr_resolved,csat_responses,csat_satisfied,"
    "nps_promoters,nps_passives,nps_detractors,transfers,escalations,complaints,orders,sales_amount\n"
    "a1,2026-10-01,after-sales,40,20,300,30,10,9,6,2,2,1,0,0,,\n"
)


def test_kpi_canonical_columns_read_as_counts():
    parsed = parse_csv_text(CANONICAL)
    assert parsed.errors == [] and parsed.ignored_columns == []
    [r] = parsed.records
    assert (r.agent_id, r.date_from, r.date_to, r.team) == ("a1", date(2026, 10, 1), date(2026, 10, 1), "after-sales")
    assert r.values == {"contacts": 40, "frt_seconds_mean": 20.0, "aht_seconds_mean": 300.0, "fcr_resolved": 30,
                        "csat_responses": 10, "csat_satisfied": 9, "nps_promoters": 6, "nps_passives": 2,
                        "nps_detractors": 2, "transfers": 1, "escalations": 0, "complaints": 0}


def test_kpi_chinese_headers_units_and_rates_out_of_the_box():
    text = ("坐席工号,日期,班组,接待量,平均响应时间（分钟）,平均处理时长(秒),一次解决率,评价数,满意度,备注\n"
            "客服007,2026年10月2日,售后一组,\"1,200\",0.5,360,85%,200,95%,夜班\n")
    parsed = parse_csv_text(text)
    assert parsed.errors == []
    assert parsed.ignored_columns == ["备注"]
    [r] = parsed.records
    assert r.agent_id == "客服007" and r.date_from == date(2026, 10, 2) and r.team == "售后一组"
    # minutes → seconds; rates → counts with the denominator on the row (so periods sum correctly)
    assert r.values == {"contacts": 1200, "frt_seconds_mean": 30.0, "aht_seconds_mean": 360.0,
                        "fcr_resolved": 1020, "csat_responses": 200, "csat_satisfied": 190}


def test_kpi_bad_rows_reported_by_line_and_field_good_rows_kept():
    text = ("agent_id,date,contacts,fcr_resolved,csat_responses,csat_satisfied,frt_seconds_mean\n"
            "a1,2026-10-01,40,30,10,9,20\n"          # line 2: good
            "a2,2026-10-32,40,30,10,9,20\n"          # line 3: no such day
            "a3,2026-10-01,-4,,,,\n"                 # line 4: negative count
            "a4,2026-10-01,40,41,,,\n"               # line 5: more resolved than contacts
            "a5,2026-10-01,40,,10,12,\n"             # line 6: more satisfied than responses
            ",2026-10-01,40,,,,\n"                   # line 7: no agent
            "a6,2026-10-01,,,,,25\n"                 # line 8: a mean without its weight
            "a7,2026-10-01,4.5,,,,\n"                # line 9: half a contact
            "a1,2026-10-01,41,,,,\n"                 # line 10: duplicate agent/day
            "\n"
            "a8,2026-10-01,12,6,,,\n")               # line 12: good (blank line 11 skipped)
    parsed = parse_csv_text(text)
    assert [r.agent_id for r in parsed.records] == ["a1", "a8"]
    got = [(e.line, e.field) for e in parsed.errors]
    assert got == [(3, "date"), (4, "contacts"), (5, "fcr_resolved"), (6, "csat_satisfied"), (7, "agent_id"),
                   (8, "frt_seconds_mean"), (9, "contacts"), (10, "date")]
    msgs = {e.line: str(e) for e in parsed.errors}
    assert "must not be negative (got '-4')" in msgs[4]
    assert "41 is more than contacts (40)" in msgs[5]
    assert "duplicate of line 2" in msgs[10]
    assert "needs contacts on the same row" in msgs[8]


def test_kpi_rows_of_one_agent_sharing_days_in_one_file_are_refused():
    text = ("agent_id,date,period,contacts\n"
            "a1,2026-09-01,,50\n"        # line 2: kept
            "a1,,2026-09,100\n"          # line 3: the month over line 2's day
            "a2,,2026-09,100\n"          # line 4: kept (another agent)
            "a2,2026-09-30,,5\n"         # line 5: a day inside line 4's month
            "a1,,2026-W37,7\n"           # line 6: 09-07..09-13, clear of line 2: kept
            "a1,2026-09-10,,1\n")        # line 7: inside line 6's week
    parsed = parse_csv_text(text)
    assert [r.line for r in parsed.records] == [2, 4, 6]
    assert [(e.line, e.field) for e in parsed.errors] == [(3, "period"), (5, "date"), (7, "date")]
    msgs = {e.line: str(e) for e in parsed.errors}
    assert "overlaps line 2 (2026-09-01) for agent a1" in msgs[3] and "count those days twice" in msgs[3]
    assert "overlaps line 4 (2026-09-01..2026-09-30) for agent a2" in msgs[5]
    assert "overlaps line 6 (2026-09-07..2026-09-13)" in msgs[7]


@pytest.mark.parametrize("header", ["好评率(%)", "好评率（％）", "好评率%"])
def test_kpi_percent_header_makes_every_value_a_percentage(header):
    text = f"坐席工号,日期,评价数,{header}\n" + "".join(
        f"a{n},2026-09-01,200,{v}\n" for n, v in enumerate(["95", "1", "0.5", "100", "95%"]))
    parsed = parse_csv_text(text)
    assert parsed.errors == []
    assert [r.values["csat_satisfied"] for r in parsed.records] == [190, 2, 1, 200, 190]
    bad = parse_csv_text(f"坐席工号,日期,评价数,{header}\na1,2026-09-01,200,120\n")
    assert [str(e) for e in bad.errors] == ["line 2: csat_rate: must be 0–100 (the column's header says %) (got '120')"]


@pytest.mark.parametrize("header, value, seconds", [
    ("平均首响时长(小时)", "0.01", 36.0), ("平均首响时长(h)", "0.5", 1800.0), ("平均首响时长(min)", "2", 120.0),
    ("平均首响时长(秒)", "12", 12.0), ("平均首响时长(s)", "12", 12.0), ("平均首响时长（分钟）", "0.5", 30.0),
    ("平均首响时长(毫秒)", "1500", 1.5),
])
def test_kpi_duration_units_in_headers_are_converted(header, value, seconds):
    parsed = parse_csv_text(f"坐席工号,日期,接待量,{header}\na1,2026-09-01,10,{value}\n")
    assert parsed.errors == [] and parsed.records[0].values["frt_seconds_mean"] == pytest.approx(seconds)


def test_kpi_other_units_convert_or_are_refused_naming_the_column():
    parsed = parse_csv_text("坐席工号,日期(yyyy-mm-dd),接待量(个),销售额(万元)\na1,2026-09-01,10,1.5\n")
    assert parsed.errors == [] and parsed.records[0].values == {"contacts": 10, "sales_amount": 15000.0}
    with pytest.raises(KpiFileError, match=r"column '平均首响时长\(天\)': unit '天' is not understood for frt_seconds_mean"):
        parse_csv_text("坐席工号,日期,接待量,平均首响时长(天)\na1,2026-09-01,10,1\n")
    with pytest.raises(KpiFileError, match="unit '%' is not understood for csat_satisfied"):
        parse_csv_text("坐席工号,日期,评价数,满意数(%)\na1,2026-09-01,10,90\n")


def test_kpi_team_with_a_line_break_or_control_character_is_a_row_error():
    text = 'agent_id,date,team,contacts\na1,2026-09-01,"probe\nafter",1\na2,2026-09-01,ok\u202eevil,1\na3,2026-09-01,好的组,1\n'
    parsed = parse_csv_text(text)
    assert [r.team for r in parsed.records] == ["好的组"]
    assert [str(e) for e in parsed.errors] == [
        "line 3: team: contains a control character (U+000A); use printable text (got 'probe\\nafter')",
        "line 4: team: contains a control character (U+202E); use printable text (got 'ok\\u202eevil')"]


def test_kpi_xlsx_formula_without_a_saved_value_says_so(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["坐席工号", "日期", "接待量", "一次解决率"])
    ws.append(["a1", "2026-09-01", 10, 0.8])
    ws.append(["a2", "2026-09-01", 10, "=D2*0.9"])  # openpyxl saves the formula, never its result
    wb.save(tmp_path / "k.xlsx")
    parsed = read_kpi_file(tmp_path / "k.xlsx")
    assert [r.agent_id for r in parsed.records] == ["a1"]
    assert [str(e) for e in parsed.errors] == [
        "line 3: fcr_rate: is a formula without a saved value; open and save the file in Excel or WPS, or export "
        "values only (got '=D2*0.9')"]


def test_kpi_durations_written_as_clocks(tmp_path):
    text = ("坐席工号,日期,接待量,平均通话时长,平均首响时长(分钟)\n"
            "a1,2026-09-01,10,00:05:00,00:00:30\n"
            "a2,2026-09-01,10,05:30,1:02:03\n"
            "a3,2026-09-01,10,05:75,1\n")
    parsed = parse_csv_text(text)
    assert [(r.values["aht_seconds_mean"], r.values["frt_seconds_mean"]) for r in parsed.records] == \
        [(300.0, 30.0), (330.0, 3723.0)]  # a clock says its own unit: (分钟) is not applied to it
    assert [(e.line, e.field) for e in parsed.errors] == [(4, "aht_seconds_mean")]
    wb = Workbook()
    wb.active.append(["坐席工号", "日期", "接待量", "平均处理时长"])
    wb.active.append(["a1", "2026-09-01", 10, time(0, 4, 30)])
    wb.active.append(["a2", "2026-09-01", 10, timedelta(hours=1, seconds=5)])
    wb.save(tmp_path / "t.xlsx")
    parsed = read_kpi_file(tmp_path / "t.xlsx")
    assert parsed.errors == [] and [r.values["aht_seconds_mean"] for r in parsed.records] == [270.0, 3605.0]


def test_kpi_percent_in_a_rating_column_gets_a_message_that_fits():
    parsed = parse_csv_text("坐席工号,日期,主管评分,接待量\na1,2026-09-01,95%,10%\n")
    assert [str(e) for e in parsed.errors] == [
        "line 2: supervisor_rating: is a rating on 0–100 points, not a percentage: write 95, not 95% (got '95%')",
        "line 2: contacts: is a count, an amount or a duration, not a percentage (got '10%')"]


def test_kpi_line_numbers_count_quoted_newlines():
    text = 'agent_id,note,date,contacts\na1,"two\nlines",2026-10-01,1\na2,t,bad,1\n'
    parsed = parse_csv_text(text)
    assert [(e.line, e.field) for e in parsed.errors] == [(4, "date")]


def test_kpi_file_without_agent_or_date_column_is_a_file_error():
    with pytest.raises(KpiFileError, match="no agent column"):
        parse_csv_text("name,date\nx,2026-10-01\n")
    with pytest.raises(KpiFileError, match="no date column"):
        parse_csv_text("坐席工号,接待量\nx,1\n")
    with pytest.raises(KpiFileError, match="both mean contacts"):
        parse_csv_text("agent_id,date,contacts,接待量\nx,2026-10-01,1,1\n")


def test_kpi_row_with_a_date_outside_its_period_is_refused_naming_both():
    """k5,2026-11-05,2026-10 was stored as the day, the month dropped without a word. A daily export that
    also carries its month (坐席工号,月份,日期,…) is one day a row, as before: the day falls in the month."""
    parsed = parse_csv_text("agent_id,date,period,contacts\n"
                            "k5,2026-11-05,2026-10,10\n"       # line 2: a day outside the month
                            "k6,2026-10-05,2026-10-05,10\n"    # line 3: the same day twice: kept
                            "k7,2026-10-05,2026-13,10\n"       # line 4: a period that is none
                            "k8,2026-10-05,2026-10,10\n")      # line 5: a day and its month: the day
    assert [r.line for r in parsed.records] == [3, 5]
    assert (parsed.records[1].date_from, parsed.records[1].date_to) == (date(2026, 10, 5), date(2026, 10, 5))
    assert [(e.line, e.field) for e in parsed.errors] == [(2, "period"), (4, "period")]
    assert "is 2026-10-01..2026-10-31 but date is 2026-11-05, outside it" in str(parsed.errors[0])
    daily = parse_csv_text("坐席工号,月份,日期,接待量\na1,2026-10,2026-10-05,30\na1,2026-10,2026-10-06,20\n")
    assert len(daily.records) == 2 and not daily.errors


def test_kpi_period_rows_cover_their_whole_period():
    parsed = parse_csv_text("agent_id,period,supervisor_rating\na1,2026-10,85\n")
    [r] = parsed.records
    assert (r.date_from, r.date_to, r.values) == (date(2026, 10, 1), date(2026, 10, 31), {"supervisor_rating": 85.0})


def test_kpi_quarter_written_without_a_hyphen_is_read_as_the_quarter():
    """Was: `2026Q4` (as Chinese BI exports write it) refused as 'is not a period'."""
    parsed = parse_csv_text("坐席工号,月份,主管评分\na1,2026Q4,70\na2,2026q4,71\na3,2026-Q4,72\n")
    assert parsed.errors == []
    assert {(r.date_from, r.date_to) for r in parsed.records} == {(date(2026, 10, 1), date(2026, 12, 31))}


def test_kpi_xlsx_json_jsonl_and_mapping(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["Staff No", "日期", "Handled"])
    ws.append(["a1", date(2026, 10, 1), 40])
    ws.append(["a2", "2026-10-01", "many"])
    wb.save(tmp_path / "k.xlsx")
    mapping = tmp_path / "map.yaml"
    mapping.write_text("columns:\n  Staff No: agent_id\n  Handled: contacts\n", encoding="utf-8")
    parsed = read_kpi_file(tmp_path / "k.xlsx", load_mapping(mapping))
    assert [(r.agent_id, r.values) for r in parsed.records] == [("a1", {"contacts": 40})]
    assert [(e.line, e.field) for e in parsed.errors] == [(3, "contacts")]  # the sheet's row number

    (tmp_path / "k.json").write_text(json.dumps({"records": [
        {"agent_id": "a1", "date": "2026-10-01", "contacts": 3}, {"agent_id": "a2", "date": "2026-10-01", "contacts": "x"},
    ]}), encoding="utf-8")
    parsed = read_kpi_file(tmp_path / "k.json")
    assert [r.agent_id for r in parsed.records] == ["a1"] and [e.line for e in parsed.errors] == [2]

    (tmp_path / "k.jsonl").write_text('{"agent_id": "a1", "date": "2026-10-01", "contacts": 3}\n\n'
                                      '{"agent_id": "a2", "date": "2026-10-01", "contacts": true}\n', encoding="utf-8")
    parsed = read_kpi_file(tmp_path / "k.jsonl")
    assert [r.agent_id for r in parsed.records] == ["a1"] and [(e.line, e.field) for e in parsed.errors] == [(3, "contacts")]


def test_kpi_jsonl_lines_that_are_not_records_and_ids_that_are_not_text_are_listed(tmp_path):
    """Found by a probe: such lines were dropped unsaid (exit 0), and ["x"] was stored as the agent "['x']"."""
    (tmp_path / "k.jsonl").write_text('{"agent_id": "a1", "date": "2026-10-01", "contacts": 3}\n42\n[1, 2]\nnull\n'
                                      '{"agent_id": ["x"], "date": "2026-10-01", "contacts": 3}\n'
                                      '{"agent_id": "a3", "team": {"t": 1}, "date": "2026-10-01", "contacts": 3}\n'
                                      '{"agent_id": "a4", "date": "9999-12-31", "contacts": 3}\n', encoding="utf-8")
    parsed = read_kpi_file(tmp_path / "k.jsonl")
    assert [r.agent_id for r in parsed.records] == ["a1"]
    assert [(e.line, e.field) for e in parsed.errors] == [(2, "record"), (3, "record"), (4, "record"),
                                                          (5, "agent_id"), (6, "team"), (7, "date")]
    assert parsed.errors[3].problem == "must be text or a number"
    assert "outside the supported years" in parsed.errors[5].problem


def test_kpi_gb18030_csv_is_read(tmp_path):
    (tmp_path / "k.csv").write_bytes("坐席工号,日期,接待量\n张三,2026-10-01,5\n".encode("gb18030"))
    [r] = read_kpi_file(tmp_path / "k.csv").records
    assert r.agent_id == "张三" and r.values == {"contacts": 5}


def test_kpi_mapping_to_unknown_field_is_refused(tmp_path):
    mapping = tmp_path / "map.yaml"
    mapping.write_text("Staff: agent\n", encoding="utf-8")
    with pytest.raises(KpiFileError, match="unknown target field"):
        load_mapping(mapping)


def test_kpi_a_rate_becomes_the_nearest_whole_count_half_up_and_one_note_names_rates_no_count_shows():
    """Was: round() per row, half to even (50% of 13 → 6, 85% of 10 → 8), and nothing said that 50% of 13
    responses is no whole count at all."""
    text = ("坐席工号,日期,评价数,满意度,接待量,一次解决率\n"
            "a,2026-10-01,13,50%,10,85%\n"      # 6.5 → 7 (half up), 8.5 → 9; neither shows as written
            "a,2026-10-02,19,95%,10,80%\n"      # 18.05 → 18 (94.7% shows as 95%); 8 exactly
            "a,2026-10-03,19,89%,,\n"           # 16.91 → 17 (89.47% shows as 89%)
            "a,2026-10-04,18,90%,,\n"           # 16.2 → 16 (88.9%): no whole count of 18 shows 90%
            "a,2026-10-05,200,88.5%,,\n"        # 177 exactly, at one decimal
            "a,2026-10-06,13,0.5,,\n")          # a share written to one decimal: 7 of 13 (0.54) shows as 0.5
    parsed = parse_csv_text(text)
    assert parsed.errors == []
    assert [(r.values["csat_satisfied"], r.values.get("fcr_resolved")) for r in parsed.records] == [
        (7, 9), (18, 8), (17, None), (16, None), (177, None), (7, None)]
    [note] = parsed.notes
    assert note.startswith("3 rate(s) match no whole count at the precision written (line 2: 满意度 50% of 评价数 13 → 7 "
                           "(53.8%); line 2: 一次解决率 85% of 接待量 10 → 9 (90.0%); line 5: 满意度 90% of 评价数 18 → 16 "
                           "(88.9%)): a rate is turned back into a count per row, the nearest whole count (.5 up)")


def test_kpi_xlsx_percent_cells_round_half_up_with_one_note_for_the_workbook(tmp_path):
    wb = Workbook()
    for title, agent in (("一组", "x1"), ("二组", "x2")):
        ws = wb.active if agent == "x1" else wb.create_sheet()
        ws.title = title
        ws.append(["坐席工号", "日期", "评价数", "满意度"])
        ws.append([agent, date(2026, 10, 4), 13, 0.5])
        ws.append([agent, date(2026, 10, 5), 19, 17 / 19])  # the exact share a BI tool computed: 17
        ws["D2"].number_format = ws["D3"].number_format = "0%"
    wb.save(tmp_path / "k.xlsx")
    parsed = read_kpi_file(tmp_path / "k.xlsx")
    assert [(r.agent_id, r.values["csat_satisfied"]) for r in parsed.records] == [("x1", 7), ("x1", 17), ("x2", 7), ("x2", 17)]
    assert [n for n in parsed.notes if "rate(s)" in n] == [
        "2 rate(s) match no whole count at the precision written (sheet '一组' line 2: 满意度 50% of 评价数 13 → 7 "
        "(53.8%); sheet '二组' line 2: 满意度 50% of 评价数 13 → 7 (53.8%)): a rate is turned back into a count per "
        "row, the nearest whole count (.5 up), so these rows' figures differ a little from the file's rates; check "
        "them, or give the counts (满意数, 一次解决数) to store them exactly"]
