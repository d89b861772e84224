"""Precision/recall of the general pack against 110 hand-labelled real conversations (tests/data/rule_labels.jsonl).

Floors sit just under the figures measured when the labels were made (README, "Rule quality"), so a
rule edit that costs accuracy fails here; raise them as the rules improve.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa_service.config import ScoringSettings
from qa_service.domain import Role, Transcript, Utterance
from qa_service.evaluation.rule_labels import compare, judgements
from qa_service.scoring.pipeline import Pipeline

LABELS = Path(__file__).resolve().parents[1] / "data" / "rule_labels.jsonl"
FLOORS = {  # label: (precision, recall)
    "greeting": (0.92, 0.95),
    "closing": (0.92, 0.90),
    "objection": (0.75, 0.45),
    "objection_handled": (0.90, 0.25),
}


@pytest.fixture(scope="module")
def agreement():
    pipeline = Pipeline.from_settings(ScoringSettings(
        scorers=["politeness.v1", "compliance.v1", "objection.v1", "negativity.v1"])).initialize()
    rows = []
    for line in LABELS.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        t = Transcript(utterances=tuple(Utterance(i, Role(u["role"]), u["text"]) for i, u in enumerate(rec["utterances"])))
        rows.append((rec["labels"], judgements(pipeline.score(t))))
    return compare(rows)


def test_labelled_set_is_real_and_big_enough():
    records = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines()]
    assert len(records) >= 100
    assert {r["corpus"] for r in records} == {"jddc_sample", "csds", "stc3_dch1", "mobilecs_examples"}


@pytest.mark.parametrize("label", sorted(FLOORS))
def test_precision_recall_floor(agreement, label):
    precision, recall = FLOORS[label]
    a = agreement[label]
    assert a.precision is not None and a.precision >= precision, (label, a)
    assert a.recall is not None and a.recall >= recall, (label, a)


def test_no_false_escalation_or_forbidden_alarms_beyond_one(agreement):
    assert agreement["escalation"].fp <= 1 and agreement["forbidden"].fp <= 1
