"""Alert rules as data: coded validation errors, hot reload, and the evaluation of streaks, cooldowns,
teams and channels (pure: no model, no Redis)."""

from __future__ import annotations

import os

import pytest

from qa_service.config import DEFAULT_RULES_DIR
from qa_service.errors import RulePackError
from qa_service.live.evaluate import LiveState, Observation, RuleHit, advance, evaluate
from qa_service.rules import loader
from qa_service.rules.alerts import AlertBook, AlertRule, load_alerts


def rule(**raw) -> AlertRule:
    return AlertRule.model_validate({"id": "r", "message": "m", **raw})


def test_shipped_alerts_load():
    rules = load_alerts(DEFAULT_RULES_DIR / "alerts")
    assert {"customer-angry", "complaint-threat", "fatal-wording", "customer-waiting"} <= set(rules)


@pytest.mark.parametrize("text, code, needle", [
    ("- not a mapping", "L001", "mapping"),
    ("alerts:\n  - {id: x, message: m, when: {metric: mood, at_least: 1}}", "L002", "unknown metric 'mood'"),
    ("alerts:\n  - {id: x, message: m, when: {metric: escalation}}", "L002", "at_least or at_most"),
    ("alerts:\n  - {id: x, message: m, when: {rule: a.b, metric: escalation, at_least: 1}}", "L002", "exactly one"),
    ("alerts:\n  - {id: X Y, message: m, when: {fatal_rule: true}}", "L002", "lower-case"),
    ("alerts:\n  - {id: x, message: m, when: {fatal_rule: true, role: customer}}", "L002", "role goes with rule"),
    ("alerts:\n  - {id: x, message: m, when: {any: []}}", "L002", "any: needs at least one"),
    ("alerts:\n  - {id: x, message: m, when: {any: [{any: [{fatal_rule: true}]}]}}", "L002", "any: inside any:"),
    ("alerts:\n  - {id: x, message: m, when: {any: [{fatal_rule: true}], times: 2}}", "L002", "times goes with"),
    ("alerts:\n  - {id: x, message: m, when: {fatal_rule: true}, colour: red}", "L002", "colour"),
    ("alerts:\n  - {id: x, message: m, when: {fatal_rule: true}}\n  - {id: x, message: n, when: {fatal_rule: true}}",
     "L003", "also in"),
    ("alerts:\n  - id: x\n    message: m\n    when: {fatal_rule: true}\n    examples: [{turns: [{role: agent, text: hi}], "
     "fires_at: 3}]", "L002", "fires_at 3"),
])
def test_bad_alert_files_fail_with_coded_errors(tmp_path, text, code, needle):
    (tmp_path / "a.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(RulePackError) as exc:
        load_alerts(tmp_path)
    assert any(e.code == code and needle in str(e) for e in exc.value.errors), str(exc.value)


def test_alert_book_reloads_and_keeps_the_last_good_set(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("alerts:\n  - {id: one, message: m, when: {fatal_rule: true}}", encoding="utf-8")
    book = AlertBook(tmp_path)
    assert set(book.get()) == {"one"}
    path.write_text("alerts:\n  - {id: two, message: m, when: {fatal_rule: true}}", encoding="utf-8")
    os.utime(path, ns=(1, 10**18))
    assert set(book.get()) == {"two"}
    path.write_text("alerts: [", encoding="utf-8")
    os.utime(path, ns=(1, 2 * 10**18))
    assert set(book.get()) == {"two"} and book.error is not None


def _customer(value: float, index: int = 0) -> Observation:
    return Observation(index=index, role="customer", metrics={"customer_anger": value}, quote="…")


def test_a_streak_needs_consecutive_turns_and_the_cooldown_holds_repeats():
    angry = rule(when={"metric": "customer_anger", "at_least": 0.8, "times": 2}, cooldown_s=600)
    state = LiveState()
    fire = lambda obs, now=0.0: evaluate([angry], state, obs, now=now, team=None, channel="chat")  # noqa: E731
    assert fire(_customer(0.9)) == []
    assert fire(_customer(0.5)) == []  # broken
    assert fire(_customer(0.9)) == []
    [hit] = fire(_customer(0.95, index=6))
    assert hit.index == 6 and hit.value == 0.95
    assert fire(_customer(0.99), now=100) == []  # cooling down
    assert len(fire(_customer(0.99), now=601)) == 1
    # an agent turn is not a customer reading: it neither builds nor breaks the streak
    agent = Observation(index=9, role="agent", metrics={"customer_anger": 0.0})
    assert fire(agent, now=2000) == [] and state.streaks["r"] >= 1


def test_rule_conditions_teams_and_channels():
    fatal = rule(when={"fatal_rule": True}, teams=["finance"])
    named = rule(id="n", when={"rule": "general.rude-dismissive"})
    silence = rule(id="s", when={"metric": "silence_s", "at_least": 30, "channel": "call"})
    said = "你有病吧，你自己查"
    obs = Observation(index=3, role="agent", metrics={"silence_s": 45.0}, quote=said,
                      rule_hits=[RuleHit("general.abuse", True, "你有病吧"), RuleHit("general.rude-dismissive", False, "你自己查")])
    state = LiveState()
    got = evaluate([fatal, named, silence], state, obs, now=0, team="finance", channel="call")
    # every alert quotes the turn; a rule's alert also says what its rule matched (was: those words as the quote)
    assert [(f.rule.id, f.quote, f.matched) for f in got] == [("r", said, "你有病吧"), ("n", said, "你自己查"),
                                                             ("s", said, None)]
    assert evaluate([fatal, silence], LiveState(), obs, now=0, team="retail", channel="chat") == []


def test_any_of_several_conditions_pages_once_and_keeps_each_streak():
    either = rule(when={"any": [{"metric": "customer_anger", "at_least": 0.8, "times": 2},
                                {"rule": "general.abuse", "role": "customer"}]}, cooldown_s=600)
    state = LiveState()
    fire = lambda obs, now=0.0: evaluate([either], state, obs, now=now, team=None, channel="chat")  # noqa: E731
    assert fire(_customer(0.9)) == []  # one angry turn: the streak is 1
    abuse = Observation(index=1, role="customer", metrics={"customer_anger": 0.9}, quote="傻逼联通",
                        rule_hits=[RuleHit("general.abuse@customer", False, "傻逼")])
    [hit] = fire(abuse)  # both hold now: one page, the first that fires (the streak's), its streak kept
    assert (hit.index, hit.value, state.streaks) == (1, 0.9, {"r#0": 2})
    assert fire(abuse, now=10) == []  # the cooldown is the alert's, whichever condition fired
    # the rule on its own side (the agent's fatal abuse) is not the customer's reading of it
    agent = Observation(index=2, role="agent", quote="你有病吧", rule_hits=[RuleHit("general.abuse", True, "你有病吧")])
    assert evaluate([either], LiveState(), agent, now=0, team=None, channel="chat") == []


def test_a_waiting_customer_is_timed_from_their_turn_to_the_agents_answer():
    state = LiveState()
    assert advance(state, {"seq": 0, "role": "customer", "text": "在吗", "start_ms": None, "end_ms": None,
                           "at": 100.0}) is None
    assert advance(state, {"seq": 1, "role": "customer", "text": "人呢", "start_ms": None, "end_ms": None,
                           "at": 130.0}) is None  # still waiting since the first
    waited = advance(state, {"seq": 2, "role": "agent", "text": "您好", "start_ms": None, "end_ms": None,
                             "at": 175.0})
    assert waited.index == 0 and waited.metrics == {"reply_wait_s": 75.0} and state.waiting_since is None
    assert waited.quote == "在吗"  # the alert quotes the customer (it was empty when the answer raised it)
    # on the conversation's own clock when the turns carry it, from the end of the customer's turn
    advance(state, {"seq": 3, "role": "customer", "text": "好", "start_ms": 60_000, "end_ms": 61_000, "at": 176.0})
    waited = advance(state, {"seq": 4, "role": "agent", "text": "嗯", "start_ms": 150_000, "end_ms": None,
                             "at": 177.0})
    assert waited.metrics == {"reply_wait_s": 89.0}


def test_a_customer_talking_on_a_call_is_not_waiting():
    """A 65-second complaint answered a second after it ended raised 客户已等待 66 s (found by a probe);
    the report's reply latency said 1 s."""
    state = LiveState()
    advance(state, {"seq": 0, "role": "agent", "text": "您好", "start_ms": 0, "end_ms": 2000, "at": 2.0}, "call")
    advance(state, {"seq": 1, "role": "customer", "text": "我这个月的话费怎么多扣了五十块", "start_ms": 3000,
                    "end_ms": 68_000, "at": 68.0}, "call")
    waited = advance(state, {"seq": 2, "role": "agent", "text": "我帮您查一下", "start_ms": 69_000,
                             "end_ms": 71_000, "at": 71.0}, "call")
    assert waited.metrics == {"reply_wait_s": 1.0} and waited.quote == "我这个月的话费怎么多扣了五十块"
    # two segments in a row on a call: the wait starts when the second ends
    advance(state, {"seq": 3, "role": "customer", "text": "还有", "start_ms": 72_000, "end_ms": 73_000, "at": 73.0}, "call")
    advance(state, {"seq": 4, "role": "customer", "text": "上个月也是", "start_ms": 80_000, "end_ms": 84_000,
                    "at": 84.0}, "call")
    waited = advance(state, {"seq": 5, "role": "agent", "text": "好的", "start_ms": 86_000, "end_ms": 87_000,
                             "at": 87.0}, "call")
    assert waited.metrics == {"reply_wait_s": 2.0} and waited.index == 4


@pytest.fixture(scope="module")
def live_checks():
    from qa_service.config import ScoringSettings
    from qa_service.live.checks import LiveChecks
    from qa_service.scoring.pipeline import Pipeline

    return LiveChecks(Pipeline.from_settings(ScoringSettings()))


def test_every_shipped_alert_example_fires_where_it_says(live_checks):
    from qa_service.live.examples import check_examples

    rules = load_alerts(DEFAULT_RULES_DIR / "alerts")
    assert sum(len(r.examples) for r in rules.values()) >= 10
    assert check_examples(rules, live_checks) == []


def test_an_unknown_rule_and_a_wrong_example_are_reported(live_checks):
    from qa_service.live.examples import check_examples

    turns = [{"role": "customer", "text": "你们这个东西怎么又坏了"}, {"role": "agent", "text": "你有病吧，用坏了还怪我们"}]
    rules = {"ghost": rule(id="ghost", when={"rule": "general.no-such-rule"}),
             "late": rule(id="late", when={"fatal_rule": True}, examples=[{"turns": turns, "fires_at": 0}])}
    problems = check_examples(rules, live_checks)
    assert any(p.startswith("L004 ghost") and "general.no-such-rule" in p for p in problems), problems
    assert any(p.startswith("L010 late") and "expected to fire at turn 0, fired at turn 1" in p for p in problems)


def test_a_backtracking_rule_does_not_refuse_a_live_turn(tmp_path, caplog):
    """Live checks pass over a regex past its budget (logged) and keep every other check; the full report is
    where it fails (tests/queue/test_delivery.py)."""
    import shutil

    from qa_service.config import ScoringSettings
    from qa_service.live.checks import LiveChecks
    from qa_service.scoring.pipeline import Pipeline
    from tests.queue.test_delivery import STALL_RULE

    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules)
    general = (rules / "general.yaml").read_text(encoding="utf-8")
    (rules / "general.yaml").write_text(general.replace("\nrules:\n", "\nrules:\n" + STALL_RULE, 1), encoding="utf-8")
    checks = LiveChecks(Pipeline.from_settings(ScoringSettings(rules_dir=rules)))
    turns = [{"role": "customer", "text": "a" * 40 + "b", "at": 1.0}, {"role": "agent", "text": "你有病吧", "at": 2.0}]
    with caplog.at_level("WARNING", logger="qa_service.live.checks"):
        customer, agent = checks.observe(turns, [0, 1], channel="chat", scenario=None)
    assert customer.rule_hits == [] and "customer_anger" in customer.metrics
    assert [h.rule_id for h in agent.rule_hits] == ["general.abuse"]  # its phrases still count
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "qa_service.live.checks"]
    assert "R009" in warning and "general.stall" in warning and "regex conditions after it not run" in warning


def test_a_hot_path_looks_for_edits_at_most_once_per_interval(tmp_path, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(loader.time, "monotonic", lambda: clock[0])
    path = tmp_path / "a.yaml"
    path.write_text("alerts:\n  - {id: one, message: m, when: {fatal_rule: true}}", encoding="utf-8")
    book = AlertBook(tmp_path, check_every_s=1.0)
    assert set(book.get()) == {"one"}
    path.write_text("alerts:\n  - {id: two, message: m, when: {fatal_rule: true}}", encoding="utf-8")
    os.utime(path, ns=(1, 10**18))
    clock[0] += 0.9
    assert set(book.get()) == {"one"}  # within the interval: not looked at again
    clock[0] += 0.2
    assert set(book.get()) == {"two"}
