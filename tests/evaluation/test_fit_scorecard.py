"""``scripts/fit_scorecard.py --fit-on labels`` on the shipped labelled sample (14 real conversations): the
points are fitted for the pack asked for, under its own weights, from the rule folder the settings name."""

from __future__ import annotations

import importlib.util
import re
import shutil

import numpy as np
import pytest

from qa_service.config import DEFAULT_RULES_DIR, get_settings
from qa_service.evaluation.labels import read_labels
from qa_service.scoring.pipeline import Pipeline
from tests.conftest import REPO

SAMPLE = REPO / "tests" / "data" / "golden_sample.jsonl"
TEAM_WEIGHTS = {"politeness": 50, "compliance": 10, "objection": 20, "negativity": 0, "timing": 5, "sentiment": 20}
TEAM = """\
name: team
version: "0.1"
scenario: team
include: [general]
scorecard:
  weights: {politeness: 50, compliance: 10, objection: 20, negativity: 0, timing: 5, sentiment: 20}
rules: []
"""

pytestmark = pytest.mark.usefixtures("fresh_settings")


def _script():
    spec = importlib.util.spec_from_file_location("fit_scorecard", REPO / "scripts" / "fit_scorecard.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _printed_points(out: str) -> dict[str, float]:
    line = next(x for x in out.splitlines() if x.startswith("detectors: {"))
    return {k: float(v) for k, v in re.findall(r"(\w+): (-?[\d.]+)", line)}


def test_fit_on_labels_fits_the_asked_pack_under_its_weights_from_the_rules_dir(tmp_path, monkeypatch, capsys):
    """Was: the general pack's weights hard-coded, the shipped rules/ whatever QA_SCORING__RULES_DIR said."""
    fit = _script()
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules, ignore=shutil.ignore_patterns("alerts", "appraisal"))
    (rules / "team.yaml").write_text(TEAM, encoding="utf-8")
    monkeypatch.setenv("QA_SCORING__RULES_DIR", str(rules))
    args = ["--fit-on", "labels", "--labels", str(SAMPLE), "--data", str(tmp_path), "--pack", "team"]
    assert fit.main(args) == 0
    out = capsys.readouterr().out
    assert f"pack team v0.1 (rules/team.yaml, rules from {rules})" in out  # the pack only that folder has
    assert "scorecard:\n  weights: {politeness: 50, compliance: 10, objection: 20, negativity: 0, timing: 5, " \
           "sentiment: 20}" in out
    points = _printed_points(out)

    # The same fit by hand: the sample's item counts, the costs bounded by what the team's weights deliver.
    labels = [x for x in read_labels(SAMPLE) if x.get("quality")]
    pipeline = Pipeline.from_settings(get_settings().scoring).initialize()
    rows, quality = fit.counts_of(pipeline, labels, {}, "team")
    x, y = np.array(rows, dtype=float), np.array([fit.TARGET[q] for q in quality])
    team, general = fit.shares_of(TEAM_WEIGHTS), fit.shares_of(fit_general_weights(pipeline))
    cost, _ = fit.fit_capped(x, 100.0 - y, fit.most_cost(team))
    for (item, (dim, _)), c in zip(fit.ITEMS.items(), cost):
        expected = -round(c / team[dim], 1) if team[dim] else 0.0
        assert points[item] == pytest.approx(expected, abs=0.051), item
    # Chat: timing does not apply, the rest renormalise (team 50 of 100, general 30 of 100).
    assert team["politeness"] == pytest.approx(0.5) and general["politeness"] == pytest.approx(0.3)
    assert points["greeting_missing"] != pytest.approx(-round(cost[0] / general["politeness"], 1), abs=0.051)


def fit_general_weights(pipeline) -> dict[str, float]:
    return dict(pipeline.rulebook.packs["general"].pack.spec.scorecard.weights)


def test_a_cost_past_what_the_weights_deliver_is_said_and_held_there(capsys):
    """Was: clipped at 100 points in silence, the unclipped cost printed and used for the means."""
    fit = _script()
    share = fit.shares_of({"politeness": 30, "compliance": 15, "objection": 15, "negativity": 5, "timing": 5,
                           "sentiment": 35})
    x = np.zeros((20, len(fit.ITEMS)))
    unresolved = list(fit.ITEMS).index("unresolved")
    x[:10, unresolved] = 1.0  # half the conversations unresolved, rated 1 (30), the rest 5 (100)
    y = np.array([30.0] * 10 + [100.0] * 10)
    upper = fit.most_cost(share)
    cost, wanted = fit.fit_capped(x, 100.0 - y, upper)
    assert wanted[unresolved] == pytest.approx(70.0) and cost[unresolved] == pytest.approx(15.0)
    points = fit.print_items(x, cost, wanted, share, upper)
    out = " ".join(capsys.readouterr().out.split())
    assert points["unresolved"] == -100.0
    assert ("unresolved 10 15.0 -100.0 (objection) clipped: the fit wanted 70.0 on the score; -100 points, the most "
            "a finding costs in its dimension, deliver 15.0 (objection is 15.0% of the score)") in out
    score, _ = fit.delivered(x, points, share)  # what the YAML delivers, not the 70 the fit wanted
    assert score[0] == pytest.approx(85.0) and score[-1] == 100.0
