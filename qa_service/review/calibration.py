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

from qa_service.stats import Agreement


@dataclass(slots=True)
class Tally:
    reviewed: int = 0
    confirmed: int = 0
    rejected: int = 0
    missed: int = 0

    @property
    def precision(self) -> float | None:
        return self.confirmed / self.reviewed if self.reviewed else None


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
    """The 2×2 table of (machine_fails, human_fails) per conversation; the human is the truth.

    tp: both fail, fp: only the machine, fn: only the human, tn: both pass; ``.kappa`` is Cohen's κ.
    """
    return agreement_of_counts((machine, human, 1) for machine, human in pairs)


def agreement_of_counts(counts: Iterable[tuple[bool, bool, int]]) -> Agreement:
    """The same table from (machine_fails, human_fails, how many) rows (what a GROUP BY returns)."""
    out = Agreement()
    for machine, human, n in counts:
        out.add(human, machine, n)
    return out


def calibrate(verdicts: Iterable[tuple], misses: Iterable[tuple], pairs: Iterable[tuple]) -> Calibration:
    """``verdicts``: (rule_id, dimension, confirmed|rejected[, how many]); ``misses``: (rule_id or None,
    dimension[, how many]); ``pairs``: (machine fails, human fails[, how many]). A missing count is 1."""
    out = Calibration()
    for rule_id, dimension, verdict, *n in verdicts:
        k = n[0] if n else 1
        for tally in (out.rules.setdefault(rule_id, Tally()), out.dimensions.setdefault(dimension, Tally())):
            tally.reviewed += k
            if verdict == "confirmed":
                tally.confirmed += k
            else:
                tally.rejected += k
    for rule_id, dimension, *n in misses:
        k = n[0] if n else 1
        if rule_id:
            out.rules.setdefault(rule_id, Tally()).missed += k
        out.dimensions.setdefault(dimension, Tally()).missed += k
    out.agreement = agreement_of_counts((m, h, n[0] if n else 1) for m, h, *n in pairs)
    return out
