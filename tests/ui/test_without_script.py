"""The pages without JavaScript (TestClient; the browser's own run is in test_browser.py): 机检正确, 完成复核 and
退出 did nothing, 补充漏检 and 分配 were GETs to the page itself that saved nothing, said nothing and put the
reviewer's text in the URL, and nothing said that the page needs its script."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.ui.test_review_pages import as_, site  # noqa: F401  (a fixture)

NOTICE = "复核操作需要启用 JavaScript"


def test_pages_whose_actions_need_the_script_say_so_and_post_nothing_in_the_url(site):  # noqa: F811
    c = site["client"]
    pages = {f"/ui/transcripts/{site['tid']}": 1, "/ui/queue": 1, "/ui/appeals": 0}
    for path in pages:
        html = c.get(path, headers=as_(site, "reviewer")).text
        assert re.search(rf"<noscript>.*{NOTICE}.*</noscript>", html), path
        forms = re.findall(r"<form [^>]*data-action=[^>]*>", html)
        assert len(forms) >= pages[path], path
        for form in forms:
            assert 'method="post"' in form and 'action="/ui/needs-js"' in form, form
    said = c.post("/ui/needs-js", data={"message": "无JS补充", "points": "-5"}, headers={"Origin": "http://testserver"})
    assert said.status_code == 400 and said.headers["content-type"].startswith("text/html")
    assert "未保存" in said.text and "需要启用 JavaScript" in said.text and "无JS补充" not in said.text
    assert c.get(f"/v1/reviews/{site['rid']}").json()["manual_findings"] == []  # nothing was added


def test_logout_is_a_form_and_its_address_answers_a_page(site):  # noqa: F811
    """退出 was a button that only a script could send; GET /ui/logout (the address the docs name) was
    {"detail":"Method Not Allowed"}."""
    browser = TestClient(site["client"].app)  # a browser's cookies, no key header
    assert browser.get("/ui/logout", follow_redirects=False).headers["location"] == "/ui/login"  # nobody logged in
    r = browser.post("/ui/login", data={"key": site["keys"]["reviewer"], "next": "/ui/queue"}, follow_redirects=False)
    assert r.status_code == 303
    page = browser.get("/ui/queue").text
    assert re.search(r'<form class="me" method="post" action="/ui/logout">.*?<button id="logout" type="submit">退出',
                     page, re.S)
    asked = browser.get("/ui/logout", follow_redirects=False)
    assert asked.status_code == 200 and 'lang="zh-CN"' in asked.text
    assert '<form method="post" action="/ui/logout">' in asked.text and "reviewer.k" in asked.text
    assert browser.get("/ui/queue", follow_redirects=False).status_code == 200  # the GET ended nothing
    out = browser.post("/ui/logout", content=b"", follow_redirects=False,  # a form of no fields, as a browser posts it
                       headers={"Origin": "http://testserver", "Content-Type": "application/x-www-form-urlencoded"})
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert browser.get("/ui/queue", follow_redirects=False).status_code == 303
    assert browser.post("/ui/logout").json() == {"logged_out": True}  # a script's POST: as before


def test_an_expired_login_says_so_on_the_login_page(site):  # noqa: F811
    """A login past its QA_AUTH__SESSION_HOURS sent the user to the plain login page, as if never logged in."""
    from datetime import timedelta

    from sqlalchemy import update

    from qa_service.storage.db import session_scope
    from qa_service.storage.tables import LoginSession, utcnow

    browser = TestClient(site["client"].app)
    plain = browser.get("/ui/appeals", follow_redirects=False)  # never logged in: nothing to say
    assert plain.headers["location"] == "/ui/login?next=/ui/appeals"
    r = browser.post("/ui/login", data={"key": site["keys"]["reviewer"], "next": "/ui/appeals"}, follow_redirects=False)
    kept = int(re.search(r"Max-Age=(\d+)", r.headers["set-cookie"], re.I).group(1))
    hours = site["client"].app.state.runtime.settings.auth.session_hours
    assert kept > hours * 3600  # the browser still sends it once the login has ended, so that the page can say so
    assert browser.get("/ui/appeals", follow_redirects=False).status_code == 200
    with session_scope(site["client"].app.state.runtime.sessions) as s:
        s.execute(update(LoginSession).values(expires_at=utcnow() - timedelta(minutes=1)))
    gone = browser.get("/ui/appeals", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"] == "/ui/login?next=/ui/appeals&expired=1"
    page = browser.get(gone.headers["location"]).text
    assert '<p class="error" role="alert">登录已过期，请重新登录。</p>' in page
    assert 'name="next" value="/ui/appeals"' in page
    assert "登录已过期" not in browser.get("/ui/login?next=/ui/appeals").text
