"""A scheme's ``min_coverage``: an agent scored on less of the metric weight than it asks gets the grade 数据不足
and no rank, with the coverage shown. Off by default (the shipped schemes), as before. Found by a probe: agents
with only a rating, or one contacts row (weight 0.1), were graded 优秀 / 合格 and ranked beside agents with
full data."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from openpyxl import load_workbook

from qa_service.config import PerformanceSettings
from qa_service.errors import RulePackError
from qa_service.performance import service
from qa_service.performance.kpi import parse_records
from qa_service.period import parse_period
from qa_service.rules.scheme import load_schemes
from qa_service.runtime import Runtime
from tests.conftest import make_settings

SHIPPED = Path(__file__).resolve().parents[2] / "rules" / "appraisal"
T = "售后二组"
KPIS = [
    # full: csat 19/20 = .95 → 112, fcr 54/60 = .9 → 120, frt 30 s → 100, 60 a day → 100; weight .85:
    # (.30×112 + .25×120 + .20×100 + .10×100)/.85 = 93.6/.85 = 110.1176
    {"agent_id": "full", "team": T, "date": "2026-10-01", "contacts": 60, "fcr_resolved": 54, "csat_responses": 20,
     "csat_satisfied": 19, "frt_seconds_mean": 30},
    # half: fcr .9 → 120, 60 a day → 100, frt 45 s → 80; weight .55 ≥ .5: (.25×120 + .10×100 + .20×80)/.55 = 101.8182
    {"agent_id": "half", "team": T, "date": "2026-10-01", "contacts": 60, "fcr_resolved": 54, "frt_seconds_mean": 45},
    # p3: fcr .8 → 100, 50 a day → 80; weight .35: (.25×100 + .10×80)/.35 = 94.2857
    {"agent_id": "p3", "team": T, "date": "2026-10-01", "contacts": 50, "fcr_resolved": 40},
    {"agent_id": "z2", "team": T, "date": "2026-10-01", "contacts": 62},  # 62 a day → 102; weight .10
    {"agent_id": "r1", "team": T, "period": "2026-10", "supervisor_rating": 99.5},  # a rating alone: weight 0
]


@pytest.fixture
def rt(tmp_path, db_url, redis_url, redis_conn):
    schemes = tmp_path / "schemes"
    shutil.copytree(SHIPPED, schemes)
    path = schemes / "after_sales.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("missing: exclude\n", "missing: exclude\nmin_coverage: 0.5\n"),
                    encoding="utf-8")
    runtime = Runtime(make_settings(tmp_path, db_url, redis_url, performance=PerformanceSettings(schemes_dir=schemes)))
    with runtime.session() as s:
        service.import_kpis(session=s, records=parse_records(KPIS).records, source="test", known=runtime.known_ids)
    yield runtime
    runtime.close()


def _export(rt, fmt, schemes=None):
    with rt.session() as s:
        return service.export_appraisals(session=s, settings=rt.settings, schemes=schemes or rt.schemes.get(),
                                         period=parse_period("2026-10"), fmt=fmt)


def test_agents_below_the_minimum_coverage_get_no_grade_and_no_rank(rt):
    rows = {r["agent_id"]: r for r in json.loads(_export(rt, "json").content)["rows"]}
    got = {a: (r["total"], r["grade"], r["rank"], r["coverage"]["weight_scored"], r["coverage"]["sufficient"])
           for a, r in rows.items()}
    assert got == {"full": (110.1176, "优秀", 1, 0.85, True), "half": (101.8182, "优秀", 2, 0.55, True),
                   "p3": (94.2857, "数据不足", None, 0.35, False), "z2": (102.0, "数据不足", None, 0.1, False),
                   "r1": (99.5, "数据不足", None, 0.0, False)}
    assert rows["full"]["team_size"] == 5 and rows["full"]["coverage"]["min_weight_scored"] == 0.5
    assert "数据不足: 计分指标权重 35% 低于方案要求的 50%（min_coverage），不评等级、不参与排名" in rows["p3"]["notes"]
    flat = {r["agent_id"]: r for r in csv.DictReader(io.StringIO(_export(rt, "csv").content.lstrip("\ufeff")))}
    assert (flat["z2"]["grade"], flat["z2"]["rank"], flat["z2"]["weight_scored"]) == ("数据不足", "", "0.1")
    wb = load_workbook(io.BytesIO(_export(rt, "xlsx").content))
    info = {row[0]: row[1] for row in wb["说明"].iter_rows(values_only=True)}
    assert info["数据不足"].startswith("考核方案 after_sales 要求计分指标权重至少 50%（min_coverage）")


def test_without_a_minimum_coverage_every_agent_is_graded_and_ranked_as_before(rt):
    rows = {r["agent_id"]: r for r in json.loads(_export(rt, "json", load_schemes(SHIPPED)).content)["rows"]}
    assert [(a, rows[a]["grade"], rows[a]["rank"]) for a in ("full", "z2", "half", "r1", "p3")] == [
        ("full", "优秀", 1), ("z2", "优秀", 2), ("half", "优秀", 3), ("r1", "优秀", 4), ("p3", "优秀", 5)]
    assert rows["r1"]["coverage"]["min_weight_scored"] is None and rows["r1"]["coverage"]["sufficient"]


def test_a_minimum_coverage_outside_0_to_1_is_refused(tmp_path):
    shutil.copytree(SHIPPED, tmp_path / "s")
    path = tmp_path / "s" / "presale.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "min_coverage: 50\n", encoding="utf-8")
    with pytest.raises(RulePackError) as bad:
        load_schemes(tmp_path / "s")
    assert "A002" in str(bad.value) and "min_coverage" in str(bad.value)
