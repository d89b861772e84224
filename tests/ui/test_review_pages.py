"""The review pages behind access control, as each role sees them (TestClient, no browser): what a
probe of the pages found, one test each."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from qa_service.access import service as access
from qa_service.app import create_app
from qa_service.config import AuthSettings
from qa_service.storage.db import session_scope
from tests.api.test_review_api import finding, report, store
from tests.conftest import make_settings

REVIEWER_ONLY = ['data-action="verdict"', 'data-action="add-manual"', 'data-action="complete"']


@pytest.fixture
def site(tmp_path, sqlite_url, redis_url, redis_conn):
    """A flagged transcript (a −10 finding, a +2 bonus, a fatal one) in the queue; keys for three roles."""
    with TestClient(create_app(make_settings(tmp_path, sqlite_url, redis_url, auth=AuthSettings(enabled=True)))) as c:
        sessions = c.app.state.runtime.sessions
        with session_scope(sessions) as s:
            keys = {role: access.create_key(session=s, role=role, team=team, name=f"{role}.k")[1]
                    for role, team in (("reviewer", None), ("supervisor", "after-sales"), ("admin", None))}
        c.headers["Authorization"] = f"Bearer {keys['admin']}"
        tid = store(c, sessions, "R1", report({
            "politeness": (92, 0.5, [finding("politeness", "general.rude-dismissive", -10),
                                     finding("politeness", "general.empathy", 2, seq=1, span=(0, 3))]),
            "compliance": (50, 0.5, [finding("compliance", "finance.guaranteed-return", -50, span=(9, 13), fatal=True)]),
        }))
        rid = c.get("/v1/reviews").json()["items"][0]["id"]
        yield {"client": c, "keys": keys, "tid": tid, "rid": rid}


def as_(site, role: str) -> dict:
    return {"Authorization": f"Bearer {site['keys'][role]}"}


def complete(site) -> None:
    r = site["client"].post(f"/v1/reviews/{site['rid']}/complete", json={"confirm_rest": True},
                            headers=as_(site, "reviewer"))
    assert r.status_code == 200, r.text


def test_controls_are_shown_only_to_roles_that_may_use_them(site):
    """A supervisor saw the verdict buttons, 补充漏检, 完成复核, 分配 and 成立/驳回, and met an English 403
    behind each."""
    c, tid = site["client"], site["tid"]
    reviewer = c.get(f"/ui/transcripts/{tid}", headers=as_(site, "reviewer")).text
    supervisor = c.get(f"/ui/transcripts/{tid}", headers=as_(site, "supervisor")).text
    assert all(control in reviewer for control in REVIEWER_ONLY)
    assert not any(control in supervisor for control in REVIEWER_ONLY)
    assert 'data-action="assign"' in c.get("/ui/queue", headers=as_(site, "reviewer")).text
    assert 'data-action="assign"' not in c.get("/ui/queue", headers=as_(site, "supervisor")).text

    complete(site)
    appeal = 'data-action="appeal"'
    assert appeal in c.get(f"/ui/transcripts/{tid}", headers=as_(site, "supervisor")).text
    assert appeal not in c.get(f"/ui/transcripts/{tid}", headers=as_(site, "reviewer")).text  # not an appellant
    fid = next(f["id"] for f in c.get(f"/v1/reviews/{site['rid']}").json()["findings"]
               if f["rule_id"] == "general.rude-dismissive")
    r = c.post(f"/v1/reviews/{site['rid']}/appeals", json={"finding_id": fid, "reason": "客户先骂人"},
               headers=as_(site, "supervisor"))
    assert r.status_code == 201, r.text
    decide = 'data-action="decide"'
    assert decide in c.get("/ui/appeals", headers=as_(site, "reviewer")).text
    assert decide not in c.get("/ui/appeals", headers=as_(site, "supervisor")).text
    assert decide not in c.get(f"/ui/transcripts/{tid}", headers=as_(site, "supervisor")).text


def test_pages_behind_a_login_are_not_kept_by_the_browser(site):
    """After 退出 the Back button showed the transcript again from the browser's cache."""
    c = site["client"]
    for path in (f"/ui/transcripts/{site['tid']}", "/ui/queue", "/ui/appeals", "/ui/"):
        assert c.get(path, headers=as_(site, "reviewer")).headers["cache-control"] == "no-store", path


def test_an_accepted_appeal_is_credited_to_who_decided_it(site):
    """After an accepted appeal the finding read "机检错误 · <reviewer> · 申诉 #1 成立", crediting the
    reviewer (who had confirmed it) with a rejection they never made."""
    c = site["client"]
    complete(site)
    fid = next(f["id"] for f in c.get(f"/v1/reviews/{site['rid']}").json()["findings"]
               if f["rule_id"] == "general.rude-dismissive")
    appeal = c.post(f"/v1/reviews/{site['rid']}/appeals", json={"finding_id": fid, "reason": "客户先骂人"},
                    headers=as_(site, "supervisor")).json()["id"]
    assert c.post(f"/v1/appeals/{appeal}/decision", json={"decision": "accepted"}).status_code == 200
    page = c.get(f"/ui/transcripts/{site['tid']}").text
    state = page[page.index(f'id="finding-{fid}"'):].split('class="state', 1)[1].split("</span>", 1)[0]
    assert f"申诉 #{appeal} 成立，改判为机检错误 · admin.k" in state
    assert "复核：机检正确 · reviewer.k" in state and "机检错误 · reviewer.k" not in state


def test_a_bonus_finding_cannot_be_appealed(site):
    """The appeal form was offered on a bonus (general.empathy +2), and accepting the appeal lowered the
    agent's score; the page offers none and the API refuses it with a 409 saying why."""
    c = site["client"]
    complete(site)
    findings = {f["rule_id"]: f["id"] for f in c.get(f"/v1/reviews/{site['rid']}").json()["findings"]}
    page = c.get(f"/ui/transcripts/{site['tid']}", headers=as_(site, "supervisor")).text
    bonus = page[page.index(f'id="finding-{findings["general.empathy"]}"'):].split("</li>", 1)[0]
    deduction = page[page.index(f'id="finding-{findings["general.rude-dismissive"]}"'):].split("</li>", 1)[0]
    assert 'data-action="appeal"' not in bonus and 'data-action="appeal"' in deduction
    r = c.post(f"/v1/reviews/{site['rid']}/appeals", json={"finding_id": findings["general.empathy"], "reason": "x"},
               headers=as_(site, "supervisor"))
    assert r.status_code == 409 and "adds +2 points" in r.json()["detail"] and r.json()["field"] == "finding_id"


def test_a_verdict_comment_goes_back_in_the_box_for_its_author_only(site):
    """The earlier comment fills the box so that its author's changed verdict keeps it; another reviewer
    who sent the box as it stood stored that comment under their own name."""
    import re

    c, tid, rid = site["client"], site["tid"], site["rid"]
    fid = next(f["id"] for f in c.get(f"/v1/reviews/{rid}").json()["findings"]
               if f["rule_id"] == "general.rude-dismissive")
    r = c.put(f"/v1/reviews/{rid}/findings/{fid}/verdict", json={"verdict": "confirmed", "comment": "语气生硬"},
              headers=as_(site, "reviewer"))
    assert r.status_code == 200, r.text

    def finding_html(role: str) -> str:
        page = c.get(f"/ui/transcripts/{tid}", headers=as_(site, role)).text
        return re.search(rf'<li [^>]*id="finding-{fid}".*?</li>', page, re.S).group(0)

    author, other = finding_html("reviewer"), finding_html("admin")
    assert 'value="语气生硬"' in author and '<div class="comment" hidden>语气生硬</div>' in author
    assert 'value=""' in other and '<div class="comment">语气生硬</div>' in other
    assert "data-comment" not in author + other  # the page decided: no box for the script to fill
