"""Anchors (``after`` / ``before`` … ``within: K``): what a turn is when K is counted."""

from __future__ import annotations

import textwrap

import pytest

from qa_service.domain import Role, Transcript, Utterance
from qa_service.errors import RulePackError
from qa_service.rules.engine import CompiledPack
from qa_service.rules.loader import load_packs
from qa_service.text import Analyzer

PACK = """\
name: bank
version: "1"
scenario: bank
scorecard: {{weights: {{compliance: 1}}}}
rules:
  - id: push-after-refusal
    dimension: compliance
    points: -5
    message: 客户拒绝后仍继续推销
    match:
      {op}: {{condition: {{phrases: [不需要]}}, role: customer}}
      within: 2{count}
      match: {{phrases: [划算]}}
    examples: {{match: [[客户：我不需要, 坐席：这个活动很划算]], no_match: [[坐席：好的, 坐席：好的, 坐席：好的, 客户：我不需要]]}}
"""
SPEAKER = {"a": Role.agent, "c": Role.customer}
# The probe's cases: the agent's push after a customer's refusal, "within 2".
CASES = {
    "the agent's 1st reply": ("c:我不需要 a:这个活动很划算", [1], [1]),
    "the agent's 2nd reply": ("c:我不需要 a:好的 a:这个活动很划算", [2], [2]),
    "the agent's 3rd reply": ("c:我不需要 a:好的 a:是的 a:这个活动很划算", [], []),
    "the 1st reply after two more customer lines": ("c:我不需要 c:真的 c:别烦我 a:这个活动很划算", [], [3]),
    "the 2nd real reply after a 嗯-only turn": ("c:我不需要 a:嗯 a:好的 a:这个活动很划算", [], [3]),
}


def _fires(tmp_path, lines: str, count: str = "", op: str = "after") -> list[int]:
    directory = tmp_path / "rules"
    directory.mkdir(exist_ok=True)
    (directory / "bank.yaml").write_text(textwrap.dedent(PACK.format(op=op, count=count)), encoding="utf-8")
    compiled = CompiledPack(load_packs(directory)["bank"], Analyzer())
    turns = tuple(Utterance(i, SPEAKER[x[0]], x[2:]) for i, x in enumerate(lines.split()))
    return sorted(compiled.match(Transcript(turns)).hits["bank.push-after-refusal"])


@pytest.mark.parametrize("case", CASES)
def test_within_counts_every_utterance_by_default_and_the_agents_real_turns_with_count_agent(tmp_path, case):
    """Was (and still is, by default): every utterance counts, the customer's and 嗯-only ones too; with
    ``count: agent`` only the agent's non-filler turns do."""
    lines, by_utterance, by_agent_turn = CASES[case]
    assert _fires(tmp_path, lines) == by_utterance
    assert _fires(tmp_path, lines, "\n      count: utterances") == by_utterance
    assert _fires(tmp_path, lines, "\n      count: agent") == by_agent_turn


def test_count_applies_to_before_anchors_too(tmp_path):
    lines = "a:这个活动很划算 c:嗯 c:真的 c:我不需要"  # the push 3 utterances, 1 customer turn, before the refusal
    assert _fires(tmp_path, lines, op="before") == []
    assert _fires(tmp_path, lines, "\n      count: customer", op="before") == [0]
    assert _fires(tmp_path, lines, "\n      count: any", op="before") == [0]


@pytest.mark.parametrize("rule, needle", [
    ("    match: {phrases: [划算], count: agent}\n", "count: only goes with after/before"),
    ("    match: {after: {rule: x}, within: 2, count: agents, match: {phrases: [划算]}}\n", "count"),
])
def test_count_is_validated(tmp_path, rule, needle):
    directory = tmp_path / "rules"
    directory.mkdir()
    body = PACK.format(op="after", count="").split("    match:\n")[0] + rule + \
        "    examples: {match: [划算], no_match: [好的]}\n"
    (directory / "bank.yaml").write_text(body, encoding="utf-8")
    with pytest.raises(RulePackError) as info:
        load_packs(directory)
    [error] = info.value.errors
    assert error.code == "R002" and needle in str(error), str(error)
