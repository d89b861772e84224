"""How far the machine agrees with reviewers: precision per rule and dimension, misses, Cohen's κ.

- precision = confirmed / reviewed over machine findings with a verdict (an appeal that overturned a
  confirmed finding counts as rejected: the last human word stands);
- misses = manual findings reviewers added (per the rule they name, and per dimension);
- κ on pass/fail per reviewed conversation: machine fail (fatal or under the pass mark) against the
  final one; κ = (p_o − p_e) / (1 − p_e), undefined (None) when p_e = 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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


def pack_owners(rule_packs: Iterable[tuple[str, str | None, int]], owners: Mapping[str, str | None],
                default_pack: str) -> dict[str, str]:
    """Who answers for findings no rule defines (``detector.*``, ``objection.*``), from
    (rule id, pack the transcript was scored with, how many) rows and each pack's ``owner:``.

    Their points come from that pack's ``detectors:`` / ``objection:`` settings, so its owner answers
    for them; a pack with no owner (or no longer loaded) falls back to the default pack's, as an
    ordinary rule falls back to its pack's. A rule counted under packs of different owners names each,
    the most counted first ("售后质检组、质检规则组")."""
    weight: dict[str, dict[str, int]] = {}
    for rule_id, pack, n in rule_packs:
        owner = owners.get(pack or "") or owners.get(default_pack)
        if owner:
            per = weight.setdefault(rule_id, {})
            per[owner] = per.get(owner, 0) + n
    return {rule_id: "、".join(o for o, _ in sorted(per.items(), key=lambda x: (-x[1], x[0])))
            for rule_id, per in weight.items()}
