"""``qa eval`` on the shipped labelled sample (real dev-split conversations with their text): the figures
it prints are the labels' own counts and the 2×2 tables they imply."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from qa_service.cli import app
from qa_service.evaluation import labels as L
from tests.conftest import REPO

SAMPLE = REPO / "tests" / "data" / "golden_sample.jsonl"


def test_qa_eval_on_the_shipped_sample_reports_consistent_figures():
    out = CliRunner().invoke(app, ["eval", str(SAMPLE), "--format", "json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout[out.stdout.index("{"):])
    labels = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    assert report["conversations"] == len(labels) == 14
    for item in L.ITEMS:  # human positives, counted here straight from the file
        f = report["items"][item]
        assert f["tp"] + f["fn"] == sum(L.items(x)[item] for x in labels), item
        assert f["n"] == 14
        if f["tp"] + f["fp"]:
            assert f["precision"] == round(f["tp"] / (f["tp"] + f["fp"]), 4)
    turns = report["turns"]["negative_turn"]
    judged = sum(1 for x in labels for u in x["utterances"] if u["role"] == "customer" and u["text"].strip())
    assert turns["n"] == judged
    assert turns["tp"] + turns["fn"] == sum(len(x["negative_turns"]) for x in labels)
    by_grade = report["score_by_quality"]
    assert {int(q): v["n"] for q, v in by_grade.items()} == {2: 4, 3: 8, 4: 1, 5: 1}
    # The detectors find the greetings and closings a reviewer finds on these real conversations.
    assert report["items"]["greeting"]["f1"] >= 0.8 and report["items"]["closing"]["f1"] >= 0.8
    assert report["scorers"]["sentiment"] == "sentiment.v2"


def test_qa_eval_refuses_labels_without_text_or_a_corpus(tmp_path):
    bare = tmp_path / "labels.jsonl"
    bare.write_text(json.dumps({"id": "nowhere-1", "greeting": True}) + "\n", encoding="utf-8")
    out = CliRunner().invoke(app, ["eval", str(bare)])
    assert out.exit_code == 2 and "utterances: none" in out.output and f"{bare}:1" in out.output


def test_qa_eval_names_every_label_without_text_before_scoring_any(tmp_path):
    labels = tmp_path / "labels.jsonl"
    lines = [{"id": "u1", "greeting": True}, {"id": "u2", "greeting": False},
             {"id": "u3", "greeting": True, "utterances": [{"role": "agent", "text": "您好"}]}]
    labels.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    out = CliRunner().invoke(app, ["eval", str(labels)])
    assert out.exit_code == 2
    assert f"{labels}:1: utterances" in out.output and f"{labels}:2: utterances" in out.output
    assert f"{labels}:3" not in out.output


def test_qa_eval_table_keeps_item_names_whole_when_written_to_a_file(monkeypatch):
    """Was: off a terminal (a file, a CI log) rich fit the table into 80 columns and cut the item names to
    nine characters, so objection and objection_unhandled both read ``objectio…``."""
    from rich.console import Console

    from qa_service.cli import evaluate

    monkeypatch.setattr(evaluate, "console", Console(width=80))
    out = CliRunner().invoke(app, ["eval", str(SAMPLE)])
    assert out.exit_code == 0, out.output
    rows = {line.split("│")[1].strip(): line for line in out.stdout.splitlines() if line.startswith("│")}
    assert {"objection", "objection_unhandled", "objection_turn (turns)", "customer_negative",
            "end_negative", "negative_turn (turns)", "angry_turn (turns)"} <= set(rows)
    assert "…" not in out.stdout
    assert "precision" in out.stdout and "machine yes" in out.stdout
    assert rows["objection_unhandled"].split("│")[5:8] == ["     1.000 ", "  0.625 ", " 0.769 "]


def test_qa_eval_table_rounds_once(capsys):
    """Closing on the golden test split: tp 192, fp 5, fn 18, F1 = 384/407 = 0.94349. Was: rounded to 0.9435
    for the report, then formatted to 0.944; the table now shows 0.943 and the JSON keeps 0.9435."""
    from qa_service.cli.evaluate import print_report
    from qa_service.evaluation.agreement import MachineView, Pair, compare

    calls = [(True, True)] * 192 + [(False, True)] * 5 + [(True, False)] * 18 + [(False, False)] * 84
    pairs = [Pair(str(i), {"closing": human, "quality": 3}, MachineView(items={"closing": machine}, turns={},
                                                                        score=80.0))
             for i, (human, machine) in enumerate(calls)]
    report = compare(pairs)
    assert report.as_dict()["items"]["closing"]["f1"] == 0.9435
    print_report(report.as_dict(rounded=False), "closing")
    closing = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("│ closing "))
    assert closing.split("│")[5:8] == ["     0.975 ", "  0.914 ", " 0.943 "]
