"""Each chart's text alternative (TestClient, no browser): a screen reader met only the axes' tick labels
("合规话术 负面用词 … 0 20 40"); the agent's values, their team's means and the trend were nowhere in text, and
the dashboard had one heading for all its charts."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from tests.api.test_review_api import finding, report, store


class Charts(HTMLParser):
    """Each ``role="img"`` element's id and name, the headings, and each table's cells (by caption)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.images: dict[str, str] = {}
        self.headings: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self._heading = self._caption = self._cell = None
        self._table: list[list[str]] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("role") == "img":
            self.images[a.get("id")] = a.get("aria-label") or ""
        if re.fullmatch(r"h[1-6]", tag):
            self._heading = []
        elif tag == "table":
            self._table = []
        elif tag == "caption":
            self._caption = []
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if re.fullmatch(r"h[1-6]", tag) and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None
        elif tag == "caption":
            self.caption = "".join(self._caption).strip()
            self._caption = None
        elif tag in ("td", "th") and self._cell is not None:
            self._table[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table" and self._table is not None:
            self.tables[getattr(self, "caption", "")] = self._table
            self._table, self.caption = None, ""

    def handle_data(self, data):
        for part in (self._heading, self._caption, self._cell):
            if part is not None:
                part.append(data)


def parse(html: str) -> Charts:
    p = Charts()
    p.feed(html)
    return p


def test_every_dashboard_chart_has_a_heading_a_summary_and_its_values(client):
    sessions = client.app.state.runtime.sessions
    store(client, sessions, "A1", report({"politeness": (94.9, 0.5, []), "compliance": (80, 0.5, [
        finding("compliance", "general.rude-dismissive", -20)])}), agent="a1")
    store(client, sessions, "A2", report({"politeness": (70, 0.5, []), "compliance": (60, 0.5, [])}), agent="a2")
    page = parse(client.get("/ui/", params={"period": "2026-10", "agent_id": "a1"}).text)
    assert set(page.images) == {"chart-trend", "chart-agents", "chart-radar", "chart-findings"}
    for title in ("团队质检均分趋势", "坐席质检校正分对比", "技能雷达图：a1", "高频问题"):
        assert title in page.headings, title
    radar = page.images["chart-radar"]
    assert "坐席 a1" in radar and "礼貌用语 94.9（团队 82.5）" in radar and "合规话术 80.0（团队 70.0）" in radar
    assert page.tables["技能雷达图：a1"][1:] == [["合规话术", "80.0", "70.0"], ["礼貌用语", "94.9", "82.5"]]
    # a1 87.45, a2 65.0; adjusted toward the team's 76.225 with k = 10: a1 (87.45 + 762.25)/11 = 77.245 (77.2),
    # a2 (65 + 762.25)/11 = 75.205
    assert "最高 a1 77.2（均分 87.5，1 通）" in page.images["chart-agents"]
    assert "最低 a2 75.2（均分 65.0，1 通）" in page.images["chart-agents"]
    assert page.tables["坐席质检校正分对比"][1][:4] == ["a1", "after-sales", "77.2", "87.5"]
    assert "1 天" in page.images["chart-trend"] and "76.2" in page.images["chart-trend"]
    assert ["after-sales", "2026-10-01", "76.2", "2"] in page.tables["团队质检均分趋势"]
    assert "1 次" in page.images["chart-findings"]
    assert page.tables["高频问题"][1][1:] == ["general.rude-dismissive", "1"]


def test_the_sentiment_trajectory_is_said_in_words_and_numbers(client):
    from qa_service.domain import DimensionScore

    sessions = client.app.state.runtime.sessions
    rep = report({"politeness": (90, 1.0, [])})
    rep.dimensions["sentiment"] = DimensionScore("sentiment", 50, "1", metrics={"utterances": [
        {"seq": 0, "role": "customer", "valence": 0.2}, {"seq": 2, "role": "customer", "valence": -0.8},
        {"seq": 3, "role": "customer", "valence": -0.5}]})
    tid = store(client, sessions, "S1", rep)
    page = parse(client.get(f"/ui/transcripts/{tid}").text)
    said = page.images["sentiment-chart"]
    assert "3 句客户语句" in said and "从 #0 的 +0.20 到 #3 的 -0.50" in said and "最低 -0.80（#2）" in said
    assert "客户情绪轨迹" in page.headings
    assert page.tables["客户情绪轨迹"] == [["语句 #", "情绪值"], ["0", "+0.20"], ["2", "-0.80"], ["3", "-0.50"]]
