"""Severity in words and the evidence reachable without a mouse (TestClient; the keyboard's run is in
test_browser.py): a finding card, a highlight and a queue row said their severity by colour alone, and a
highlight was a <mark> only a mouse could click, its explanation only in its title."""

from __future__ import annotations

import re
from dataclasses import replace

from qa_service.domain import Severity
from tests.api.test_review_api import finding, report, store
from tests.ui.test_review_pages import as_, site  # noqa: F401  (a fixture)


def test_findings_highlights_and_queue_rows_say_their_severity_in_words(site):  # noqa: F811
    c = site["client"]
    page = c.get(f"/ui/transcripts/{site['tid']}", headers=as_(site, "reviewer")).text
    review = c.get(f"/v1/reviews/{site['rid']}").json()
    for f in review["findings"]:
        card = re.search(rf'<li [^>]*id="finding-{f["id"]}".*?</li>', page, re.S).group(0)
        head = re.search(r'<div class="head">(.*?)</div>', card, re.S).group(1)
        word = "致命项" if f["fatal"] else {"critical": "严重", "major": "重要", "minor": "轻微",
                                                 "info": "提示"}[f["severity"]]
        assert word in head, (f["rule_id"], head)
    rude = next(f for f in review["findings"] if f["rule_id"] == "general.rude-dismissive")
    link = re.search(rf'<a class="evidence" href="#finding-{rude["id"]}" aria-label="([^"]*)" '
                     r'aria-describedby="([^"]*)"><mark [^>]*>([^<]*)</mark></a>', page)
    assert link, "the highlight is not a link to its finding"
    assert link.group(1) == f"证据（重要）：{link.group(3)}"
    said = re.search(rf'<span id="{link.group(2)}" hidden>([^<]*)</span>', page).group(1)
    assert "重要：问题（-10）" in said
    queue = c.get("/ui/queue", headers=as_(site, "reviewer")).text
    row = re.search(rf'<tr class="sev-critical" data-review="{site["rid"]}".*?</tr>', queue, re.S).group(0)
    assert '<span class="tag sev-critical">严重</span>' in row and "<th>严重度</th>" in queue


def test_a_card_links_back_to_its_evidence_and_the_panel_can_be_skipped_to(site):  # noqa: F811
    c = site["client"]
    page = c.get(f"/ui/transcripts/{site['tid']}", headers=as_(site, "reviewer")).text
    assert '<a class="skip" href="#panel">跳到机检结果</a>' in page and 'id="panel" tabindex="-1"' in page
    back = re.findall(r'<a class="to-evidence" href="#u(\d+)" data-evidence="(f\d+)" aria-label="查看原文：#\d+[^"]*">',
                      page)
    assert back and all(f'id="u{seq}"' in page and f"k-{key}" in page for seq, key in back)


def test_a_critical_finding_is_not_said_as_fatal(site):  # noqa: F811
    """A critical, not fatal, finding read 致命 (the word of a fatal item, 致命项, which zeroes the score)."""
    c = site["client"]
    sessions = c.app.state.runtime.sessions
    critical = replace(finding("compliance", "broadband.identity-verify-missing", -20), severity=Severity.critical)
    tid = store(c, sessions, "R-critical", report({"compliance": (80, 1.0, [critical])}))
    page = c.get(f"/ui/transcripts/{tid}", headers=as_(site, "reviewer")).text
    card = re.search(r'<ol class="findings">.*?</ol>', page, re.S).group(0)
    assert '<span class="tag sev-critical">严重</span>' in card
    assert "致命" not in card  # neither 致命 nor 致命项: the finding is not fatal
    said = re.search(r'<a class="evidence" [^>]*aria-label="([^"]*)"', page).group(1)
    assert said.startswith("证据（严重）")
    fatal = c.get(f"/ui/transcripts/{site['tid']}", headers=as_(site, "reviewer")).text
    assert '<span class="tag fatal">致命项</span>' in fatal
