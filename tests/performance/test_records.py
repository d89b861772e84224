"""A small period computed by hand, matched exactly: ratios of sums, NPS, CSAT share, FCR, QA with CI and
shrinkage, threshold interpolation, totals, grades and ranks.

The period is 2026-10-01..2026-10-03, team ``after-sales``, agents a1 and a2.

KPI rows                 contacts frt  aht  fcr_resolved csat resp/sat  NPS P/Pa/D  ratings
  a1 2026-10-01             40     20  300       30          10 / 9      6 / 2 / 2
  a1 2026-10-02             60     40  400       54          20 / 19    10 / 5 / 5   supervisor 80, peer 90
  a2 2026-10-01             50     30   —        35           5 / 4      1 / 1 / 3

a1: contacts 100; FRT (20·40 + 40·60)/100 = 32.0 s; AHT (300·40 + 400·60)/100 = 360 s;
    FCR 84/100 = 0.84 (the mean of the daily rates would be 0.825); CSAT 28/30 = 0.9333
    (mean of daily 0.925); NPS 100·(16 − 7)/30 = 30.0; 2 days → 50 contacts a day.
a2: contacts 50; FRT 30; FCR 0.70; CSAT 4/5 = 0.80 from 5 responses; NPS 100·(1 − 3)/5 = −40.
team: contacts 150; FCR 119/150 = 0.79333; CSAT 32/35 = 0.91429; NPS 100·(17 − 10)/35 = 20.0.

QA: a1 scored 90, 80, 100; a2 scored 70. Team mean (90 + 80 + 100 + 70)/4 = 85.
a1: n 3, mean 90, median 90, sd 10, 95% CI 90 ± 4.303·10/√3 = 90 ± 24.84 → [65.16, 100 (capped)];
    adjusted (k = 10): (3·90 + 10·85)/13 = 86.1538.
a2: n 1, no CI; adjusted (70 + 850)/11 = 83.6364.

Appraisal, rules/appraisal/after_sales.yaml (points 60 / 100 / 120 at baseline / target / challenge):
a1: CSAT .9333 → 100 + (.01333/.05)·20 = 105.3333; FCR .84 → 100 + (.04/.10)·20 = 108;
    FRT 32 (lower is better, 60/30/15) → 60 + (28/30)·40 = 97.3333; QA 86.1538 → 60 + .61538·40 = 84.6154;
    50/day (40/60/80) → 80. Quantitative .30·105.3333 + .25·108 + .20·97.3333 + .15·84.6154 + .10·80
    = 98.7590; rating .7·80 + .3·90 = 83; total .8·98.7590 + .2·83 = 95.6072 → 优秀, rank 1.
a2: CSAT left out (5 responses < min_sample 10), the rest re-weighted over .70: FCR .70 → 60;
    FRT 30 → 100; QA 83.6364 → 74.5455; 50/day → 80. (.25·60 + .20·100 + .15·74.5455 + .10·80)/.70
    = 77.4026; no rating → total 77.4026 → 良好, rank 2.
"""

from __future__ import annotations

from datetime import date

import pytest

from qa_service.performance.appraisal import appraisal_rows, metric_points
from qa_service.period import parse_period
from qa_service.performance.record import QaRow, build_records
from qa_service.rules.scheme import SchemeMetric, load_schemes
from qa_service.config import DEFAULT_RULES_DIR

PERIOD = parse_period("2026-10-01..2026-10-03")


def kpi(agent, day, team="after-sales", **values):
    return {"agent_id": agent, "team_id": team, "date_from": day, "date_to": day, **values}


KPI_ROWS = [
    kpi("a1", date(2026, 10, 1), contacts=40, frt_seconds_mean=20, aht_seconds_mean=300, fcr_resolved=30,
        csat_responses=10, csat_satisfied=9, nps_promoters=6, nps_passives=2, nps_detractors=2),
    kpi("a1", date(2026, 10, 2), contacts=60, frt_seconds_mean=40, aht_seconds_mean=400, fcr_resolved=54,
        csat_responses=20, csat_satisfied=19, nps_promoters=10, nps_passives=5, nps_detractors=5,
        supervisor_rating=80, peer_rating=90),
    kpi("a2", date(2026, 10, 1), contacts=50, frt_seconds_mean=30, fcr_resolved=35, csat_responses=5,
        csat_satisfied=4, nps_promoters=1, nps_passives=1, nps_detractors=3),
]


def qa(agent, day, score, **summary):
    return QaRow(agent, "after-sales", day, score, False, {"dims": {"politeness": score}, "flagged": False, **summary})


QA_ROWS = [qa("a1", date(2026, 10, 1), 90), qa("a1", date(2026, 10, 2), 80), qa("a1", date(2026, 10, 3), 100),
           qa("a2", date(2026, 10, 2), 70),
           qa("a1", date(2026, 10, 4), 0)]  # outside the period: ignored


@pytest.fixture(scope="module")
def records():
    return build_records(PERIOD, KPI_ROWS, QA_ROWS, shrinkage_n=10)


def test_records_kpis_are_ratios_of_sums(records):
    agents, teams = records
    a1, a2 = agents
    m = a1.metrics
    assert m["contacts"] == 100 and m["contacts_per_day"] == 50
    assert m["frt_seconds"] == pytest.approx(32.0)
    assert m["aht_seconds"] == pytest.approx(360.0)
    assert m["fcr"] == pytest.approx(0.84)
    assert m["csat"] == pytest.approx(28 / 30)
    assert m["nps"] == pytest.approx(30.0)
    assert m["nps_responses"] == 30 and m["csat_responses"] == 30
    assert m["supervisor_rating"] == 80 and m["peer_rating"] == 90
    assert a1.sources["fcr"] == "kpi"
    assert a2.metrics["csat"] == pytest.approx(0.8) and a2.metrics["nps"] == pytest.approx(-40.0)
    assert a2.metrics["aht_seconds"] is None  # not imported, and no timestamps to derive it from
    [team] = teams
    assert team.team == "after-sales" and team.metrics["agents"] == 2
    assert team.metrics["contacts"] == 150
    assert team.metrics["fcr"] == pytest.approx(119 / 150)
    assert team.metrics["csat"] == pytest.approx(32 / 35)
    assert team.metrics["nps"] == pytest.approx(20.0)


def test_records_qa_carries_sample_size_interval_and_shrinkage(records):
    (a1, a2), (team,) = records
    assert (a1.qa.n, a1.qa.mean, a1.qa.median) == (3, 90, 90)
    assert a1.qa.sd == pytest.approx(10.0)
    assert a1.qa.ci95[0] == pytest.approx(90 - 4.303 * 10 / 3 ** 0.5) and a1.qa.ci95[1] == 100
    assert a1.qa.adjusted == pytest.approx(1120 / 13)
    assert a2.qa.n == 1 and a2.qa.ci95 is None
    assert a2.qa.adjusted == pytest.approx(920 / 11)
    assert team.qa.n == 4 and team.qa.mean == pytest.approx(85.0)
    assert a1.metrics["qa.politeness"] == pytest.approx(90.0)


def test_records_threshold_interpolation_both_directions():
    up = SchemeMetric(id="x", metric="csat", weight=1, baseline=0.85, target=0.92, challenge=0.97)
    assert [metric_points(up, v) for v in (0.5, 0.85, 0.885, 0.92, 0.945, 0.97, 1.0)] == \
        pytest.approx([0, 60, 80, 100, 110, 120, 120])
    down = SchemeMetric(id="y", metric="frt_seconds", weight=1, direction="lower", baseline=60, target=30,
                        challenge=15)
    assert [metric_points(down, v) for v in (90, 60, 45, 30, 22.5, 15, 3)] == \
        pytest.approx([0, 60, 80, 100, 110, 120, 120])


def test_records_appraisal_totals_grades_and_ranks(records):
    agents, _ = records
    schemes = load_schemes(DEFAULT_RULES_DIR / "appraisal")
    a1, a2 = appraisal_rows(agents, schemes)
    assert a1["scheme"] == "after_sales"  # the team name matches *after-sales*
    points = {i["id"]: i["points"] for i in a1["items"]}
    assert points == pytest.approx({"satisfaction": 105.3333, "resolution": 108.0, "response": 97.3333,
                                    "attitude": 84.6154, "contribution": 80.0}, abs=1e-4)
    assert a1["quantitative"] == pytest.approx(98.7590, abs=1e-4)
    assert a1["qualitative"] == pytest.approx(83.0)
    assert a1["total"] == pytest.approx(95.6072, abs=1e-4)
    assert (a1["grade"], a1["rank"], a1["team_size"]) == ("优秀", 1, 2)
    assert a1["metrics"]["fcr"] == 0.84 and a1["metrics"]["nps"] == 30.0 and a1["qa_n"] == 3

    satisfaction = a2["items"][0]
    assert satisfaction["points"] is None and "样本不足 (5 < 10)" in satisfaction["note"]
    assert a2["total"] == pytest.approx(77.4026, abs=1e-4)
    assert (a2["grade"], a2["rank"]) == ("良好", 2)
    assert any("主观评分" in n for n in a2["notes"])


def test_records_min_sample_counts_the_responses_behind_the_ratio_not_every_response():
    """a3 reported 20 survey responses on 10-01 but not how many were satisfied, and 5 responses with 4
    satisfied on 10-02: CSAT 4/5 = 0.80 rests on 5 responses (< min_sample 10), not 25."""
    rows = [kpi("a3", date(2026, 10, 1), contacts=40, csat_responses=20),
            kpi("a3", date(2026, 10, 2), contacts=40, csat_responses=5, csat_satisfied=4, fcr_resolved=30)]
    (a3,), (team,) = build_records(PERIOD, rows, [])
    assert a3.metrics["csat"] == 0.8 and a3.metrics["csat_responses"] == 25
    assert a3.samples["csat"] == 5 and a3.samples["fcr"] == 40  # FCR on the 40 contacts of 10-02 only
    assert team.samples == a3.samples
    (row,) = appraisal_rows([a3], load_schemes(DEFAULT_RULES_DIR / "appraisal"))
    satisfaction = row["items"][0]
    assert satisfaction["sample"] == 5 and satisfaction["points"] is None
    assert "样本不足 (5 < 10)" in satisfaction["note"]


def test_records_derive_kpis_from_transcript_timestamps_without_an_export():
    rows = [qa("b1", date(2026, 10, 1), 90, frt_ms=12_000, reply_ms=8_000, handling_ms=300_000),
            qa("b1", date(2026, 10, 2), 80, frt_ms=48_000, reply_ms=None, handling_ms=500_000),
            qa("b1", date(2026, 10, 2), 85)]  # no timestamps
    [b1], _ = build_records(PERIOD, [], rows, frt_target_s=30)
    m = b1.metrics
    assert m["contacts"] == 3 and b1.sources["contacts"] == "transcripts"
    assert m["frt_seconds"] == pytest.approx(30.0)                # (12 + 48) / 2
    assert m["frt_within_target_share"] == pytest.approx(0.5)     # 12 s ≤ 30 s, 48 s is not
    assert m["aht_seconds"] == pytest.approx(400.0)
    assert m["reply_seconds"] == pytest.approx(8.0)
    assert m["contacts_per_day"] == pytest.approx(1.5)
    assert b1.from_transcripts["timed_transcripts"] == 2


def test_records_imported_kpis_win_over_derived_ones():
    rows = [qa("a2", date(2026, 10, 1), 90, frt_ms=99_000)]
    [a2], _ = build_records(PERIOD, [KPI_ROWS[2]], rows)
    assert a2.metrics["frt_seconds"] == 30 and a2.sources["frt_seconds"] == "kpi"
    assert a2.metrics["contacts"] == 50  # the export's contacts, not the one transcript sent for QA
    assert a2.from_transcripts["frt_seconds"] == pytest.approx(99.0)
