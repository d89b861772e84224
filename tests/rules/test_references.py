"""What a pack's references name: an unqualified anchor finds an included pack's rule, ``exclude:`` leaves
an included rule out (found by a probe: ``after: {rule: objection-price}``, as the docs write it, was an R005
in a pack including general, and an included rule could not be switched off)."""

from __future__ import annotations

import shutil

import pytest

from qa_service.config import DEFAULT_RULES_DIR
from qa_service.domain import Role, Transcript, Utterance
from qa_service.errors import RulePackError
from qa_service.rules.engine import CompiledPack
from qa_service.rules.loader import load_packs, pack_from_spec, pack_with_rule, parse_pack_text, parse_rule
from qa_service.scoring.compliance import ComplianceScorer
from qa_service.scoring.pipeline import Pipeline
from qa_service.rules.book import RuleBook
from qa_service.text import Analyzer

BASE = """\
name: {name}
version: "1"
scenario: {name}
scorecard: {{weights: {{compliance: 100}}}}
rules:
  - id: price-objection
    dimension: compliance
    kind: detect
    role: customer
    tag: objection.price
    message: 客户嫌贵
    match: {{phrases: [太贵了]}}
    examples: {{match: [太贵了], no_match: [挺好]}}
  - id: over-promise
    dimension: compliance
    points: -5
    message: 过度承诺
    match: {{phrases: [百分百]}}
    examples: {{match: [百分百到], no_match: [尽快]}}
"""
MINE = """\
name: mine
version: "1"
scenario: mine
include: [{include}]
{extra}rules:
  - id: push-after-price
    dimension: compliance
    points: -7
    message: 客户嫌贵后仍硬推
    match:
      after: {{rule: {anchor}}}
      within: 2
      match: {{phrases: [必须买]}}
    examples: {{match: [[客户：太贵了, 坐席：你必须买]], no_match: [[客户：挺好, 坐席：你必须买]]}}
"""


def _folder(tmp_path, mine: str | None, *bases: str):
    directory = tmp_path / "rules"
    directory.mkdir(exist_ok=True)
    for name in bases:
        (directory / f"{name}.yaml").write_text(BASE.format(name=name), encoding="utf-8")
    if mine is not None:
        (directory / "mine.yaml").write_text(mine, encoding="utf-8")
    return directory


def _mine(anchor: str, include: str = "base", extra: str = "") -> str:
    return MINE.format(anchor=anchor, include=include, extra=extra)


def _errors(directory) -> list[str]:
    with pytest.raises(RulePackError) as info:
        load_packs(directory)
    return [str(e) for e in info.value.errors]


def _hits(pack, *turns: tuple[Role, str]) -> dict:
    compiled = CompiledPack(pack, Analyzer())
    return compiled.match(Transcript(tuple(Utterance(i, r, t) for i, (r, t) in enumerate(turns)))).hits


@pytest.mark.parametrize("anchor", ["price-objection", "base.price-objection"])
def test_anchor_unqualified_or_qualified_names_the_included_packs_rule(tmp_path, anchor):
    pack = load_packs(_folder(tmp_path, _mine(anchor), "base"))["mine"]
    hits = _hits(pack, (Role.customer, "太贵了"), (Role.agent, "你必须买"))
    assert hits["mine.push-after-price"] == {1: [(1, 4)]}


def test_anchor_on_the_packs_own_rule_wins_over_an_included_one(tmp_path):
    own = _mine("price-objection").replace("rules:\n", """rules:
  - id: price-objection
    dimension: compliance
    kind: detect
    role: customer
    message: 客户嫌贵
    match: {phrases: [好贵]}
    examples: {match: [好贵], no_match: [挺好]}
""").replace("examples: {match: [[客户：太贵了", "examples: {match: [[客户：好贵")
    pack = load_packs(_folder(tmp_path, own, "base"))["mine"]
    assert pack.anchors[("mine", "price-objection")] == "mine.price-objection"
    assert _hits(pack, (Role.customer, "好贵"), (Role.agent, "你必须买"))["mine.push-after-price"]
    assert not _hits(pack, (Role.customer, "太贵了"), (Role.agent, "你必须买"))["mine.push-after-price"]


def test_anchor_two_included_packs_have_is_r005_naming_both(tmp_path):
    errors = _errors(_folder(tmp_path, _mine("price-objection", include="base, other"), "base", "other"))
    assert errors == ["R005 rules/mine.yaml:mine.push-after-price: anchor rule 'price-objection' is ambiguous: "
                      "base.price-objection and other.price-objection both have that id — write the one you mean, "
                      "e.g. rule: base.price-objection"]


@pytest.mark.parametrize(("anchor", "fix"), [
    ("price-objectoin", "did you mean base.price-objection?"),
    ("general.price-objection", "write base.price-objection"),
    ("nothing-like-it", "name a rule of this pack or of an included one (qa rules list shows their ids)"),
])
def test_anchor_naming_nothing_says_the_names_one_could_mean(tmp_path, anchor, fix):
    (error,) = _errors(_folder(tmp_path, _mine(anchor), "base"))
    assert error.startswith(f"R005 rules/mine.yaml:mine.push-after-price: anchor rule {anchor!r} is not in pack mine "
                            "or a pack it includes — ") and error.endswith(fix), error


def test_docs_anchor_example_resolves_in_a_pack_including_general(tmp_path):
    """docs/rules.md writes ``after: {rule: objection-price}``: in a pack including general it is general's."""
    directory = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, directory, ignore=shutil.ignore_patterns("alerts", "appraisal"))
    (directory / "mine.yaml").write_text(_mine("objection-price", include="general").replace(
        "客户：太贵了", "客户：这个太贵了"), encoding="utf-8")
    pack = load_packs(directory)["mine"]
    assert pack.anchors[("mine", "objection-price")] == "general.objection-price"


def test_draft_rule_and_draft_pack_resolve_anchors_as_the_loader_does(tmp_path):
    packs = load_packs(_folder(tmp_path, None, "base", "other"))
    rule = parse_rule({"id": "push", "dimension": "compliance", "points": -1, "message": "x",
                       "match": {"after": {"rule": "over-promise"}, "match": {"phrases": ["必须"]}},
                       "examples": {"match": ["必须"], "no_match": ["好"]}}, "base")
    assert pack_with_rule(packs["base"], rule).anchors[("base", "over-promise")] == "base.over-promise"
    spec = parse_pack_text(_mine("price-objection", include="base, other"))
    with pytest.raises(RulePackError, match="is ambiguous: base.price-objection and other.price-objection"):
        pack_from_spec(spec, available=packs)


# ---------------------------------------------------------------- exclude:
def test_exclude_leaves_the_included_rule_out_of_the_pack_and_its_score(tmp_path):
    directory = _folder(tmp_path, _mine("price-objection", extra="exclude: [base.over-promise]\n"), "base")
    pack = load_packs(directory)["mine"]
    assert "base.over-promise" not in pack.by_id and pack.excluded == {"base.over-promise"}
    assert [r.id for r in pack.rules] == ["base.price-objection", "mine.push-after-price"]
    pipeline = Pipeline([ComplianceScorer()], RuleBook(directory, default_pack="base"))
    turns = (Utterance(0, Role.customer, "太贵了"), Utterance(1, Role.agent, "百分百到，你必须买"))
    mine = pipeline.score(Transcript(turns, scenario="mine"))
    base = pipeline.score(Transcript(turns, scenario="base"))
    assert {f.rule_id for f in mine.findings} == {"mine.push-after-price"}
    assert "base.over-promise" in {f.rule_id for f in base.findings}  # the base pack itself still has it


@pytest.mark.parametrize(("exclude", "problem", "fix"), [
    ("[base.over-promis]", "exclude: 'base.over-promis' is no rule of an included pack", "did you mean base.over-promise?"),
    ("[over-promise]", "exclude: 'over-promise' is not pack-qualified", "write base.over-promise"),
    ("[mine.push-after-price]", "exclude: mine.push-after-price is this pack's own rule", "delete the rule instead"),
])
def test_exclude_naming_no_included_rule_is_r010(tmp_path, exclude, problem, fix):
    (error,) = _errors(_folder(tmp_path, _mine("price-objection", extra=f"exclude: {exclude}\n"), "base"))
    assert error.startswith(f"R010 rules/mine.yaml: {problem} — {fix}"), error


def test_anchor_on_an_excluded_rule_is_r010(tmp_path):
    body = _mine("price-objection", extra="exclude: [base.price-objection]\n")
    (error,) = _errors(_folder(tmp_path, body, "base"))
    assert error == ("R010 rules/mine.yaml:mine.push-after-price: anchor rule 'price-objection' names "
                     "base.price-objection, which exclude: leaves out of this pack — anchor on another rule, or take "
                     "base.price-objection out of exclude:")


def test_kept_included_rule_anchored_on_an_excluded_one_is_r010(tmp_path):
    """``mid`` anchors on base's rule; a pack including mid that leaves base's rule out cannot keep mid's."""
    directory = _folder(tmp_path, None, "base")
    (directory / "mid.yaml").write_text(_mine("price-objection").replace("mine", "mid"), encoding="utf-8")
    (directory / "top.yaml").write_text(BASE.format(name="top").replace(
        "rules:\n", "include: [mid]\nexclude: [base.price-objection]\nrules:\n").replace("id: ", "id: top-"),
        encoding="utf-8")
    (error,) = _errors(directory)
    assert error.startswith("R010 rules/top.yaml:mid.push-after-price: mid.push-after-price (an included rule this "
                            "pack keeps) anchors on base.price-objection, which exclude: leaves out — exclude "
                            "mid.push-after-price too"), error
