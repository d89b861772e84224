"""The transcript page in real headless Chromium, on the demo data of ``test_browser``: what reviewers
(and screen-reader users among them) met, one test each. Skipped like the other browser tests when
Chromium or Playwright is missing, unless ``QA_REQUIRE_BROWSER=1``."""

from __future__ import annotations

from tests.ui.test_browser import browser, page, pytestmark, server  # noqa: F401  (fixtures and the skip)


def _open_transcript(server, page, nth: int) -> str:  # noqa: F811
    page.goto(f"{server['url']}/ui/queue")
    page.goto(server["url"] + page.locator("a.open-transcript").nth(nth).get_attribute("href"))
    return page.locator(".layout").get_attribute("data-review")


def test_a_changed_verdict_keeps_its_comment(server, page):  # noqa: F811
    """Changing 机检正确 to 机检错误 met an empty comment box, and the change stored no comment: the
    reviewer's earlier note was dropped without a word. The box holds it; left as is, it is sent and
    stored again (once, unchanged); emptied, the verdict is stored without one."""
    review = _open_transcript(server, page, 3)
    page.fill("#qa-user", "qa-zhao")
    item = page.locator("li.finding-item", has=page.locator("button[data-verdict=confirmed]")).first
    finding = item.get_attribute("id")
    fid = int(finding.removeprefix("finding-"))
    item.locator(".verdict-comment").fill("客户先挂断，不算推诿")
    with page.expect_navigation():
        item.locator("button[data-verdict=confirmed]").click()
    item = page.locator(f"#{finding}")
    assert item.locator(".verdict-comment").input_value() == "客户先挂断，不算推诿"
    with page.expect_navigation():
        item.locator("button[data-verdict=rejected]").click()  # the comment left as it is
    item = page.locator(f"#{finding}")
    assert "机检错误 · qa-zhao" in item.locator(".state").inner_text()
    assert item.locator(".verdict-comment").input_value() == "客户先挂断，不算推诿"
    assert item.locator(".comment").count() == 0  # in the box, not shown a second time beside it

    def stored() -> dict:
        got = page.request.get(f"{server['url']}/v1/reviews/{review}").json()
        return next(f for f in got["findings"] if f["id"] == fid)

    assert stored()["verdict"] == "rejected" and stored()["verdict_comment"] == "客户先挂断，不算推诿"
    audit = [e for e in page.request.get(f"{server['url']}/v1/reviews/{review}/audit").json()
             if e["entity"] == "finding" and e["entity_id"] == fid]
    assert [(e["before"] or {}).get("comment") for e in audit] == [None, "客户先挂断，不算推诿"]
    assert [e["after"]["comment"] for e in audit] == ["客户先挂断，不算推诿"] * 2

    item.locator(".verdict-comment").fill("")
    with page.expect_navigation():
        item.locator("button[data-verdict=confirmed]").click()
    assert stored()["verdict"] == "confirmed" and stored()["verdict_comment"] is None
    assert page.locator(f"#{finding} .verdict-comment").input_value() == ""
    assert page.js_errors == []
