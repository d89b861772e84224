"""Rule-pack authoring mistakes: each is refused with a coded error naming the rule and the field, or
(when the intent is clear) understood, never a crash at scoring time."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from qa_service.config import DEFAULT_RULES_DIR
from qa_service.domain import Role, Transcript, Utterance
from qa_service.errors import RulePackError
from qa_service.rules.book import RuleBook
from qa_service.rules.alerts import load_alerts
from qa_service.rules.loader import load_packs, parse_pack_text
from qa_service.rules.scheme import load_schemes
from qa_service.scoring.pipeline import Pipeline
from qa_service.scoring.compliance import ComplianceScorer
from qa_service.scoring.politeness import PolitenessScorer

HEAD = """\
name: mine
version: "1.0"
scenario: mine
include: [general]
scorecard: {weights: {politeness: 30, compliance: 70}, flag_below: 60}
rules:
"""
RULE = """\
  - id: no-guarantee
    dimension: compliance
    tag: forbidden
    severity: major
    points: -10
    message: 承诺保证
    match: {phrases: [百分百保证]}
    examples: {match: [我们百分百保证到货], no_match: [我们不能百分百保证]}
"""


def rules_with(tmp_path: Path, body: str, name: str = "mine.yaml") -> Path:
    """The shipped packs plus one more file."""
    directory = tmp_path / "rules"
    if not directory.exists():
        shutil.copytree(DEFAULT_RULES_DIR, directory, ignore=shutil.ignore_patterns("alerts", "appraisal"))
    (directory / name).write_text(textwrap.dedent(body), encoding="utf-8")
    return directory


def load_errors(directory: Path) -> list[str]:
    with pytest.raises(RulePackError) as info:
        load_packs(directory)
    return [str(e) for e in info.value.errors]


def score_of(directory: Path, scenario: str, *turns: tuple[Role, str]):
    pipeline = Pipeline([PolitenessScorer(), ComplianceScorer()], RuleBook(directory))
    transcript = Transcript(tuple(Utterance(i, role, text) for i, (role, text) in enumerate(turns)),
                            scenario=scenario)
    return pipeline.score(transcript)


# ---------------------------------------------------------------- H1: scorecard
def test_pack_without_scorecard_inherits_the_first_included_packs(tmp_path):
    directory = rules_with(tmp_path, HEAD.replace("include: [general]", "include: [presale, general]")
                           .replace("scorecard: {weights: {politeness: 30, compliance: 70}, flag_below: 60}\n", "")
                           + RULE)
    packs = load_packs(directory)
    assert packs["mine"].spec.scorecard == packs["presale"].spec.scorecard
    report = score_of(directory, "mine", (Role.agent, "您好，我们百分百保证到货，再见"))
    assert report.rule_pack == "mine" and report.pass_mark == packs["presale"].spec.scorecard.flag_below
    assert "mine.no-guarantee" in {f.rule_id for f in report.findings}


def test_pack_without_scorecard_and_nothing_to_inherit_is_r002_naming_scorecard(tmp_path):
    body = HEAD.replace("include: [general]", "include: []").replace(
        "scorecard: {weights: {politeness: 30, compliance: 70}, flag_below: 60}\n", "") + RULE
    errors = load_errors(rules_with(tmp_path, body))
    assert len(errors) == 1 and errors[0].startswith("R002 rules/mine.yaml: scorecard: missing")
    assert "include a pack that has one" in errors[0]


# ---------------------------------------------------------------- H2 / L7: blank patterns
@pytest.mark.parametrize(("match", "code", "needle"), [
    ("{regex: ''}", "R003", "match: invalid regex '': an empty pattern matches everywhere"),
    ("{regex: '  '}", "R003", "match: invalid regex '  '"),
    ("{regex: '保证', exclude: ['']}", "R003", "invalid regex '' in exclude"),
    ("{phrases: []}", "R002", "match: phrases: needs at least one entry"),
    ("{phrases: [' ']}", "R002", "match: phrases: ' ' is blank"),
    ("{any: [{phrases: [百分百]}, {phrases: [嗯]}]}", "R002", "match.any.1: phrases: '嗯' is blank"),
    ("{tokens: []}", "R002", "match: tokens: needs at least one entry"),
])
def test_blank_pattern_or_phrase_is_a_coded_error_naming_rule_and_field(tmp_path, match, code, needle):
    errors = load_errors(rules_with(tmp_path, HEAD + RULE.replace("{phrases: [百分百保证]}", match)))
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{code} rules/mine.yaml:mine.no-guarantee: ") and needle in errors[0], errors


# ---------------------------------------------------------------- M1: example turns
@pytest.mark.parametrize(("examples", "needle"), [
    ("{match: [['顾问：我们百分百保证到货']], no_match: [不能]}",
     "examples: match[0]: example turn '顾问：我们百分百保证到货' must start with 客户： or 坐席："),
    ("{match: [['我们百分百保证到货']], no_match: [不能]}", "example turn '我们百分百保证到货' must start"),
    ("{match: [[]], no_match: [不能]}", "examples: match[0]: a list example needs at least one turn"),
    ("{match: [[客服: 我们百分百保证到货]], no_match: [不能]}",
     "examples.match.0: {'客服': '我们百分百保证到货'} reads as a mapping, not a turn"),
])
def test_example_turn_without_a_speaker_is_r002_naming_rule_and_example(tmp_path, examples, needle):
    body = HEAD + RULE.replace("{match: [我们百分百保证到货], no_match: [我们不能百分百保证]}", examples)
    errors = load_errors(rules_with(tmp_path, body))
    assert len(errors) == 1 and errors[0].startswith("R002 rules/mine.yaml:mine.no-guarantee: "), errors
    assert needle in errors[0], errors


# ---------------------------------------------------------------- M2: scorecard numbers
@pytest.mark.parametrize(("card", "needle"), [
    ("{weights: {politeness: .nan, compliance: 70}}", "scorecard.weights.politeness: Input should be a finite number"),
    ("{weights: {politeness: .inf, compliance: 70}}", "scorecard.weights.politeness: Input should be a finite number"),
    ("{weights: {politeness: 30}, start: .nan}", "scorecard.start: Input should be a finite number"),
    ("{weights: {politeness: 30}, start: -5}", "scorecard.start: Input should be greater than or equal to 0"),
    ("{weights: {politeness: 30}, start: 150}", "scorecard.start: Input should be less than or equal to 100"),
    ("{weights: {politeness: 30}, flag_below: .nan}", "scorecard.flag_below: Input should be a finite number"),
])
def test_non_finite_or_out_of_range_scorecard_is_r002(tmp_path, card, needle):
    body = HEAD.replace("{weights: {politeness: 30, compliance: 70}, flag_below: 60}", card) + RULE
    errors = load_errors(rules_with(tmp_path, body))
    assert len(errors) == 1 and errors[0].startswith("R002 rules/mine.yaml: ") and needle in errors[0], errors


# ---------------------------------------------------------------- M3: includes that meet
@pytest.mark.parametrize("include", ["[presale, after_sales]", "[general, presale]"])
def test_a_rule_reached_through_two_includes_is_one_rule(tmp_path, include):
    directory = rules_with(tmp_path, HEAD.replace("[general]", include) + RULE)
    packs = load_packs(directory)
    ids = [r.id for r in packs["mine"].rules]
    assert len(ids) == len(set(ids)) and ids.count("general.abuse") == 1
    assert set(ids) >= {r.id for name in ("general", "presale") for r in packs[name].rules} | {"mine.no-guarantee"}
    report = score_of(directory, "mine", (Role.agent, "您好，百分百保证到货，再见"))
    assert [f.rule_id for f in report.findings if f.rule_id == "general.over-promise"] == ["general.over-promise"]


# ---------------------------------------------------------------- M7: duplicate keys
@pytest.mark.parametrize(("body", "needle"), [
    (HEAD + RULE + "rules: []\n", "duplicate key 'rules' at line 15 (first at line 6)"),
    (HEAD + RULE.replace("points: -10", "points: -10\n    points: -50"), "duplicate key 'points' at line 12 (first at line 11)"),
])
def test_a_key_given_twice_is_r001_naming_the_key_and_lines(tmp_path, body, needle):
    """YAML keeps the last of two keys silently: a second rules: dropped every rule of the first."""
    errors = load_errors(rules_with(tmp_path, body))
    assert errors == [f"R001 rules/mine.yaml: {needle} — keep one of them (YAML would silently keep the last)"]
    with pytest.raises(RulePackError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        parse_pack_text(textwrap.dedent(body))


def test_appraisal_schemes_and_alert_files_refuse_duplicate_keys_too(tmp_path):
    (tmp_path / "appraisal").mkdir()
    (tmp_path / "appraisal" / "x.yaml").write_text("name: x\nname: y\n", encoding="utf-8")
    with pytest.raises(RulePackError, match=r"A001 appraisal/x.yaml: duplicate key 'name' at line 2"):
        load_schemes(tmp_path / "appraisal")
    (tmp_path / "alerts").mkdir()
    (tmp_path / "alerts" / "x.yaml").write_text("alerts: []\nalerts: []\n", encoding="utf-8")
    with pytest.raises(RulePackError, match=r"L001 alerts/x.yaml: duplicate key 'alerts' at line 2"):
        load_alerts(tmp_path / "alerts")


def test_a_pack_saved_as_yml_is_said_not_silently_left_out(tmp_path):
    directory = rules_with(tmp_path, HEAD + RULE, name="mine.yml")
    (tmp_path / "alerts").mkdir()
    (tmp_path / "alerts" / "mine.yml").write_text("alerts: []\n", encoding="utf-8")
    (tmp_path / "schemes").mkdir()
    (tmp_path / "schemes" / "mine.yml").write_text("name: x\n", encoding="utf-8")
    for load, folder, code in ((load_packs, directory, "R001"), (load_alerts, tmp_path / "alerts", "L001"),
                               (load_schemes, tmp_path / "schemes", "A001")):
        with pytest.raises(RulePackError) as exc:
            load(folder)
        assert any(e.code == code and "mine.yml" in e.path and "rename it mine.yaml" in str(e)
                   for e in exc.value.errors), str(exc.value)


def test_an_unquoted_decimal_version_is_refused_before_it_is_recorded_wrong(tmp_path):
    directory = rules_with(tmp_path, HEAD.replace('version: "1.0"', "version: 1.10") + RULE)
    with pytest.raises(RulePackError, match="R002.*version 1.1 was written as a number; quote it"):
        load_packs(directory)


def test_a_pack_not_saved_as_utf8_says_so(tmp_path):
    directory = rules_with(tmp_path, "")
    (directory / "mine.yaml").write_bytes((HEAD + RULE).encode("gb18030"))
    with pytest.raises(RulePackError, match="R001.*not UTF-8 text.*save the file as UTF-8"):
        load_packs(directory)


def test_a_scenario_named_like_another_pack_is_r007(tmp_path):
    """Pack `mine` serves scenario `px_sales`, and pack `px_sales` serves `px`: a transcript of scenario
    `px_sales` is scored by the pack of that name, so `mine` would never be used."""
    rules_with(tmp_path, HEAD.replace("scenario: mine", "scenario: px_sales") + RULE)
    directory = rules_with(tmp_path, HEAD.replace("name: mine", "name: px_sales").replace("scenario: mine", "scenario: px")
                           + RULE, name="px_sales.yaml")
    with pytest.raises(RulePackError, match="R007.*scenario 'px_sales' is the name of pack"):
        load_packs(directory)


def test_one_broken_included_pack_is_one_error_not_one_per_pack_including_it(tmp_path):
    directory = rules_with(tmp_path, HEAD + RULE)
    (directory / "general.yaml").write_text("name: general\nrules: [\n", encoding="utf-8")
    with pytest.raises(RulePackError) as exc:
        load_packs(directory)
    assert [e.code for e in exc.value.errors] == ["R001"], str(exc.value)
