"""KPI files as Excel and Chinese Windows write them: percent cells, merged cells, several sheets, GBK /
UTF-16 / tab-separated text, title rows, legacy .xls, month and day formats, malformed numbers."""

from __future__ import annotations

from datetime import date

import pytest
from openpyxl import Workbook

from qa_service.performance.kpi import KpiFileError
from qa_service.performance.kpi_files import parse_csv_text, read_kpi_bytes, read_kpi_file


def _save(wb: Workbook, tmp_path, name: str = "k.xlsx"):
    wb.save(tmp_path / name)
    return tmp_path / name


def test_xlsx_percent_cells_read_as_excel_shows_them_under_any_rate_header(tmp_path):
    """Was: 0.955 under 满意度(%) became 0.955% (CSAT 95% stored as 2 of 200)."""
    wb = Workbook()
    ws = wb.active
    ws.append(["坐席工号", "日期", "接待量", "评价数", "满意度(%)", "一次解决率"])
    ws.append(["a1", date(2026, 10, 1), 100, 200, 0.955, 0.8])
    ws.append(["a2", date(2026, 10, 1), 100, 200, 95.5, 80])  # typed as numbers: unchanged
    ws["E2"].number_format, ws["F2"].number_format = "0.0%", "0%"
    ws.append(["a3", date(2026, 10, 1), 100, 200, 1, 1])
    ws["E4"].number_format = '0.0"%"'  # a literal % sign: not a percentage format, 1 is 1%
    parsed = read_kpi_file(_save(wb, tmp_path))
    assert parsed.errors == []
    assert [(r.values["csat_satisfied"], r.values["fcr_resolved"]) for r in parsed.records] == \
        [(191, 80), (191, 80), (2, 100)]


def test_xlsx_merged_cells_fill_every_row_they_cover(tmp_path):
    """Was: a 班组 merged over three agents' rows gave the first a team and the others none."""
    wb = Workbook()
    ws = wb.active
    ws.append(["班组", "坐席工号", "日期", "接待量"])
    for agent in ("m1", "m2", "m3"):
        ws.append(["售后一组" if agent == "m1" else None, agent, date(2026, 10, 1), 50])
    ws.append(["售后二组", "m4", None, 10])
    ws.append([None, None, date(2026, 10, 2), 10])
    ws.merge_cells("A2:A4")
    ws.merge_cells("B5:B6")  # a merged agent id over two days
    ws.append(["售后二组", "m5", "2026-10-01", 1])
    parsed = read_kpi_file(_save(wb, tmp_path))
    assert [(r.agent_id, r.team, r.line) for r in parsed.records] == [
        ("m1", "售后一组", 2), ("m2", "售后一组", 3), ("m3", "售后一组", 4), ("m4", None, 6),  # A6 not merged
        ("m5", "售后二组", 7)]
    assert [str(e) for e in parsed.errors] == [
        "line 5: date: is missing (a date, or a period such as 2026-10)"]


def test_xlsx_every_sheet_with_an_agent_column_is_read_others_named(tmp_path):
    """Was: only the first sheet was read, silently; a 说明 sheet first refused the whole file."""
    wb = Workbook()
    wb.active.title = "说明"
    wb.active.append(["本表为2026年10月坐席KPI"])
    one = wb.create_sheet("一组")
    one.append(["坐席工号", "日期", "接待量"])
    one.append(["s1", date(2026, 10, 1), 10])
    one.append(["s1", date(2026, 10, 2), "x"])
    two = wb.create_sheet("二组")
    two.append(["2026年10月 二组"])  # a title row; and this sheet's own header
    two.append(["日期", "工号", "班组", "评价数", "满意度"])
    two.append([date(2026, 10, 1), "s2", "二组", 10, 0.9])
    two.append([date(2026, 10, 1), "s1", "二组", 10, 0.9])  # s1 on 10-01 again, across sheets
    path = _save(wb, tmp_path)
    parsed = read_kpi_file(path)
    assert [(r.agent_id, r.sheet, r.line) for r in parsed.records] == [("s1", "一组", 2), ("s2", "二组", 3)]
    assert [str(e) for e in parsed.errors] == [
        "sheet '一组' line 3: contacts: is not a number (got 'x')",
        "sheet '二组' line 4: date: duplicate of sheet '一组' line 2 for agent s1 (2026-10-01); one row per agent "
        "and day"]
    assert parsed.notes == ["skipped sheet '说明': no agent column",
                            "sheet '二组': row 2 read as the header: the row above it names no agent column (a title)"]
    only = read_kpi_file(path, sheet="二组")
    assert [(r.agent_id, r.sheet) for r in only.records] == [("s2", "二组"), ("s1", "二组")]
    with pytest.raises(KpiFileError, match="no sheet '三组' in the workbook; its sheets: '说明', '一组', '二组'"):
        read_kpi_file(path, sheet="三组")
    with pytest.raises(KpiFileError, match="sheet '说明': no agent column"):
        read_kpi_file(path, sheet="说明")


def test_text_files_excel_writes_are_read_or_refused_saying_what_to_do(tmp_path):
    tsv = "坐席工号\t日期\t接待量\nt1\t2026/10/01 0:00\t10\nt2\t2026/10/01 8:30\t10\n"
    parsed = read_kpi_bytes(tsv.encode("gbk"), ".txt")
    assert [r.agent_id for r in parsed.records] == ["t1"] and parsed.notes == ["read as tab-separated text"]
    assert [str(e) for e in parsed.errors] == [
        "line 3: date: has a time of day (8:30); a day column holds days: remove the time (got '2026/10/01 8:30')"]
    utf16 = read_kpi_bytes(tsv.encode("utf-16"), ".txt")  # Excel's "Unicode 文本": BOM FF FE
    assert [r.agent_id for r in utf16.records] == ["t1"]
    assert [r.agent_id for r in read_kpi_bytes("坐席工号;日期;接待量\ns1;2026-10-01;3\n".encode()).records] == ["s1"]
    with pytest.raises(KpiFileError, match=r"legacy Excel workbook \(.xls\).*save it as .xlsx"):
        read_kpi_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, ".xls")
    with pytest.raises(KpiFileError, match=r"neither UTF-8 nor GB18030 text; save it as .xlsx or CSV \(UTF-8\)"):
        read_kpi_bytes(b"\x81\x20\xff\xfe", ".csv")
    titled = parse_csv_text("2026年11月客服KPI报表,,\n坐席工号,日期,接待量\nq1,2026-11-10,5\nq1,2026-11-10,6\n")
    assert [r.line for r in titled.records] == [3] and [e.line for e in titled.errors] == [4]
    assert titled.notes == ["line 2 read as the header: the line above it names no agent column (a title)"]
    with pytest.raises(KpiFileError, match="no agent column"):
        parse_csv_text("标题\n说明\n名字,日期\nx,2026-10-01\n")


def test_an_xlsx_named_xls_or_csv_is_read_as_the_workbook_it_is(tmp_path):
    wb = Workbook()
    wb.active.append(["坐席工号", "日期", "接待量"])
    wb.active.append(["x1", date(2026, 10, 1), 4])
    path = _save(wb, tmp_path, "k.xls")
    assert [r.agent_id for r in read_kpi_file(path).records] == ["x1"]


def test_xlsx_the_same_agent_and_days_on_two_sheets_is_a_duplicate_whichever_sheet_has_ratings(tmp_path):
    """Was: a sheet of 主管评分 alone before a sheet of 接待量 for the same agent and month accepted both,
    and the second upsert overwrote the first (the rating lost); the other sheet order was caught."""
    for order in (("评分", "接待"), ("接待", "评分")):
        wb = Workbook()
        wb.remove(wb.active)
        for name in order:
            ws = wb.create_sheet(name)
            ws.append(["坐席工号", "月份", "主管评分" if name == "评分" else "接待量"])
            ws.append(["a1", "2026-10", 90 if name == "评分" else 300])
        parsed = read_kpi_file(_save(wb, tmp_path))
        first, later = order
        assert [(r.sheet, r.line) for r in parsed.records] == [(first, 2)]
        assert [str(e) for e in parsed.errors] == [
            f"sheet '{later}' line 2: period: duplicate of sheet '{first}' line 2 for agent a1 "
            "(2026-10-01..2026-10-31); one row per agent and day"]


def test_xlsx_a_merged_figure_is_refused_on_every_row_it_covers_keys_still_fill(tmp_path):
    """Was: a team's 接待量 merged over its three agents' rows (Excel shows 300 once) was copied into each row
    and counted three times (900); only key columns (agent, team, date, period) fill a merge's rows."""
    wb = Workbook()
    ws = wb.active
    ws.title = "接待"
    ws.append(["班组", "坐席工号", "日期", "接待量", "主管评分", "备注"])
    for agent in ("f1", "f2", "f3"):
        ws.append(["一组" if agent == "f1" else None, agent, date(2026, 10, 1) if agent == "f1" else None,
                   300 if agent == "f1" else None, 80, "班组合计" if agent == "f1" else None])
    ws.append(["二组", "f4", date(2026, 10, 1), 20, None, None])
    ws.append(["二组", "f5", date(2026, 10, 1), None, None, None])
    for cells in ("A2:A4", "C2:C4", "D2:D4", "F2:F4", "E5:E6"):  # E5:E6 empty: nothing to refuse
        ws.merge_cells(cells)
    parsed = read_kpi_file(_save(wb, tmp_path))
    assert [(r.agent_id, r.team, r.values) for r in parsed.records] == [
        ("f4", "二组", {"contacts": 20}), ("f5", "二组", {})]
    assert [str(e) for e in parsed.errors] == [
        f"line {n}: contacts: merged over lines 2–4: a figure must be on one agent's row (unmerge the cell and "
        "give each agent's row its own figure) (got '300')" for n in (2, 3, 4)]
    two = wb.create_sheet("说明2")
    two.append(["坐席工号", "日期", "主管评分"])
    two.append(["g1", "2026-10-01", 90])
    two.append(["g2", "2026-10-01", None])
    two.merge_cells("C2:C3")  # a rating merged over two agents: whose it is cannot be told either
    parsed = read_kpi_file(_save(wb, tmp_path), sheet="说明2")
    assert parsed.records == [] and [(e.sheet, e.line, e.field) for e in parsed.errors] == [
        ("说明2", 2, "supervisor_rating"), ("说明2", 3, "supervisor_rating")]


def test_a_totals_row_under_the_agents_is_skipped_with_a_note_not_imported_as_an_agent(tmp_path):
    """Was: Excel's 合计 row became agent '合计' with the sums of everyone's figures (and a team's 平均 row an
    agent without a team)."""
    wb = Workbook()
    ws = wb.active
    ws.title = "十月"
    ws.append(["坐席工号", "班组", "周期", "接待量"])
    ws.append(["a1", "售后一组", "2026-10", 100])
    ws.append(["a2", "售后一组", "2026-10", 50])
    ws.append([None, "小 计：", "2026-10", 150])  # a team's subtotal: the label in the team column
    ws.append(["合计", None, "2026-10", 150])
    parsed = read_kpi_file(_save(wb, tmp_path))
    assert [(r.agent_id, r.values["contacts"]) for r in parsed.records] == [("a1", 100), ("a2", 50)]
    assert parsed.errors == []
    assert parsed.notes == ["skipped line 4: a totals row (小 计：), not an agent",
                            "skipped line 5: a totals row (合计), not an agent"]
    text = parse_csv_text("agent_id,date,contacts\na1,2026-10-01,3\nTotal,2026-10-01,3\nsumner,2026-10-01,1\n")
    assert [r.agent_id for r in text.records] == ["a1", "sumner"]
    assert text.notes == ["skipped line 3: a totals row (Total), not an agent"]


def test_a_date_column_saved_as_excel_serial_numbers_is_refused_saying_what_the_number_is():
    """A 日期 column formatted 常规 saves 46296 for 2026-10-01 to CSV; the refusal now says so."""
    parsed = parse_csv_text("agent_id,date,contacts\na1,46296,3\na2,12,3\n")
    assert [str(e) for e in parsed.errors] == [
        "line 2: date: is not a date (YYYY-MM-DD, YYYY/M/D, YYYYMMDD or YYYY年M月D日); 46296 looks like an Excel "
        "date serial number (2026-10-01): format the column as a date (设置单元格格式 → 日期) and save again "
        "(got '46296')",
        "line 3: date: is not a date (YYYY-MM-DD, YYYY/M/D, YYYYMMDD or YYYY年M月D日) (got '12')"]


def test_totals_rows_as_reports_write_them_are_skipped_wherever_their_label_sits(tmp_path):
    """Found by an HR probe: 售后三组小计 in the agent column was imported as an agent (ranked first, 优秀), and
    Excel's 分类汇总 rows (售后四组 汇总 / 平均值 in 班组), 平均 in 姓名 or a 合计 merged across 序号…姓名 with the
    agent column empty were refused as rows missing an agent (exit 1, "rejected")."""
    wb = Workbook()
    ws = wb.active
    ws.append(["序号", "姓名", "坐席工号", "班组", "周期", "接待量"])
    ws.append([1, "张三", "a1", "售后三组", "2026-10", 100])
    ws.append([None, None, "售后三组小计", "售后三组", "2026-10", 100])
    ws.append([None, None, None, "售后四组 汇总", "2026-10", 100])
    ws.append([None, None, None, "售后四组 平均值", "2026-10", 100])
    ws.append([None, "平均", None, None, "2026-10", 100])
    ws.append(["合计", None, None, None, "2026-10", 400])
    ws.merge_cells("A7:C7")
    ws.append([2, "李四", "a2", "售后三组", "2026-10", 50])
    parsed = read_kpi_file(_save(wb, tmp_path))
    assert [(r.agent_id, r.values["contacts"]) for r in parsed.records] == [("a1", 100), ("a2", 50)]
    assert parsed.errors == []
    assert [n.split(": ")[0] for n in parsed.notes] == [f"skipped line {n}" for n in range(3, 8)]
    assert "(售后三组小计)" in parsed.notes[0] and "(合计)" in parsed.notes[4]


def test_xlsx_ids_read_as_excel_shows_them_zero_padded_and_full_width_folded(tmp_path):
    """Was: a 工号 cell holding 123 formatted 000000 (Excel shows 000123) was imported as agent 123, and
    ０００１２６ typed in full width was an agent of its own: phantoms that took the agents' rows and ranks."""
    wb = Workbook()
    ws = wb.active
    ws.append(["坐席工号", "日期", "接待量"])
    ws.append([123, date(2026, 10, 1), 40])       # formatted 000000: 000123
    ws.append([124, date(2026, 10, 1), 41])       # General: as it is
    ws.append([7, date(2026, 10, 1), 42])         # formatted 00000: 00007
    ws.append(["０００１２６", date(2026, 10, 1), 43])  # full width: 000126
    ws.append(["ＡＢ０１", date(2026, 10, 1), 44])    # full-width letters too
    ws.append([128, date(2026, 10, 1), 45])       # 0.00: not a format of zeros alone, stays a number
    ws["A2"].number_format = "000000"
    ws["A4"].number_format = "00000"
    ws["A7"].number_format = "0.00"
    ws["C2"].number_format = "000"                # a figure shown 040 is still 40
    parsed = read_kpi_file(_save(wb, tmp_path))
    assert parsed.errors == []
    assert [(r.agent_id, r.values["contacts"]) for r in parsed.records] == [
        ("000123", 40), ("124", 41), ("00007", 42), ("000126", 43), ("AB01", 44), ("128", 45)]


def test_ids_in_text_and_json_are_folded_and_whole_floats_lose_their_point():
    parsed = parse_csv_text("坐席工号,日期,接待量\n０００１２６,２０２６-１０-０５,５０\n000127,2026-10-05,5\n")
    assert parsed.errors == []
    assert [(r.agent_id, r.date_from, r.values["contacts"]) for r in parsed.records] == [
        ("000126", date(2026, 10, 5), 50), ("000127", date(2026, 10, 5), 5)]
    from qa_service.performance.kpi import parse_records

    parsed = parse_records([{"agent_id": 123.0, "date": "2026-10-01", "contacts": 1},
                            {"agent_id": 124, "date": "2026-10-01", "contacts": 1},
                            {"agent_id": "Ａ1２", "date": "2026-10-01", "contacts": 1},
                            {"agent_id": 125.5, "date": "2026-10-01", "contacts": 1}])
    assert [r.agent_id for r in parsed.records] == ["123", "124", "A12", "125.5"]


def test_xlsx_a_row_repeated_exactly_is_skipped_on_its_sheet_but_not_across_sheets_with_other_columns(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.title = "接待"
    ws.append(["坐席工号", "日期", "接待量"])
    ws.append(["d1", date(2026, 10, 1), 40])
    ws.append(["d1", date(2026, 10, 1), 40])
    ws.append(["d1", date(2026, 10, 1), 41])
    rated = wb.create_sheet("评分")
    rated.append(["坐席工号", "日期", "主管评分"])
    rated.append(["d1", date(2026, 10, 1), 90])
    parsed = read_kpi_file(_save(wb, tmp_path))
    assert [(r.sheet, r.line) for r in parsed.records] == [("接待", 2)]
    assert "skipped sheet '接待' line 3: the same as sheet '接待' line 2 in every column (a row exported twice)" \
        in parsed.notes
    assert [(e.sheet, e.line) for e in parsed.errors] == [("接待", 4), ("评分", 2)]
