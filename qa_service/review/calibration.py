"""How far the machine agrees with reviewers: precision per rule and dimension, misses, Cohen's κ.

- precision = confirmed / reviewed over machine findings with a verdict (an appeal that overturned a
  confirmed finding counts as rejected: the last human word stands);
- misses = manual findings reviewers added (per the rule they name, and per dimension);
- κ on pass/fail per reviewed conversation: machine fail (fatal or under the pass mark) against the
  final one; κ = (p_o − p_e) / (1 − p_e), undefined (None) when p_e = 1.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(slots=True)
class Tally:
    reviewed: int = 0
    confirmed: int = 0
    rejected: int = 0
    missed: int = 0

    @property
    def precision(self) -> float | None:
        return self.confirmed / self.reviewed if self.reviewed else None


@dataclass(frozen=True, slots=True)
class Agreement:
    n: int
    both_fail: int
    both_pass: int
    machine_only_fail: int
    human_only_fail: int
    observed: float | None
    expected: float | None
    kappa: float | None


@dataclass(slots=True)
class Calibration:
    rules: dict[str, Tally] = field(default_factory=dict)
    dimensions: dict[str, Tally] = field(default_factory=dict)
    agreement: Agreement | None = None

    def low_precision(self, threshold: float, min_reviewed: int) -> list[str]:
        """Rules with at least ``min_reviewed`` verdicts whose precision is under ``threshold``, worst first."""
        low = [(t.precision, rid) for rid, t in self.rules.items()
               if t.reviewed >= min_reviewed and t.precision is not None and t.precision < threshold]
        return [rid for _, rid in sorted(low)]


def agreement(pairs: Iterable[tuple[bool, bool]]) -> Agreement:
    """Cohen's κ from (machine_fails, human_fails) per conversation."""
    pairs = list(pairs)
    n = len(pairs)
    both_fail = sum(1 for m, h in pairs if m and h)
    both_pass = sum(1 for m, h in pairs if not m and not h)
    m_only = sum(1 for m, h in pairs if m and not h)
    h_only = sum(1 for m, h in pairs if h and not m)
    if n == 0:
        return Agreement(0, 0, 0, 0, 0, None, None, None)
    po = (both_fail + both_pass) / n
    m_fail, h_fail = (both_fail + m_only) / n, (both_fail + h_only) / n
    pe = m_fail * h_fail + (1 - m_fail) * (1 - h_fail)
    kappa = None if pe >= 1 else (po - pe) / (1 - pe)
    return Agreement(n, both_fail, both_pass, m_only, h_only, po, pe, kappa)


def calibrate(verdicts: Iterable[tuple[str, str, str]], misses: Iterable[tuple[str | None, str]],
              pairs: Iterable[tuple[bool, bool]]) -> Calibration:
    """``verdicts``: (rule_id, dimension, confirmed|rejected); ``misses``: (rule_id or None, dimension)."""
    out = Calibration()
    for rule_id, dimension, verdict in verdicts:
        for tally in (out.rules.setdefault(rule_id, Tally()), out.dimensions.setdefault(dimension, Tally())):
            tally.reviewed += 1
            if verdict == "confirmed":
                tally.confirmed += 1
            else:
                tally.rejected += 1
    for rule_id, dimension in misses:
        if rule_id:
            out.rules.setdefault(rule_id, Tally()).missed += 1
        out.dimensions.setdefault(dimension, Tally()).missed += 1
    out.agreement = agreement(pairs)
    return out
