"""Appraisal schemes are data: shipped ones load and their examples pass; broken ones fail with codes."""

from __future__ import annotations

import os
import shutil

import pytest

from qa_service.errors import RulePackError
from qa_service.performance.appraisal import appraise, example_errors
from qa_service.rules.scheme import SchemeBook, load_schemes, scheme_for
from qa_service.scoring.registry import dimension_names
from qa_service.config import DEFAULT_RULES_DIR

SHIPPED = DEFAULT_RULES_DIR / "appraisal"
SCHEMES = load_schemes(SHIPPED)

GOOD = """\
name: s
version: "1"
title: t
metrics:
  - {id: a, metric: csat, weight: 0.6, baseline: 0.8, target: 0.9, challenge: 0.95}
  - {id: b, metric: frt_seconds, weight: 0.4, direction: lower, baseline: 60, target: 30, challenge: 15}
grades: [{name: 好, min: 80}, {name: 差, min: 0}]
"""


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_scheme_shipped_examples_pass(name):
    assert SCHEMES[name].spec.examples, f"{name} declares no example"
    assert example_errors(SCHEMES[name]) == []


def test_scheme_shipped_weights_match_the_common_splits():
    after = {m.metric: m.weight for m in SCHEMES["after_sales"].spec.metrics}
    assert after == {"csat": 0.30, "fcr": 0.25, "frt_seconds": 0.20, "qa_score": 0.15, "contacts_per_day": 0.10}
    pre = {m.metric: m.weight for m in SCHEMES["presale"].spec.metrics}
    assert pre == {"conversion": 0.40, "csat": 0.30, "frt_seconds": 0.15, "fcr": 0.15}


def test_scheme_chosen_by_team_pattern_else_default():
    assert scheme_for(SCHEMES, "jd-presale-2").name == "presale"
    assert scheme_for(SCHEMES, "售前一组").name == "presale"
    assert scheme_for(SCHEMES, "weibo-helpdesk").name == "after_sales"
    assert scheme_for(SCHEMES, "unknown-team").name == "after_sales"  # the default
    assert scheme_for(SCHEMES, None).name == "after_sales"


@pytest.mark.parametrize("edit, code, needle", [
    (lambda t: t.replace("csat,", "csatt,"), "A003", "'csatt' is not a performance metric"),
    (lambda t: t.replace("weight: 0.4", "weight: 0.5"), "A004", "add up to 1.1"),
    (lambda t: t.replace("baseline: 60, target: 30", "baseline: 20, target: 30"), "A005", "out of order"),
    (lambda t: t.replace("{name: 差, min: 0}", "{name: 差, min: 10}"), "A006", "lowest"),
    (lambda t: t.replace("id: b,", "id: a,"), "A007", "appears twice"),
    (lambda t: t.replace("title: t", "title: t\nowner: me"), "A002", "owner"),
    (lambda t: t + "examples:\n  - {metrics: {csat: 0.9, frt_seconds: 30}, total: 99, grade: 好}\n", None, None),
    (lambda t: t.replace("metrics:", "metrics: [", 1), "A001", "not valid YAML"),
    (lambda t: t.replace("metric: csat,", "metric: qa.politness,"), "A003",
     "'qa.politness' names no QA dimension — did you mean qa.politeness?"),
    (lambda t: t.replace("metric: csat,", "metric: cast,"), "A003", "did you mean csat?"),
    (lambda t: t.replace("challenge: 15}", "challenge: 15, min_sample: 5}"), "A010",
     "min_sample 5 on frt_seconds, which carries no sample count"),
])
def test_scheme_errors_are_coded(tmp_path, edit, code, needle):
    (tmp_path / "s.yaml").write_text(edit(GOOD), encoding="utf-8")
    if code is None:  # a wrong example loads, then fails A009 (qa rules check runs it)
        [err] = example_errors(load_schemes(tmp_path)["s"])
        assert err.code == "A009" and "expected total 99" in str(err) and "got 100.0" in str(err)
        return
    with pytest.raises(RulePackError) as exc:
        load_schemes(tmp_path)
    assert exc.value.errors[0].code == code, str(exc.value)
    assert needle in str(exc.value)


@pytest.mark.parametrize("ratings, needle", [
    ("{supervisor_rating: 0.0, peer_rating: 0.0}", "qualitative.ratings.supervisor_rating: weight 0 is not above 0"),
    ("{supervisor_rating: 1.0, peer_rating: 0}", "qualitative.ratings.peer_rating: weight 0 is not above 0"),
    ("{supervisor_rating: 1.5, peer_rating: -0.5}", "peer_rating: weight -0.5 is not above 0"),
    ("{}", "qualitative.ratings names no rating"),
])
def test_scheme_rating_weights_of_zero_or_below_are_coded_errors(tmp_path, ratings, needle):
    example = "examples:\n  - {metrics: {csat: 0.9, frt_seconds: 30, supervisor_rating: 80}, total: 96, grade: 好}\n"
    (tmp_path / "s.yaml").write_text(GOOD + f"qualitative: {{weight: 0.2, ratings: {ratings}}}\n" + example,
                                     encoding="utf-8")
    with pytest.raises(RulePackError) as exc:
        load_schemes(tmp_path)
    assert [e.code for e in exc.value.errors] == ["A002"] * len(exc.value.errors) and needle in str(exc.value)


def test_scheme_rating_is_the_weighted_mean_of_the_ratings_an_agent_has(tmp_path):
    (tmp_path / "s.yaml").write_text(
        GOOD + "qualitative: {weight: 0.2, ratings: {supervisor_rating: 0.7, peer_rating: 0.3}}\n", encoding="utf-8")
    scheme = load_schemes(tmp_path)["s"]
    only_peer = appraise(scheme, {"csat": 0.9, "frt_seconds": 30, "peer_rating": 50})
    assert only_peer.qualitative == 50 and only_peer.total == pytest.approx(0.8 * 100 + 0.2 * 50)
    both = appraise(scheme, {"csat": 0.9, "frt_seconds": 30, "supervisor_rating": 80, "peer_rating": 100})
    assert both.qualitative == pytest.approx(86.0)


class EmpathyScorer:
    """A plugin scorer as QA_SCORING__SCORERS names it (module:attr); its dimension is its name."""

    name = "empathy"


def test_scheme_qa_dimension_may_be_a_configured_plugin_scorer(tmp_path):
    (tmp_path / "s.yaml").write_text(GOOD.replace("metric: csat,", "metric: qa.empathy,"), encoding="utf-8")
    with pytest.raises(RulePackError, match="'qa.empathy' names no QA dimension"):
        load_schemes(tmp_path)  # the built-in dimensions only
    dims = dimension_names(["politeness.v2", f"{__name__}:EmpathyScorer"])
    assert {"politeness", "empathy"} <= dims
    assert load_schemes(tmp_path, dims)["s"].spec.metrics[0].metric == "qa.empathy"
    assert dimension_names([f"{__name__}:test_scheme_two_defaults_refused"]) is None  # unknown until built
    assert "s" in load_schemes(tmp_path, None)


def test_scheme_two_defaults_refused(tmp_path):
    for name in ("s1", "s2"):
        (tmp_path / f"{name}.yaml").write_text(GOOD.replace("name: s", f"name: {name}") + "default: true\n",
                                               encoding="utf-8")
    with pytest.raises(RulePackError, match="A008"):
        load_schemes(tmp_path)


def test_scheme_missing_policy_zero_counts_a_missing_metric_as_below():
    (scheme,) = [s for s in SCHEMES.values() if s.name == "presale"]
    excluded = appraise(scheme, {"conversion": 0.25, "csat": None, "frt_seconds": 15, "fcr": 0.8})
    assert excluded.total == pytest.approx(100.0)  # every present metric at target; csat left out
    zero_spec = scheme.spec.model_copy(update={"missing": "zero"})
    zero = appraise(type(scheme)(zero_spec, scheme.path, scheme.hash),
                    {"conversion": 0.25, "csat": None, "frt_seconds": 15, "fcr": 0.8})
    # .40×100 + .30×0 + .15×100 + .15×100 = 70; no rating counted as 0: .8×70 + .2×0 = 56
    assert zero.total == pytest.approx(56.0)


def test_scheme_book_keeps_last_good_schemes_on_a_broken_edit(tmp_path):
    folder = tmp_path / "appraisal"
    shutil.copytree(SHIPPED, folder)
    book = SchemeBook(folder)
    assert set(book.get()) == {"after_sales", "presale"}
    path = folder / "presale.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("weight: 0.40", "weight: 0.90"), encoding="utf-8")
    os.utime(path, ns=(1, 1))  # a different mtime even on coarse clocks
    assert set(book.get()) == {"after_sales", "presale"}
    assert book.error is not None and "A004" in str(book.error)
