"""One fixed segmentation for the rule engine: a rule's ``tokens:`` read a turn the same under ``qa rules check``,
under every scorer configuration and whatever was scored before; negativity.v1 never changes it.

Found by a probe: negativity.v1 added its lexicon (and, at score time, each pack's ``extra_negative``) to the rule
book's own analyzer, so a rule that ``qa rules check`` passed stopped firing once negativity.v1 was configured, or
once a conversation of a pack with ``extra_negative`` had been scored; a second jieba dictionary (~60 MB) stayed
loaded, never used again.
"""

from __future__ import annotations

import shutil
import textwrap

import pytest
from typer.testing import CliRunner

from qa_service import text
from qa_service.cli import app
from qa_service.config import DEFAULT_RULES_DIR, ScoringSettings
from qa_service.domain import Role, Transcript, Utterance
from qa_service.errors import RulePackError
from qa_service.rules.book import RuleBook
from qa_service.scoring.negativity import NegativityScorer
from qa_service.scoring.pipeline import Pipeline

MINE = """\
name: mine
version: "1.0"
scenario: mine
include: [general]
negativity: {extra_negative: [霸王条款]}
rules:
  - id: unfair-terms
    dimension: compliance
    severity: minor
    points: -2
    message: 坐席提及霸王条款
    match: {tokens: [霸王, 条款]}
    examples: {match: [这是霸王条款吧], no_match: [好的]}
  - id: attitude-word
    dimension: politeness
    severity: minor
    points: -2
    message: 坐席提及"态度差"
    match: {tokens: [态度差]}
    examples: {match: [你这个态度差得很], no_match: [好的]}
"""
# The probe's rule: jieba with the lexicon reads 你/这个/态度差/得/很, so its example cannot fire.
PROBE = MINE.replace("match: {tokens: [态度差]}", "match: {tokens: [态度, 差得]}")


def _rules(tmp_path, body: str = MINE):
    directory = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, directory, ignore=shutil.ignore_patterns("alerts", "appraisal"))
    (directory / "mine.yaml").write_text(textwrap.dedent(body), encoding="utf-8")
    return directory


def _turns(*texts: str) -> Transcript:
    return Transcript(tuple(Utterance(i, Role.agent if i % 2 else Role.customer, t) for i, t in enumerate(texts)),
                      scenario="mine")


def _mine_rules(report) -> list[str]:
    return sorted(f.rule_id for f in report.findings if f.rule_id.startswith("mine."))


@pytest.mark.parametrize("scorers", [["politeness.v1", "compliance.v1"],
                                     ["politeness.v1", "compliance.v1", "negativity.v1"],
                                     ["negativity.v1", "politeness.v1", "compliance.v1"]])
def test_rule_tokens_fire_the_same_with_and_without_negativity(tmp_path, scorers):
    directory = _rules(tmp_path)
    pipeline = Pipeline.from_settings(ScoringSettings(scorers=scorers, rules_dir=directory,
                                                      detector_model="none")).initialize()
    conversation = _turns("在吗", "你这个态度差得很，这是霸王条款吧")
    first, second = pipeline.score(conversation), pipeline.score(conversation)  # the pack's extra word seen
    assert _mine_rules(first) == _mine_rules(second) == ["mine.attitude-word", "mine.unfair-terms"]


def test_rules_check_reads_a_turn_as_scoring_does(tmp_path, fresh_settings):
    """``qa rules check`` passes the pack the workers score with, and refuses the probe's rule (which no worker
    could fire) showing how the example segments."""
    result = CliRunner().invoke(app, ["rules", "check", "--dir", str(_rules(tmp_path))])
    assert result.exit_code == 0, result.output
    with pytest.raises(RulePackError) as info:
        RuleBook(_rules(tmp_path / "probe", PROBE)).load()
    (error,) = info.value.errors
    assert error.code == "R006" and "mine.attitude-word" in str(error)
    assert "its tokens: 你/这个/态度差/得/很" in str(error)
    result = CliRunner().invoke(app, ["rules", "check", "--dir", str(tmp_path / "probe" / "rules")])
    assert result.exit_code == 1 and "its tokens: 你/这个/态度差/得/很" in " ".join(result.output.split())


def test_default_pipeline_loads_one_jieba_dictionary_and_none_while_scoring(tmp_path):
    pipeline = Pipeline.from_settings(ScoringSettings(rules_dir=_rules(tmp_path))).initialize()
    (negativity,) = [s for s in pipeline.scorers if isinstance(s, NegativityScorer)]
    assert negativity.analyzer is pipeline.rulebook.analyzer  # the shipped lexicons: one analyzer, one cache
    loaded = dict(text._TOKENIZERS)
    report = pipeline.score(_turns("这是霸王条款吧，不是吗", "抱歉"))
    assert dict(text._TOKENIZERS) == loaded  # the pack's extra_negative built no tokenizer
    words = [f for f in report.findings if f.rule_id == "negativity.customer-negative-word"]
    assert [f.quote for f in words] == ["霸王条款"]  # jieba splits it (霸王/条款): found all the same
    assert report.dimensions["negativity"].metrics["words"]["customer"] == 5  # 这是/霸王条款/吧/不是/吗


def test_a_custom_lexicon_leaves_the_rule_engines_segmentation_alone(tmp_path):
    lexicon = tmp_path / "neg.txt"
    lexicon.write_text("态度差得\n", encoding="utf-8")
    pipeline = Pipeline.from_settings(ScoringSettings(scorers=["politeness.v1", "negativity.v1"],
                                                      negative_lexicon=lexicon, detector_model="none")).initialize()
    (negativity,) = [s for s in pipeline.scorers if isinstance(s, NegativityScorer)]
    assert pipeline.rulebook.analyzer.words == text.rule_words()
    assert negativity.analyzer is not pipeline.rulebook.analyzer and "态度差得" in negativity.analyzer.words
    assert [t.text for t in pipeline.rulebook.analyzer.tokens("你这个态度差得很")] == ["你", "这个", "态度差", "得", "很"]
    report = pipeline.score(Transcript((Utterance(0, Role.agent, "你这个态度差得很"),)))
    assert [f.quote for f in report.findings if f.rule_id == "negativity.agent-negative-word"] == ["态度差得"]
