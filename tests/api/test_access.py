"""Access control: every role × route decision that matters, on a real database with keys enforced.

Two teams (A: after-sales, B: presales), one flagged transcript each, stored through the API by an
ingest key and scored the way the worker stores reports. Every refusal is checked to carry no data:
the body is one ``detail`` line that quotes neither the conversation nor the other team's agent.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from qa_service.app import create_app
from qa_service.api.responses import api_routes
from qa_service.config import APISettings, AuthSettings, Settings
from qa_service.access import service as key_repo
from qa_service.queue.tasks import record_report
from qa_service.storage.db import session_scope
from qa_service.storage.tables import ApiKey
from tests.api.test_review_api import UTTERANCES, finding, report
from tests.conftest import make_settings, transcript

TEAM_A, TEAM_B = "after-sales", "presales"
SECRET_TEXT = UTTERANCES[1]["text"]  # what must never leak in a refusal
PUBLIC = {"/healthz", "/readyz", "/metrics", "/ui", "/ui/static/{name}", "/ui/login", "/ui/logout",
          "/ui/needs-js"}  # /metrics: for scrapers (QA_API__METRICS); /ui/needs-js saves nothing, only says so


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def world(tmp_path, db_url, redis_url, redis_conn):
    settings = make_settings(tmp_path, db_url, redis_url, auth=AuthSettings(enabled=True))
    with TestClient(create_app(settings)) as client:
        sessions = client.app.state.runtime.sessions
        keys = {}
        with session_scope(sessions) as s:
            for label, role, team, name in [
                ("admin", "admin", None, "root"), ("ingest", "ingest", None, "crm-feed"),
                ("reviewer", "reviewer", None, "qa.zhang"), ("sup_a", "supervisor", TEAM_A, "lead.a"),
                ("sup_b", "supervisor", TEAM_B, "lead.b"), ("hr", "hr", None, "hr.li"),
            ]:
                keys[label] = _bearer(key_repo.create_key(session=s, role=role, team=team, name=name)[1])
        ids = {}
        for team, agent in [(TEAM_A, "a1"), (TEAM_B, "b1")]:
            r = client.post("/v1/transcripts", headers=keys["ingest"],
                            json=transcript(f"T-{team}", team=team, agent_id=agent, utterances=UTTERANCES))
            assert r.status_code == 202, r.text
            ids[team] = r.json()["id"]
            rep = report({"politeness": (80, 0.5, [finding("politeness", "rude-dismissive", -10)]),
                          "compliance": (50, 0.5, [finding("compliance", "guaranteed-return", -50, fatal=True)])})
            with session_scope(sessions) as s:
                record_report(session=s, transcript_id=ids[team], report=rep)
        yield client, keys, ids


def _refused(resp, status: int) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"detail"} and isinstance(body["detail"], str)
    assert SECRET_TEXT not in resp.text and "b1" not in resp.text and "a1" not in resp.text


def _review_id(client, keys, transcript_id: int) -> int:
    return client.get(f"/v1/transcripts/{transcript_id}/review", headers=keys["admin"]).json()["id"]


def test_access_without_key_is_401_with_no_data(world):
    client, keys, ids = world
    for path in [f"/v1/transcripts/{ids[TEAM_A]}", "/v1/transcripts", "/v1/reviews", "/v1/appraisals?period=2026-10",
                 "/ui/../v1/transcripts"]:
        r = client.get(path)
        _refused(r, 401)
        assert r.headers["www-authenticate"] == "Bearer"
    _refused(client.get("/v1/transcripts", headers=_bearer("qak_deadbeef_not-a-real-key")), 401)
    _refused(client.get("/v1/transcripts", headers={"Authorization": "Basic dXNlcjpwYXNz"}), 401)
    _refused(client.post("/v1/transcripts", json=transcript("no-key")), 401)
    # told to authenticate before the body is read: no schema hints for anonymous callers
    _refused(client.post("/v1/transcripts", content=b"{not json", headers={"content-type": "application/json"}), 401)
    _refused(client.post("/v1/transcripts", content=b"x" * 10_000_000), 401)
    # health stays public so load balancers can probe it
    assert client.get("/healthz").json() == {"status": "ok", "auth": "on"}


def test_access_an_unknown_query_parameter_is_a_403_for_a_key_refused_the_route_and_a_422_after(world):
    """Was: an ingest key's GET /v1/transcripts?bogus=1 was a 422 listing every filter the route takes."""
    client, keys, _ = world
    _refused(client.get("/v1/transcripts?bogus=1", headers=keys["ingest"]), 403)
    _refused(client.get("/v1/appraisals?period=2026-10&bogus=1", headers=keys["reviewer"]), 403)
    r = client.get("/v1/transcripts?bogus=1", headers=keys["reviewer"])
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "bogus"]
    assert client.get("/v1/transcripts?_=1", headers=keys["reviewer"]).status_code == 200


def test_access_x_api_key_header_works_like_bearer(world):
    client, keys, ids = world
    key = keys["reviewer"]["Authorization"].split()[1]
    assert client.get(f"/v1/transcripts/{ids[TEAM_A]}", headers={"X-API-Key": key}).status_code == 200


def test_access_ingest_key_posts_but_cannot_read_reports(world):
    client, keys, ids = world
    ing = keys["ingest"]
    assert client.post("/v1/transcripts/batch", headers=ing,
                       json={"transcripts": [transcript("ing-2"), transcript("ing-3")]}).status_code == 202
    assert client.post("/v1/kpis", headers=ing, json={"records": [
        {"agent_id": "a1", "team": TEAM_A, "date": "2026-10-01", "handled": 10}]}).status_code == 200
    for path in [f"/v1/transcripts/{ids[TEAM_A]}", "/v1/transcripts", "/v1/reviews",
                 f"/v1/transcripts/{ids[TEAM_A]}/review", "/v1/performance?period=2026-10",
                 "/v1/appraisals?period=2026-10", "/v1/kpis?period=2026-10", "/v1/rules", "/v1/audit", "/v1/keys"]:
        _refused(client.get(path, headers=ing), 403)


def test_access_supervisor_sees_only_own_team(world):
    client, keys, ids = world
    sup = keys["sup_a"]
    own = client.get(f"/v1/transcripts/{ids[TEAM_A]}", headers=sup)
    assert own.status_code == 200 and own.json()["report"]["fatal"] is True
    _refused(client.get(f"/v1/transcripts/{ids[TEAM_B]}", headers=sup), 403)
    _refused(client.get(f"/v1/transcripts/{ids[TEAM_B]}/review", headers=sup), 403)
    _refused(client.get(f"/v1/reviews/{_review_id(client, keys, ids[TEAM_B])}", headers=sup), 403)
    _refused(client.get(f"/v1/audit?transcript_id={ids[TEAM_B]}", headers=sup), 403)
    _refused(client.get(f"/v1/transcripts?team={TEAM_B}", headers=sup), 403)

    listed = client.get("/v1/transcripts", headers=sup).json()
    assert [i["team"] for i in listed["items"]] == [TEAM_A] and listed["total"] == 1
    queue = client.get("/v1/reviews", headers=sup).json()
    assert {i["team"] for i in queue["items"]} == {TEAM_A} and queue["total"] == 1
    everyone = client.get("/v1/reviews", headers=keys["reviewer"]).json()
    assert {i["team"] for i in everyone["items"]} == {TEAM_A, TEAM_B}

    perf = client.get("/v1/performance?period=2026-10", headers=sup).json()
    assert [a["agent_id"] for a in perf["agents"]] == ["a1"] and [t["team"] for t in perf["teams"]] == [TEAM_A]
    csv_text = client.get("/v1/appraisals?period=2026-10&format=csv", headers=sup).text
    assert "a1" in csv_text and "b1" not in csv_text
    hr_csv = client.get("/v1/appraisals?period=2026-10&format=csv", headers=keys["hr"]).text
    assert "a1" in hr_csv and "b1" in hr_csv


def test_access_supervisor_appeals_for_own_team_and_reviewer_decides(world):
    client, keys, ids = world
    rid_a, rid_b = _review_id(client, keys, ids[TEAM_A]), _review_id(client, keys, ids[TEAM_B])
    for rid in (rid_a, rid_b):
        r = client.post(f"/v1/reviews/{rid}/complete", headers=keys["reviewer"], json={"confirm_rest": True})
        assert r.status_code == 200, r.text
        assert r.json()["completed_by"] == "qa.zhang"  # the key's name, not a claimed `by`
    fid = client.get(f"/v1/reviews/{rid_a}", headers=keys["admin"]).json()["findings"][0]["id"]
    # a supervisor does not judge findings; hr neither
    _refused(client.put(f"/v1/reviews/{rid_a}/findings/{fid}/verdict", headers=keys["sup_a"],
                        json={"verdict": "rejected"}), 403)
    appeal = client.post(f"/v1/reviews/{rid_a}/appeals", headers=keys["sup_a"],
                         json={"finding_id": fid, "reason": "客户先辱骂坐席"})
    assert appeal.status_code == 201 and appeal.json()["appellant"] == "lead.a"
    fid_b = client.get(f"/v1/reviews/{rid_b}", headers=keys["admin"]).json()["findings"][0]["id"]
    _refused(client.post(f"/v1/reviews/{rid_b}/appeals", headers=keys["sup_a"],
                         json={"finding_id": fid_b, "reason": "x"}), 403)
    _refused(client.post(f"/v1/appeals/{appeal.json()['id']}/decision", headers=keys["sup_a"],
                         json={"decision": "accepted"}), 403)
    decided = client.post(f"/v1/appeals/{appeal.json()['id']}/decision", headers=keys["reviewer"],
                          json={"decision": "rejected", "comment": "录音证实"})
    assert decided.status_code == 200 and decided.json()["decided_by"] == "qa.zhang"
    assert [a["team"] for a in client.get("/v1/appeals", headers=keys["sup_b"]).json()["items"]] == []


def test_access_hr_reads_appraisals_but_cannot_review(world):
    client, keys, ids = world
    hr = keys["hr"]
    assert client.get("/v1/appraisals?period=2026-10", headers=hr).status_code == 200
    assert client.get("/v1/performance?period=2026-10", headers=hr).status_code == 200
    rid = _review_id(client, keys, ids[TEAM_A])
    fid = client.get(f"/v1/reviews/{rid}", headers=keys["admin"]).json()["findings"][0]["id"]
    _refused(client.put(f"/v1/reviews/{rid}/findings/{fid}/verdict", headers=hr, json={"verdict": "rejected"}), 403)
    _refused(client.post("/v1/reviews", headers=hr, json={"transcript_id": ids[TEAM_A]}), 403)
    _refused(client.post(f"/v1/reviews/{rid}/complete", headers=hr, json={}), 403)
    _refused(client.get(f"/v1/transcripts/{ids[TEAM_A]}", headers=hr), 403)
    _refused(client.post("/v1/transcripts", headers=hr, json=transcript("hr-1")), 403)
    _refused(client.post("/v1/kpis", headers=hr, json={"records": []}), 403)
    # nothing changed: the verdict was never recorded
    review = client.get(f"/v1/reviews/{rid}", headers=keys["admin"]).json()
    assert review["status"] == "queued" and all(f["verdict"] is None for f in review["findings"])


def test_access_actor_comes_from_the_key(world):
    client, keys, ids = world
    rid = _review_id(client, keys, ids[TEAM_A])
    fid = client.get(f"/v1/reviews/{rid}", headers=keys["admin"]).json()["findings"][0]["id"]
    _refused(client.put(f"/v1/reviews/{rid}/findings/{fid}/verdict", headers=keys["reviewer"],
                        json={"verdict": "confirmed", "by": "somebody-else"}), 403)
    ok = client.put(f"/v1/reviews/{rid}/findings/{fid}/verdict", headers=keys["reviewer"],
                    json={"verdict": "confirmed", "by": "qa.zhang"})
    assert ok.status_code == 200
    trail = client.get(f"/v1/reviews/{rid}/audit", headers=keys["reviewer"]).json()
    assert trail[-1]["actor"] == "qa.zhang" and trail[-1]["action"] == "finding_confirmed"


def test_access_revoked_key_stops_at_once(world):
    client, keys, ids = world
    created = client.post("/v1/keys", headers=keys["admin"], json={"role": "reviewer", "name": "temp"})
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("qak_") and client.get("/v1/transcripts", headers=_bearer(key)).status_code == 200
    listing = client.get("/v1/keys", headers=keys["admin"])
    assert key not in listing.text and key_repo.digest(key) not in listing.text
    with session_scope(client.app.state.runtime.sessions) as s:  # only the hash is at rest
        row = s.scalar(select(ApiKey).where(ApiKey.name == "temp"))
        assert row.key_hash == key_repo.digest(key) and key not in repr(vars(row))
    _refused(client.post("/v1/keys", headers=keys["reviewer"], json={"role": "admin"}), 403)
    bad = client.post("/v1/keys", headers=keys["admin"], json={"role": "supervisor"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "team"]
    assert client.delete(f"/v1/keys/{created.json()['id']}", headers=keys["admin"]).status_code == 200
    _refused(client.get("/v1/transcripts", headers=_bearer(key)), 401)


def test_access_new_key_names_a_team_not_known_yet_and_refuses_control_characters(world):
    client, keys, ids = world
    known = client.post("/v1/keys", headers=keys["admin"], json={"role": "supervisor", "team": TEAM_A})
    assert known.status_code == 201 and known.json()["warnings"] == []
    typo = client.post("/v1/keys", headers=keys["admin"], json={"role": "supervisor", "team": "after-sale"})
    assert typo.status_code == 201  # created: a team's first conversations may come after its keys
    (warning,) = typo.json()["warnings"]
    assert "'after-sale' is not known yet" in warning and f"known teams: {TEAM_A}, {TEAM_B}" in warning
    for field, value in [("name", "lead\nrevoked key 1"), ("name", "x\x1b[31m"), ("team", "a\u202eb"),
                         ("name", "   ")]:
        body = {"role": "supervisor", "team": TEAM_A, field: value}
        bad = client.post("/v1/keys", headers=keys["admin"], json=body)
        assert bad.status_code == 422, (field, value, bad.text)
        assert bad.json()["detail"][0]["loc"] == ["body", field]
    listing = client.get("/v1/keys", headers=keys["admin"]).json()
    assert not any("\n" in k["name"] or "\x1b" in k["name"] for k in listing)


def test_access_ui_login_cookie_and_team_scope(world):
    client, keys, ids = world
    r = client.get("/ui/queue", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/login?next=/ui/queue"
    assert "API 密钥" in client.get("/ui/login").text
    assert client.post("/ui/login", json={"key": "qak_nope_nope"}).status_code == 401
    key = keys["sup_a"]["Authorization"].split()[1]
    login = client.post("/ui/login", json={"key": key})
    assert login.status_code == 200 and login.json() == {"name": "lead.a", "role": "supervisor", "team": TEAM_A}
    cookie = login.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and key.lower() not in cookie
    page = client.get("/ui/queue")
    assert page.status_code == 200 and "lead.a" in page.text and "演示模式" not in page.text
    assert client.get(f"/ui/transcripts/{ids[TEAM_A]}").status_code == 200
    denied = client.get(f"/ui/transcripts/{ids[TEAM_B]}")
    assert denied.status_code == 403 and SECRET_TEXT not in denied.text
    # cookie-authenticated writes must come from the site's own pages
    rid = _review_id(client, keys, ids[TEAM_A])
    _refused(client.post("/v1/reviews", json={"transcript_id": ids[TEAM_A]}), 403)
    same_site = client.post("/v1/reviews", json={"transcript_id": ids[TEAM_A]},
                            headers={"Origin": "http://testserver"})
    assert same_site.status_code == 200 and same_site.json()["id"] == rid
    client.post("/ui/logout", headers={"Origin": "http://testserver"})
    assert client.get("/ui/queue", follow_redirects=False).status_code == 303
    client.cookies.clear()
    client.cookies.set("qa_session", login.cookies["qa_session"])  # a stolen cookie after logout
    assert client.get("/ui/queue", follow_redirects=False).status_code == 303


def _declared_roles(dependant) -> set[tuple[str, ...]]:
    found = set()
    for dep in dependant.dependencies:
        if hasattr(dep.call, "roles"):
            found.add(dep.call.roles)
        found |= _declared_roles(dep)
    return found


def test_access_every_route_declares_its_roles(tmp_path):
    app = create_app(Settings(data_dir=tmp_path))
    undeclared, checked = [], set()
    for route in api_routes(app.routes):
        roles = _declared_roles(route.dependant)
        if route.path in PUBLIC:
            assert not roles, f"{route.path} is public but declares roles"
            continue
        checked.add(route.path)
        if len(roles) != 1:
            undeclared.append(f"{sorted(route.methods)} {route.path}")
        else:
            assert "admin" in next(iter(roles))
    assert not undeclared, f"routes without exactly one role declaration: {undeclared}"
    assert {"/v1/transcripts/{transcript_id}", "/v1/reviews/{review_id}/findings/{finding_id}/verdict",
            "/v1/appraisals", "/v1/keys", "/ui/transcripts/{transcript_id}"} <= checked and len(checked) >= 30


@pytest.mark.parametrize("host,enabled,enforced", [
    ("127.0.0.1", None, False), ("localhost", None, False), ("::1", None, False),
    ("0.0.0.0", None, True), ("10.1.2.3", None, True), ("127.0.0.1", True, True), ("0.0.0.0", False, False),
])
def test_access_enforced_by_default_off_loopback(host, enabled, enforced):
    s = Settings(api=APISettings(host=host), auth=AuthSettings(enabled=enabled))
    assert s.auth_enforced is enforced


def test_access_ui_login_works_without_script_and_never_puts_the_key_in_a_url(world):
    client, keys, _ = world
    key = keys["reviewer"]["Authorization"].split()[1]
    assert 'method="post"' in client.get("/ui/login?next=/ui/appeals").text
    bad = client.post("/ui/login", data={"key": "qak_bad_bad", "next": "/ui/appeals"}, follow_redirects=False)
    assert bad.status_code == 303 and bad.headers["location"] == "/ui/login?failed=1&next=/ui/appeals"
    assert "密钥无效" in client.get(bad.headers["location"]).text
    ok = client.post("/ui/login", data={"key": key, "next": "//evil.example/x"}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/ui/"  # no open redirect
    for sneaky in ("/\t/evil.example/x", "/\n/evil.example", "/\r/evil.example", "/\x7f/evil.example"):
        # a browser drops tabs and newlines from a URL: the page's script would follow //evil.example
        assert 'data-next="/ui/"' in client.get("/ui/login", params={"next": sneaky}).text, repr(sneaky)
    assert key not in ok.headers["location"] and "qa_session" in ok.headers["set-cookie"]
    assert client.get("/ui/appeals").status_code == 200


def test_access_revoked_elsewhere_holds_within_the_key_cache(world, monkeypatch):
    """`qa keys revoke` in another process: this API process trusts its cached check for KEY_CACHE_S at most."""
    client, keys, _ = world
    headers = keys["reviewer"]
    assert client.get("/v1/transcripts", headers=headers).status_code == 200  # verified and cached
    with session_scope(client.app.state.runtime.sessions) as s:
        key_repo.revoke_key(session=s, ident=headers["Authorization"].split()[1])
    assert client.get("/v1/transcripts", headers=headers).status_code == 200  # still inside the window
    cache = client.app.state.runtime.verified_keys
    for digest, (_, who) in list(cache._items.items()):  # the window passes
        monkeypatch.setitem(cache._items, digest, (0.0, who))
    _refused(client.get("/v1/transcripts", headers=headers), 401)


def test_access_cross_site_form_posts_are_refused_and_pages_ask_for_the_browser_protections(world):
    """Found by a probe: a page elsewhere could post a form (no script, no CORS) to log the user in as
    the attacker, or — with access control off — overwrite KPI rows as ``text/plain`` CSV."""
    client, keys, _ = world
    key = keys["reviewer"]["Authorization"].split()[1]
    evil = {"Origin": "https://evil.example"}
    login = client.post("/ui/login", data={"key": key}, headers=evil, follow_redirects=False)
    assert login.status_code == 403 and "set-cookie" not in login.headers
    assert client.post("/ui/login", data={"key": key}, headers={"Origin": "http://testserver"},
                       follow_redirects=False).status_code == 303
    csv = "agent_id,date,contacts\na1,2026-10-01,4242\n"
    kpis = client.post("/v1/kpis", content=csv, headers={**keys["ingest"], **evil, "content-type": "text/plain"})
    assert kpis.status_code == 403
    assert client.post("/v1/kpis", content=csv, headers={**keys["ingest"], "content-type": "text/plain"}
                       ).status_code == 200  # a program sends no Origin
    page = client.get("/ui/queue", headers=keys["reviewer"])
    for name in ("content-security-policy", "x-frame-options", "x-content-type-options", "referrer-policy"):
        assert name in page.headers and name in kpis.headers, name
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_access_open_mode_refuses_cross_site_writes_too(tmp_path, db_url, redis_url, redis_conn):
    settings = make_settings(tmp_path, db_url, redis_url)  # access control off: a loopback default
    with TestClient(create_app(settings)) as client:
        csv = "agent_id,date,contacts\nx1,2026-10-01,7\n"
        refused = client.post("/v1/kpis", content=csv,
                              headers={"Origin": "http://evil.example", "content-type": "text/plain"})
        assert refused.status_code == 403 and "cross-site" in refused.json()["detail"]
        assert client.get("/v1/kpis", params={"period": "2026-10"}).json() == []  # nothing was stored
        assert client.post("/v1/kpis", content=csv, headers={"content-type": "text/plain"}).status_code == 200
        assert client.post("/v1/transcripts", json=transcript("same-site"),
                           headers={"Origin": "http://testserver"}).status_code == 202


def test_access_open_mode_answers_only_to_local_host_names(tmp_path, db_url, redis_url, redis_conn):
    """DNS rebinding: a page on another site whose name is made to resolve to 127.0.0.1 is same-origin in
    the browser and could read an open API. Only its Host header tells, so an open API answers to
    loopback names (and QA_API__ALLOWED_HOSTS) only. With access control on, keys guard it instead."""
    open_app = create_app(make_settings(tmp_path, db_url, redis_url, api={"allowed_hosts": ["qa.corp.example"]}))
    with TestClient(open_app) as client:
        for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST", "qa.corp.example"):
            assert client.get("/v1/transcripts", headers={"Host": host}).status_code == 200, host
        for host in ("rebind.evil.example:8000", "testserver", "127.0.0.1.evil.example"):
            r = client.get("/v1/transcripts", headers={"Host": host})
            assert r.status_code == 421 and "QA_API__ALLOWED_HOSTS" in r.json()["detail"], host
    anything = make_settings(tmp_path, db_url, redis_url, api={"allowed_hosts": ["*"]})
    assert anything.open_hosts() is None
    keyed = make_settings(tmp_path, db_url, redis_url, auth=AuthSettings(enabled=True))
    assert keyed.open_hosts() is None  # keys guard it: a rebinding page has none


def test_access_a_revoked_reviewers_open_reviews_go_back_to_the_queue(world):
    """After DELETE /v1/keys/{id} a reviewer's reviews stayed assigned to a name that could no longer open them:
    仅未分配 did not list them and 分配 could not deal them out. The open ones are unassigned (audited, with the
    reason); a done one keeps who did it."""
    client, keys, ids = world
    rid_a, rid_b = _review_id(client, keys, ids[TEAM_A]), _review_id(client, keys, ids[TEAM_B])
    created = client.post("/v1/keys", headers=keys["admin"], json={"role": "reviewer", "name": "rev.gone"}).json()
    dealt = client.post("/v1/reviews/assign", headers=keys["admin"],
                        json={"reviewers": ["rev.gone"], "mode": "manual", "review_ids": [rid_a, rid_b]})
    assert dealt.status_code == 200, dealt.text
    done = client.post(f"/v1/reviews/{rid_b}/complete", headers=_bearer(created["key"]), json={"confirm_rest": True})
    assert done.status_code == 200, done.text
    assert client.get("/v1/reviews?unassigned=true", headers=keys["admin"]).json()["total"] == 0
    assert client.delete(f"/v1/keys/{created['id']}", headers=keys["admin"]).status_code == 200
    listed = client.get("/v1/reviews?unassigned=true", headers=keys["admin"]).json()["items"]
    assert [r["id"] for r in listed] == [rid_a]
    assert client.get(f"/v1/reviews/{rid_b}", headers=keys["admin"]).json()["assigned_to"] == "rev.gone"
    event = client.get(f"/v1/reviews/{rid_a}/audit", headers=keys["admin"]).json()[-1]
    assert (event["action"], event["actor"]) == ("unassigned", "root")
    assert event["before"]["assigned_to"] == "rev.gone"
    assert event["after"] == {"status": "queued", "assigned_to": None, "reason": "key revoked"}
    again = client.post("/v1/reviews/assign", headers=keys["admin"], json={"reviewers": ["qa.zhang"], "limit": 10})
    assert again.json()["assigned"] == {str(rid_a): "qa.zhang"}
