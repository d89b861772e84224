"""What live QA pages on agrees with what the report flags (found by a platform integrator's probe,
2026-11-30): a bare 差评, flagged escalation_threat by the report's rule general.objection-complaint,
scored 0.60 on the escalation detector and paged nobody; 傻逼联通 scored 0.20 anger and paged nobody;
and an alert naming a detect rule (the obvious fix) passed ``qa rules check`` and never fired.

The two real dialogues (``tests/data/live_sample.json``) are streamed through the API on real Redis and a
real database; the rest runs the live checks with the shipped packs and detectors."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from qa_service.cli import app
from qa_service.config import DEFAULT_RULES_DIR, ScoringSettings
from qa_service.errors import RulePackError
from qa_service.live.checks import LiveChecks
from qa_service.live.examples import check_examples, first_fire
from qa_service.rules.alerts import AlertRule, load_alerts
from qa_service.scoring.pipeline import Pipeline
from tests.live.conftest import SAMPLE, open_conversation, stream

SHIPPED = load_alerts(DEFAULT_RULES_DIR / "alerts")


@pytest.fixture(scope="module")
def live_checks() -> LiveChecks:
    return LiveChecks(Pipeline.from_settings(ScoringSettings()))


def _turns(*said: tuple[str, str]) -> list[dict]:
    return [{"role": role, "text": text} for role, text in said]


@pytest.mark.parametrize("text", ["差评", "给你差评", "差评！差评！差评！", "我要曝光你们", "我要找媒体曝光你们，发微博",
                                  "再不处理我就打12315"])
def test_a_complaint_threat_the_report_flags_pages_at_once(live_checks, text):
    assert first_fire(SHIPPED["complaint-threat"], _turns(("customer", text)), live_checks) == 0


@pytest.mark.parametrize("text", ["我不会投诉的，放心", "咨询订单号:[订单编号]商品ID:7731315", "好的谢谢"])
def test_no_threat_no_page(live_checks, text):
    assert first_fire(SHIPPED["complaint-threat"], _turns(("customer", text)), live_checks) is None


def test_customer_abuse_is_anger_but_the_agents_words_or_their_mother_are_not(live_checks):
    angry = SHIPPED["customer-angry"]
    assert first_fire(angry, _turns(("customer", "傻逼联通")), live_checks) == 0
    assert first_fire(angry, _turns(("customer", "你们客服有病吧，查个余额挂我电话")), live_checks) == 0
    assert first_fire(angry, _turns(("customer", "我买给我妈的，我妈不喜欢蓝色")), live_checks) is None
    # the agent's abuse is the fatal item's page (fatal-wording), not the customer's anger
    said = _turns(("customer", "怎么又坏了"), ("agent", "你有病吧"))
    assert first_fire(angry, said, live_checks) is None
    assert first_fire(SHIPPED["fatal-wording"], said, live_checks) == 1
    # … and a customer's abuse is no fatal item of the agent's
    assert first_fire(SHIPPED["fatal-wording"], _turns(("customer", "傻逼联通")), live_checks) is None


def test_an_alert_on_a_detect_rule_fires(live_checks):
    """The probe's alert: it passed the check and never fired (only deducting ``hit`` rules were read live)."""
    words = AlertRule.model_validate({"id": "complaint-words", "message": "客户提到投诉/差评", "severity": "critical",
                                      "when": {"rule": "general.objection-complaint"},
                                      "examples": [{"turns": [{"role": "customer", "text": "差评"}], "fires_at": 0}]})
    assert check_examples({"complaint-words": words}, live_checks) == []


def _alert_file(tmp_path, rule_id: str):
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules)
    (rules / "alerts" / "extra.yaml").write_text(
        f"version: 1\nalerts:\n  - id: never\n    when: {{rule: {rule_id}}}\n    message: m\n", encoding="utf-8")
    return rules


@pytest.mark.parametrize("rule_id, needle", [
    ("after_sales.verify-order-missing", "is a required rule"),
    ("general.greeting-missing", "is a required rule"),
])
def test_an_alert_on_a_rule_the_live_checks_never_read_is_refused(tmp_path, live_checks, rule_id, needle):
    rules = _alert_file(tmp_path, rule_id)
    out = CliRunner().invoke(app, ["rules", "check", "--dir", str(rules)])
    said = " ".join(out.output.split())  # as one line: the console wraps it
    assert out.exit_code == 1, said
    assert f"L005 never: rule {rule_id!r} {needle}" in said, said
    assert "so it never fires live (name a hit or detect rule" in said and "1 problem(s)" in said
    # and so does a running API's load (the last good set stays): the same L005
    known = {r.id: r.spec for p in live_checks.pipeline.rulebook.packs.values() for r in p.pack.rules}
    with pytest.raises(RulePackError) as exc:
        load_alerts(rules / "alerts", known)
    assert [e.code for e in exc.value.errors] == ["L005"]


def test_a_windowed_rule_is_refused_too():
    from qa_service.rules.alerts import live_problem
    from qa_service.rules.schema import Rule

    rule = Rule.model_validate({"id": "first-words", "dimension": "politeness", "points": -1,
                                "window": {"first": 2}, "message": "m", "match": {"phrases": ["喂"]},
                                "examples": {"match": ["喂"], "no_match": ["您好"]}})
    problem, fix = live_problem(rule)
    assert "window of the conversation (first: 2)" in problem and "never fires live" in problem
    assert "without a window" in fix


def _dialogue(did: str) -> list[dict]:
    return next(d for d in SAMPLE if d["id"] == did)["utterances"]


def test_the_real_bad_review_threat_pages_the_turn_the_report_flags(live_client):
    """csds-1586d251f75bb05b: the customer types 差评 at turns 22 and 23; the report flagged
    escalation_threat (general.objection-complaint：差评), live QA paged nobody."""
    cid = open_conversation(live_client, "csds-1586d251f75bb05b", team="售后二组")
    raised = stream(live_client, cid, _dialogue("csds-1586d251f75bb05b"))
    threats = [(k, a["matched"], a["quote"]) for k, turn in enumerate(raised) for a in turn
               if a["rule"] == "complaint-threat"]
    assert threats == [(22, "差评", "差评")]  # turn 23 is within the cooldown: one page


def test_the_real_abusive_customer_pages_as_angry(live_client):
    """stc3-3854821755397183: 傻逼联通…你们特么… then 傻逼联通 again; no alert at all before."""
    cid = open_conversation(live_client, "stc3-3854821755397183", team="售后一组")
    raised = stream(live_client, cid, _dialogue("stc3-3854821755397183"))
    angry = [(k, a["matched"]) for k, turn in enumerate(raised) for a in turn if a["rule"] == "customer-angry"]
    assert angry == [(0, "傻逼")]  # the last 傻逼联通 is within the 10-minute cooldown
