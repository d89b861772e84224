"""Every shipped rule's examples run as tests; loader errors are coded and actionable."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from qa_service.errors import RulePackError
from qa_service.config import DEFAULT_RULES_DIR
from qa_service.rules.book import RuleBook
from qa_service.domain import Role, Transcript, Utterance
from qa_service.rules.check import example_errors, fires, run_examples
from qa_service.rules.engine import CompiledPack
from qa_service.rules.loader import load_packs, read_retired
from qa_service.text import Analyzer

SHIPPED = DEFAULT_RULES_DIR
SCENARIOS = {"general", "presale", "after_sales", "complaint", "finance"}


@pytest.fixture(scope="module")
def book() -> RuleBook:
    return RuleBook(SHIPPED).load()


def _example_cases():
    book = RuleBook(SHIPPED).load()
    cases = []
    for name, compiled in sorted(book.packs.items()):
        for result in run_examples(compiled):
            shown = result.example if isinstance(result.example, str) else " / ".join(result.example)
            cases.append(pytest.param(name, result.rule, result.example, result.expected,
                                      id=f"{result.rule}:{'match' if result.expected else 'no_match'}:{shown}"))
    return cases


@pytest.mark.parametrize(("pack", "rule_id", "example", "expected"), _example_cases())
def test_shipped_rule_example(book, pack, rule_id, example, expected):
    compiled = book.packs[pack]
    assert fires(compiled, compiled.pack.rule(rule_id), example) is expected


def test_five_scenario_packs_ship_with_scorecards(book):
    assert {c.pack.scenario for c in book.packs.values()} >= SCENARIOS
    for compiled in book.packs.values():
        weights = compiled.pack.spec.scorecard.weights
        assert sum(weights.values()) > 0 and len(compiled.pack.hash) == 64


def _write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / "rules"
    path.mkdir(exist_ok=True)
    (path / name).write_text(textwrap.dedent(body), encoding="utf-8")
    return path


PACK_HEAD = """\
name: finance
version: "1"
scenario: finance
scorecard: {weights: {compliance: 1}}
rules:
"""
GOOD_RULE = """\
  - id: no-return-promise
    dimension: compliance
    points: -10
    message: 承诺收益
    match: {phrases: [保证收益]}
    examples: {match: [保证收益], no_match: [不保证收益]}
"""


@pytest.mark.parametrize(("body", "code", "needle"), [
    (PACK_HEAD + GOOD_RULE.replace("points: -10", "points: -10\n    colour: red"), "R002",
     "rules/finance.yaml:finance.no-return-promise: colour: Extra inputs are not permitted"),
    (PACK_HEAD + GOOD_RULE.replace("{phrases: [保证收益]}", "{regex: '保证(收益'}"), "R003",
     "rules/finance.yaml:finance.no-return-promise: match: invalid regex"),
    (PACK_HEAD + GOOD_RULE + GOOD_RULE, "R004", "finance.no-return-promise: rule id used twice"),
    (PACK_HEAD + GOOD_RULE.replace("{phrases: [保证收益]}", "{after: {rule: nope}, match: {phrases: [x]}}"), "R005",
     "anchor rule 'nope' is not in pack finance or a pack it includes"),
    (PACK_HEAD + GOOD_RULE.replace("id: no-return-promise", "id: No_Return"), "R002", "must be kebab-case"),
    (PACK_HEAD + GOOD_RULE.replace("dimension: compliance", "dimension: manners"), "R002", "dimension"),
    (PACK_HEAD + "  - [not, a, mapping", "R001", "not valid YAML"),
    (PACK_HEAD.replace("weights: {compliance: 1}", "weights: {friendliness: 1}") + GOOD_RULE, "R002",
     "unknown dimension"),
])
def test_malformed_pack_fails_with_coded_error(tmp_path, body, code, needle):
    directory = _write(tmp_path, "finance.yaml", body)
    with pytest.raises(RulePackError) as info:
        load_packs(directory)
    messages = [str(e) for e in info.value.errors]
    assert any(m.startswith(code) and needle in m for m in messages), messages
    assert all(" — " in m for m in messages)  # every error says how to fix it


BACKTRACKING_RULE = GOOD_RULE.replace("{phrases: [保证收益]}", "{regex: '^(a|aa)+$'}").replace(
    "{match: [保证收益], no_match: [不保证收益]}", "{match: [aaa], no_match: [b]}")


def test_catastrophic_regex_stops_at_its_budget_with_a_coded_error(tmp_path):
    """``^(a|aa)+$`` on 40 a's and a b backtracks for hours under ``re``; the engine gives up at its budget."""
    packs = load_packs(_write(tmp_path, "finance.yaml", PACK_HEAD + BACKTRACKING_RULE))
    compiled = CompiledPack(packs["finance"], Analyzer(), regex_budget_s=0.05)
    assert example_errors(compiled) == []  # its examples are short: nothing to see at load
    stalling = Transcript((Utterance(0, Role.agent, "您好"), Utterance(1, Role.agent, "a" * 40 + "b")))
    with pytest.raises(RulePackError) as info:
        compiled.match(stalling)
    (error,) = info.value.errors
    assert error.code == "R009" and error.rule == "finance.no-return-promise"
    assert "'^(a|aa)+$' ran past the 52 ms budget on turn 1 (41 characters)" in error.problem
    # Bounded, but 10^4 ways through: fast on a short text, under the timeout (and stopped) on a long one.
    many_ways = BACKTRACKING_RULE.replace("^(a|aa)+$", "(a|a|a|a|a|a|a|a|a|a){4}b")
    packs = load_packs(_write(tmp_path, "finance.yaml", PACK_HEAD + many_ways))
    slow = CompiledPack(packs["finance"], Analyzer(), regex_budget_s=0.05)
    assert slow.match(Transcript((Utterance(0, Role.agent, "aaaab"),))).hits["finance.no-return-promise"]
    with pytest.raises(RulePackError, match="R009"):
        slow.match(Transcript((Utterance(0, Role.agent, "a" * 9_999),)))
    # The first pattern on text it can decide quickly, and the budget spent by many quick turns: fine.
    quick = Transcript(tuple(Utterance(i, Role.agent, "aaaa") for i in range(200)))
    assert set(compiled.match(quick).hits["finance.no-return-promise"]) == set(range(200))


def test_retired_rule_id_is_never_reused(tmp_path):
    directory = _write(tmp_path, "finance.yaml", PACK_HEAD + GOOD_RULE)
    (directory / "RETIRED").write_text("finance.no-return-promise  # replaced by finance.guaranteed-return\n")
    with pytest.raises(RulePackError) as info:
        load_packs(directory)
    assert info.value.errors[0].code == "R008"


@pytest.mark.parametrize("line, problem", [
    ("no-return-promise", "'no-return-promise' is not pack-qualified: write <pack>.no-return-promise"),
    ("finance.no-return-promise finance.other", "is more than one id (one a line)"),
    ("Finance.No_Return", "'Finance.No_Return' is not a rule id"),
])
def test_a_retired_line_that_is_not_a_qualified_id_is_refused_naming_the_line(tmp_path, line, problem):
    """Was: an unqualified id (``no-return-promise``, as written in the YAML) was silently ignored, so the id
    it meant to retire stayed usable."""
    directory = _write(tmp_path, "finance.yaml", PACK_HEAD + GOOD_RULE)
    (directory / "RETIRED").write_text(f"# retired ids\n\n{line}  # replaced\n", encoding="utf-8")
    with pytest.raises(RulePackError) as info:
        load_packs(directory)
    [error] = info.value.errors
    assert error.code == "R008" and error.path == "rules/RETIRED:3" and problem in error.problem


def test_the_shipped_retired_file_states_its_format_and_loads():
    text = (SHIPPED / "RETIRED").read_text(encoding="utf-8")
    assert "one pack-qualified rule id a line" in text and "#" in text
    retired, errors = read_retired(SHIPPED)
    assert errors == [] and all(r.split(".")[0] in load_packs(SHIPPED) for r in retired)


def test_broken_edit_keeps_the_loaded_pack_active(tmp_path):
    directory = tmp_path / "rules"
    shutil.copytree(SHIPPED, directory)
    book = RuleBook(directory).load()
    old_hash = book.packs["general"].pack.hash
    path = directory / "general.yaml"
    shipped = (SHIPPED / "general.yaml").read_text(encoding="utf-8")
    version = book.packs["general"].pack.version
    path.write_text(shipped.replace(f'version: "{version}"', "version: [oops"), encoding="utf-8")
    assert book.reload_if_changed(force=True) is False
    assert "R001" in book.last_error or "R002" in book.last_error
    assert book.packs["general"].pack.hash == old_hash  # still scoring with the good pack
    path.write_text(shipped.replace(f'version: "{version}"', 'version: "9.9.9"'), encoding="utf-8")
    assert book.reload_if_changed(force=True) is True
    assert book.packs["general"].pack.version == "9.9.9" and book.packs["general"].pack.hash != old_hash


def test_scenario_selects_the_pack(book):
    from qa_service.domain import Role, Transcript, Utterance

    utt = (Utterance(0, Role.agent, "您好"),)
    assert book.pack_for(Transcript(utterances=utt, scenario="finance")).pack.name == "finance"
    assert book.pack_for(Transcript(utterances=utt, scenario="unknown")).pack.name == "general"
    assert book.pack_for(Transcript(utterances=utt)).pack.name == "general"
