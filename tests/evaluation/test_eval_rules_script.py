"""``scripts/eval_rules.py`` (the command docs/rules.md gives for the rule hit rates) on three of the shipped
demo conversations, so the script cannot fall behind the Pipeline API again. Was: it called
``Pipeline.score_with``, removed from Pipeline, and crashed before printing anything."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from tests.conftest import REPO

SAMPLE = REPO / "qa_service" / "demo_data" / "sample.jsonl"
LABELS = REPO / "tests" / "data" / "rule_labels.jsonl"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("eval_rules", REPO / "scripts" / "eval_rules.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["eval_rules"] = module  # dataclasses look the module up while the class is made
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("eval_rules", None)


def test_eval_rules_hit_rates_run_every_pack_on_demo_conversations(script, capsys):
    records = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()[:3]]
    pipeline = script.rule_pipeline(None)
    runs = script.hit_rates(pipeline, [script.to_domain(r) for r in records], top=2)
    assert sorted(runs) == ["after_sales", "complaint", "finance", "general", "presale"]
    general = runs["general"]
    assert general.n == 3 and general.flagged == 1 and general.with_objection == 1
    assert general.fired["general.courtesy-terms"] == 3
    assert general.fired["general.greeting-missing"] == 1
    assert general.fired["general.objection-price"] == 1
    assert round(general.score_sum / general.n, 1) == 98.5
    assert runs["finance"].flagged == 3  # none is a finance call: the disclosures are missing
    out = capsys.readouterr().out
    assert "=== pack general v" in out and "mean score 98.5, flagged 33.3%, an objection detected 33.3%" in out
    assert "(缺失)" in out  # a required rule's missing-turn quote


def test_eval_rules_labelled_table_runs(script, tmp_path, capsys):
    two = tmp_path / "labels.jsonl"
    two.write_text("\n".join(LABELS.read_text(encoding="utf-8").splitlines()[:2]) + "\n", encoding="utf-8")
    table = script.labelled(script.rule_pipeline(None), two)
    assert {"greeting", "closing", "objection"} <= set(table)
    assert table["greeting"].n == 2 and table["closing"].n == 2
    assert "=== hand labels: 2 conversations" in capsys.readouterr().out
