"""Final scores, sampling and κ: the pure parts of review, at their edges."""

from __future__ import annotations

import pytest

from qa_service.errors import Invalid
from qa_service.review.calibration import agreement, calibrate
from qa_service.review.manual import ManualFindingSpec, Speakers, check_speaker, speakers
from qa_service.review.queue import draw, queue_entry, sample_size
from qa_service.review.score import Item, fails, final_score
from qa_service.rules.loader import load_packs
from tests.conftest import REPO

DIMS = {"politeness": {"score": 99.99, "weight": 0.6}, "timing": {"score": 100, "weight": 0.0, "applicable": False},
        "compliance": {"score": 97.13, "weight": 0.4}}


def test_a_review_that_changes_nothing_keeps_the_machine_score_exactly():
    # 0.6·99.99 + 0.4·97.13 = 98.846, stored rounded as 98.85: a recomputation must not turn it into 98.85 ± .01
    out = final_score(machine_score=98.85, machine_fatal=False, dimensions=DIMS,
                      kept=[Item("politeness", -0.01)], rejected=[], manual=[])
    assert out.score == 98.85 and out.dimensions["politeness"] == 99.99 and not out.fatal


def test_dimensions_stay_in_range_and_inapplicable_ones_do_not_count():
    out = final_score(machine_score=98.85, machine_fatal=False, dimensions=DIMS, kept=[], rejected=[],
                      manual=[Item("compliance", -150), Item("timing", -50)])
    assert out.dimensions["compliance"] == 0.0 and out.dimensions["timing"] == 50.0
    assert out.score == round(98.85 + 0.4 * (0 - 97.13), 2)


def test_fatal_kept_or_manual_zeroes_and_rejecting_it_restores_the_weighted_score():
    dims = {"compliance": {"score": 50, "weight": 1.0}}
    assert final_score(machine_score=0, machine_fatal=True, dimensions=dims, kept=[Item("compliance", -50, True)],
                       rejected=[], manual=[]).score == 0
    out = final_score(machine_score=0, machine_fatal=True, dimensions=dims, kept=[],
                      rejected=[Item("compliance", -50, True)], manual=[])
    assert (out.score, out.fatal) == (100.0, False)
    out = final_score(machine_score=80, machine_fatal=False, dimensions=dims, kept=[], rejected=[],
                      manual=[Item("compliance", 0, True)])
    assert (out.score, out.fatal) == (0.0, True)


def test_points_the_bounds_swallowed_are_added_up_again_from_the_dimensions_start():
    """The probe's transcript: compliance −100 (fatal abuse), −5, −5 → 0. Rejecting only the abuse leaves 90
    (it gave 100: the −5s were lost in the clamped 0); an accepted appeal of a −5 then gives 95."""
    dims = {"compliance": {"score": 0.0, "weight": 0.5, "start": 100.0},
            "politeness": {"score": 100.0, "weight": 0.5, "start": 100.0}}
    abuse, blame, promise = Item("compliance", -100, True), Item("compliance", -5), Item("compliance", -5)
    bonus = Item("politeness", 2)  # politeness 102 → 100: the bonus never counted
    out = final_score(machine_score=0.0, machine_fatal=True, dimensions=dims, kept=[blame, promise, bonus],
                      rejected=[abuse], manual=[])
    assert out.dimensions == {"compliance": 90.0, "politeness": 100.0} and out.score == 95.0
    out = final_score(machine_score=0.0, machine_fatal=True, dimensions=dims, kept=[promise],
                      rejected=[abuse, blame, bonus], manual=[])
    assert out.dimensions == {"compliance": 95.0, "politeness": 100.0} and out.score == 97.5
    # a report stored before ``start`` was: taken to start at 100 when its figures say so
    old = {"compliance": {"score": 0.0, "weight": 1.0}}
    assert final_score(machine_score=0.0, machine_fatal=True, dimensions=old, kept=[blame, promise],
                       rejected=[abuse], manual=[]).dimensions["compliance"] == 90.0
    # a start of 90 from the pack's scorecard
    card = {"compliance": {"score": 0.0, "weight": 1.0, "start": 90.0}}
    assert final_score(machine_score=0.0, machine_fatal=True, dimensions=card, kept=[blame, promise],
                       rejected=[abuse], manual=[]).dimensions["compliance"] == 80.0


def test_pass_fail():
    assert fails(59.99, False, 60) and not fails(60, False, 60) and fails(100, True, 60)


def test_queue_entry_orders_fatal_first():
    assert queue_entry([("low_score", "major"), ("fatal_rule", "critical")]).priority == 0
    assert queue_entry([("escalation_threat", "critical")]).priority == 1
    e = queue_entry([("low_score", "major"), ("low_score", "minor")])
    assert (e.reasons, e.severity, e.priority) == (["low_score"], "major", 2)


@pytest.mark.parametrize(("n", "percent", "minimum", "want"),
                         [(0, 5, 1, 0), (1, 5, 1, 1), (20, 5, 1, 1), (21, 5, 1, 2), (3, 5, 5, 3), (10, 100, 0, 10)])
def test_sample_size(n, percent, minimum, want):
    assert sample_size(n, percent, minimum) == want


def test_draw_is_seeded_and_counts_earlier_samples():
    ids = list(range(100, 140))
    first = draw(ids, already=0, percent=10, minimum=1, seed="2026-W40/a1")
    assert len(first) == 4 and first == draw(list(reversed(ids)), already=0, percent=10, minimum=1,
                                              seed="2026-W40/a1")
    rest = [i for i in ids if i not in first]
    assert draw(rest, already=4, percent=10, minimum=1, seed="2026-W40/a1") == []


def test_kappa_perfect_chance_and_undefined():
    assert agreement([(True, True), (False, False)]).kappa == 1.0
    assert agreement([(True, True), (True, False), (False, True), (False, False)]).kappa == 0.0
    assert agreement([(False, False)] * 3).kappa is None  # p_e = 1: nothing to tell apart
    assert agreement([]).n == 0


def test_calibrate_counts_misses_without_a_rule_in_their_dimension():
    cal = calibrate([("r1", "politeness", "confirmed"), ("r1", "politeness", "rejected")],
                    [(None, "politeness"), ("r2", "compliance")], [])
    assert cal.rules["r1"].precision == 0.5 and cal.rules["r2"].missed == 1 and cal.rules["r2"].precision is None
    assert cal.dimensions["politeness"].missed == 1 and cal.low_precision(0.8, 2) == ["r1"]
    assert cal.low_precision(0.8, 3) == []


def test_a_kappa_of_zero_is_zero_not_a_rounding_residue():
    """A probe's calibration: 1 both-pass and 2 machine-only-fail → p_o = p_e = 1/3; κ came out -8.33e-17."""
    from qa_service.stats import Agreement

    table = Agreement(tp=0, fp=2, fn=0, tn=1)
    assert table.kappa == 0.0 and str(table.kappa) == "0.0"
    assert Agreement(tp=3, fp=1, fn=1, tn=5).kappa == (10 * 8 - (4 * 4 + 6 * 6)) / (100 - (4 * 4 + 6 * 6))
    assert Agreement(tp=2).kappa is None and Agreement().kappa is None


def test_which_customer_turns_a_manual_deduction_may_quote_follows_the_packs_rules(tmp_path):
    """A pack's deducting rule that reads customer turns (``customer``, ``any``) lets a deduction of its
    dimension quote one in a transcript scored with that pack; the rule named lets it anywhere; detect rules
    (0 points, as the shipped objection tags) add nothing; a pack no longer loaded: every loaded pack."""
    (tmp_path / "bank.yaml").write_text("""\
name: bank
version: "1"
scenario: bank
scorecard: {weights: {compliance: 1, timing: 1}}
rules:
  - {id: customer-reports-fraud, dimension: compliance, role: customer, points: -10, message: 客户反映被诈骗,
     match: {phrases: [被骗了]}, examples: {match: [我被骗了], no_match: [好的]}}
  - {id: any-side-threat, dimension: timing, role: any, points: -5, message: 双方提到投诉,
     match: {phrases: [投诉]}, examples: {match: [我要投诉], no_match: [好的]}}
  - {id: agent-promise, dimension: compliance, points: -5, message: 承诺收益,
     match: {phrases: [稳赚]}, examples: {match: [稳赚的], no_match: [好的]}}
""", encoding="utf-8")
    (tmp_path / "general.yaml").write_text((REPO / "rules/general.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    packs = load_packs(tmp_path)
    bank, general, gone = speakers(packs, "bank"), speakers(packs, "general"), speakers(packs, "renamed")
    assert bank.customer == {"compliance", "timing", "objection", "sentiment"}
    assert general.customer == {"objection", "sentiment"} == Speakers().customer  # objection tags: 0 points
    assert gone.customer == bank.customer
    assert bank.rules["bank.customer-reports-fraud"] == ("compliance", "customer")

    def spec(dimension: str, rule_id: str | None = None, points: float = -10.0) -> ManualFindingSpec:
        return ManualFindingSpec(dimension, 3, points, "漏检", rule_id=rule_id)

    check_speaker(spec("compliance"), "customer", 3, bank)
    check_speaker(spec("timing"), "customer", 3, bank)
    check_speaker(spec("compliance", "bank.customer-reports-fraud"), "customer", 3, general)  # its own role
    check_speaker(spec("politeness", points=5.0), "customer", 3, general)  # a bonus: no speaker check
    for dimension, rule, allowed in (("compliance", None, general), ("politeness", None, bank),
                                     ("compliance", "bank.agent-promise", general),
                                     ("politeness", "bank.customer-reports-fraud", general)):  # not its dimension
        with pytest.raises(Invalid, match=f"utterance_index 3 is a customer turn: a {dimension} deduction") as e:
            check_speaker(spec(dimension, rule), "customer", 3, allowed)
        assert e.value.field == "utterance_index"
    with pytest.raises(Invalid, match="rule bank.agent-promise reads the agent's turns"):
        check_speaker(spec("compliance", "bank.agent-promise"), "customer", 3, general)
