"""UI pages without a browser: what the server sends (found by a probe of the pages with hostile data)."""

from __future__ import annotations

from tests.api.test_review_api import report, store
from tests.conftest import transcript


def test_bidi_controls_in_user_text_are_shown_not_obeyed(client):
    """A right-to-left override in an id or a turn was drawn reversed: "退款金额 0001 元" read
    as "元 1000 额金款退" by a reviewer. The page prints such controls as their code points. (An agent id
    or team may no longer hold one — a 422, as for a key's team — but an external id and a turn may.)"""
    body = transcript("bidi\u202e", utterances=[
        {"role": "agent", "text": "您好\u202e，退款金额 0001 元"}, {"role": "customer", "text": "好的\u2066谢谢\u2069"}])
    assert client.post("/v1/transcripts", json={**body, "agent_id": "a7\u202e"}).status_code == 422
    tid = client.post("/v1/transcripts", json=body).json()["id"]
    page = client.get(f"/ui/transcripts/{tid}")
    assert page.status_code == 200
    assert "\u202e" not in page.text and "\u2066" not in page.text and "\u2069" not in page.text
    assert "bidi[U+202E]" in page.text and "[U+202E]，退款金额 0001 元" in page.text
    assert client.get(f"/v1/transcripts/{tid}").json()["utterances"][0]["text"] == "您好\u202e，退款金额 0001 元"


def test_queue_offset_past_the_largest_row_is_a_422_not_a_500(client):
    assert client.get("/ui/queue", params={"offset": 2**63 - 1}).status_code == 200
    assert client.get("/ui/queue", params={"offset": 2**63}).status_code == 422
    assert client.get("/ui/queue", params={"offset": 10**20}).status_code == 422


def test_a_page_that_fails_is_an_html_page_not_json(client):
    """/ui/transcripts/99999, /ui/queue?score_min=六十 and /ui/nosuch answered the API's raw JSON."""
    for path, status, words in (("/ui/transcripts/99999", 404, "未找到"), ("/ui/queue?score_min=六十", 422, "不是数字"),
                                ("/ui/nosuch", 404, "没有这个页面"), ("/ui/queue?limit=0", 422, "请求参数有误")):
        r = client.get(path)
        assert r.status_code == status and r.headers["content-type"].startswith("text/html"), (path, r.text)
        assert words in r.text and 'href="/ui/"' in r.text, path
    api = client.get("/v1/transcripts/99999")
    assert api.status_code == 404 and api.json()["detail"]  # the API still answers JSON


def test_a_filter_the_queue_cannot_apply_lists_nothing(client):
    """period=bogus, severity=bogus or status=bogus showed the unfiltered queue (93 rows) as if filtered."""
    tid = store(client, client.app.state.runtime.sessions, "Q1", report({"politeness": (40, 1.0, [])}))  # low score
    assert f"/ui/transcripts/{tid}" in client.get("/ui/queue").text
    for query, words in (("period=bogus", "周期"), ("severity=bogus", "严重度"), ("status=bogus", "状态"),
                         ("reason=bogus", "原因")):
        page = client.get(f"/ui/queue?{query}")
        assert page.status_code == 200 and f'<p class="error">{words}' in page.text, query
        assert f"/ui/transcripts/{tid}" not in page.text and "队列为空" in page.text, query


def test_the_dashboard_says_when_it_finds_no_such_agent(client):
    """An agent id not in the period (or the team) silently showed another agent's radar."""
    store(client, client.app.state.runtime.sessions, "D1", report({"politeness": (90, 1.0, [])}), agent="a1")
    store(client, client.app.state.runtime.sessions, "D2", report({"politeness": (70, 1.0, [])}), agent="a2")
    found = client.get("/ui/", params={"period": "2026-10", "agent_id": "a2"}).text
    assert "未找到该坐席" not in found and '"agent_id": "a2"' in found and 'id="chart-radar"' in found
    page = client.get("/ui/", params={"period": "2026-10", "agent_id": "nobody"}).text
    assert "未找到该坐席：nobody" in page
    assert '"radar": null' in page and 'id="chart-radar"' not in page


def test_the_frequent_findings_chart_labels_a_rule_with_what_fits_all_its_findings(client):
    """Found by a probe: the 高频问题 bar of ``detector.objection-unhandled`` (12 findings: 5 policy, 4 service,
    3 delay objections) read "客户异议（service）未得到处理…", one finding's message. A bar is now labelled
    with the rule's own message: a built-in finding's title, a pack rule's ``message:``."""
    import json
    import re

    from tests.api.test_review_api import finding

    sessions = client.app.state.runtime.sessions
    kinds = ["policy", "policy", "service", "delay"]
    for i, kind in enumerate(kinds):
        objection = finding("objection", "detector.objection-unhandled", -13.3,
                            message=f"客户异议（{kind}）未得到处理：未认同/安抚并给出解释或方案")
        rude = finding("politeness", "general.rude-dismissive", -5, message=f"第 {i} 次生硬")
        store(client, sessions, f"TF{i}", report({"objection": (86.7, 0.5, [objection]),
                                                  "politeness": (95, 0.5, [rude])}))
    page = client.get("/ui/", params={"period": "2026-10"}).text
    data = json.loads(re.search(r'<script id="dash-data" type="application/json">(.*?)</script>', page, re.S)[1])
    top = {f["rule_id"]: (f["message"], f["count"]) for f in data["top_findings"]}
    assert top == {"detector.objection-unhandled": ("客户异议未得到处理", 4),
                   "general.rude-dismissive": ("使用生硬、反问或不耐烦的语句", 4)}  # the pack's message: for the rule
