"""The static bound that decides which rule searches may skip the timeout (qa_service/rules/patterns.py)."""

from __future__ import annotations

import pytest

from qa_service.config import DEFAULT_RULES_DIR
from qa_service.rules.loader import load_packs
from qa_service.rules.patterns import FAST_STEPS, steps_per_char


@pytest.mark.parametrize("pattern", [
    "^(a|aa)+$", "(a+)+b", ".*x", "x{2,}", r"(a)\1", "(?(1)a|b)",  # unbounded, backreference, conditional
    "(a?){30}a{30}",  # bounded, but 2^30 ways through
])
def test_patterns_that_can_run_long_have_no_bound(pattern):
    assert steps_per_char(pattern) is None


def test_bounded_patterns_count_their_ways_through():
    assert steps_per_char("abc") == 3  # one way, three characters
    assert steps_per_char("(ab|cd)e?") == 2 * 2 * len("(ab|cd)e?")
    assert steps_per_char("(a|b)c?") == 1 * 2 * len("(a|b)c?")  # one character either way: a class
    assert steps_per_char(r"\d{14,17}") == 4 * len(r"\d{14,17}")
    assert steps_per_char("(a|a|a|a|a|a|a|a|a|a){4}b") == 10**4 * 25  # fast only on texts of 4 characters


def test_shipped_patterns_mostly_skip_the_timeout_on_ordinary_turns():
    """Turns in the real dialogues are ~20–60 characters; all but a few shipped patterns are bounded well
    beyond that, so the timeout's cost is paid where it can matter."""
    patterns = {c.regex for pack in load_packs(DEFAULT_RULES_DIR).values() for r in pack.rules
                for c in _leaves(r.spec.match) if c.regex}
    fast = {p: FAST_STEPS // b for p in patterns if (b := steps_per_char(p))}
    assert len(patterns) >= 20 and len(fast) >= len(patterns) - 2
    assert sum(chars >= 200 for chars in fast.values()) >= len(patterns) - 4


def _leaves(cond):
    yield cond
    for child in [*(cond.any or []), *(cond.all or []), *(cond.none or []), *(cond.of or [])]:
        yield from _leaves(child)
    for child in (cond.not_, cond.match):
        if child is not None:
            yield from _leaves(child)
