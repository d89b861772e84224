"""What appraisal exports show HR: totals to the grade's precision, the score basis and team in 说明, where a
figure came from in the notes, empty QA figures without scored conversations, and ids kept exact."""

from __future__ import annotations

import csv
import io
import json

import pytest
from openpyxl import load_workbook

from qa_service.ingest.schema import TranscriptCreate
from qa_service.ingest.service import ingest
from qa_service.performance import service
from qa_service.performance.appraisal import TRANSCRIPT_CONTACTS_NOTE, shown
from qa_service.performance.kpi import parse_records
from qa_service.period import parse_period
from qa_service.queue.tasks import record_report
from qa_service.runtime import Runtime
from tests.api.test_review_api import report
from tests.conftest import make_settings, transcript

OCTOBER = parse_period("2026-10")


@pytest.fixture
def rt(tmp_path, db_url, redis_url, redis_conn):
    runtime = Runtime(make_settings(tmp_path, db_url, redis_url))
    yield runtime
    runtime.close()


def _kpis(rt, records):
    with rt.session() as s:
        service.import_kpis(session=s, records=parse_records(records).records, source="test", known=rt.known_ids)


def _scored(rt, agent, team, day, score, n=0):
    body = TranscriptCreate.model_validate(transcript(f"{agent}-{day}-{n}", agent_id=agent, team=team,
                                                      started_at=f"2026-10-{day:02d}T10:00:00+08:00"))
    [outcome], _ = ingest([(0, body)], runtime=rt)
    with rt.session() as s:
        record_report(session=s, transcript_id=outcome.id, report=report({"politeness": (score, 1.0, [])}))


def _export(rt, fmt, **kw):
    with rt.session() as s:
        return service.export_appraisals(session=s, settings=rt.settings, schemes=rt.schemes.get(), period=OCTOBER,
                                         fmt=fmt, **kw)


def _info(xlsx: bytes) -> dict[str, str]:
    wb = load_workbook(io.BytesIO(xlsx))
    return {row[0]: row[1] for row in wb["说明"].iter_rows(values_only=True)}


def test_shown_rounds_half_up_from_the_four_decimals_exports_carry():
    assert [shown(x) for x in (89.996, 89.994, 89.995, 89.99499, 74.96)] == [90.0, 89.99, 90.0, 90.0, 74.96]


def test_a_total_is_shown_to_two_decimals_and_graded_as_shown(rt):
    """A probe's minsample.csv: totals 89.96 and 74.96 showed as 90.0 良好 and 75.0 合格 (优秀 ≥ 90, 良好 ≥ 75)."""
    _kpis(rt, [{"agent_id": "g1", "date": "2026-10-01", "team": "t-g", "supervisor_rating": 89.96},
               {"agent_id": "g2", "date": "2026-10-01", "team": "t-g", "supervisor_rating": 89.996},
               {"agent_id": "g3", "date": "2026-10-01", "team": "t-g", "supervisor_rating": 89.994}])
    rows = {r["agent_id"]: r for r in json.loads(_export(rt, "json").content)["rows"]}
    assert [(rows[a]["total"], rows[a]["grade"]) for a in ("g1", "g2", "g3")] == [
        (89.96, "良好"), (89.996, "优秀"), (89.994, "良好")]  # rating-only totals: the rating itself
    wb = load_workbook(io.BytesIO(_export(rt, "xlsx").content))
    ws = wb["汇总"]
    header = [c.value for c in ws[1]]
    col = header.index("总分")
    cells = {r[1].value: (r[col].value, r[col].number_format, r[header.index("等级")].value) for r in ws.iter_rows(min_row=2)}
    # 0.00: Excel shows 89.96 / 90.00 / 89.99 — each next to the grade it earns
    assert cells == {"g1": (89.96, "0.00", "良好"), "g2": (89.996, "0.00", "优秀"), "g3": (89.994, "0.00", "良好")}
    assert ws.cell(2, header.index("主观评分") + 1).number_format == "0.00"


def test_notes_sheet_says_the_score_basis_and_team_and_warns_when_nothing_was_reviewed(rt):
    _kpis(rt, [{"agent_id": "f1", "date": "2026-10-01", "team": "售后一组", "contacts": 40, "fcr_resolved": 30}])
    _scored(rt, "f1", "售后一组", 1, 80)
    info = _info(_export(rt, "xlsx").content)
    assert info["质检分口径"].startswith("机器评分") and info["团队筛选"] == "全部团队（未筛选）"
    assert "注意" not in info
    out = _export(rt, "xlsx", team="售后一组", final=True)  # the transcript was scored, never reviewed
    info = _info(out.content)
    assert info["质检分口径"].startswith("复核终审分") and info["团队筛选"].startswith("仅团队 售后一组")
    assert "本期没有复核完成的会话" in info["注意"]
    [warning] = out.warnings
    assert warning.startswith("scores=final: no review finished in 2026-10 for team 售后一组")
    assert out.filename == "appraisal-2026-10-售后一组.xlsx"
    as_json = json.loads(_export(rt, "json", final=True).content)
    assert (as_json["scores"], as_json["team"], len(as_json["warnings"])) == ("final", None, 1)
    assert _export(rt, "json").warnings == []  # machine scores: f1 has a QA figure


def test_contacts_per_day_from_transcripts_is_said_in_the_notes_of_every_format(rt):
    """A probe's convo-only-01: no KPI row, 日均接待量 1.0 counted from QA transcripts (a sample), 0 points,
    待改进 — and no note saying where the figure came from."""
    for day in (1, 2, 3):
        _scored(rt, "c1", "after-sales", day, 90)
    _kpis(rt, [{"agent_id": "k1", "date": "2026-10-01", "team": "after-sales", "contacts": 40}])
    rows = {r["agent_id"]: r for r in json.loads(_export(rt, "json").content)["rows"]}
    assert rows["c1"]["sources"]["contacts_per_day"] == "transcripts" and rows["c1"]["metrics"]["contacts_per_day"] == 1
    assert TRANSCRIPT_CONTACTS_NOTE in rows["c1"]["notes"] and TRANSCRIPT_CONTACTS_NOTE not in rows["k1"]["notes"]
    by_agent = {r["agent_id"]: r for r in csv.DictReader(io.StringIO(_export(rt, "csv").content.lstrip("\ufeff")))}
    assert TRANSCRIPT_CONTACTS_NOTE in by_agent["c1"]["notes"]
    ws = load_workbook(io.BytesIO(_export(rt, "xlsx").content))["汇总"]
    header = [c.value for c in ws[1]]
    notes = {r[1].value: r[header.index("备注")].value for r in ws.iter_rows(min_row=2)}
    assert TRANSCRIPT_CONTACTS_NOTE in notes["c1"] and TRANSCRIPT_CONTACTS_NOTE not in (notes["k1"] or "")


def test_qa_fatal_is_empty_without_a_scored_conversation_and_ids_stay_exact(rt):
    _kpis(rt, [{"agent_id": "001234", "date": "2026-10-01", "team": "after-sales", "contacts": 40}])
    _scored(rt, "q1", "after-sales", 1, 90)
    rows = {r["agent_id"]: r for r in json.loads(_export(rt, "json").content)["rows"]}
    assert (rows["001234"]["qa_n"], rows["001234"]["metrics"]["qa_fatal"]) == (0, None)
    assert (rows["q1"]["qa_n"], rows["q1"]["metrics"]["qa_fatal"]) == (1, 0)
    by_agent = {r["agent_id"]: r for r in csv.DictReader(io.StringIO(_export(rt, "csv").content.lstrip("\ufeff")))}
    assert by_agent["001234"]["metrics.qa_fatal"] == ""  # the CSV keeps the id as it is (XLSX: a text cell)
    ws = load_workbook(io.BytesIO(_export(rt, "xlsx").content))["汇总"]
    [cell] = [r[1] for r in ws.iter_rows(min_row=2) if r[1].value == "001234"]
    assert cell.data_type == "s"


def test_agents_whose_totals_show_the_same_share_a_rank():
    """A review: 89.996 and 90.004 both show 90.00 and grade 优秀, but ranked 2 and 1."""
    from qa_service.performance.appraisal import _rank

    rows = [{"team": "t", "total": 89.996}, {"team": "t", "total": 90.004}, {"team": "t", "total": 89.5},
            {"team": "t", "total": None}]
    _rank(rows)
    assert [r["rank"] for r in rows] == [1, 1, 3, None]


def test_notes_sheet_reads_local_time_gives_k_and_the_points_and_wraps_the_notes(rt):
    """A probe's 说明 sheet: 生成时间 in UTC (Asia/Shanghai is set), the 质检校正分 formula without k's value, and
    "低于基准值得 below 分" (the YAML key in the Chinese text); 汇总's 备注 column 10 wide, notes of 170 characters."""
    from datetime import datetime, timedelta

    _kpis(rt, [{"agent_id": "w1", "date": "2026-10-01", "team": "售后一组", "contacts": 40}])
    wb = load_workbook(io.BytesIO(_export(rt, "xlsx").content))
    info = {row[0]: row[1] for row in wb["说明"].iter_rows(values_only=True)}
    generated = datetime.fromisoformat(info["生成时间"].removesuffix("（Asia/Shanghai）"))
    assert generated.utcoffset() == timedelta(hours=8) and info["生成时间"].endswith("+08:00（Asia/Shanghai）")
    assert "k = 10（QA_PERFORMANCE__SHRINKAGE_N）" in info["质检校正分"]
    assert info["得分规则"].startswith("低于基准值得 0 分，达到基准值 60 分、目标值 100 分、挑战值 120 分；")
    assert "below" not in info["得分规则"]
    ws = wb["汇总"]
    header = [c.value for c in ws[1]]
    col = header.index("备注") + 1
    letter = ws.cell(1, col).column_letter
    assert ws.column_dimensions[letter].width == 60 and ws.cell(2, col).alignment.wrap_text
    assert ws.cell(2, col).value  # w1's notes: CSAT, FCR … left out
