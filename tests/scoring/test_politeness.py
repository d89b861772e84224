"""politeness.v2 and the pack's own rules: which rules the learned detectors replace, and which they respect."""

from __future__ import annotations

import pytest

from qa_service.config import ScoringSettings
from qa_service.domain import Role, Transcript, Utterance
from qa_service.scoring.dry_run import dry_run
from qa_service.scoring.pipeline import Pipeline


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline.from_settings(ScoringSettings()).initialize()


def _transcript(*turns: tuple[Role, str]) -> Transcript:
    return Transcript(tuple(Utterance(i, role, text) for i, (role, text) in enumerate(turns)))


RUDE = _transcript((Role.customer, "我的快递怎么还没到"), (Role.agent, "你是不是不识字，页面上写得清清楚楚"),
                   (Role.customer, "什么态度"), (Role.agent, "再见"))


@pytest.mark.parametrize("rule_id", ["sarcasm-words", "rude-sarcasm"])
def test_a_turn_charged_by_a_rude_tagged_rule_is_not_charged_again_by_the_detectors(pipeline, rule_id):
    """attitude_risk used to skip only turns of rules whose id contained "rude"."""
    rule = {"id": rule_id, "dimension": "politeness", "tag": "rude", "points": -10, "message": "讽刺客户",
            "match": {"phrases": ["不识字"]}, "examples": {"match": ["你不识字吗"], "no_match": ["您看一下"]}}
    result = dry_run(pipeline, RUDE, pack="general", rule=rule)
    politeness = result.report.dimensions["politeness"]
    on_turn_1 = {f.rule_id for f in politeness.findings if f.utterance_index == 1}
    assert f"general.{rule_id}" in on_turn_1
    assert not on_turn_1 & {"detector.rude", "detector.attitude-risk"}, on_turn_1
    assert 1 in politeness.metrics["rude_turns"]


def test_a_packs_own_required_greeting_rule_costs_its_points_under_v2(pipeline):
    """Only the shipped greeting/closing rules are replaced by the detectors; a QA lead's own rule keeps deciding."""
    rule = {"id": "bank-intro-missing", "dimension": "politeness", "kind": "required", "tag": "greeting",
            "window": {"first": 1}, "points": -15, "message": "开场未报银行名称", "match": {"phrases": ["银行"]},
            "examples": {"match": ["您好"], "no_match": ["您好，这里是招商银行"]}}
    transcript = _transcript((Role.agent, "您好，请问是李先生吗"), (Role.customer, "是的"),
                             (Role.agent, "好的，祝您生活愉快，再见"))
    result = dry_run(pipeline, transcript, pack="general", rule=rule)
    findings = {f.rule_id: f.points for f in result.report.dimensions["politeness"].findings}
    assert findings.get("general.bank-intro-missing") == -15
    shipped = dry_run(pipeline, _transcript((Role.agent, "请问是李先生吗"), (Role.agent, "好的")), pack="general")
    charged = {f.rule_id for f in shipped.report.dimensions["politeness"].findings}
    assert "general.greeting-missing" not in charged and "general.closing-missing" not in charged
