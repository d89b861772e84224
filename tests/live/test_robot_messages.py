"""What supervisors' groups are sent: every field an integrator sends is shown, not rendered, in DingTalk,
WeCom and Feishu messages; the generic payload is the one docs/live.md shows. Real Redis, a real database
and a real HTTP receiver (found by an API probe, 2026-11-29: an external_id with a newline and ``# heading``,
``[link](…)`` and ``![img](…)`` in it was a heading, a link and an image in the group)."""

from __future__ import annotations

import json
import re

from tests.conftest import REPO
from tests.live.conftest import open_conversation, stream

EVIL_ID = "x2\n\n# 紧急通知 [点此处理](http://evil.example/) ![p](http://evil.example/p.png)"
EVIL_AGENT = "A1 **[坐席](http://evil.example/a)**"
EVIL_SOURCE = "inj`code`_x_ <at user_id=\"all\">所有人</at>"
THREAT = {"role": "customer", "text": "再不解决我就打12315投诉你们\n# 全部通过"}


def _robot_texts(live_client, receiver) -> dict[str, str]:
    for fmt in ("dingtalk", "wecom", "feishu"):
        r = live_client.post("/v1/webhooks", json={"url": f"{receiver.url}/{fmt}", "format": fmt})
        assert r.status_code == 201, r.text
    cid = open_conversation(live_client, EVIL_ID, source=EVIL_SOURCE, agent_id=EVIL_AGENT, team="售后一组",
                            channel="call")
    [alerts] = stream(live_client, cid, [THREAT])
    assert [a["rule"] for a in alerts] == ["complaint-threat"]
    got = {r["path"].rsplit("/", 1)[1]: json.loads(r["body"]) for r in receiver.wait_for(3)}
    return {"dingtalk": got["dingtalk"]["markdown"]["text"], "wecom": got["wecom"]["markdown"]["content"],
            "feishu": got["feishu"]["content"]["text"]}


def test_ids_an_integrator_sends_are_shown_not_rendered_in_robot_messages(live_client, receiver):
    texts = _robot_texts(live_client, receiver)
    for fmt in ("dingtalk", "wecom"):
        text = texts[fmt]
        assert "](" not in text and "![" not in text and "**" not in text and "`" not in text, text
        assert not re.search(r"(?m)^\s*#", text), text  # no line of it is a heading
        header = next(line for line in text.splitlines() if line.startswith("团队/坐席"))
        # each field on the header's line, in the customer's quote's full-width forms
        assert "A1 ＊＊［坐席］（http://evil.example/a）＊＊" in header, header
        assert "/x2 ＃ 紧急通知 ［点此处理］（http://evil.example/） ！［p］（http://evil.example/p.png）（语句 #0）" in header
        assert "inj｀code｀＿x＿ ＜at user＿id=\"all\"＞所有人＜/at＞/" in header
        assert "> ＃ 全部通过" in text  # the customer's words, as before
    feishu = texts["feishu"]  # plain text: markdown shows as typed, but no <at> tag (it would page everyone)
    assert "<at" not in feishu and "＜at user_id=\"all\"＞所有人＜/at＞" in feishu
    assert len(feishu.splitlines()) == 4  # title, header, two quoted lines: the id's newlines start none
    assert "/x2 # 紧急通知 [点此处理](http://evil.example/) ![p](http://evil.example/p.png)（语句 #0）" in feishu


def test_the_generic_payload_is_the_one_the_docs_show(live_client, receiver):
    """docs/live.md's example: the turn of its curl example, its webhook, the payload's fields and their form
    (``created_at`` as the API writes times, ``…Z``; the quote as the alert quotes it)."""
    doc = (REPO / "docs" / "live.md").read_text(encoding="utf-8")
    example = json.loads(re.search(r"The generic JSON payload.*?```json\n(.*?)```", doc, re.DOTALL).group(1))
    assert live_client.post("/v1/webhooks", json={"url": receiver.url, "format": "json",
                                                  "secret": "SECabcdefgh"}).status_code == 201
    cid = open_conversation(live_client, example["external_id"], source=example["source"], channel="call",
                            agent_id=example["agent_id"], team=example["team"],
                            started_at="2026-11-27T09:30:00+08:00")
    stream(live_client, cid, [{"role": "customer", "text": "我的洗衣机又坏了，再不解决我就打12315投诉你们",
                               "start_ms": 0, "end_ms": 4100, "asr_confidence": 0.93}])
    [request] = receiver.wait_for(1)
    payload = json.loads(request["body"])
    assert list(payload) == list(example)
    same = {k for k in example if k not in ("alert_id", "conversation_id", "created_at")}
    assert {k: payload[k] for k in same} == {k: example[k] for k in same}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", payload["created_at"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", example["created_at"])
    short = live_client.post("/v1/webhooks", json={"url": receiver.url, "format": "json", "secret": "SECding"})
    assert short.status_code == 422 and short.json()["detail"][0]["loc"] == ["body", "secret"]  # 8 at least


def test_robot_messages_name_the_turn_as_the_board_does(live_client, receiver):
    """Found by a live probe: the robots said 第 26 句 (counted from 1) for the turn the board and the transcript
    page show as 语句 #25 (counted from 0, as ``utterance_index``): a supervisor landed one turn late."""
    for fmt in ("dingtalk", "wecom", "feishu"):
        assert live_client.post("/v1/webhooks", json={"url": f"{receiver.url}/{fmt}", "format": fmt}).status_code == 201
    cid = open_conversation(live_client, "numbering-1", team="售后一组")
    alerts = stream(live_client, cid, [{"role": "customer", "text": "你好，我的快递到哪了"},
                                       {"role": "agent", "text": "您好，请提供一下订单号"},
                                       {"role": "customer", "text": "再不解决我就打12315投诉你们"}])
    [alert] = alerts[2]
    assert alert["utterance_index"] == 2  # the API's field stays 0-based, as seq
    got = {r["path"].rsplit("/", 1)[1]: json.loads(r["body"]) for r in receiver.wait_for(3)}
    for text in (got["dingtalk"]["markdown"]["text"], got["wecom"]["markdown"]["content"],
                 got["feishu"]["content"]["text"]):
        assert "/numbering-1（语句 #2）" in text and "第 3 句" not in text, text
    board = (REPO / "qa_service" / "ui" / "static" / "live.js").read_text(encoding="utf-8")
    assert "`（语句 #${a.utterance_index}）`" in board  # the board's own form of the same number


RUDE = "我怎么知道，你自己去问快递，别来烦我"


def test_rule_alerts_quote_the_turn_and_give_the_matched_words_beside_it(live_client, receiver):
    """Found by a live probe: ``agent-rude`` and ``fatal-wording`` quoted only the words their rule matched
    (``> 你自己去`` in the group), while docs/live.md says ``quote`` is the turn the alert rests on, as the
    other alerts quote it. Now the turn (redacted, cut as every quote is), and ``matched`` beside it."""
    assert live_client.post("/v1/webhooks", json={"url": f"{receiver.url}/json", "format": "json"}).status_code == 201
    assert live_client.post("/v1/webhooks", json={"url": f"{receiver.url}/dingtalk",
                                                  "format": "dingtalk"}).status_code == 201
    cid = open_conversation(live_client, "quote-1", team="售后一组", agent_id="A004")
    filler = "请您稍等一下，我这边正在帮您查询物流信息。" * 25  # 525 characters before the rule's words
    raised = stream(live_client, cid, [{"role": "customer", "text": "你们这个东西怎么又坏了"},
                                       {"role": "agent", "text": "你有病吧，用坏了还怪我们"},
                                       {"role": "customer", "text": "我的包裹怎么还没到，我手机13912345678"},
                                       {"role": "agent", "text": RUDE.replace("快递", "快递13912345678")},
                                       {"role": "customer", "text": "你说什么？"},
                                       {"role": "agent", "text": filler + "你有病吧"}])
    got = {(a["rule"], a["utterance_index"]): (a["quote"], a["matched"]) for turn in raised for a in turn}
    assert got[("fatal-wording", 1)] == ("你有病吧，用坏了还怪我们", "你有病")
    assert got[("agent-rude", 3)] == (RUDE.replace("快递", "快递[手机号]"), "你自己去")  # redacted as stored
    long_quote, matched = got[("fatal-wording", 5)]  # no cooldown: it fires again
    assert matched == "你有病" and len(long_quote) == 300 and long_quote.startswith("…") and "你有病吧" in long_quote
    listed = {(a["rule"], a["utterance_index"]): (a["quote"], a["matched"])
              for a in live_client.get("/v1/live/alerts").json()}
    assert listed == got
    n = len(got)
    bodies = [json.loads(r["body"]) for r in receiver.wait_for(2 * n)]
    sent = {(b["rule"], b["utterance_index"]): (b["quote"], b["matched"]) for b in bodies if "rule" in b}
    assert sent == got
    robot = [b["markdown"]["text"] for b in bodies if "markdown" in b]
    assert len(robot) == n and any(f"> {RUDE.replace('快递', '快递［手机号］')}" in t for t in robot), robot
    assert "13912345678" not in "".join(r["body"].decode() for r in receiver.requests)


def test_a_bidirectional_override_in_the_quote_is_shown_as_its_code_in_robot_messages(live_client, receiver):
    """Found by a live probe: 金额\\u202e0001\\u202c元 reached DingTalk, WeCom and Feishu as sent and read
    金额1000元 there, while the header fields and the board already neutralised it."""
    for fmt in ("dingtalk", "wecom", "feishu", "json"):
        assert live_client.post("/v1/webhooks", json={"url": f"{receiver.url}/{fmt}", "format": fmt}).status_code == 201
    cid = open_conversation(live_client, "bidi\u202e-1", team="售后一组")
    said = "退款金额\u202e0001\u202c元，再不退我就去12315投诉你们"
    [alerts] = stream(live_client, cid, [{"role": "customer", "text": said}])
    assert [a["rule"] for a in alerts] == ["complaint-threat"]
    got = {r["path"].rsplit("/", 1)[1]: json.loads(r["body"]) for r in receiver.wait_for(4)}
    texts = {"dingtalk": got["dingtalk"]["markdown"]["text"], "wecom": got["wecom"]["markdown"]["content"],
             "feishu": got["feishu"]["content"]["text"]}
    for fmt, text in texts.items():
        assert "\u202e" not in text and "\u202c" not in text, (fmt, text)
        code = "[U+202E]0001[U+202C]" if fmt == "feishu" else "［U+202E］0001［U+202C］"  # markdown's brackets
        assert f"退款金额{code}元" in text, (fmt, text)
        assert "/bidi -1（语句 #0）" in text  # a header field: a space, as before
    assert got["json"]["quote"] == said  # the generic payload gives the text exactly as stored
