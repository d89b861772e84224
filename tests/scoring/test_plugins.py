"""Plugin scorers named by import path in ``QA_SCORING__SCORERS`` (tests/scoring/plugin_scorers.py): built as the
shipped ones are, checked against the Scorer protocol when the pipeline is built, and their dimension weighed by
a scorecard, given rules and read by an appraisal scheme.

Found by a probe: a Scorer class with no constructor arguments (as every shipped one is written) crashed with
``TypeError: Brevity() takes no arguments``; one without ``default_weight`` failed every transcript with an
AttributeError (a worker retried each, then marked it failed); a scorecard naming the plugin's dimension was
refused (R002), so it got ``default_weight`` 1.0 beside weights summing to 100: about 1% of the score.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import textwrap

import pytest
import yaml
from typer.testing import CliRunner

from qa_service.cli import app
from qa_service.config import DEFAULT_RULES_DIR, ScoringSettings, get_settings
from qa_service.domain import Role, Transcript, Utterance
from qa_service.errors import RulePackError, ScorerInvalid
from qa_service.rules.book import RuleBook
from qa_service.rules.scheme import load_schemes
from qa_service.scoring.pipeline import Pipeline
from qa_service.scoring import registry
from qa_service.scoring.registry import dimension_names
from tests.conftest import REPO
from tests.scoring.plugin_scorers import Brevity

PLUGINS = "tests.scoring.plugin_scorers"
LONG = "您好，" + "这个问题我们这边已经在处理了，" * 20
MINE = """\
name: mine
version: "1.0"
scenario: mine
include: [general]
scorecard: {weights: {politeness: 50, verbosity: 30, manners: 20}}
rules:
  - id: brusque
    dimension: manners
    severity: minor
    points: -5
    message: 坐席语气生硬
    match: {phrases: [你自己看]}
    examples: {match: [你自己看吧], no_match: [我帮您看一下]}
"""


def _rules(tmp_path, body: str = MINE):
    directory = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, directory, ignore=shutil.ignore_patterns("alerts", "appraisal"))
    (directory / "mine.yaml").write_text(textwrap.dedent(body), encoding="utf-8")
    return directory


def _pipeline(*scorers: str, rules_dir=None) -> Pipeline:
    return Pipeline.from_settings(ScoringSettings(scorers=list(scorers), detector_model="none",
                                                  rules_dir=rules_dir)).initialize()


def _chat(*agent: str, scenario: str | None = None) -> Transcript:
    turns = [Utterance(0, Role.customer, "在吗")] + [Utterance(i + 1, Role.agent, t) for i, t in enumerate(agent)]
    return Transcript(tuple(turns), scenario=scenario)


def test_a_plugin_scorer_class_with_no_constructor_arguments_loads_by_import_path():
    pipeline = _pipeline("politeness.v1", f"{PLUGINS}:Verbosity")
    report = pipeline.score(_chat(LONG))
    assert report.scorer_versions["verbosity"] == "verbosity.v1"
    assert report.dimensions["verbosity"].score == 98.0
    # the general pack's scorecard does not weigh verbosity: it takes its default share, politeness the rest
    assert report.weights == {"politeness": 0.9, "verbosity": 0.1}


def test_a_plugin_factory_is_called_with_the_setup():
    (_, verbosity) = _pipeline("politeness.v1", f"{PLUGINS}:short_verbosity").scorers
    assert verbosity.limit == 20


@pytest.mark.parametrize("name,needle", [
    ("Brevity", "no default_weight"),
    ("TwoArguments", "cannot be called with no arguments nor with the ScorerSetup alone"),
    ("LIMIT", "names a int, not a Scorer class or a factory"),
])
def test_a_scorer_that_breaks_the_protocol_is_refused_when_the_pipeline_is_built(name, needle):
    with pytest.raises(ScorerInvalid) as info:
        Pipeline.from_settings(ScoringSettings(scorers=["politeness.v1", f"{PLUGINS}:{name}"], detector_model="none"))
    assert f"'{PLUGINS}:{name}'" in str(info.value) and needle in str(info.value)
    with pytest.raises(ScorerInvalid, match="Brevity does not keep the Scorer protocol.*no default_weight"):
        Pipeline([Brevity()], RuleBook(DEFAULT_RULES_DIR))


def test_qa_score_refuses_a_broken_plugin_in_one_line(tmp_path, monkeypatch, fresh_settings):
    """Not a traceback, and not one failure per transcript."""
    monkeypatch.setenv("QA_SCORING__SCORERS", json.dumps(["politeness.v1", f"{PLUGINS}:Brevity"]))
    monkeypatch.setenv("QA_SCORING__DETECTOR_MODEL", "none")
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"source": "t", "external_id": "x1", "channel": "chat",
                               "utterances": [{"role": "agent", "text": "您好"}]}) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["score", str(src), "--output", str(tmp_path / "out.jsonl")])
    output = " ".join(result.output.split())
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert "cannot score: scorer 'tests.scoring.plugin_scorers:Brevity' (Brevity) does not keep" in output
    assert "no default_weight" in output and "Traceback" not in output


def test_a_plugin_dimension_is_weighed_by_a_scorecard_and_has_rules(tmp_path):
    pipeline = _pipeline("politeness.v1", f"{PLUGINS}:Verbosity", f"{PLUGINS}:Manners",
                         rules_dir=_rules(tmp_path))
    report = pipeline.score(_chat(LONG, "你自己看吧", scenario="mine"))
    assert report.weights == {"politeness": 0.5, "verbosity": 0.3, "manners": 0.2}
    assert [f.rule_id for f in report.dimensions["manners"].findings] == ["mine.brusque"]
    assert report.dimensions["manners"].score == 95.0 and report.dimensions["verbosity"].score == 98.0


def test_a_pack_naming_a_dimension_no_configured_scorer_provides_is_refused(tmp_path):
    with pytest.raises(RulePackError) as info:
        _pipeline("politeness.v1", f"{PLUGINS}:Verbosity", rules_dir=_rules(tmp_path))
    errors = " ".join(str(e) for e in info.value.errors)
    assert "R002 rules/mine.yaml: scorecard.weights: unknown dimension(s) ['manners']" in errors
    assert "R002 rules/mine.yaml:mine.brusque: dimension: unknown dimension(s) ['manners']" in errors
    assert "known once QA_SCORING__SCORERS configures the scorer" in errors


def test_rules_check_and_schemes_know_a_configured_plugins_dimension(tmp_path, monkeypatch, fresh_settings):
    directory = _rules(tmp_path)
    result = CliRunner().invoke(app, ["rules", "check", "--dir", str(directory)])
    assert result.exit_code == 1 and "unknown dimension(s) ['manners', 'verbosity']" in " ".join(result.output.split())
    monkeypatch.setenv("QA_SCORING__SCORERS", json.dumps(["politeness.v1", f"{PLUGINS}:Verbosity",
                                                          f"{PLUGINS}:Manners"]))
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["rules", "check", "--dir", str(directory)])
    assert result.exit_code == 0, result.output
    dims = dimension_names(["politeness.v1", f"{PLUGINS}:Verbosity", f"{PLUGINS}:Manners"])
    (tmp_path / "s.yaml").write_text(textwrap.dedent("""\
        name: s
        version: "1"
        title: t
        metrics:
          - {id: a, metric: qa.verbosity, weight: 1, baseline: 80, target: 90, challenge: 95}
        grades: [{name: 好, min: 80}, {name: 差, min: 0}]
        """), encoding="utf-8")
    assert load_schemes(tmp_path, dims)["s"].spec.metrics[0].metric == "qa.verbosity"


def _recipe() -> dict[str, list[str]]:
    """The code blocks of docs/development.md's "Add a scorer", by language."""
    page = (REPO / "docs" / "development.md").read_text(encoding="utf-8")
    section = page.split("## Add a scorer", 1)[1].split("\n## ", 1)[0]
    blocks: dict[str, list[str]] = {}
    for lang, body in re.findall(r"```(\w+)\n(.*?)```", section, re.S):
        blocks.setdefault(lang, []).append(body)
    return blocks


def test_the_add_a_scorer_recipe_works_as_a_plugin_and_built_in(tmp_path, monkeypatch):
    """docs/development.md's example, run as the page says: its module by import path, its factory registered,
    its scorecard weighing the new dimension."""
    blocks = _recipe()
    (tmp_path / "myscorers.py").write_text(blocks["python"][0], encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    configured = json.loads(re.search(r"QA_SCORING__SCORERS='(.*)'", blocks["bash"][0]).group(1))
    assert configured[-1] == "myscorers:Verbosity"
    assert Pipeline.from_settings(ScoringSettings(scorers=configured)).versions["verbosity"] == "verbosity.v1"
    plugin = _pipeline("politeness.v1", "myscorers:Verbosity").score(_chat(LONG))
    assert plugin.dimensions["verbosity"].score == 98.0 and plugin.weights == {"politeness": 0.9, "verbosity": 0.1}

    import myscorers

    monkeypatch.setitem(sys.modules, "qa_service.scoring.verbosity", myscorers)
    monkeypatch.setitem(registry._FACTORIES, "verbosity.v1", None)  # taken out again after the test
    exec(blocks["python"][1], vars(registry).copy())  # noqa: S102 — the page's @register snippet
    card = yaml.safe_load(blocks["yaml"][0])["scorecard"]
    directory = _rules(tmp_path, MINE.replace("scorecard: {weights: {politeness: 50, verbosity: 30, manners: 20}}",
                                              "scorecard: " + json.dumps(card)).split("rules:")[0])
    built_in = _pipeline("politeness.v1", "compliance.v1", "objection.v1", "negativity.v1", "timing.v1",
                         "sentiment.v1", "verbosity.v1", rules_dir=directory)
    report = built_in.score(_chat(LONG, scenario="mine"))
    assert report.scorer_versions["verbosity"] == "verbosity.v1" and report.dimensions["verbosity"].score == 98.0
    assert report.weights["verbosity"] == round(5 / 95, 6)  # timing (no timestamps here) does not apply
