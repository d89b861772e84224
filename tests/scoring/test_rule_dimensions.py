"""The rule dimensions and the scorecard, on small transcripts whose scores are worked out by hand."""

from __future__ import annotations

import pytest

from qa_service.domain import Channel, Role, Transcript, Utterance
from qa_service.config import DEFAULT_RULES_DIR
from qa_service.rules.book import RuleBook
from qa_service.scoring.compliance import ComplianceScorer
from qa_service.scoring.negativity import NegativityScorer, load_lexicon
from qa_service.scoring.objection import ObjectionScorer
from qa_service.scoring.pipeline import Pipeline
from qa_service.scoring.politeness import PolitenessScorer
from qa_service.scoring.timing import TimingScorer


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    negativity = NegativityScorer(negative_words=load_lexicon(None, "negative.txt"),
                                  positive_words=load_lexicon(None, "positive.txt"),
                                  problem_words=load_lexicon(None, "problem.txt"))
    scorers = [PolitenessScorer(), ComplianceScorer(), ObjectionScorer(), negativity, TimingScorer()]
    return Pipeline(scorers, rulebook=RuleBook(DEFAULT_RULES_DIR)).initialize()


def chat(*turns: tuple[str, str], scenario: str | None = None, channel: Channel = Channel.chat,
         times: list[tuple[int, int]] | None = None) -> Transcript:
    roles = {"c": Role.customer, "a": Role.agent}
    return Transcript(
        utterances=tuple(
            Utterance(i, roles[r], text, *(times[i] if times else (None, None)))
            for i, (r, text) in enumerate(turns)
        ),
        scenario=scenario, channel=channel,
    )


GOOD = chat(("c", "在吗"), ("a", "您好，请问有什么可以帮您?"), ("c", "快递到哪了"),
            ("a", "正在为您查询，预计明天送达"), ("c", "好的谢谢"), ("a", "不客气，祝您生活愉快，再见!"))


def test_politeness_full_marks_with_greeting_and_closing(pipeline):
    report = pipeline.score(GOOD)
    pol = report.dimensions["politeness"]
    assert pol.score == 100.0 and pol.findings == []
    assert pol.metrics["greeting"] is True and pol.metrics["closing"] is True
    assert pol.metrics["courtesy_turn_share"] == 1.0  # 您 / 为您 / 祝您 in all three agent turns


def test_politeness_penalises_missing_greeting_and_closing(pipeline):
    t = chat(("c", "在吗"), ("a", "订单号发一下"), ("c", "123"), ("a", "明天到"))
    pol = pipeline.score(t).dimensions["politeness"]
    rules = {f.rule_id: f for f in pol.findings}
    assert set(rules) == {"general.greeting-missing", "general.closing-missing"}
    assert pol.score == 90.0  # 100 - 5 - 5
    # Evidence is the agent turn where the greeting was due, verbatim, from the agent.
    assert (rules["general.greeting-missing"].utterance_index, rules["general.greeting-missing"].quote) == (1, "订单号发一下")
    assert rules["general.closing-missing"].role == Role.agent
    assert pol.metrics["greeting"] is False


def test_rude_phrases_are_capped_per_rule(pipeline):
    t = chat(("a", "您好"), ("c", "到底什么时候到"), ("a", "我都说了明天"), ("c", "？"), ("a", "说了多少遍了"),
             ("c", "？？"), ("a", "你自己看吧，再见"))
    pol = pipeline.score(t).dimensions["politeness"]
    rude = [f for f in pol.findings if f.rule_id == "general.rude-dismissive"]
    assert len(rude) == 3  # every hit is evidence ...
    assert [f.points for f in rude] == [-10, -10, 0]  # ... but the rule's cap is 20
    assert pol.score == 80.0


def test_fatal_item_zeroes_the_score_and_flags(pipeline):
    t = chat(("a", "您好"), ("c", "我要退货"), ("a", "你有病吧，自己看"), ("a", "祝您生活愉快"))
    report = pipeline.score(t)
    assert report.fatal is True and report.score == 0.0
    assert {"fatal_rule", "agent_abuse", "low_score"} <= {f.reason for f in report.flags}
    fatal = [f for f in report.findings if f.fatal]
    assert fatal[0].quote == "你有病" and fatal[0].role == Role.agent


def test_negation_keeps_a_compliant_sentence_compliant(pipeline):
    ok = chat(("a", "您好，本次通话将被录音，请问您是张先生本人吗"), ("c", "是的"),
              ("a", "这款理财非存款，投资有风险，我们不保证收益"), ("c", "好的"), ("a", "祝您生活愉快，再见"),
              scenario="finance")
    report = pipeline.score(ok)
    assert report.rule_pack == "finance"
    comp = report.dimensions["compliance"]
    assert comp.findings == [] and comp.score == 100.0 and not report.fatal
    bad = chat(("a", "您好"), ("c", "收益怎么样"), ("a", "放心，这个保证收益的"), ("a", "再见"), scenario="finance")
    report = pipeline.score(bad)
    assert report.fatal and report.score == 0.0
    comp = report.dimensions["compliance"]
    assert set(comp.metrics["disclosures_missing"]) == {
        "finance.recording-notice-missing", "finance.identity-check-missing", "finance.risk-warning-missing"}
    assert any(f.rule_id == "finance.guaranteed-return" and f.quote == "保证收益" for f in comp.findings)


def test_objection_record_handled_and_accepted(pipeline):
    t = chat(("a", "您好"), ("c", "这个也太贵了吧"),
             ("a", "非常理解您，现在下单可以用优惠券，另外还有满减"), ("c", "好的，那我拍了"), ("a", "感谢您的支持，再见"),
             scenario="presale")
    obj = pipeline.score(t).dimensions["objection"]
    (record,) = obj.metrics["objections"]
    assert record["type"] == "price" and record["utterance_index"] == 1 and record["quote"] == "太贵"
    assert record["handling"] == "handled" and record["outcome"] == "accepted"
    assert record["response"]["utterance_index"] == 2
    assert {"acknowledge", "alternative"} <= set(record["response"]["categories"])
    assert obj.score == 100.0  # handled; the recommendation bonus (+2) cannot lift it past 100


def test_unhandled_objection_costs_points_and_flags_escalation(pipeline):
    t = chat(("a", "您好"), ("c", "凭什么不给我退"), ("a", "嗯"), ("a", "就这样"), ("c", "那我要投诉你们"),
             ("a", "再见"))
    report = pipeline.score(t)
    obj = report.dimensions["objection"]
    first, second = obj.metrics["objections"]
    assert (first["type"], first["handling"], first["outcome"]) == ("policy", "unhandled", "escalated")
    assert second["type"] == "complaint"
    assert [f.points for f in obj.findings if f.rule_id == "objection.unhandled"] == [-10, -10]
    # the type in Chinese (was: 客户异议（policy）未得到回应)
    assert [f.message for f in obj.findings if f.rule_id == "objection.unhandled"] == [
        "客户异议（政策）未得到回应", "客户异议（投诉）未得到回应"]
    assert obj.score == 80.0
    assert {"objection_unhandled", "escalation_threat"} <= {f.reason for f in report.flags}


def test_timing_metrics_by_hand(pipeline):
    # customer 0–2 s; agent answers at 40 s (first response 38 s > 30 s: -5); customer 41–43 s;
    # agent replies at 110 s (67 s > 60 s: -2); customer 111–112 s; agent at 115 s.
    times = [(0, 2000), (40_000, 41_000), (41_000, 43_000), (110_000, 112_000), (111_000, 112_000),
             (115_000, 116_000)]
    t = chat(("c", "在吗"), ("a", "您好"), ("c", "快递呢"), ("a", "为您查询"), ("c", "好"), ("a", "祝您生活愉快"),
             times=times)
    timing = pipeline.score(t).dimensions["timing"]
    m = timing.metrics
    assert m["first_response_ms"] == 38_000
    assert m["reply_latency_ms"] == {"n": 3, "mean": round((38_000 + 67_000 + 3_000) / 3), "p90": 67_000,
                                     "max": 67_000}
    assert sorted(f.rule_id for f in timing.findings) == ["timing.slow-first-response", "timing.slow-reply"]
    assert timing.score == 93.0


def test_one_long_first_wait_is_charged_once(pipeline):
    """A probe's case: a 93 s first wait (> 30 s first response, > 60 s reply) cost −5 and −2."""
    t = chat(("c", "在吗"), ("a", "您好"), ("c", "快递呢"), ("a", "为您查询"),
             times=[(0, 2000), (95_000, 96_000), (97_000, 98_000), (99_000, 100_000)])
    timing = pipeline.score(t).dimensions["timing"]
    assert [(f.rule_id, f.points) for f in timing.findings] == [("timing.slow-first-response", -5.0)]
    assert timing.metrics["first_response_ms"] == 93_000 and timing.score == 95.0


def test_call_timing_counts_silence_interruption_and_speech_rate(pipeline):
    # Agent talks 30 chars in 3 s (600 chars/min: too fast), interrupts once, 8 s of dead air once.
    fast = "您好这里是客服中心请问有什么可以帮您您好这里是客服中心"
    times = [(0, 3000), (1000, 4000), (5000, 6000), (14_000, 17_000), (17_500, 18_000), (18_100, 21_100)]
    t = chat(("a", fast), ("c", "我想问一下话费的问题"), ("a", "好的"), ("a", fast), ("c", "嗯好"), ("a", fast),
             channel=Channel.call, times=times)
    timing = pipeline.score(t).dimensions["timing"]
    m = timing.metrics
    assert m["silences"]["count"] == 1 and m["silences"]["longest_ms"] == 8_000
    assert m["interruptions"] == 0  # the agent never started before the customer ended here
    assert m["agent_speech_rate_cpm"] > 330
    assert {f.rule_id for f in timing.findings} == {"timing.silence", "timing.speech-rate"}


def test_timing_left_out_without_timestamps(pipeline):
    report = pipeline.score(GOOD)
    assert report.dimensions["timing"].applicable is False
    assert report.weights["timing"] == 0.0
    assert report.weights["politeness"] == pytest.approx(30 / 65, abs=1e-5)  # 30/15/15/5 of the general pack


def test_report_score_is_the_weighted_dimension_mean(pipeline):
    t = chat(("c", "在吗"), ("a", "订单号发一下"), ("c", "123"), ("a", "明天到"))
    report = pipeline.score(t)
    expected = sum(report.weights[n] * d.score for n, d in report.dimensions.items())
    assert report.score == pytest.approx(expected, abs=0.01)
    assert report.rule_pack == "general" and report.rule_pack_version == "1.3.3"


def _compliance(*turns: tuple[str, float | None], gate=None):
    from qa_service.scoring.base import Gate

    pipeline = Pipeline([ComplianceScorer()], RuleBook(DEFAULT_RULES_DIR), gate=gate or Gate())
    utterances = tuple(Utterance(i, Role.agent, text, asr_confidence=conf) for i, (text, conf) in enumerate(turns))
    return pipeline.score(Transcript(utterances, scenario="finance"))


def test_a_rule_flag_quotes_the_first_hit_and_capped_hits_cost_zero_not_minus_zero():
    report = _compliance(("您的手机号是13812345678吗", None), ("备用号码13900001111", None))
    leaks = [f for f in report.findings if f.rule_id == "general.leak-personal-data"]
    assert [(f.quote, f.points) for f in leaks] == [("13812345678", -20.0), ("13900001111", 0.0)]
    assert str(leaks[1].points) == "0.0"
    (flag,) = [f for f in report.flags if f.reason == "personal_data_disclosed"]
    assert "13812345678" in flag.detail and "13900001111" not in flag.detail


def test_a_finding_the_asr_gate_made_uncertain_raises_no_rule_flag():
    """The fatal 保证收益 heard at ASR confidence 0.4 goes to review; it used to raise guaranteed_return anyway."""
    from qa_service.scoring.base import Gate

    report = _compliance(("放心，这个产品保证收益的", 0.4), gate=Gate(min_asr_confidence=0.6))
    (finding,) = [f for f in report.findings if f.rule_id == "finance.guaranteed-return"]
    assert finding.uncertain and finding.points == 0.0
    reasons = {f.reason for f in report.flags}
    assert "guaranteed_return" not in reasons and "fatal_rule" not in reasons and "uncertain" in reasons
    sure = _compliance(("放心，这个产品保证收益的", 0.9), gate=Gate(min_asr_confidence=0.6))
    assert {"guaranteed_return", "fatal_rule"} <= {f.reason for f in sure.flags}


def test_hits_sent_to_review_use_none_of_a_rules_cap():
    """leak-personal-data costs 20, capped at 20: its first hit heard at ASR confidence 0.4 goes to review,
    and the sure hit after it still costs the 20 (it cost 0: the unsure hit had used the cap up)."""
    from qa_service.scoring.base import Gate

    report = _compliance(("您的手机号是13812345678吗", 0.4), ("备用号码13900001111", 0.97),
                         gate=Gate(min_asr_confidence=0.6))
    leaks = [(f.quote, f.points, f.uncertain) for f in report.findings if f.rule_id == "general.leak-personal-data"]
    assert leaks == [("13812345678", 0.0, True), ("13900001111", -20.0, False)]
    assert report.dimensions["compliance"].score == 80.0


def test_agent_negative_words_sent_to_review_use_none_of_the_negativity_cap():
    from qa_service.scoring.base import Gate

    scorer = NegativityScorer(negative_words=load_lexicon(None, "negative.txt"),
                              positive_words=load_lexicon(None, "positive.txt"),
                              problem_words=load_lexicon(None, "problem.txt"))
    book = RuleBook(DEFAULT_RULES_DIR)
    pipeline = Pipeline([scorer], rulebook=book, gate=Gate(min_asr_confidence=0.6)).initialize()
    turns = [Utterance(i, Role.agent, "这个垃圾系统真糟糕，太差劲了", asr_confidence=0.3) for i in range(6)]
    turns.append(Utterance(6, Role.agent, "这个东西真是垃圾", asr_confidence=0.95))
    report = pipeline.score(Transcript(tuple(turns)))
    words = [f for f in report.findings if f.rule_id == "negativity.agent-negative-word"]
    unsure = [f for f in words if f.utterance_index < 6]
    sure = [f for f in words if f.utterance_index == 6]
    assert unsure and all(f.uncertain and f.points == 0 for f in unsure)
    assert sure and all(f.points < 0 and not f.uncertain for f in sure)
    assert report.dimensions["negativity"].score == 100 + sum(f.points for f in sure)


def test_a_conversation_the_agent_never_spoke_in_goes_to_review(pipeline):
    """Found by a probe: a customer left without a reply scored 81.69, and system messages alone 100, both
    passing silently into the agent's figures."""
    ignored = pipeline.score(Transcript((Utterance(0, Role.customer, "你好在吗"), Utterance(1, Role.customer, "有人吗？"),
                                         Utterance(2, Role.agent, " "), Utterance(3, Role.customer, "算了"))))
    (flag,) = [f for f in ignored.flags if f.reason == "no_agent_reply"]
    assert flag.severity.value == "major" and "3 次" in flag.detail and "你好在吗" in flag.detail
    system = pipeline.score(Transcript((Utterance(0, Role.system, "会话已转接"), Utterance(1, Role.system, "会话结束"))))
    assert "nothing_to_judge" in {f.reason for f in system.flags}
    answered = pipeline.score(chat(("c", "你好在吗"), ("a", "您好，请问有什么可以帮您？")))
    assert not {"no_agent_reply", "nothing_to_judge"} & {f.reason for f in answered.flags}
    bot = pipeline.score(Transcript((Utterance(0, Role.customer, "运费多少"), Utterance(1, Role.bot, "满99包邮哦"))))
    assert not {"no_agent_reply", "nothing_to_judge"} & {f.reason for f in bot.flags}
