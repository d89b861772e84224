"""Statistics every layer may use: precision/recall/F1 and Cohen's κ on a 2×2 table, κ over several classes
(optionally weighted), Spearman's ρ."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass


@dataclass(slots=True)
class Agreement:
    """A 2×2 table of (truth, predicted); the truth side is the human."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, truth: bool, predicted: bool, n: int = 1) -> None:
        if truth and predicted:
            self.tp += n
        elif predicted:
            self.fp += n
        elif truth:
            self.fn += n
        else:
            self.tn += n

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        """2·tp / (2·tp + fp + fn): 0 when the machine found none of the positives (or only false ones);
        None only when neither side has a positive."""
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else None

    @property
    def accuracy(self) -> float:
        return (self.tp + self.tn) / self.n if self.n else 0.0

    @property
    def expected(self) -> float | None:
        """Agreement expected by chance from the two sides' positive rates (p_e of Cohen's κ)."""
        if not self.n:
            return None
        truth, predicted = (self.tp + self.fn) / self.n, (self.tp + self.fp) / self.n
        return truth * predicted + (1 - truth) * (1 - predicted)

    @property
    def kappa(self) -> float | None:
        """Cohen's κ = (p_o − p_e) / (1 − p_e); None with no rows or when p_e = 1 (nothing to tell apart).
        Worked in whole numbers, n²·(p_o − p_e) over n²·(1 − p_e), so a κ of 0 is 0 (in shares it came out
        as -8.3e-17, and the calibration page showed "-0.000")."""
        n = self.n
        chance = (self.tp + self.fn) * (self.tp + self.fp) + (self.fp + self.tn) * (self.fn + self.tn)
        if not n or chance >= n * n:
            return None
        return (n * (self.tp + self.tn) - chance) / (n * n - chance)


def kappa(a: Sequence[Hashable], b: Sequence[Hashable], weights: dict[Hashable, float] | None = None) -> float | None:
    """Cohen's κ between two raters over any classes; ``weights`` (class → number) makes it quadratic-weighted."""
    if len(a) != len(b):
        raise ValueError("both raters must rate the same items")
    n = len(a)
    if not n:
        return None
    classes = sorted(set(a) | set(b), key=str)
    ca, cb = Counter(a), Counter(b)
    if weights is None:
        po = sum(x == y for x, y in zip(a, b)) / n
        pe = sum(ca[c] * cb[c] for c in classes) / (n * n)
        return None if pe >= 1 else (po - pe) / (1 - pe)
    span = (max(weights[c] for c in classes) - min(weights[c] for c in classes)) or 1.0

    def w(x, y) -> float:
        return ((weights[x] - weights[y]) / span) ** 2

    observed = sum(w(x, y) for x, y in zip(a, b)) / n
    expected = sum(ca[x] * cb[y] * w(x, y) for x in classes for y in classes) / (n * n)
    return None if expected == 0 else 1 - observed / expected


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1  # ties share their mean rank
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's ρ (Pearson's r of the ranks, ties averaged); None when either side is constant."""
    if len(x) != len(y) or len(x) < 2:
        return None
    rx, ry = _ranks(x), _ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    vx = sum((a - mx) ** 2 for a in rx)
    vy = sum((b - my) ** 2 for b in ry)
    return None if vx == 0 or vy == 0 else cov / (vx * vy) ** 0.5
