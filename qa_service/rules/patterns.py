"""Rule patterns: compiled by the ``regex`` module, with a static bound on how much one can backtrack.

Python's ``re`` cannot be interrupted, and a pattern such as ``^(a|aa)+$`` backtracks for hours on a
few dozen characters. Rule patterns therefore run on ``regex`` (the ``re`` dialect, version 0), whose
searches take a timeout. A timeout costs about 5 µs a search, so it is only paid where it can matter:
:func:`steps_per_char` bounds a pattern's work per character of text from its parse tree (the ways
through it, times its length). Where that bound times the text's length is small (``FAST_STEPS``), the
search cannot run long and goes without a timeout; otherwise (an unbounded repeat such as ``.*``, a
backreference, very many alternatives, a long text) it runs under the caller's remaining budget.
"""

from __future__ import annotations

import re
import re._constants as sre
import re._parser as sre_parse

import regex

FAST_STEPS = 1_000_000  # a search bounded by this many steps takes at most milliseconds
_ONE = {sre.LITERAL, sre.NOT_LITERAL, sre.ANY, sre.IN, sre.AT, sre.CATEGORY}
_REPEATS = {sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT}


def compile_pattern(pattern: str) -> regex.Pattern:
    """A rule's pattern as the engine runs it (``regex``, version 0, which reads ``re`` syntax).
    Raises ``regex.error``."""
    return regex.compile(pattern, regex.VERSION0)


class _Unbounded(Exception):
    pass


def steps_per_char(pattern: str) -> int | None:
    """An upper bound on the backtracking steps one search spends per character of text (paths through
    the pattern times its length), or None where there is none worth having (``*``, ``+``, ``{n,}``,
    backreferences, conditionals, more than ``FAST_STEPS`` paths, syntax ``re`` does not read)."""
    try:
        paths = _paths(sre_parse.parse(pattern), FAST_STEPS)
    except (_Unbounded, re.error, RecursionError):
        return None
    return paths * max(1, len(pattern))


def _paths(items, cap: int) -> int:
    total = 1
    for op, av in items:
        if op in _ONE:
            n = 1
        elif op is sre.SUBPATTERN:
            n = _paths(av[3], cap)
        elif op is sre.BRANCH:
            n = sum(_paths(branch, cap) for branch in av[1])
        elif op in _REPEATS:
            lo, hi, item = av
            if hi is sre.MAXREPEAT:
                raise _Unbounded
            b = _paths(item, cap)
            n = hi - lo + 1 if b == 1 else sum(min(b**k, cap + 1) for k in range(lo, min(hi, 64) + 1))
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            n = _paths(av[1], cap)
        elif op is sre.ATOMIC_GROUP:
            n = _paths(av, cap)
        else:  # GROUPREF (a backreference compares up to the whole text), GROUPREF_EXISTS, anything new
            raise _Unbounded
        total *= n
        if total > cap:
            raise _Unbounded
    return total
