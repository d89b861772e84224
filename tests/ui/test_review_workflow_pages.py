"""The review pages as a QA lead's probe found them (TestClient, access control on): the 申诉 form on
0-point findings, English refusals, the queue's unassigned filter, someone else's 完成复核, a manual finding
withdrawn by an appeal."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from qa_service.app import create_app
from qa_service.config import AuthSettings
from qa_service.domain import Finding, Role, Severity
from tests.api.test_review_api import UTTERANCES, finding, report, store
from tests.conftest import REPO, make_settings
from tests.support import key_headers

ZERO = Finding("negativity", "negativity.customer-negative-word", 0, (0, 2), "这个", 0.0, Severity.info,
               Role.customer, "客户表达负面情绪")
UNSURE = Finding("politeness", "detector.rude", 1, (7, 11), "肯定保本", 0.0, Severity.minor, Role.agent, "语气生硬",
                 uncertain=True)
REPORT = report({"politeness": (88, 0.5, [finding("politeness", "general.rude-dismissive", -10),
                                          finding("politeness", "general.empathy", 2, span=(0, 3)), UNSURE]),
                 "negativity": (100, 0.5, [ZERO])}, pass_mark=99)
KEYS = (("reviewer.k", "reviewer", None), ("other.k", "reviewer", None), ("supervisor.k", "supervisor", "after-sales"),
        ("presale.k", "supervisor", "pre-sales"), ("admin.k", "admin", None))


@pytest.fixture
def site(tmp_path, sqlite_url, redis_url, redis_conn):
    with TestClient(create_app(make_settings(tmp_path, sqlite_url, redis_url, auth=AuthSettings(enabled=True)))) as c:
        sessions = c.app.state.runtime.sessions
        keys = key_headers(sessions, KEYS)
        c.headers.update(keys["admin.k"])
        tid = store(c, sessions, "P1", REPORT)
        rid = c.get("/v1/reviews").json()["items"][0]["id"]
        yield {"c": c, "keys": keys, "tid": tid, "rid": rid, "sessions": sessions}


def _item(page: str, element_id: str) -> str:
    return re.search(rf'<li [^>]*id="{element_id}".*?</li>', page, re.S).group(0)


def _complete(site, who: str = "reviewer.k") -> None:
    r = site["c"].post(f"/v1/reviews/{site['rid']}/complete", json={"confirm_rest": True}, headers=site["keys"][who])
    assert r.status_code == 200, r.text


def test_the_appeal_form_is_offered_exactly_where_the_api_takes_an_appeal(site):
    """The page offered 申诉 on 0-point and uncertain findings, which the API refused (in English); now the
    page and the API answer from one predicate: the −10 only."""
    c, keys, rid = site["c"], site["keys"], site["rid"]
    _complete(site)
    page = c.get(f"/ui/transcripts/{site['tid']}", headers=keys["supervisor.k"]).text
    findings = c.get(f"/v1/reviews/{rid}").json()["findings"]
    offered = {f["rule_id"] for f in findings if 'data-action="appeal"' in _item(page, f"finding-{f['id']}")}
    assert offered == {"general.rude-dismissive"}
    for f in findings:
        r = c.post(f"/v1/reviews/{rid}/appeals", json={"finding_id": f["id"], "reason": "理由"},
                   headers=keys["supervisor.k"])
        assert (r.status_code == 201) == (f["rule_id"] in offered), (f["rule_id"], r.text)


def _ui_js_patterns() -> list[re.Pattern]:
    """The regular expressions of ui.js's CHINESE table (the message bar's translations), read as Python's."""
    js = (REPO / "qa_service" / "ui" / "static" / "ui.js").read_text(encoding="utf-8")
    return [re.compile(p) for p in re.findall(r"^\s*\[/(.+?)/, ", js, re.M)]


def test_refusals_are_said_in_chinese(site):
    """The appeal refusal of a 0-point finding and a scoped key's 403 page were shown in English."""
    c, keys, rid = site["c"], site["keys"], site["rid"]
    _complete(site)
    zero = next(f["id"] for f in c.get(f"/v1/reviews/{rid}").json()["findings"] if f["points"] == 0 and not f["uncertain"])
    detail = c.post(f"/v1/reviews/{rid}/appeals", json={"finding_id": zero, "reason": "理由"},
                    headers=keys["supervisor.k"]).json()["detail"]
    assert detail.endswith("costs 0 points: it costs nothing to appeal")
    assert any(p.match(detail) for p in _ui_js_patterns())
    taken = c.post(f"/v1/reviews/{rid}/complete", json={"confirm_rest": True}).json()["detail"]
    assert any(p.match(taken) for p in _ui_js_patterns())  # done already: said in Chinese as before
    page = c.get(f"/ui/transcripts/{site['tid']}", headers=keys["presale.k"])
    assert page.status_code == 403 and "当前密钥只能查看团队 pre-sales 的数据。" in page.text
    assert "this key sees" not in page.text


def test_the_queue_page_applies_unassigned_as_the_api_does(site):
    """/ui/queue?unassigned=true listed assigned rows too (the parameter was ignored)."""
    c, keys = site["c"], site["keys"]
    store(c, site["sessions"], "P2", REPORT)
    assert c.post("/v1/reviews/assign", json={"reviewers": ["reviewer.k"], "mode": "manual",
                                              "review_ids": [site["rid"]]}).status_code == 200
    api = c.get("/v1/reviews", params={"unassigned": "true", "team": "after-sales"}).json()
    page = c.get("/ui/queue", params={"unassigned": "true", "team": "after-sales"}, headers=keys["reviewer.k"]).text
    rows = re.findall(r'<tr class="sev-\w+" data-review="(\d+)"', page)
    assert api["total"] == 1 and f"复核队列 <small>{api['total']} 条</small>" in page
    assert rows == [str(api["items"][0]["id"])] and str(site["rid"]) not in rows
    assert 'name="unassigned" value="true" checked' in page
    everything = c.get("/ui/queue", headers=keys["reviewer.k"]).text
    assert "复核队列 <small>2 条</small>" in everything and 'value="true" checked' not in everything
    bad = c.get("/ui/queue", params={"unassigned": "maybe"}, headers=keys["reviewer.k"]).text
    assert "未分配：&#39;maybe&#39; 无效" in bad and "复核队列 <small>0 条</small>" in bad


def test_completing_someone_elses_review_is_offered_as_a_take_over(site):
    """The 完成复核 button closed anyone's review; on another reviewer's it says whose it is and takes it over."""
    c, keys, tid = site["c"], site["keys"], site["tid"]
    assert c.post("/v1/reviews/assign", json={"reviewers": ["reviewer.k"], "mode": "manual",
                                              "review_ids": [site["rid"]]}).status_code == 200
    mine = c.get(f"/ui/transcripts/{tid}", headers=keys["reviewer.k"]).text
    theirs = c.get(f"/ui/transcripts/{tid}", headers=keys["other.k"]).text
    assert 'data-action="complete" class="primary"' in mine and "data-take-over" not in mine
    assert "该复核已分配给 reviewer.k" in theirs and 'data-action="complete" data-take-over="1"' in theirs
    # verdicts and deductions on it are refused until it is taken over: the page offers that on its own
    assert '<button data-action="take-over">接手复核</button>' in theirs and 'data-action="take-over"' not in mine
    js = (REPO / "qa_service" / "ui" / "static" / "ui.js").read_text(encoding="utf-8")
    assert "if (el.dataset.takeOver) body.take_over = true;" in js
    assert "await api(\"POST\", `/v1/reviews/${reviewId}/take-over`, {by: user()});" in js
    rid = site["rid"]
    assert c.post(f"/v1/reviews/{rid}/take-over", json={}, headers=keys["other.k"]).status_code == 200
    now = c.get(f"/ui/transcripts/{tid}", headers=keys["other.k"]).text
    assert 'data-action="take-over"' not in now and "data-take-over" not in now


def test_a_manual_finding_withdrawn_by_an_appeal_says_by_whom_and_costs_nothing_in_its_highlight(site):
    """It read only 已撤销, and its highlight kept "（-5）" and the critical colour."""
    c, keys, rid, tid = site["c"], site["keys"], site["rid"], site["tid"]
    text = UTTERANCES[1]["text"]
    r = c.post(f"/v1/reviews/{rid}/manual-findings", headers=keys["reviewer.k"], json={
        "dimension": "politeness", "utterance_index": 1, "quote": "稳赚不赔",
        "points": -5, "message": "测试致命项", "severity": "critical", "fatal": True})
    assert r.status_code == 201, r.text
    mid = r.json()["manual_findings"][0]["id"]
    _complete(site)
    appeal = c.post(f"/v1/reviews/{rid}/appeals", json={"manual_finding_id": mid, "reason": "客户原话"},
                    headers=keys["supervisor.k"]).json()["id"]
    assert c.post(f"/v1/appeals/{appeal}/decision", json={"decision": "accepted"}).status_code == 200
    page = c.get(f"/ui/transcripts/{tid}", headers=keys["reviewer.k"]).text
    assert f"申诉 #{appeal} 成立，已撤销 · admin.k（补充：reviewer.k）" in _item(page, f"manual-{mid}")
    mark = re.search(rf'<mark class="([^"]*k-m{mid}[^"]*)"[^>]*title="([^"]*)">([^<]*)</mark>', page)
    assert mark.group(3) == text[12:16] == "稳赚不赔"
    assert "sev-critical" not in mark.group(1) and "rejected" in mark.group(1)
    assert mark.group(2) == "测试致命项（申诉成立，已撤销）"


@pytest.mark.parametrize("params", [{}, {"reason": "low_score"}, {"reason": "sample"}, {"severity": "critical"},
                                    {"status": "all", "period": "2020-01"}, {"status": "done"}])
def test_the_queue_page_and_the_api_list_the_same_reviews(site, params):
    """Both read the filters with review.listing.queue_filter and list with review.listing.list_queue (they
    each checked status, severity, reason and period by hand, and built the repository's filter themselves)."""
    c, keys = site["c"], site["keys"]
    api = c.get("/v1/reviews", params=params, headers=keys["reviewer.k"]).json()
    page = c.get("/ui/queue", params=params, headers=keys["reviewer.k"]).text
    assert f"复核队列 <small>{api['total']} 条</small>" in page
    assert re.findall(r'<tr class="sev-\w+" data-review="(\d+)"', page) == [str(i["id"]) for i in api["items"]]


def test_the_queue_page_and_the_api_refuse_the_same_filters(site):
    c, keys = site["c"], site["keys"]
    for params, field, said in (({"reason": "nope"}, "reason", "原因：&#39;nope&#39; 无效"),
                                ({"period": "2026-13"}, "period", "周期：“2026-13” 的月份 13 不在 1–12 之间")):
        r = c.get("/v1/reviews", params=params, headers=keys["reviewer.k"])
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", field], r.text
        page = c.get("/ui/queue", params=params, headers=keys["reviewer.k"]).text
        assert said in page and "复核队列 <small>0 条</small>" in page


def test_the_queue_is_filtered_in_one_place():
    import ast

    for module in ("qa_service/api/routes/reviews.py", "qa_service/ui/pages.py"):
        tree = ast.parse((REPO / module).read_text(encoding="utf-8"))
        called = {node.func.attr for node in ast.walk(tree)
                  if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and isinstance(node.func.value, ast.Name) and node.func.value.id in ("repo", "review_repo")}
        assert not called & {"list_queue", "QueueFilter"}, module


def test_assigning_by_an_unknown_reason_is_refused_as_listing_by_it_is(site):
    """POST /v1/reviews/assign filtered by a reason nothing can raise assigned nothing, silently (200, {})."""
    c = site["c"]
    r = c.post("/v1/reviews/assign", json={"reviewers": ["reviewer.k"], "mode": "manual", "reason": "low_scor"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "reason"], r.text
    assert "unknown flag reason 'low_scor'" in r.text
    r = c.post("/v1/reviews/assign", json={"reviewers": ["reviewer.k"], "mode": "manual", "reason": "low_score"})
    assert r.status_code == 200 and r.json()["assigned"] == {str(site["rid"]): "reviewer.k"}, r.text
