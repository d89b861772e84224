"""What a Chinese input method and a hurried author write: full-width punctuation named with its line, notes on
what loads but most likely does not say what was meant, and the incoherent rules refused (found by a probe: a
QA lead's ``phrases: [保证明天到，百分之百]`` passed ``qa rules check`` and never fired)."""

from __future__ import annotations

import pytest

from qa_service.domain import Role, Transcript, Utterance
from qa_service.errors import RulePackError
from qa_service.rules.engine import CompiledPack
from qa_service.rules.lint import pack_notes
from qa_service.rules.loader import load_packs
from qa_service.text import Analyzer

PACK = """\
name: mine
version: "1"
scenario: mine
scorecard:
  weights: {politeness: 20, compliance: 80}
rules:
  - id: over-promise
    dimension: compliance
    severity: major
    points: -10
    message: 过度承诺
    match:
      phrases: [保证明天到, 百分之百]
    examples: {match: [保证明天到], no_match: [预计明天到]}
"""


def _load(tmp_path, body: str):
    directory = tmp_path / "rules"
    directory.mkdir(exist_ok=True)
    (directory / "mine.yaml").write_text(body, encoding="utf-8")
    return load_packs(directory)["mine"]


def _errors(tmp_path, body: str) -> list[str]:
    with pytest.raises(RulePackError) as info:
        _load(tmp_path, body)
    return [str(e) for e in info.value.errors]


def test_the_pack_as_meant_has_no_notes(tmp_path):
    assert pack_notes(_load(tmp_path, PACK)) == []


def test_phrase_holding_a_full_width_comma_is_noted_with_the_list_to_write(tmp_path):
    pack = _load(tmp_path, PACK.replace("[保证明天到, 百分之百]", "[保证明天到，百分之百、百分百]"))
    compiled = CompiledPack(pack, Analyzer())
    hits = compiled.match(Transcript((Utterance(0, Role.agent, "保证明天到，百分之百"),))).hits
    assert not hits["mine.over-promise"]  # why it matters: YAML read one phrase
    assert pack_notes(pack) == [
        "note rules/mine.yaml:mine.over-promise: phrase '保证明天到，百分之百、百…' contains '，': YAML reads one "
        "phrase; write them as separate list items [保证明天到, 百分之百, 百分百] (ASCII comma)"]


@pytest.mark.parametrize(("match", "note"), [
    ("regex: '‘保证(明天|今天)到’'", "regex '‘保证(明天|今天)到’' is wrapped in full-width quotes ‘…’, which are part "
                                   "of it (YAML quotes are the ASCII ' and \"): write '保证(明天|今天)到'"),
    ("phrases: [“保证明天到”]", "phrase '“保证明天到”' is wrapped in full-width quotes “…”"),
])
def test_pattern_in_full_width_quotes_is_noted(tmp_path, match, note):
    pack = _load(tmp_path, PACK.replace("phrases: [保证明天到, 百分之百]", match).replace(
        "{match: [保证明天到]", "{match: [“保证明天到”]" if "phrases" in match else "{match: [‘保证明天到’]"))
    (said,) = pack_notes(pack)
    assert said.startswith("note rules/mine.yaml:mine.over-promise: " + note), said


@pytest.mark.parametrize(("broken", "line", "named"), [
    ("    points：-10", 10, "'：' (U+FF1A FULLWIDTH COLON)"),
    ("\u3000\u3000points: -10", 10, "'\u3000' (U+3000 IDEOGRAPHIC SPACE)"),
])
def test_yaml_error_names_the_full_width_character_and_its_line(tmp_path, broken, line, named):
    (error,) = _errors(tmp_path, PACK.replace("    points: -10", broken))
    assert error.startswith("R001 rules/mine.yaml: not valid YAML"), error
    assert f"line {line} " in error.split(" — ", 1)[1] and named in error, error


def test_full_width_brackets_are_named_with_their_line_in_the_schema_error(tmp_path):
    (error,) = _errors(tmp_path, PACK.replace("[保证明天到, 百分之百]", "［保证明天到, 百分之百］"))
    assert error == ("R002 rules/mine.yaml:mine.over-promise: match.phrases: Input should be a valid list — line 13 "
                     "holds '［' (U+FF3B FULLWIDTH LEFT SQUARE BRACKET), '］' (U+FF3D FULLWIDTH RIGHT SQUARE BRACKET), "
                     "typed by a Chinese input method: YAML reads only '[' ']' — retype them in ASCII (switch the "
                     "input method to English punctuation)")


def test_bare_number_in_phrases_says_quote_it(tmp_path):
    (error,) = _errors(tmp_path, PACK.replace("[保证明天到, 百分之百]", "[保证明天到, 12300]"))
    assert error == ("R002 rules/mine.yaml:mine.over-promise: match.phrases.1: Input should be a valid string — "
                     "quote it: '12300' (YAML reads an unquoted 12300 as a number)")


def test_fatal_item_with_bonus_points_is_refused(tmp_path):
    (error,) = _errors(tmp_path, PACK.replace("points: -10", "points: 100\n    fatal: true"))
    assert error.startswith("R002 rules/mine.yaml:mine.over-promise: (rule): a fatal item zeroes the score, so its "
                            "points cannot be a bonus (100)"), error


def test_bonus_points_on_a_rule_that_is_not_fatal_still_load(tmp_path):
    assert _load(tmp_path, PACK.replace("points: -10", "points: 5")).rule("mine.over-promise").spec.points == 5


def test_fatal_item_of_severity_info_is_noted(tmp_path):
    pack = _load(tmp_path, PACK.replace("severity: major\n    points: -10", "severity: info\n    points: -100\n"
                                                                           "    fatal: true"))
    (note,) = pack_notes(pack)
    assert note.startswith("note rules/mine.yaml:mine.over-promise: a fatal item (a hit zeroes the score) has "
                           "severity: info"), note


@pytest.mark.parametrize(("weights", "noted"), [
    ("{politeness: 20, compliance: 60, objection: 10, negativity: 10, timing: 10, sentiment: 10}",
     True),
    ("{politeness: 0.25, compliance: 0.75}", False),  # shares of 1 read the same
    ("{politeness: 25, compliance: 75}", False),
])
def test_weights_not_summing_to_100_are_noted_with_their_shares(tmp_path, weights, noted):
    notes = pack_notes(_load(tmp_path, PACK.replace("{politeness: 20, compliance: 80}", weights)))
    if not noted:
        assert notes == []
    else:
        (said,) = notes
        assert said.startswith("note rules/mine.yaml: scorecard weights sum to 120, not 100; normalised: compliance "
                               "50%, politeness 16.7%, negativity 8.3%, objection 8.3%, sentiment 8.3%, timing 8.3%"), said
