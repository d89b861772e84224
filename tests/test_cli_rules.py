"""``qa rules check|list`` and ``qa score`` on broken or hostile rule packs: coded errors, never a traceback."""

from __future__ import annotations

import json
import shutil
import textwrap

import pytest
from typer.testing import CliRunner

from qa_service.cli import app
from qa_service.config import DEFAULT_RULES_DIR
from tests.conftest import transcript

runner = CliRunner()

MINE = """\
name: mine
version: "1.0"
scenario: mine
include: [general]
scorecard: {weights: {politeness: 30, compliance: 70}}
rules:
  - id: stall
    dimension: compliance
    points: -10
    message: x
    match: {regex: '^(a|aa)+$'}
    examples: {match: [aaaa], no_match: [b]}
"""


pytestmark = pytest.mark.usefixtures("fresh_settings")


def _rules(tmp_path, mine: str = MINE):
    directory = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, directory, ignore=shutil.ignore_patterns("alerts", "appraisal"))
    (directory / "mine.yaml").write_text(textwrap.dedent(mine), encoding="utf-8")
    return directory


def test_rules_check_reports_a_regex_past_its_budget_on_an_example_as_r009(tmp_path):
    """An R009 raised by a rule's own example used to escape ``qa rules check`` as a traceback."""
    directory = _rules(tmp_path, MINE.replace("no_match: [b]", "no_match: [" + "a" * 60 + "b]"))
    result = runner.invoke(app, ["rules", "check", "--dir", str(directory)])
    output = " ".join(result.output.split())
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "R009 rules/mine.yaml:mine.stall: match: regex '^(a|aa)+$' ran past" in output
    assert "general v" in output and "1 problem(s)" in output  # the other packs were still checked


def test_rules_check_and_list_without_the_default_pack_say_so(tmp_path, monkeypatch):
    monkeypatch.setenv("QA_SCORING__DEFAULT_PACK", "nope")
    directory = _rules(tmp_path)
    result = runner.invoke(app, ["rules", "check", "--dir", str(directory)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "default rule pack 'nope' is not in" in " ".join(result.output.split())
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["rules", "check", "--dir", str(tmp_path / "empty")])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    result = runner.invoke(app, ["rules", "list", "--dir", str(directory)])
    assert result.exit_code == 0 and "mine v1.0" in result.output


def _jsonl(path, items):
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    return path


def test_score_with_a_broken_pack_is_exit_2_with_the_coded_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("QA_SCORING__RULES_DIR", str(_rules(tmp_path, MINE.replace("  - id: stall", " - id: stall"))))
    src = _jsonl(tmp_path / "in.jsonl", [transcript("s1")])
    result = runner.invoke(app, ["score", str(src), "--output", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert "R001 rules/mine.yaml: not valid YAML" in " ".join(result.output.split())


def test_score_names_a_transcript_that_fails_and_scores_the_rest(tmp_path, monkeypatch):
    """One transcript whose turn stalls a regex (R009) used to abort the whole file with no output."""
    monkeypatch.setenv("QA_SCORING__RULES_DIR", str(_rules(tmp_path)))
    stalling = transcript("bad", scenario="mine", utterances=[{"role": "agent", "text": "a" * 60 + "b"}])
    src = _jsonl(tmp_path / "in.jsonl", [transcript("s1"), stalling, transcript("s3", scenario="mine")])
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["score", str(src), "--output", str(out)])
    output = " ".join(result.output.split())
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "scored 2 transcript(s)" in output and "1 failed" in output
    assert "line 2 failed (jd-chat/bad): RulePackError: R009 rules/mine.yaml:mine.stall" in output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["external_id"] for r in rows] == ["s1", "s3"] and rows[1]["rule_pack"] == "mine"


def test_rules_check_notes_replaced_rules_and_unread_tags_without_failing(tmp_path):
    mine = MINE.replace("match: {regex: '^(a|aa)+$'}", "tag: greetings\n    match: {phrases: [百分百]}").replace(
        "{match: [aaaa], no_match: [b]}", "{match: [百分百], no_match: [b]}")
    directory = _rules(tmp_path, mine)
    result = runner.invoke(app, ["rules", "check", "--dir", str(directory)])
    output = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert ("note rules/general.yaml:general.greeting-missing: politeness.v2 (QA_SCORING__SCORERS) replaces this "
            "rule with the learned detector.greeting-missing; its -5 points are not charged") in output
    assert "note rules/mine.yaml:mine.stall: tag 'greetings' is read by no dimension" in output
    result = runner.invoke(app, ["rules", "list", "--dir", str(directory)], env={"COLUMNS": "250"})
    output = " ".join(result.output.split())
    assert "-5 (replaced*)" in output and "general.greeting-missing with detector.greeting-missing" in output


@pytest.mark.parametrize("how", ["--dir", "QA_SCORING__RULES_DIR"])
def test_rules_check_a_failing_example_is_exit_1_said_once_and_the_alerts_still_checked(tmp_path, monkeypatch, how):
    """Was: in a folder given by QA_SCORING__RULES_DIR (not ``--dir``) a failing example (R006) escaped the
    live-alert step as a top-level error: printed twice, exit 2, the alerts never checked."""
    directory = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, directory)
    finance = directory / "finance.yaml"
    text = finance.read_text(encoding="utf-8")
    assert "no_match: [我们不保证收益," in text
    finance.write_text(text.replace("no_match: [我们不保证收益,", "no_match: [保证收益, 我们不保证收益,"), encoding="utf-8")
    if how == "--dir":
        result = runner.invoke(app, ["rules", "check", "--dir", str(directory)], env={"COLUMNS": "400"})
    else:
        monkeypatch.setenv("QA_SCORING__RULES_DIR", str(directory))
        result = runner.invoke(app, ["rules", "check"], env={"COLUMNS": "400"})
    output = " ".join(result.output.split())
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), (result.exception, result.output)
    assert output.count("R006") == 1 and "example '保证收益' should not fire the rule but did" in output
    assert f"live alerts ({directory / 'alerts'}):" in output and "1 problem(s)" in output


LONG = MINE.replace("id: stall", "id: identity-verify-missing-in-the-first-turns").replace(
    "match: {regex: '^(a|aa)+$'}", "match: {phrases: [百分之百，保证明天到]}").replace(
    "{match: [aaaa], no_match: [b]}", "{match: [百分之百，保证明天到], no_match: [b]}")


@pytest.mark.parametrize("columns", ["80", "60"])
def test_rules_list_never_cuts_a_rule_id(tmp_path, columns):
    """Found by a probe: at 80 columns, or piped into grep, every id read ``general…``."""
    result = runner.invoke(app, ["rules", "list", "--dir", str(_rules(tmp_path, LONG))], env={"COLUMNS": columns})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for rule_id in ("mine.identity-verify-missing-in-the-first-turns", "general.greeting-missing",
                    "finance.guaranteed-return"):
        assert any(rule_id in line for line in lines), rule_id
    assert "…" not in "".join(line.split("│")[1] for line in lines if line.startswith("│"))


def test_rules_list_format_json_gives_the_packs_as_the_api_does(tmp_path):
    result = runner.invoke(app, ["rules", "list", "--dir", str(_rules(tmp_path, LONG)), "--format", "json"])
    assert result.exit_code == 0, result.output
    packs = {p["name"]: p for p in json.loads(result.output)}
    mine = packs["mine"]
    assert mine["include"] == ["general"] and len(mine["hash"]) == 64 and mine["reload_error"] is None
    rule = next(r for r in mine["rules"] if r["id"] == "mine.identity-verify-missing-in-the-first-turns")
    assert rule == {"id": "mine.identity-verify-missing-in-the-first-turns", "dimension": "compliance",
                    "role": "agent", "kind": "hit", "severity": "minor", "points": -10.0, "cap": None,
                    "fatal": False, "tag": None, "flag": None, "message": "x"}
    assert mine["warnings"][0].startswith("note rules/mine.yaml:mine.identity-verify-missing-in-the-first-turns: "
                                          "phrase '百分之百，保证明天到' contains '，'")


def test_rules_check_notes_a_phrase_typed_with_a_full_width_comma_without_failing(tmp_path):
    result = runner.invoke(app, ["rules", "check", "--dir", str(_rules(tmp_path, LONG))], env={"COLUMNS": "400"})
    output = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert ("note rules/mine.yaml:mine.identity-verify-missing-in-the-first-turns: phrase '百分之百，保证明天到' "
            "contains '，': YAML reads one phrase; write them as separate list items [百分之百, 保证明天到] "
            "(ASCII comma)") in output
