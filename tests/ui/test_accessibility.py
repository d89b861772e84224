"""Every form control of the UI's pages has an accessible name (TestClient, no browser): a screen reader
read the controls named only by a placeholder as "编辑文本", and the 机检正确 / 机检错误 pair repeated for
every finding without saying which finding it judges."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from qa_service.access import service as access
from qa_service.app import create_app
from qa_service.config import AuthSettings
from qa_service.storage.db import session_scope
from tests.api.test_review_api import finding, report, store
from tests.conftest import make_settings

LABELABLE = {"input", "select", "textarea", "button"}
VOID = {"input", "br", "img", "meta", "link", "hr", "col", "area", "base", "embed", "source", "track", "wbr"}


class Controls(HTMLParser):
    """Each form control with the name a browser gives it: aria-label, aria-labelledby, a ``<label for>``,
    the ``<label>`` around it when it is that label's first control (the others in it get none), a
    button's text. Not its placeholder or title."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.controls: list[dict] = []
        self.labels: list[dict] = []  # open <label>s, innermost last
        self.texts: dict[str, list[str]] = {}  # element id -> its text
        self.open: list[tuple[str, dict]] = []
        self.label_for: dict[str, list[str]] = {}

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "label":
            label = {"text": [], "control": None, "for": a.get("for")}
            self.labels.append(label)
        if tag in LABELABLE and a.get("type") not in ("hidden",):
            control = {"tag": tag, "attrs": a, "text": [], "label": None}
            for label in self.labels[-1:]:
                if label["control"] is None and not label["for"]:
                    label["control"] = control
                    control["label"] = label["text"]
            self.controls.append(control)
            if tag == "button":
                self.open.append((tag, control))
        if a.get("id"):
            self.texts[a["id"]] = []
            self.open.append(("#id", {"id": a["id"], "tag": tag}))
        if tag in VOID:
            self._close(tag)

    def _close(self, tag):
        for i in range(len(self.open) - 1, -1, -1):
            if self.open[i][1].get("tag") == tag or self.open[i][0] == tag:
                del self.open[i]
                return

    def handle_endtag(self, tag):
        if tag == "label" and self.labels:
            label = self.labels.pop()
            if label["for"]:
                self.label_for.setdefault(label["for"], []).extend(label["text"])
        self._close(tag)

    def handle_data(self, data):
        for label in self.labels:
            label["text"].append(data)
        for kind, item in self.open:
            (item["text"] if kind == "button" else self.texts[item["id"]]).append(data)

    def name(self, control) -> str:
        a = control["attrs"]
        if a.get("aria-label", "").strip():
            return a["aria-label"].strip()
        if a.get("aria-labelledby"):
            return " ".join("".join(self.texts.get(i, [])).strip() for i in a["aria-labelledby"].split())
        if a.get("id") in self.label_for:
            return "".join(self.label_for[a["id"]]).strip()
        if control["label"] is not None:
            return "".join(control["label"]).strip()
        if control["tag"] == "button":
            return "".join(control["text"]).strip()
        return ""


def controls(html: str) -> Controls:
    parser = Controls()
    parser.feed(html)
    return parser


def unnamed(html: str) -> list[dict]:
    parsed = controls(html)
    return [c["attrs"] for c in parsed.controls if not parsed.name(c)]


@pytest.fixture
def site(tmp_path, sqlite_url, redis_url, redis_conn):
    """A flagged transcript with three findings of different messages; an admin key (every control shown)."""
    with TestClient(create_app(make_settings(tmp_path, sqlite_url, redis_url, auth=AuthSettings(enabled=True)))) as c:
        sessions = c.app.state.runtime.sessions
        with session_scope(sessions) as s:
            keys = {role: access.create_key(session=s, role=role, name=f"{role}.k")[1] for role in ("reviewer", "admin")}
        c.headers["Authorization"] = f"Bearer {keys['admin']}"
        tid = store(c, sessions, "A1", report({
            "politeness": (80, 0.5, [finding("politeness", "general.rude-dismissive", -10, message="推诿客户"),
                                     finding("politeness", "general.abuse", -10, seq=1, span=(0, 3), message="辱骂客户")]),
            "compliance": (50, 0.5, [finding("compliance", "finance.guaranteed-return", -50, span=(9, 13), fatal=True,
                                             message="承诺保本收益")]),
        }))
        yield {"client": c, "tid": tid, "rid": c.get("/v1/reviews").json()["items"][0]["id"], "keys": keys}


def test_every_control_of_every_page_has_a_name(site):
    """The verdict comment, an appeal's reason and decision comment, 复核意见, the queue's 分配 复核员 and
    score range were named by nothing but their placeholder (or not at all)."""
    c, tid, rid = site["client"], site["tid"], site["rid"]
    fid = c.get(f"/v1/reviews/{rid}").json()["findings"][0]["id"]
    r = c.post(f"/v1/reviews/{rid}/manual-findings", json={
        "dimension": "politeness", "utterance_index": 1, "points": -5, "message": "未致歉"})  # the agent's turn
    assert r.status_code == 201, r.text
    pages = {path: c.get(path).text for path in (f"/ui/transcripts/{tid}", "/ui/queue", "/ui/", "/ui/calibration",
                                                 "/ui/live", "/ui/appeals")}
    pages["/ui/login"] = c.get("/ui/login", headers={"Authorization": ""}).text
    assert c.post(f"/v1/reviews/{rid}/complete", json={"confirm_rest": True}).status_code == 200
    pages["done"] = c.get(f"/ui/transcripts/{tid}").text  # appeal forms
    assert c.post(f"/v1/reviews/{rid}/appeals", json={"finding_id": fid, "reason": "客户先骂人"}).status_code == 201
    pages["appealed"] = c.get(f"/ui/transcripts/{tid}").text
    pages["appeals"] = c.get("/ui/appeals").text
    for name, html in pages.items():
        assert html.count("<input") + html.count("<select") > 0 or name == "/ui/live", name
        assert unnamed(html) == [], name
    assert 'class="appeal-form"' in pages["done"] and 'data-action="decide"' in pages["appeals"]


def test_each_verdict_button_says_which_finding_it_judges(site):
    c, tid = site["client"], site["tid"]
    html = c.get(f"/ui/transcripts/{tid}").text
    parsed = controls(html)
    verdicts = [ctl for ctl in parsed.controls if ctl["attrs"].get("data-action") == "verdict"]
    names = [parsed.name(ctl) for ctl in verdicts]
    assert sorted(names) == sorted(f"{v}：{m}" for v in ("机检正确", "机检错误") for m in ("推诿客户", "辱骂客户", "承诺保本收益"))
    for ctl in verdicts:  # and the words it is about, as its description
        quote = ctl["attrs"]["aria-describedby"]
        assert quote == f"finding-{ctl['attrs']['data-finding']}-quote" and "".join(parsed.texts[quote]).strip()
    comments = [parsed.name(ctl) for ctl in parsed.controls if "verdict-comment" in ctl["attrs"].get("class", "")]
    assert sorted(comments) == sorted(f"备注（可选）：{m}" for m in ("推诿客户", "辱骂客户", "承诺保本收益"))
