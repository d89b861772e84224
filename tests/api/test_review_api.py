"""The review lifecycle through the API on a real database (SQLite, and PostgreSQL when up).

flag → queue → review (confirm one, reject one, add one) → final score → appeal → decision → audit
trail → calibration, with every figure computed by hand here.

Reports are stored as the worker stores them (queue.tasks.record_report) with known dimensions and findings,
so the arithmetic is visible:

T1 (agent a1): politeness 80 (weight .5; F1 rude-dismissive −10, F2 greeting-missing −10),
compliance 50 (weight .5; F3 guaranteed-return −50, fatal) → machine score 0 (fatal), unfatal 65.
  confirm F1, reject F3 (compliance back to 100), add a manual −5 in politeness (courtesy-terms
  missed), complete with F2 confirmed → politeness 75: final = 65 + .5·(75−80) + .5·(100−50) = 87.5.
  The agent appeals F1; the lead accepts → politeness 85: final = 65 + .5·5 + 25 = 92.5.
"""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from qa_service.app import create_app
from qa_service.config import ReviewSettings
from qa_service.domain import DimensionScore, Finding, Flag, QAReport, Role, Severity
from qa_service.queue.tasks import record_report
from qa_service.storage.db import session_scope
from tests.conftest import make_settings, transcript

UTTERANCES = [
    {"role": "customer", "text": "这个理财产品稳赚吗？"},
    {"role": "agent", "text": "你自己看说明，肯定保本，稳赚不赔。"},
    {"role": "customer", "text": "好吧"},
]


def finding(dimension: str, rule_id: str, points: float, *, seq: int = 1, span=(0, 6), fatal: bool = False,
            message: str = "问题") -> Finding:
    text = UTTERANCES[seq]["text"]
    return Finding(dimension, rule_id, seq, span, text[span[0]:span[1]], points, Severity.major, Role.agent,
                   message, fatal)


def report(dims: dict[str, tuple[float, float, list[Finding]]], *, pass_mark: float = 60.0) -> QAReport:
    """dims: name → (score, weight, findings); flags follow the pipeline's rules (fatal, low score)."""
    dimensions = {n: DimensionScore(n, s, "1", findings=f) for n, (s, _, f) in dims.items()}
    weights = {n: w for n, (_, w, _) in dims.items()}
    fatal = any(f.fatal for _, _, fs in dims.values() for f in fs)
    score = 0.0 if fatal else round(sum(w * s for s, w, _ in dims.values()), 2)
    flags = [Flag("fatal_rule", Severity.critical, "致命项")] if fatal else []
    if score < pass_mark:
        flags.append(Flag("low_score", Severity.major, f"质检得分 {score:g} 低于 {pass_mark:g}"))
    return QAReport(score=score, dimensions=dimensions, weights=weights, scorer_versions={},
                    rule_pack="general", fatal=fatal, report_flags=flags, pass_mark=pass_mark)


@pytest.fixture
def api(tmp_path, db_url, redis_url, redis_conn):
    settings = make_settings(tmp_path, db_url, redis_url, review=ReviewSettings(min_reviewed=2))
    with TestClient(create_app(settings)) as c:
        yield c


def store(client, sessions, external_id: str, rep: QAReport, agent: str = "a1") -> int:
    r = client.post("/v1/transcripts", json=transcript(external_id, agent_id=agent, utterances=UTTERANCES))
    assert r.status_code == 202, r.text
    tid = r.json()["id"]
    with session_scope(sessions) as s:
        record_report(session=s, transcript_id=tid, report=rep)
    return tid


@pytest.fixture
def sessions_for(api):
    return api.app.state.runtime.sessions


def by_rule(review: dict) -> dict[str, dict]:
    return {f["rule_id"]: f for f in review["findings"]}


def test_review_lifecycle_and_calibration(api, sessions_for):
    client, sessions = api, sessions_for
    t1 = store(client, sessions, "T1", report({
        "politeness": (80, 0.5, [finding("politeness", "general.rude-dismissive", -10),
                                 finding("politeness", "general.greeting-missing", -10, seq=1, span=(0, 3))]),
        "compliance": (50, 0.5, [finding("compliance", "finance.guaranteed-return", -50, span=(9, 13), fatal=True)]),
    }))
    t_pass = store(client, sessions, "T-pass", report({"politeness": (95, 1.0, [])}))

    # Flagged → in the queue, fatal first; the unflagged one is not.
    queue = client.get("/v1/reviews").json()
    assert [i["transcript_id"] for i in queue["items"]] == [t1]
    item = queue["items"][0]
    assert item["reasons"] == ["fatal_rule", "low_score"] and item["priority"] == 0 and item["machine_score"] == 0
    assert client.get("/v1/reviews", params={"rule": "finance.guaranteed-return"}).json()["total"] == 1
    assert client.get("/v1/reviews", params={"rule": "general.abuse"}).json()["total"] == 0
    assert client.get("/v1/reviews", params={"reason": "low_score", "severity": "critical"}).json()["total"] == 1
    assert client.get("/v1/reviews", params={"team": "presale"}).json()["total"] == 0
    assert client.get("/v1/reviews", params={"score_min": 10}).json()["total"] == 0
    rid = item["id"]

    # Review: confirm F1, reject F3, add a manual finding.
    review = client.get(f"/v1/reviews/{rid}").json()
    f = by_rule(review)
    assert review["final_score"] is None and review["pass_mark"] == 60
    r = client.put(f"/v1/reviews/{rid}/findings/{f['general.rude-dismissive']['id']}/verdict",
                   json={"verdict": "confirmed", "by": "qa-li"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "in_review" and r.json()["assigned_to"] == "qa-li"
    assert r.json()["final_score"] == 0.0 and r.json()["final_fatal"] is True  # F3 still counts
    r = client.put(f"/v1/reviews/{rid}/findings/{f['finance.guaranteed-return']['id']}/verdict",
                   json={"verdict": "rejected", "comment": "客户原话被误判", "by": "qa-li"})
    assert r.json()["final_score"] == 90.0 and r.json()["final_fatal"] is False  # 65 + .5·50
    r = client.post(f"/v1/reviews/{rid}/manual-findings", json={
        "dimension": "politeness", "utterance_index": 1, "quote": "你自己看说明", "points": -5,
        "message": "未使用礼貌用语", "rule_id": "general.courtesy-terms", "by": "qa-li"})
    assert r.status_code == 201, r.text
    manual = r.json()["manual_findings"][0]
    assert manual["span"] == [0, 6] and manual["quote"] == "你自己看说明"
    assert r.json()["final_score"] == 87.5 and r.json()["final_dimensions"] == {"politeness": 75.0,
                                                                              "compliance": 100.0}
    # Completing needs a verdict on F2 (or confirm_rest).
    r = client.post(f"/v1/reviews/{rid}/complete", json={"by": "qa-li"})
    assert r.status_code == 409 and r.json()["field"] == "confirm_rest"
    r = client.post(f"/v1/reviews/{rid}/complete", json={"by": "qa-li", "confirm_rest": True, "comment": "ok"})
    done = r.json()
    assert done["status"] == "done" and done["completed_by"] == "qa-li"
    assert (done["machine_score"], done["final_score"]) == (0.0, 87.5)
    assert by_rule(done)["general.greeting-missing"]["verdict"] == "confirmed"
    # Done: verdicts change only through appeals.
    r = client.put(f"/v1/reviews/{rid}/findings/{f['general.rude-dismissive']['id']}/verdict",
                   json={"verdict": "rejected", "by": "qa-li"})
    assert r.status_code == 409
    assert client.get("/v1/reviews").json()["total"] == 0
    assert client.get("/v1/reviews", params={"status": "done"}).json()["items"][0]["final_score"] == 87.5

    # Appeal F1; rejected findings cannot be appealed; the appellant cannot decide.
    r = client.post(f"/v1/reviews/{rid}/appeals", json={"finding_id": f["finance.guaranteed-return"]["id"],
                                                         "reason": "x", "by": "a1"})
    assert r.status_code == 409
    r = client.post(f"/v1/reviews/{rid}/appeals", json={"finding_id": f["general.rude-dismissive"]["id"],
                                                         "reason": "语气正常，并非推诿", "by": "a1"})
    assert r.status_code == 201, r.text
    appeal = r.json()
    assert appeal["status"] == "open" and appeal["points"] == -10 and appeal["agent_id"] == "a1"
    assert client.get("/v1/appeals", params={"status": "open"}).json()["total"] == 1
    r = client.post(f"/v1/appeals/{appeal['id']}/decision", json={"decision": "accepted", "by": "a1"})
    assert r.status_code == 409
    r = client.post(f"/v1/appeals/{appeal['id']}/decision",
                    json={"decision": "accepted", "comment": "申诉成立", "by": "lead-wang"})
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    after = client.get(f"/v1/reviews/{rid}").json()
    assert after["final_score"] == 92.5 and after["final_dimensions"]["politeness"] == 85.0
    assert by_rule(after)["general.rude-dismissive"]["overturned_by_appeal"] == appeal["id"]
    # Closed for good: no second decision, no second appeal on the same finding.
    assert client.post(f"/v1/appeals/{appeal['id']}/decision",
                       json={"decision": "rejected", "by": "lead-zhao"}).status_code == 409
    assert client.post(f"/v1/reviews/{rid}/appeals", json={"finding_id": f["general.rude-dismissive"]["id"],
                                                            "reason": "再诉", "by": "a1"}).status_code == 409

    # Audit trail: who, what, before/after.
    trail = client.get(f"/v1/reviews/{rid}/audit").json()
    assert [(e["actor"], e["action"]) for e in trail] == [
        ("qa-li", "finding_confirmed"), ("qa-li", "finding_rejected"), ("qa-li", "manual_added"),
        ("qa-li", "completed"), ("a1", "appeal_opened"), ("lead-wang", "appeal_accepted")]
    assert trail[1]["before"]["final_score"] == 0.0 and trail[1]["after"]["final_score"] == 90.0
    assert trail[1]["after"]["comment"] == "客户原话被误判"
    assert (trail[-1]["before"]["final_score"], trail[-1]["after"]["final_score"]) == (87.5, 92.5)
    assert client.get("/v1/audit", params={"transcript_id": t1}).json() == trail

    # Four more reviews for calibration.
    t2 = store(client, sessions, "T2", report({"politeness": (50, 1.0, [
        finding("politeness", "general.rude-dismissive", -50)])}))
    t5 = store(client, sessions, "T5", report({"politeness": (40, 1.0, [
        finding("politeness", "general.rude-dismissive", -60)])}))
    t4 = store(client, sessions, "T4", report({"politeness": (100, 1.0, [])}))
    r2 = client.get(f"/v1/transcripts/{t2}/review").json()["id"]
    r5 = client.get(f"/v1/transcripts/{t5}/review").json()["id"]
    assert client.get(f"/v1/transcripts/{t4}/review").status_code == 404
    r3 = client.post("/v1/reviews", json={"transcript_id": t_pass, "by": "qa-li"})
    assert r3.status_code == 201 and r3.json()["reasons"] == ["manual"]
    assert client.post("/v1/reviews", json={"transcript_id": t_pass, "by": "qa-li"}).status_code == 200
    r4 = client.post("/v1/reviews", json={"transcript_id": t4, "by": "qa-li"}).json()["id"]
    r3 = r3.json()["id"]
    client.post(f"/v1/reviews/{r2}/complete", json={"by": "qa-zhang", "confirm_rest": True})     # fail, fail
    client.post(f"/v1/reviews/{r3}/manual-findings", json={                                      # pass → fail
        "dimension": "politeness", "utterance_index": 1, "points": -40, "message": "敷衍",
        "rule_id": "general.courtesy-terms", "by": "qa-zhang"})
    assert client.post(f"/v1/reviews/{r3}/complete", json={"by": "qa-zhang"}).json()["final_score"] == 55.0
    client.post(f"/v1/reviews/{r4}/complete", json={"by": "qa-zhang"})                          # pass, pass
    h1 = client.get(f"/v1/reviews/{r5}").json()["findings"][0]["id"]                            # fail → pass
    client.put(f"/v1/reviews/{r5}/findings/{h1}/verdict", json={"verdict": "rejected", "by": "qa-zhang"})
    assert client.post(f"/v1/reviews/{r5}/complete", json={"by": "qa-zhang"}).json()["final_score"] == 100.0

    cal = client.get("/v1/calibration").json()
    assert cal["reviews"] == 5
    rules = {x["rule_id"]: x for x in cal["rules"]}
    # rude-dismissive: T1 (confirmed, then overturned by the appeal), T2 confirmed, T5 rejected → 1/3.
    assert (rules["general.rude-dismissive"]["reviewed"], rules["general.rude-dismissive"]["confirmed"]) == (3, 1)
    assert rules["general.rude-dismissive"]["precision"] == pytest.approx(1 / 3)
    assert rules["general.rude-dismissive"]["owner"] == "质检规则组"
    assert rules["general.greeting-missing"]["precision"] == 1.0
    assert rules["finance.guaranteed-return"]["precision"] == 0.0
    assert rules["general.courtesy-terms"]["reviewed"] == 0 and rules["general.courtesy-terms"]["missed"] == 2
    assert rules["general.courtesy-terms"]["precision"] is None
    dims = {x["dimension"]: x for x in cal["dimensions"]}
    assert (dims["politeness"]["reviewed"], dims["politeness"]["confirmed"], dims["politeness"]["missed"]) == (4, 2, 2)
    assert dims["compliance"]["precision"] == 0.0
    # Pass/fail (machine, human): T1 (F,P) T2 (F,F) T3 (P,F) T4 (P,P) T5 (F,P).
    # p_o = 2/5; machine fails 3/5, humans 2/5: p_e = .6·.4 + .4·.6 = .48; κ = (.4 − .48)/.52.
    a = cal["agreement"]
    assert (a["n"], a["both_fail"], a["both_pass"], a["machine_only_fail"], a["human_only_fail"]) == (5, 1, 1, 2, 1)
    assert a["observed"] == pytest.approx(0.4) and a["expected"] == pytest.approx(0.48)
    assert a["kappa"] == pytest.approx(-0.08 / 0.52)
    # min_reviewed = 2 here: finance.guaranteed-return (1 verdict) is not judged yet.
    assert [x["rule_id"] for x in cal["low_precision"]] == ["general.rude-dismissive"]
    assert client.get("/v1/calibration", params={"team": "presale"}).json()["reviews"] == 0

    # Performance on final scores: only reviewed transcripts, with their final scores and dimensions.
    # Machine: T1 0, T-pass 95, T2 50, T5 40, T4 100 → 57. Final: 92.5, 55, 50, 100, 100 → 79.5.
    def qa(scores: str) -> dict:
        body = client.get("/v1/performance", params={"period": "2026-10", "scores": scores}).json()
        return next(a for a in body["agents"] if a["agent_id"] == "a1")["qa"]

    assert (qa("machine")["n"], qa("machine")["mean"]) == (5, 57.0)
    final = qa("final")
    assert (final["n"], final["mean"]) == (5, 79.5)
    # politeness: T1 85, T2 50, T-pass 55, T4 100, T5 100 → 78
    assert final["dimensions"]["politeness"] == 78.0
    rows = client.get("/v1/appraisals", params={"period": "2026-10", "scores": "final"}).json()
    rows = rows["rows"] if isinstance(rows, dict) else rows
    assert next(r for r in rows if r["agent_id"] == "a1")["qa_score_mean"] == 79.5


def test_review_errors_name_the_field(api, sessions_for):
    client = api
    tid = store(client, sessions_for, "E1", report({"politeness": (50, 1.0, [
        finding("politeness", "general.rude-dismissive", -50)])}))
    rid = client.get(f"/v1/transcripts/{tid}/review").json()["id"]
    assert client.get("/v1/reviews/999999").status_code == 404
    r = client.put(f"/v1/reviews/{rid}/findings/999999/verdict", json={"verdict": "rejected", "by": "x"})
    assert r.status_code == 404 and r.json()["field"] == "finding_id"
    r = client.put(f"/v1/reviews/{rid}/findings/1/verdict", json={"verdict": "maybe", "by": "x"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "verdict"]
    r = client.put(f"/v1/reviews/{rid}/findings/1/verdict", json={"verdict": "rejected"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "by"]
    cases = [({"dimension": "nonsense"}, "dimension"), ({"utterance_index": 9}, "utterance_index"),
             ({"quote": "不在原文里"}, "quote"), ({"quote": ""}, "quote"), ({"span": [3, 99]}, "span")]
    for change, field in cases:
        body = {"dimension": "politeness", "utterance_index": 1, "points": -5, "message": "m", "by": "x", **change}
        r = client.post(f"/v1/reviews/{rid}/manual-findings", json=body)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", field], (field, r.text)
    r = client.post(f"/v1/reviews/{rid}/appeals", json={"finding_id": 1, "reason": "x", "by": "a1"})
    assert r.status_code == 409 and "not done" in r.json()["detail"]
    r = client.post("/v1/reviews", json={"transcript_id": 999999, "by": "x"})
    assert r.status_code == 404
    r = client.post("/v1/reviews/sample", json={"period": "2026-13", "by": "x"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "period"]
    # Names go into assignments and the audit trail: no blank ones, no control characters (found by a probe).
    for bad in ("  ", "qa\nb", "x\x1b[31m", "a\u202eb"):
        r = client.post("/v1/reviews/assign", json={"review_ids": [rid], "reviewers": [bad], "mode": "manual",
                                                    "by": "lead"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"][:2] == ["body", "reviewers"], (bad, r.text)
        r = client.put(f"/v1/reviews/{rid}/findings/1/verdict", json={"verdict": "rejected", "by": bad})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "by"], (bad, r.text)
    # A reason filter is a reason, not a LIKE pattern: "%" matched every review, "_anual" the manual ones.
    assert client.get("/v1/reviews", params={"reason": "low_score"}).json()["total"] == 1
    # … and one no conversation could carry is a 422 naming it, not an empty page.
    for bad in ("%", "low_scor_", "bogus"):
        r = client.get("/v1/reviews", params={"reason": bad, "status": "all"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "reason"], (bad, r.text)
    for reason in ("sample", "manual", "no_agent_reply"):  # why reviews are queued: known, none here
        assert client.get("/v1/reviews", params={"reason": reason, "status": "all"}).json()["total"] == 0
    # Nothing was changed by the refused requests.
    review = client.get(f"/v1/reviews/{rid}").json()
    assert review["status"] == "queued" and review["manual_findings"] == [] and review["final_score"] is None
    assert client.get(f"/v1/reviews/{rid}/audit").json() == []


def test_a_finding_that_costs_nothing_cannot_be_appealed(api, sessions_for):
    """Found by an API probe (2026-11-29): an appeal on a 0-point finding (customer-negative-word) was accepted
    (201) while one on a rejected finding was a 409 "it costs nothing to appeal"."""
    client = api
    unsure = replace(finding("politeness", "general.rude-dismissive", 0, seq=1, span=(0, 5)), uncertain=True)
    tid = store(client, sessions_for, "Z1", report({"politeness": (90, 1.0, [
        finding("politeness", "general.rude-dismissive", -10), unsure,
        finding("politeness", "negativity.customer-negative-word", 0, seq=0, span=(0, 2))])}))
    r = client.post("/v1/reviews", json={"transcript_id": tid, "by": "qa-li"})
    assert r.status_code in (200, 201), r.text
    rid = r.json()["id"]
    r = client.post(f"/v1/reviews/{rid}/manual-findings", json={
        "dimension": "politeness", "utterance_index": 2, "quote": "好吧", "points": 0, "message": "记录一下",
        "rule_id": "general.courtesy-terms", "by": "qa-li"})
    assert r.status_code == 201, r.text
    manual = r.json()["manual_findings"][0]["id"]
    assert client.post(f"/v1/reviews/{rid}/complete", json={"by": "qa-li", "confirm_rest": True}).status_code == 200
    found = by_rule(client.get(f"/v1/reviews/{rid}").json())
    free = next(f["id"] for f in client.get(f"/v1/reviews/{rid}").json()["findings"] if f["uncertain"])
    for body, says in (({"finding_id": found["negativity.customer-negative-word"]["id"]}, "costs 0 points: it costs"),
                       ({"finding_id": free}, "costs 0 points (sent to review as uncertain"),
                       ({"manual_finding_id": manual}, "costs 0 points: it costs nothing to appeal")):
        r = client.post(f"/v1/reviews/{rid}/appeals", json={**body, "reason": "x", "by": "lead"})
        assert r.status_code == 409 and says in r.json()["detail"] and r.json()["field"] == next(iter(body)), r.text
    r = client.post(f"/v1/reviews/{rid}/appeals", json={"finding_id": next(
        f["id"] for f in client.get(f"/v1/reviews/{rid}").json()["findings"] if f["points"] == -10),
        "reason": "客户先骂人", "by": "lead"})
    assert r.status_code == 201 and client.get("/v1/appeals").json()["total"] == 1, r.text


def test_a_fatal_finding_that_costs_0_points_zeroes_the_score_and_can_be_appealed(api, sessions_for):
    """Found by a review (2026-11-29): the ASR gate made a fatal hit on a badly heard turn 0 points but kept it
    fatal; confirmed, it zeroed the final score, and its appeal was refused as 'costs nothing'. A reviewer's
    manual finding may be 0 points and fatal too."""
    client = api
    unsure_fatal = replace(finding("politeness", "general.abuse", 0, seq=1, span=(0, 5), fatal=True), uncertain=True)
    tid = store(client, sessions_for, "F1", report({"politeness": (100, 1.0, [unsure_fatal])}))
    rid = client.post("/v1/reviews", json={"transcript_id": tid, "by": "qa-li"}).json()["id"]
    r = client.post(f"/v1/reviews/{rid}/manual-findings", json={
        "dimension": "politeness", "utterance_index": 2, "quote": "好吧", "points": 0, "fatal": True,
        "message": "辱骂", "rule_id": "general.abuse", "by": "qa-li"})
    assert r.status_code == 201, r.text
    manual = r.json()["manual_findings"][0]["id"]
    assert client.post(f"/v1/reviews/{rid}/complete", json={"by": "qa-li", "confirm_rest": True}).status_code == 200
    done = client.get(f"/v1/reviews/{rid}").json()
    assert done["final_score"] == 0
    for body in ({"finding_id": done["findings"][0]["id"]}, {"manual_finding_id": manual}):
        r = client.post(f"/v1/reviews/{rid}/appeals", json={**body, "reason": "ASR 听错了", "by": "lead"})
        assert r.status_code == 201, r.text


def test_appeal_window_closes(tmp_path, db_url, redis_url, redis_conn):
    settings = make_settings(tmp_path, db_url, redis_url, review=ReviewSettings(appeal_window_days=0.000001))
    with TestClient(create_app(settings)) as client:
        tid = store(client, client.app.state.runtime.sessions, "W1", report({"politeness": (50, 1.0, [
            finding("politeness", "general.rude-dismissive", -50)])}))
        rid = client.get(f"/v1/transcripts/{tid}/review").json()["id"]
        done = client.post(f"/v1/reviews/{rid}/complete", json={"by": "qa", "confirm_rest": True}).json()
        time.sleep(0.2)  # the window is 0.0864 s
        r = client.post(f"/v1/reviews/{rid}/appeals", json={"finding_id": done["findings"][0]["id"],
                                                             "reason": "迟到的申诉", "by": "a1"})
        assert r.status_code == 409 and "appeal window closed" in r.json()["detail"]


def test_sampling_plan_and_round_robin(api, sessions_for):
    client = api
    # Agent a1: 12 unflagged transcripts in ISO week 2026-W40 (Sep 28 – Oct 4), agent a2: 3; one flagged.
    ids = {"a1": [], "a2": []}
    for agent, n in (("a1", 12), ("a2", 3)):
        for i in range(n):
            ids[agent].append(store(client, sessions_for, f"S-{agent}-{i}", report({"politeness": (90, 1.0, [])}),
                                    agent=agent))
    flagged = store(client, sessions_for, "S-flag", report({"politeness": (10, 1.0, [])}))
    body = {"period": "2026-W40", "percent": 20, "minimum": 1, "by": "lead"}
    r = client.post("/v1/reviews/sample", json=body)
    assert r.status_code == 200, r.text
    # a1: ceil(12 · 20%) = 3; a2: max(1, ceil(0.6)) = 1.
    assert r.json() == {"period": "2026-W40", "agent_weeks": 2, "candidates": 15, "added": 4}
    sampled = client.get("/v1/reviews", params={"reason": "sample"}).json()["items"]
    assert sorted(i["agent_id"] for i in sampled) == ["a1", "a1", "a1", "a2"]
    assert {i["transcript_id"] for i in sampled} <= set(ids["a1"]) | set(ids["a2"])
    # Again: nothing new (seeded per week and agent, earlier samples counted).
    assert client.post("/v1/reviews/sample", json=body).json()["added"] == 0
    # The queue: the flagged one first.
    queue = client.get("/v1/reviews").json()["items"]
    assert queue[0]["transcript_id"] == flagged and len(queue) == 5
    # Round robin over the 4 still unassigned, each to whoever holds fewest open reviews (ties: list
    # order); qa-b already holds one: a (0→1), a (1 vs 1 → a), b (2 vs 1), a (2 vs 2 → a).
    client.post("/v1/reviews/assign", json={"review_ids": [queue[-1]["id"]], "reviewers": ["qa-b"],
                                            "mode": "manual", "by": "lead"})
    r = client.post("/v1/reviews/assign", json={"reviewers": ["qa-a", "qa-b"], "by": "lead"})
    assert r.status_code == 200, r.text
    got = list(r.json()["assigned"].values())
    assert got == ["qa-a", "qa-a", "qa-b", "qa-a"]
    assert client.get("/v1/reviews", params={"assigned_to": "qa-b"}).json()["total"] == 2
    assert client.get("/v1/reviews", params={"unassigned": True}).json()["total"] == 0
    r = client.post("/v1/reviews/assign", json={"reviewers": ["a", "b"], "mode": "manual", "review_ids": [1],
                                                "by": "lead"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "reviewers"]


def test_what_staff_type_is_redacted_as_conversations_are(api, sessions_for):
    """Comments, manual findings' messages and appeal reasons are stored, shown and audited redacted."""
    client = api
    tid = store(client, sessions_for, "typed-pii", report({"politeness": (40, 1.0, [
        finding("politeness", "general.rude-dismissive", -20)])}))
    rid = client.get("/v1/reviews").json()["items"][0]["id"]
    [f] = client.get(f"/v1/reviews/{rid}").json()["findings"]
    phone, card = "13812345678", "6222021001123456789"
    client.put(f"/v1/reviews/{rid}/findings/{f['id']}/verdict",
               json={"verdict": "confirmed", "comment": f"客户手机{phone}", "by": "qa-li"})
    client.post(f"/v1/reviews/{rid}/manual-findings", json={
        "dimension": "politeness", "utterance_index": 1, "quote": "你自己看说明", "points": -5,
        "message": f"坐席念出卡号{card}", "rule_id": "general.courtesy-terms", "by": "qa-li"})
    done = client.post(f"/v1/reviews/{rid}/complete", json={"by": "qa-li", "confirm_rest": True,
                                                            "comment": f"回访{phone}"}).json()
    appeal = client.post(f"/v1/reviews/{rid}/appeals", json={"finding_id": f["id"], "reason": f"我打了{phone}",
                                                             "by": "sup"})
    assert appeal.status_code == 201, appeal.text
    shown = " ".join([client.get(f"/v1/reviews/{rid}").text, client.get(f"/v1/reviews/{rid}/audit").text,
                      appeal.text, str(done)])
    assert phone not in shown and card not in shown
    assert "客户手机[手机号]" in shown and "坐席念出卡号[银行卡号]" in shown and tid


def _done_review(client, sessions, external_id: str) -> tuple[int, int, int]:
    """A done (low-score) review with its machine finding kept and a manual finding added:
    (review id, machine finding id, manual finding id)."""
    tid = store(client, sessions, external_id, report({"politeness": (50, 1.0, [
        finding("politeness", "general.rude-dismissive", -10)])}))
    rid = client.get(f"/v1/transcripts/{tid}/review").json()["id"]
    added = client.post(f"/v1/reviews/{rid}/manual-findings", json={
        "dimension": "politeness", "utterance_index": 1, "points": -5, "message": "敷衍", "by": "qa-li"})
    assert added.status_code == 201, added.text
    done = client.post(f"/v1/reviews/{rid}/complete", json={"by": "qa-li", "confirm_rest": True}).json()
    return rid, done["findings"][0]["id"], done["manual_findings"][0]["id"]


def test_a_second_appeal_says_what_became_of_the_first(api, sessions_for):
    """A settled manual finding was a 404 'not in review' though the review lists it (withdrawn); a machine
    finding overturned by an accepted appeal was said to be 'rejected by the reviewer'."""
    client = api
    rid, fid, mid = _done_review(client, sessions_for, "AP2")
    ids = {}
    for field, target in (("finding_id", fid), ("manual_finding_id", mid)):
        r = client.post(f"/v1/reviews/{rid}/appeals", json={field: target, "reason": "并无此事", "by": "a1"})
        assert r.status_code == 201, r.text
        ids[field] = r.json()["id"]
        again = client.post(f"/v1/reviews/{rid}/appeals", json={field: target, "reason": "再诉", "by": "a1"})
        assert again.status_code == 409 and again.json()["field"] == field
        assert f"appeal {ids[field]} is open, waiting for a lead's decision" in again.json()["detail"]
        decided = client.post(f"/v1/appeals/{ids[field]}/decision", json={"decision": "accepted", "by": "lead"})
        assert decided.status_code == 200, decided.text
    review = client.get(f"/v1/reviews/{rid}").json()
    assert review["manual_findings"][0]["withdrawn"] and review["findings"][0]["overturned_by_appeal"]
    for field, target, what in (("finding_id", fid, "finding"), ("manual_finding_id", mid, "manual finding")):
        r = client.post(f"/v1/reviews/{rid}/appeals", json={field: target, "reason": "再诉", "by": "a1"})
        assert r.status_code == 409 and r.json()["field"] == field, r.text
        detail = r.json()["detail"]
        assert f"{what} {target} was already appealed: appeal {ids[field]} was accepted by lead" in detail
        assert "which withdrew the finding" in detail and "rejected by the reviewer" not in detail
    assert client.post(f"/v1/reviews/{rid}/appeals", json={"manual_finding_id": 10**6, "reason": "x",
                                                            "by": "a1"}).status_code == 404


@pytest.mark.parametrize("blank", ["", "   ", "\u3000\u3000", "\u00a0", "\u200b", " \u200b\u3000\t"])
def test_a_reason_or_message_that_says_nothing_is_refused(api, sessions_for, blank):
    """An appeal reason of spaces was filed (201) though "" was a 422."""
    client = api
    rid, fid, _ = _done_review(client, sessions_for, "BL1")
    r = client.post(f"/v1/reviews/{rid}/appeals", json={"finding_id": fid, "reason": blank, "by": "a1"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "reason"], r.text
    tid = store(client, sessions_for, "BL2", report({"politeness": (50, 1.0, [])}))
    open_rid = client.get(f"/v1/transcripts/{tid}/review").json()["id"]
    r = client.post(f"/v1/reviews/{open_rid}/manual-findings", json={
        "dimension": "politeness", "utterance_index": 1, "points": -5, "message": blank, "by": "qa-li"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "message"], r.text
    # An optional comment that says nothing is no comment.
    done = client.post(f"/v1/reviews/{open_rid}/complete", json={"by": "qa-li", "comment": blank})
    assert done.status_code == 200 and done.json()["comment"] is None, done.text
    assert client.get(f"/v1/reviews/{rid}").json()["appeals"] == []  # nothing was filed


def test_the_appellant_cannot_decide_their_own_appeal_under_another_spelling(api, sessions_for):
    """Open mode: an appeal filed by "Zhao" was accepted by "Zhao " (one trailing space)."""
    client = api
    rid, fid, _ = _done_review(client, sessions_for, "NM1")
    appeal = client.post(f"/v1/reviews/{rid}/appeals", json={"finding_id": fid, "reason": "并无此事", "by": "Zhao"})
    assert appeal.status_code == 201, appeal.text
    decide = f"/v1/appeals/{appeal.json()['id']}/decision"
    for by in ("Zhao ", " Zhao", "Zhao\u3000", "\u00a0Zhao"):  # refused as key names are: a space at an end
        r = client.post(decide, json={"decision": "accepted", "by": by})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "by"], (by, r.text)
        assert "starts or ends with a space" in r.json()["detail"][0]["msg"]
    for by in ("zhao", "ＺＨＡＯ"):  # the same person to a reader
        r = client.post(decide, json={"decision": "accepted", "by": by})
        assert r.status_code == 409 and "appellant cannot decide" in r.json()["detail"], (by, r.text)
    assert client.get(f"/v1/reviews/{rid}").json()["appeals"][0]["status"] == "open"
    assert client.post(decide, json={"decision": "rejected", "by": "lead-wang"}).status_code == 200
    # Every `by` is checked alike: the queue's, a reviewer's, the query's, a live alert's.
    assert client.post("/v1/reviews/assign", json={"reviewers": ["qa-li "], "mode": "round_robin", "by": "lead"}
                       ).status_code == 422
    r = client.delete(f"/v1/reviews/{rid}/manual-findings/1", params={"by": "qa-li "})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "by"], r.text
    r = client.post("/v1/live/alerts/1/ack", json={"by": "lead "})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "by"], r.text
