"""Finding messages a reviewer reads: a graded finding the conversation's cap cut (or a dimension's detector
cap) says so with the real figures, the score unchanged; objection types are named in Chinese."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest

from qa_service.config import ScoringSettings
from qa_service.domain import Finding, Role, Severity, Transcript, Utterance
from qa_service.evaluation.run import transcript_of
from qa_service.rules.book import RuleBook
from qa_service.scoring.base import DETECTOR_CAP, capped
from qa_service.scoring.detectors.detector import Detections
from qa_service.scoring.learned import graded_turns
from qa_service.scoring.pipeline import Pipeline
from qa_service.scoring.titles import TITLES
from tests.conftest import REPO

SAMPLE = {r["id"]: r for r in map(json.loads, (REPO / "tests/data/golden_sample.jsonl").read_text(
    encoding="utf-8").splitlines())}
CUT = "csds-e376b7bc75935150"  # customer-negativity: 7 turns use 2.94 of 3 units, #24 (p 0.926) gets the rest
GRADED = "客户可能表达不满或负面情绪（按检测器的可能性扣分）"


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline.from_settings(ScoringSettings()).initialize()


def test_a_graded_finding_the_cap_cut_says_so_and_the_score_is_unchanged(pipeline):
    """Found by a probe: a p 0.99 turn cost −2.7 beside −10.9 for p 0.86 and later turns cost nothing, every
    card saying only "按检测器的可能性扣分". Here #24 (p 0.926, worth −11.8) costs −0.8 and #25 (p 0.989)
    nothing; the score is what it was before messages said so (69.41)."""
    report = pipeline.score(transcript_of(SAMPLE[CUT], {}))
    assert report.score == 69.41
    assert {n: d.score for n, d in report.dimensions.items()} == {
        "politeness": 90.5, "compliance": 100.0, "objection": 88.4, "negativity": 100.0, "timing": 100.0,
        "sentiment": 25.7}
    graded = {f.utterance_index: f for f in report.findings if f.rule_id == "detector.customer-negativity"}
    assert sorted(graded) == [1, 5, 6, 7, 13, 15, 22, 24]  # #25 is over the cap: no finding
    cut = graded[24]
    assert (cut.points, cut.probability) == (-0.8, 0.9258)
    assert cut.message == (GRADED + "；已达本会话该项扣分上限（3 个单位，每单位 12.9 分），仅扣 0.8 分"
                                    "（按可能性应扣 11.8 分），其后的同类语句不再扣分")
    assert all(f.message == GRADED for i, f in graded.items() if i != 24)  # whole: nothing added


def _turns(n: int) -> Transcript:
    return Transcript(tuple(Utterance(i, Role.customer if i % 2 == 0 else Role.agent, f"第{i}句，太差了")
                            for i in range(n)))


def _graded(pipeline, probabilities: dict[int, float], skip: frozenset[int] = frozenset()) -> list:
    t = _turns(8)
    context = replace(pipeline.contexts([t])[0], detections=Detections(turns={"negative": probabilities}))
    found, _ = graded_turns(context, t, "negative", 3.0, dimension="sentiment", rule_id="detector.customer-negativity",
                            points_per_unit=-12.9, message=GRADED, skip=skip)
    return found


def test_a_cap_used_up_exactly_says_later_turns_cost_nothing(pipeline):
    found = _graded(pipeline, {0: 1.0, 2: 1.0, 4: 1.0, 6: 0.9})  # three whole units, then #6 gets none
    assert [(f.utterance_index, f.points) for f in found] == [(0, -12.9), (2, -12.9), (4, -12.9)]
    assert found[2].message == GRADED + "；已达本会话该项扣分上限（3 个单位，每单位 12.9 分），其后的同类语句不再扣分"
    assert found[0].message == found[1].message == GRADED
    # the cut turn would cost under half a point (no finding): the last charged one says the cap is used up
    found = _graded(pipeline, {0: 1.0, 2: 1.0, 4: 0.99, 6: 0.95})
    assert [(f.utterance_index, f.points) for f in found] == [(0, -12.9), (2, -12.9), (4, -12.8)]
    assert found[2].message.endswith("（3 个单位，每单位 12.9 分），其后的同类语句不再扣分")
    # under the cap: nothing added
    assert all(f.message == GRADED for f in _graded(pipeline, {0: 0.5, 2: 0.6}))


def test_the_dimensions_detector_cap_says_what_it_kept():
    def f(points: float) -> Finding:
        return Finding("sentiment", "detector.x", 0, (0, 1), "x", points, Severity.major, Role.customer, "m")

    out = capped([f(-60.0), f(-50.0), f(-5.0)], 100.0, explain=DETECTOR_CAP)
    assert [(x.points, x.message) for x in out] == [
        (-60.0, "m"), (-40.0, "m；已达本维度检测器扣分上限（100 分），仅扣 40 分"),
        (0.0, "m；已达本维度检测器扣分上限（100 分），仅扣 0 分")]
    assert [x.message for x in capped([f(-60.0), f(-50.0)], 100.0)] == ["m", "m"]  # rule caps: as before


def test_objection_findings_name_the_type_in_chinese(pipeline):
    """Found by a probe: 客户异议（price）未得到处理…, （service）, （policy）: the type's code in a Chinese card."""
    import re

    report = pipeline.score(transcript_of(SAMPLE[CUT], {}))
    found = {(f.rule_id, f.utterance_index): f.message for f in report.findings if "objection-" in f.rule_id}
    assert found == {("detector.objection-unhandled", 5): "客户异议（时效）未得到处理：未认同/安抚并给出解释或方案",
                     ("detector.objection-partial", 22): "客户异议（价格）只处理了一部分：解释或方案未覆盖客户的诉求",
                     ("detector.objection-partial", 24): "客户异议（时效）只处理了一部分：解释或方案未覆盖客户的诉求"}
    for record in SAMPLE.values():  # no code left in any message of the sample's real conversations
        for f in pipeline.score(transcript_of(record, {})).findings:
            assert not re.search(r"（[a-z_]+）", f.message), (record["id"], f.message)
            if f.rule_id.split(".")[0] in ("detector", "objection", "timing", "negativity", "sentiment"):
                assert f.rule_id in TITLES, f.rule_id  # the dashboard's label for all of them


UNITS = "；已达本会话该项扣分上限（3 个单位，每单位 12.9 分）"


def test_a_finding_both_caps_cut_states_the_points_charged_and_names_both_caps(pipeline):
    """From a review: the unit cap cut #6 to −2.9, then a pack's ``detectors: cap`` of 33 to 0, and the message
    read "…仅扣 2.9 分（按可能性应扣 12.9 分）；已达本维度检测器扣分上限（33 分），仅扣 0 分": two charged figures,
    the first not the points. Now one figure, the final one, with both caps named."""
    out = capped(_graded(pipeline, {0: 1.0, 2: 0.8, 4: 1.0, 6: 1.0}), 33.0, explain=DETECTOR_CAP)
    assert [(f.utterance_index, f.points, f.message) for f in out] == [
        (0, -12.9, GRADED), (2, -10.0, GRADED),
        (4, -10.1, GRADED + "；已达本维度检测器扣分上限（33 分），仅扣 10.1 分"),
        (6, 0.0, GRADED + UNITS + "、本维度检测器扣分上限（33 分），仅扣 0 分（按可能性应扣 12.9 分）")]


def test_a_real_conversation_under_a_lower_detector_cap_names_both_caps_and_scores_as_before(pipeline, tmp_path):
    """The sample's #24 (the unit cap left it −0.8 of −11.8) under a pack whose ``detectors: cap`` is 74: that
    cap cuts it again to −0.5. The message states −0.5 once; the score is what it was before (69.51, sentiment
    26.0: 74 of 100 lost)."""
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    general = rules / "general.yaml"
    text = general.read_text(encoding="utf-8")
    assert "unresolved: -47.8, cap: 100}" in text
    general.write_text(text.replace("unresolved: -47.8, cap: 100}", "unresolved: -47.8, cap: 74}"), encoding="utf-8")
    settings = ScoringSettings()
    lower = Pipeline.from_settings(settings, RuleBook(rules, default_pack=settings.default_pack)).initialize()
    report = lower.score(transcript_of(SAMPLE[CUT], {}))
    assert report.score == 69.51
    assert report.dimensions["sentiment"].score == 26.0
    graded = {f.utterance_index: f for f in report.findings if f.rule_id == "detector.customer-negativity"}
    assert [graded[i].points for i in sorted(graded)] == [-0.5, -7.9, -9.4, -3.7, -1.6, -10.4, -4.5, -0.5]
    assert graded[24].message == (GRADED + UNITS + "、本维度检测器扣分上限（74 分），仅扣 0.5 分（按可能性应扣 11.8 分），"
                                           "其后的同类语句不再扣分")


def test_the_cap_used_up_says_nothing_of_later_turns_when_none_went_uncharged(pipeline):
    """From a review: the last finding charged said "其后的同类语句不再扣分" when a ``skip`` turn (charged by a
    rule-rude finding instead) used the cap up, or no later turn would have been charged. Points unchanged."""
    # #4 is charged elsewhere and uses the third unit; nothing after it
    found = _graded(pipeline, {0: 1.0, 2: 1.0, 4: 1.0}, skip=frozenset({4}))
    assert [(f.utterance_index, f.points, f.message) for f in found] == [(0, -12.9, GRADED), (2, -12.9, GRADED)]
    # a skip turn uses the cap up and a later turn gets nothing: the cap was not reached at #2, it says nothing
    found = _graded(pipeline, {0: 1.0, 2: 1.0, 4: 1.0, 6: 1.0}, skip=frozenset({4}))
    assert [(f.utterance_index, f.points, f.message) for f in found] == [(0, -12.9, GRADED), (2, -12.9, GRADED)]
    # #6 uses the last 0.011 units (−0.1, no finding) but is worth no more: no turn went uncharged for the cap
    found = _graded(pipeline, {0: 1.0, 2: 1.0, 4: 0.99, 6: 0.11})
    assert [(f.utterance_index, f.points, f.message) for f in found] == [
        (0, -12.9, GRADED), (2, -12.9, GRADED), (4, -12.8, GRADED)]
    # used up exactly at #4 and #6 is only just over the floor (−0.1 uncapped): nothing to say either
    found = _graded(pipeline, {0: 1.0, 2: 1.0, 4: 1.0, 6: 0.11})
    assert [f.message for f in found] == [GRADED] * 3  # (a later turn worth a finding: the test above)
