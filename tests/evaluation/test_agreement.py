"""Agreement figures on conversations small enough to check by hand."""

from __future__ import annotations

import pytest

from qa_service.evaluation.agreement import MachineView, Pair, compare
from qa_service.stats import Agreement, kappa, spearman


def label(greeting: bool, quality: int, negative: list[int]) -> dict:
    return {"greeting": greeting, "closing": False, "apology_turns": [], "rude": [], "objections": [],
            "negative_turns": negative, "angry_turns": [], "escalation_turns": [], "end_sentiment": "neutral",
            "resolved": "yes", "quality": quality}


def machine(greeting: bool, score: float, negative: set[int]) -> MachineView:
    return MachineView(items={"greeting": greeting}, turns={"negative_turn": negative}, score=score)


def test_agreement_matches_figures_computed_by_hand():
    pairs = [
        Pair("a", label(True, 5, [1]), machine(True, 90.0, {1, 3}), {"customer": {1, 3}}),
        Pair("b", label(True, 4, []), machine(False, 95.0, set()), {"customer": {1}}),
        Pair("c", label(False, 3, []), machine(True, 60.0, set()), {"customer": {1}}),
        Pair("d", label(False, 2, [1]), machine(False, 50.0, {1}), {"customer": {1}}),
    ]
    report = compare(pairs)
    g = report.items["greeting"]  # tp a, fn b, fp c, tn d
    assert (g["tp"], g["fp"], g["fn"], g["tn"]) == (1, 1, 1, 1)
    assert g["precision"] == 0.5 and g["recall"] == 0.5 and g["f1"] == 0.5 and g["kappa"] == 0.0
    t = report.turns["negative_turn"]  # judged turns: a1 (tp), a3 (fp), b1, c1 (tn), d1 (tp)
    assert (t["tp"], t["fp"], t["fn"], t["tn"]) == (2, 1, 0, 2)
    assert t["precision"] == pytest.approx(2 / 3, abs=1e-4) and t["recall"] == 1.0 and t["f1"] == 0.8
    # ranks of the scores (3, 4, 2, 1) against the qualities (4, 3, 2, 1): d² sums to 2, ρ = 1 − 6·2/(4·15)
    assert report.spearman == 0.8
    assert report.score_by_quality[5]["mean"] == 90.0 and report.gap_low_vs_top == 40.0


def test_kappa_weighted_and_spearman_ties():
    assert kappa(["a", "b", "a", "b"], ["a", "b", "a", "b"]) == 1.0
    assert kappa([1, 2, 3, 4], [1, 2, 3, 4], weights={g: g for g in range(1, 6)}) == 1.0
    assert kappa(["a", "a"], ["a", "a"]) is None  # p_e = 1: nothing to tell apart
    assert spearman([1, 1, 2], [1, 2, 3]) == pytest.approx(0.866, abs=1e-3)  # tied ranks share their mean
    assert spearman([1, 1], [1, 2]) is None


def test_f1_is_zero_when_the_machine_finds_none_of_the_positives():
    """A total miss reads 0.000, not a blank that hides it when items are compared or averaged."""
    assert Agreement(tp=0, fp=0, fn=3, tn=11).f1 == 0.0
    assert Agreement(tp=0, fp=2, fn=0, tn=12).f1 == 0.0
    assert Agreement(tp=0, fp=0, fn=0, tn=14).f1 is None  # neither side has a positive: nothing to score
    assert Agreement(tp=3, fp=1, fn=2, tn=8).f1 == pytest.approx(2 * 3 / (2 * 3 + 1 + 2))


def test_an_item_no_line_labels_is_not_labelled_and_one_some_lines_leave_out_counts_as_no():
    """Was: a file labelling only greeting, closing and quality read apology, objection… as precision 0.000 and
    κ 0.000, as if a reviewer had said "no" to each. A field left out of some lines still counts as no there."""
    pairs = [
        Pair("a", {"greeting": True, "closing": True, "quality": 4},
             MachineView(items={"greeting": True, "closing": True, "apology": True},
                         turns={"apology_turn": {1}}, score=90.0), {"agent": {1}}),
        Pair("b", {"greeting": False, "quality": 2},  # closing left out: "no" here
             MachineView(items={"greeting": False, "closing": True}, turns={}, score=60.0), {"agent": {1}}),
    ]
    report = compare(pairs).as_dict()
    assert report["items"]["closing"] == {"n": 2, "tp": 1, "fp": 1, "fn": 0, "tn": 0, "precision": 0.5,
                                          "recall": 1.0, "f1": 0.6667, "kappa": 0.0}
    for group, name in (("items", "apology"), ("items", "objection_unhandled"), ("turns", "apology_turn")):
        f = report[group][name]
        assert {k: f[k] for k in ("n", "tp", "fp", "precision", "f1", "kappa")} == dict.fromkeys(
            ("n", "tp", "fp", "precision", "f1", "kappa")), name
        assert f["not_labelled"].startswith("no line of the labels gives "), name
    assert report["items"]["apology"]["not_labelled"].endswith("apology_turns")
    assert "not_labelled" not in report["items"]["greeting"]
