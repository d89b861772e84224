"""The review workflow with access control on, as a QA lead's probe found it (one test each): assigning to a
name that is no reviewer, a manual finding sent twice or quoting the customer, closing someone else's
review, an unchanged verdict written to the audit trail again. Open mode keeps names free text."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from qa_service.app import create_app
from qa_service.config import AuthSettings
from tests.api.test_review_api import api, finding, report, sessions_for, store  # noqa: F401 (fixtures)
from tests.conftest import REPO, make_settings
from tests.support import key_headers

KEYS = (("lead.qa", "reviewer", None), ("rev.li", "reviewer", None), ("rev.wu", "reviewer", "pre-sales"),
        ("sup.zhao", "supervisor", "after-sales"), ("admin.chen", "admin", None))
# T: politeness 80 (−10 rude on the agent's turn #1, −10 greeting), objection 100 (weight 0); #0 and #2 are
# the customer's turns
T = {"politeness": (80, 1.0, [finding("politeness", "general.rude-dismissive", -10),
                              finding("politeness", "general.greeting-missing", -10, span=(0, 3))]),
     "objection": (100, 0.0, [])}


@pytest.fixture
def site(tmp_path, db_url, redis_url, redis_conn):
    """One flagged after-sales transcript (final 80 → low score) in the queue; a key per person."""
    with TestClient(create_app(make_settings(tmp_path, db_url, redis_url, auth=AuthSettings(enabled=True)))) as c:
        sessions = c.app.state.runtime.sessions
        keys = key_headers(sessions, KEYS)
        c.headers.update(keys["admin.chen"])
        store(c, sessions, "W1", report(T, pass_mark=90))
        rid = c.get("/v1/reviews").json()["items"][0]["id"]
        yield c, keys, rid


def _audit(c, rid: int, action: str) -> list[dict]:
    return [e for e in c.get(f"/v1/reviews/{rid}/audit").json() if e["action"] == action]


def test_a_review_is_assigned_only_to_a_reviewer_who_can_open_it(site):
    """`rev.lii` (a typo), a supervisor's name and a reviewer scoped to another team were all accepted (200),
    and the review was then in nobody's list; each is refused naming the reviewer, and nothing is assigned."""
    c, keys, rid = site
    r = c.post("/v1/reviews/assign", json={"reviewers": ["rev.lii"], "mode": "manual", "review_ids": [rid]},
               headers=keys["lead.qa"])
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "reviewers"]
    assert "'rev.lii' is no active key's name" in r.json()["detail"][0]["msg"]
    r = c.post("/v1/reviews/assign", json={"reviewers": ["rev.li", "rev.lii"], "review_ids": [rid]},
               headers=keys["lead.qa"])
    assert r.status_code == 422 and "'rev.lii'" in r.json()["detail"][0]["msg"]  # round robin: none dealt
    r = c.post("/v1/reviews/assign", json={"reviewers": ["sup.zhao"], "mode": "manual", "review_ids": [rid]},
               headers=keys["lead.qa"])
    assert r.status_code == 422 and "is a supervisor key" in r.json()["detail"][0]["msg"]
    r = c.post("/v1/reviews/assign", json={"reviewers": ["rev.wu"], "mode": "manual", "review_ids": [rid]},
               headers=keys["lead.qa"])
    assert r.status_code == 409 and r.json()["field"] == "reviewers"
    assert f"'rev.wu' is scoped to team pre-sales and cannot see reviews [{rid}] (team after-sales)" \
        in r.json()["detail"]
    assert c.get(f"/v1/reviews/{rid}").json()["assigned_to"] is None and _audit(c, rid, "assigned") == []

    r = c.post("/v1/reviews/assign", json={"reviewers": ["rev.li"], "mode": "manual", "review_ids": [rid]},
               headers=keys["lead.qa"])
    assert r.status_code == 200 and r.json()["assigned"] == {str(rid): "rev.li"}


def test_open_mode_assigns_to_any_name(api, sessions_for):  # noqa: F811
    """With access control off no key names anyone: a reviewer's name is free text, as before."""
    store(api, sessions_for, "W2", report(T, pass_mark=90))
    rid = api.get("/v1/reviews").json()["items"][0]["id"]
    r = api.post("/v1/reviews/assign", json={"reviewers": ["nobody.x"], "mode": "manual", "review_ids": [rid],
                                             "by": "lead"})
    assert r.status_code == 200 and r.json()["assigned"] == {str(rid): "nobody.x"}


def test_a_manual_finding_sent_twice_is_added_once(site):
    """A client's retry stored the same −5 twice (final 80 → 75 → 70); the repeat answers 200 with the first."""
    c, keys, rid = site
    body = {"dimension": "politeness", "utterance_index": 1, "quote": "你自己看说明", "points": -5,
            "message": "未主动跟进"}
    first = c.post(f"/v1/reviews/{rid}/manual-findings", json=body, headers=keys["rev.li"])
    again = c.post(f"/v1/reviews/{rid}/manual-findings", json=body, headers=keys["rev.li"])
    assert (first.status_code, again.status_code) == (201, 200)
    assert [m["id"] for m in again.json()["manual_findings"]] == [m["id"] for m in first.json()["manual_findings"]]
    assert first.json()["final_score"] == again.json()["final_score"] == 75
    assert len(_audit(c, rid, "manual_added")) == 1
    # not the same finding: another reviewer's (taking the review over), or another message, is one of its own
    other = c.post(f"/v1/reviews/{rid}/manual-findings", json={**body, "take_over": True}, headers=keys["lead.qa"])
    assert other.status_code == 201 and len(other.json()["manual_findings"]) == 2
    # once the first is taken back, sending it again adds it again
    mid = first.json()["manual_findings"][0]["id"]
    assert c.delete(f"/v1/reviews/{rid}/manual-findings/{mid}", params={"take_over": True},
                    headers=keys["rev.li"]).status_code == 200
    assert c.post(f"/v1/reviews/{rid}/manual-findings", json=body, headers=keys["rev.li"]).status_code == 201


def test_an_agent_deduction_quoting_the_customer_is_refused(site):
    """A politeness −5 quoting the customer's words (turn #0) was charged to the agent; it is a 422 at
    utterance_index. Objection (the customer's objection left unhandled) quotes the customer, as the
    machine's findings do; a quote not in the turn stays a 422 at quote."""
    c, keys, rid = site
    body = {"dimension": "politeness", "utterance_index": 0, "quote": "稳赚吗", "points": -5, "message": "x"}
    r = c.post(f"/v1/reviews/{rid}/manual-findings", json=body, headers=keys["rev.li"])
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "utterance_index"]
    assert "utterance_index 0 is a customer turn" in r.json()["detail"][0]["msg"]
    r = c.post(f"/v1/reviews/{rid}/manual-findings", json={**body, "quote": "稳赚不赔"}, headers=keys["rev.li"])
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "quote"]
    r = c.post(f"/v1/reviews/{rid}/manual-findings", json={**body, "dimension": "objection", "message": "异议未处理"},
               headers=keys["rev.li"])
    assert r.status_code == 201 and r.json()["manual_findings"][0]["quote"] == "稳赚吗"
    assert c.get(f"/v1/reviews/{rid}").json()["final_score"] == 80  # objection weighs 0: nothing moved
    assert len(_audit(c, rid, "manual_added")) == 1  # the refused ones changed nothing


def test_a_review_assigned_to_another_is_completed_only_by_taking_it_over(site):
    """rev.li closed lead.qa's review (200), confirming its unjudged findings under rev.li's name; now it is
    a 409 naming the assignee — admins too — unless the request says take_over, recorded in the audit."""
    c, keys, rid = site
    assert c.post("/v1/reviews/assign", json={"reviewers": ["lead.qa"], "mode": "manual", "review_ids": [rid]},
                  headers=keys["lead.qa"]).status_code == 200
    for who in ("rev.li", "admin.chen"):
        r = c.post(f"/v1/reviews/{rid}/complete", json={"confirm_rest": True}, headers=keys[who])
        assert r.status_code == 409 and r.json()["field"] == "take_over"
        assert f"review {rid} is assigned to lead.qa" in r.json()["detail"]
    assert c.get(f"/v1/reviews/{rid}").json()["status"] == "queued"
    r = c.post(f"/v1/reviews/{rid}/complete", json={"confirm_rest": True, "take_over": True}, headers=keys["rev.li"])
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "done" and done["completed_by"] == "rev.li" and done["assigned_to"] == "rev.li"
    [taken] = _audit(c, rid, "taken_over")
    assert taken["actor"] == "rev.li" and taken["before"]["assigned_to"] == "lead.qa"
    assert taken["after"]["assigned_to"] == "rev.li"


def test_the_assignee_completes_their_own_review_without_taking_over(site):
    c, keys, rid = site
    assert c.post("/v1/reviews/assign", json={"reviewers": ["rev.li"], "mode": "manual", "review_ids": [rid]},
                  headers=keys["lead.qa"]).status_code == 200
    r = c.post(f"/v1/reviews/{rid}/complete", json={"confirm_rest": True}, headers=keys["rev.li"])
    assert r.status_code == 200 and _audit(c, rid, "taken_over") == []


def test_open_mode_completes_anyones_review(api, sessions_for):  # noqa: F811
    """Without keys the names are typed: closing a review assigned to another name works as before."""
    store(api, sessions_for, "W3", report(T, pass_mark=90))
    rid = api.get("/v1/reviews").json()["items"][0]["id"]
    api.post("/v1/reviews/assign", json={"reviewers": ["qa-li"], "mode": "manual", "review_ids": [rid], "by": "x"})
    r = api.post(f"/v1/reviews/{rid}/complete", json={"confirm_rest": True, "by": "qa-wang"})
    assert r.status_code == 200 and r.json()["completed_by"] == "qa-wang"


def test_an_unchanged_verdict_writes_no_audit_row(site):
    """The same verdict sent twice wrote two finding_confirmed rows with the same before and after."""
    c, keys, rid = site
    fid = c.get(f"/v1/reviews/{rid}").json()["findings"][0]["id"]
    url = f"/v1/reviews/{rid}/findings/{fid}/verdict"
    for _ in range(2):
        r = c.put(url, json={"verdict": "confirmed", "comment": "语气生硬"}, headers=keys["rev.li"])
        assert r.status_code == 200 and r.json()["findings"][0]["verdict"] == "confirmed"
    assert len(_audit(c, rid, "finding_confirmed")) == 1
    # a change is a change: another comment, or the same verdict by another reviewer
    assert c.put(url, json={"verdict": "confirmed"}, headers=keys["rev.li"]).status_code == 200
    assert c.put(url, json={"verdict": "confirmed", "take_over": True}, headers=keys["lead.qa"]).status_code == 200
    assert [e["actor"] for e in _audit(c, rid, "finding_confirmed")] == ["rev.li", "rev.li", "lead.qa"]


def test_another_reviewers_review_is_judged_only_by_taking_it_over(site):
    """Only closing was guarded: any reviewer rejected findings and added or removed deductions on a review
    assigned to someone else, under their own name. Now each is a 409 naming the assignee, changing nothing,
    unless the request says take_over (or the review is taken over first: POST …/take-over)."""
    c, keys, rid = site
    assert c.post("/v1/reviews/assign", json={"reviewers": ["lead.qa"], "mode": "manual", "review_ids": [rid]},
                  headers=keys["lead.qa"]).status_code == 200
    fid = c.get(f"/v1/reviews/{rid}").json()["findings"][0]["id"]
    manual = {"dimension": "politeness", "utterance_index": 1, "quote": "你自己看说明", "points": -5, "message": "未跟进"}
    mine = c.post(f"/v1/reviews/{rid}/manual-findings", json=manual, headers=keys["lead.qa"])
    assert mine.status_code == 201
    mid = mine.json()["manual_findings"][0]["id"]
    before = c.get(f"/v1/reviews/{rid}").json()
    for r in (c.put(f"/v1/reviews/{rid}/findings/{fid}/verdict", json={"verdict": "rejected"}, headers=keys["rev.li"]),
              c.post(f"/v1/reviews/{rid}/manual-findings", json={**manual, "points": -20}, headers=keys["rev.li"]),
              c.delete(f"/v1/reviews/{rid}/manual-findings/{mid}", headers=keys["admin.chen"])):
        assert r.status_code == 409 and r.json()["field"] == "take_over", r.text
        assert f"review {rid} is assigned to lead.qa; send take_over: true to" in r.json()["detail"]
    after = c.get(f"/v1/reviews/{rid}").json()
    assert after == before and after["final_score"] == 75 and _audit(c, rid, "taken_over") == []

    r = c.put(f"/v1/reviews/{rid}/findings/{fid}/verdict", json={"verdict": "rejected", "take_over": True},
              headers=keys["rev.li"])
    assert r.status_code == 200 and r.json()["assigned_to"] == "rev.li" and r.json()["final_score"] == 85
    [taken] = _audit(c, rid, "taken_over")
    assert (taken["actor"], taken["before"]["assigned_to"], taken["after"]["assigned_to"]) == \
        ("rev.li", "lead.qa", "rev.li")
    # now rev.li's: lead.qa is the one refused, until taking it back with the take-over route (audited too)
    r = c.delete(f"/v1/reviews/{rid}/manual-findings/{mid}", headers=keys["lead.qa"])
    assert r.status_code == 409 and "assigned to rev.li" in r.json()["detail"]
    r = c.post(f"/v1/reviews/{rid}/take-over", json={}, headers=keys["lead.qa"])
    assert r.status_code == 200 and r.json()["assigned_to"] == "lead.qa"
    assert c.delete(f"/v1/reviews/{rid}/manual-findings/{mid}", headers=keys["lead.qa"]).status_code == 200
    assert [e["actor"] for e in _audit(c, rid, "taken_over")] == ["rev.li", "lead.qa"]
    # taking over one's own review changes nothing; a done review has nothing to take over
    assert c.post(f"/v1/reviews/{rid}/take-over", json={}, headers=keys["lead.qa"]).status_code == 200
    assert len(_audit(c, rid, "taken_over")) == 2
    assert c.post(f"/v1/reviews/{rid}/complete", json={"confirm_rest": True},
                  headers=keys["lead.qa"]).status_code == 200
    r = c.post(f"/v1/reviews/{rid}/take-over", json={}, headers=keys["rev.li"])
    assert r.status_code == 409 and "nothing to take over" in r.json()["detail"]
    # a reviewer of another team is refused as reading it is
    assert c.get(f"/v1/reviews/{rid}", headers=keys["rev.wu"]).status_code == 403
    assert c.post(f"/v1/reviews/{rid}/take-over", json={}, headers=keys["rev.wu"]).status_code == 403


def test_open_mode_judges_anyones_review(api, sessions_for):  # noqa: F811
    """Without keys the names are typed: a verdict on a review assigned to another name works as before."""
    store(api, sessions_for, "W4", report(T, pass_mark=90))
    rid = api.get("/v1/reviews").json()["items"][0]["id"]
    api.post("/v1/reviews/assign", json={"reviewers": ["qa-li"], "mode": "manual", "review_ids": [rid], "by": "x"})
    fid = api.get(f"/v1/reviews/{rid}").json()["findings"][0]["id"]
    r = api.put(f"/v1/reviews/{rid}/findings/{fid}/verdict", json={"verdict": "rejected", "by": "qa-wang"})
    assert r.status_code == 200 and r.json()["assigned_to"] == "qa-li"


BANK = """\
name: bank
version: "1"
scenario: bank
scorecard: {weights: {compliance: 1}}
rules:
  - id: customer-reports-fraud
    dimension: compliance
    role: customer
    points: -10
    message: 客户反映被诈骗（须按流程上报）
    match: {phrases: [被骗了]}
    examples: {match: [我被骗了], no_match: [好的]}
"""


def test_a_miss_of_a_rule_that_reads_customer_turns_may_quote_the_customer(tmp_path, db_url, redis_url, redis_conn):
    """From a review: a pack's ``role: customer`` compliance rule (the machine charges the agent on the
    customer's "被骗了") could not have its miss recorded (422), so calibration counted none. Naming the rule,
    or any compliance deduction on a transcript scored with that pack, may quote the customer; compliance on a
    pack with no such rule, politeness, or an agent rule named, stays a 422; calibration counts the miss."""
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    (rules / "bank.yaml").write_text(BANK, encoding="utf-8")
    settings = make_settings(tmp_path, db_url, redis_url, scoring={"rules_dir": rules})
    dims = {"compliance": (100, 1.0, []), "politeness": (100, 0.0, [])}
    with TestClient(create_app(settings)) as c:
        sessions = c.app.state.runtime.sessions
        bank = store(c, sessions, "B1", replace(report(dims, pass_mark=101), rule_pack="bank"))
        plain = store(c, sessions, "G1", report(dims, pass_mark=101))
        rid = {i["transcript_id"]: i["id"] for i in c.get("/v1/reviews").json()["items"]}
        body = {"dimension": "compliance", "utterance_index": 0, "quote": "稳赚吗", "points": -10,
                "message": "客户反映被诈骗（漏检）", "rule_id": "bank.customer-reports-fraud", "by": "rev.li"}

        def add(transcript: int, **change) -> object:
            return c.post(f"/v1/reviews/{rid[transcript]}/manual-findings", json={**body, **change})

        def refused(r, words: str) -> None:
            assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "utterance_index"], r.text
            assert words in r.json()["detail"][0]["msg"]

        r = add(bank)
        assert r.status_code == 201, r.text
        assert (r.json()["manual_findings"][0]["quote"], r.json()["final_score"]) == ("稳赚吗", 90)
        assert add(bank, rule_id=None, message="客户反映被诈骗（未报）").status_code == 201  # the pack reads the customer
        refused(add(bank, dimension="politeness", rule_id=None), "utterance_index 0 is a customer turn: a politeness")
        # a transcript scored with a pack no compliance rule of which reads the customer: only the named rule may
        refused(add(plain, rule_id=None), "utterance_index 0 is a customer turn: a compliance deduction judges")
        refused(add(plain, rule_id="finance.guaranteed-return"), "rule finance.guaranteed-return reads the agent's")
        assert add(plain).status_code == 201
        assert c.get(f"/v1/reviews/{rid[plain]}").json()["final_score"] == 90
        assert c.post(f"/v1/reviews/{rid[bank]}/complete", json={"by": "rev.li"}).status_code == 200
        cal = c.get("/v1/calibration").json()
        assert {r["rule_id"]: r["missed"] for r in cal["rules"]} == {"bank.customer-reports-fraud": 1}
        assert {d["dimension"]: d["missed"] for d in cal["dimensions"]}["compliance"] == 2  # the unnamed one too
