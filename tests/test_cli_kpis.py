"""qa import-kpis warnings, qa delete-kpis, and what qa export-appraisals says about its scores and team."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from qa_service.cli import app

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("fresh_settings")


def _flat(text: str) -> str:
    return " ".join(text.split())  # rich wraps long lines


def test_import_warns_about_new_ids_then_delete_kpis_counts_asks_and_deletes(tmp_path):
    data = str(tmp_path / "data")
    good = tmp_path / "good.csv"
    good.write_text("坐席工号,日期,班组,接待量\njd-after-sales-01,2026-10-01,jd-after-sales,40\n", encoding="utf-8")
    assert runner.invoke(app, ["import-kpis", str(good), "--data-dir", data]).exit_code == 0
    typo = tmp_path / "typo.csv"
    typo.write_text("坐席工号,日期,班组,接待量\njd-after-sale-01,2026-10-02,jd-after-sales,40\n"
                    "jd-after-sales-01,2026-10-31,,5\n", encoding="utf-8")
    result = runner.invoke(app, ["import-kpis", str(typo), "--data-dir", data])
    assert result.exit_code == 0, result.output  # warned, not refused
    out = _flat(result.output)
    assert "2 new" in out
    assert "warning: agent id(s) never seen before (no conversation and no earlier KPI row): jd-after-sale-01" in out
    assert "line 3: team: row has no team; the agent's other rows say jd-after-sales" in out
    assert "nobody has named" not in out  # the team is known

    base = ["delete-kpis", "--agent", "jd-after-sale-01", "--data-dir", data]
    result = runner.invoke(app, [*base])
    assert result.exit_code == 2 and "give --period or --all" in _flat(result.output)
    result = runner.invoke(app, ["delete-kpis", "--agent", "nobody", "--all", "--data-dir", data])
    assert result.exit_code == 2 and "no KPI row at all is stored for agent nobody: mistyped?" in _flat(result.output)
    result = runner.invoke(app, [*base, "--period", "2026-10", "--dry-run"])
    assert result.exit_code == 0 and "agent jd-after-sale-01: 1 KPI row(s) in 2026-10" in _flat(result.output)
    result = runner.invoke(app, [*base, "--period", "2026-10"], input="n\n")
    assert result.exit_code == 1  # not confirmed: nothing deleted
    result = runner.invoke(app, [*base, "--period", "2026-10"], input="y\n")
    assert result.exit_code == 0 and "deleted 1 KPI row(s) of agent jd-after-sale-01" in _flat(result.output)
    result = runner.invoke(app, ["export-appraisals", "--period", "2026-10", "--format", "json", "--data-dir", data])
    assert "jd-after-sale-01" not in result.stdout
    result = runner.invoke(app, ["delete-kpis", "--agent", "jd-after-sales-01", "--all", "--team", "jd-after-sales",
                                 "--yes", "--data-dir", data])
    assert result.exit_code == 0 and "deleted 1 KPI row(s)" in _flat(result.output)  # the teamless row stays


def test_export_with_final_scores_and_nothing_reviewed_warns(tmp_path):
    data = str(tmp_path / "data")
    kpis = tmp_path / "k.csv"
    kpis.write_text("坐席工号,日期,班组,接待量\nw1,2026-10-01,jd-after-sales,40\n", encoding="utf-8")
    assert runner.invoke(app, ["import-kpis", str(kpis), "--data-dir", data]).exit_code == 0
    out = tmp_path / "fin.xlsx"
    result = runner.invoke(app, ["export-appraisals", "--period", "2026-10", "--team", "jd-after-sales", "--scores",
                                 "final", "-o", str(out), "--data-dir", data])
    assert result.exit_code == 0, result.output
    assert "warning: scores=final: no review finished in 2026-10 for team jd-after-sales" in _flat(result.output)
    result = runner.invoke(app, ["export-appraisals", "--period", "2026-10", "-o", str(out), "--data-dir", data])
    assert result.exit_code == 0 and "warning" not in result.output


def test_a_teamless_row_in_a_workbook_of_several_sheets_is_named_by_sheet_and_row(tmp_path):
    """Was: 'line 2: team: row has no team' — line 2 of which of the workbook's sheets?"""
    from datetime import date

    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "一组"
    wb.active.append(["坐席工号", "日期", "班组", "接待量"])
    wb.active.append(["s1", date(2026, 10, 1), "jd-after-sales", 40])
    two = wb.create_sheet("二组")
    two.append(["坐席工号", "日期", "班组", "接待量"])
    two.append(["s1", date(2026, 10, 2), None, 5])
    wb.save(tmp_path / "k.xlsx")
    result = runner.invoke(app, ["import-kpis", str(tmp_path / "k.xlsx"), "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    assert "sheet '二组' line 2: team: row has no team; the agent's other rows say jd-after-sales" in _flat(result.output)


def test_a_row_exported_twice_is_skipped_with_a_note_a_different_one_for_the_same_day_still_refused(tmp_path):
    """Was: an exact duplicate line (a BI export repeating a row) made the whole import exit 1 ("duplicate of
    line 2"), identical as it was. A GBK file with CRLF line ends, as the probe's kpi_oct.csv."""
    data = str(tmp_path / "data")
    rows = ["坐席工号,姓名,班组,日期,接待量,评价数,满意度",
            "000123,阿卜杜·热合曼,售后一组,2026-10-01,45,19,95%",
            "000124,王芳,售后一组,2026-10-01,50,10,90%",
            "000123,阿卜杜·热合曼,售后一组,2026-10-01,45,19,95%",
            ",,,,,,", ""]
    kpis = tmp_path / "kpi_oct.csv"
    kpis.write_bytes("\r\n".join(rows).encode("gbk"))
    result = runner.invoke(app, ["import-kpis", str(kpis), "--data-dir", data])
    assert result.exit_code == 0, result.output
    out = _flat(result.output)
    assert "skipped line 4: the same as line 2 in every column (a row exported twice)" in out
    assert "2 new, 0 replaced, 0 rejected" in out
    changed = tmp_path / "changed.csv"
    changed.write_bytes("\r\n".join([*rows[:3], "000123,阿卜杜·热合曼,售后一组,2026-10-01,46,19,95%"]).encode("gbk"))
    result = runner.invoke(app, ["import-kpis", str(changed), "--data-dir", data])
    assert result.exit_code == 1  # the same agent and day with other figures: which is right? still refused
    assert "line 4: date: duplicate of line 2 for agent 000123 (2026-10-01)" in _flat(result.output)
