"""QA figures of a set of scored transcripts, from additive sums.

:class:`QaStats` holds what a GROUP BY returns for one agent (count, sum and sum of squares of the
scores, fatal and flagged counts, dimension sums, timing sums, the days it covers, the median), so
a month of a million conversations reaches Python as one row per agent, not a million objects.
:meth:`QaStats.of_rows` adds up plain rows the same way (the reference the SQL is tested against).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

# Two-sided 95% Student t quantiles by degrees of freedom (1–30); 1.96 beyond.
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
        2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
        2.045, 2.042)
TIMES = ("frt", "reply", "handling")  # summary keys frt_ms, reply_ms, handling_ms


@dataclass(frozen=True)
class QaRow:
    """One scored transcript: who, which local day, the score and the report's summary."""

    agent_id: str
    team: str | None
    day: date
    score: float
    fatal: bool
    summary: Mapping[str, Any]


@dataclass
class QaStats:
    """Sums over scored transcripts; ``+`` merges two (the median then has to be given again)."""

    n: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    fatal: int = 0
    flagged: int = 0
    dim_sum: Counter[str] = field(default_factory=Counter)
    dim_n: Counter[str] = field(default_factory=Counter)
    time_sum: Counter[str] = field(default_factory=Counter)  # milliseconds, by TIMES
    time_n: Counter[str] = field(default_factory=Counter)
    frt_within: int = 0  # first responses within the target
    days: set[date] = field(default_factory=set)
    teams: Counter[str | None] = field(default_factory=Counter)  # transcripts per team they were filed under
    median: float | None = None
    agent_days: int = 0  # a team's: the days each agent had transcripts, added up (0: len(days))

    @classmethod
    def of_rows(cls, rows: Iterable[QaRow], *, frt_target_s: float) -> QaStats:
        s = cls()
        scores = []
        for r in rows:
            scores.append(r.score)
            s.n += 1
            s.total += r.score
            s.total_sq += r.score * r.score
            s.fatal += bool(r.fatal)
            s.flagged += bool(r.summary.get("flagged"))
            for name, v in (r.summary.get("dims") or {}).items():
                if v is not None:
                    s.dim_sum[name] += v
                    s.dim_n[name] += 1
            for t in TIMES:
                v = r.summary.get(f"{t}_ms")
                if v is not None:
                    s.time_sum[t] += v
                    s.time_n[t] += 1
                    s.frt_within += t == "frt" and v / 1000 <= frt_target_s
            s.days.add(r.day)
            s.teams[r.team] += 1
        s.median = statistics.median(scores) if scores else None
        return s

    def __add__(self, other: QaStats) -> QaStats:
        return QaStats(self.n + other.n, self.total + other.total, self.total_sq + other.total_sq,
                       self.fatal + other.fatal, self.flagged + other.flagged, _plus(self.dim_sum, other.dim_sum),
                       _plus(self.dim_n, other.dim_n), _plus(self.time_sum, other.time_sum),
                       _plus(self.time_n, other.time_n), self.frt_within + other.frt_within,
                       self.days | other.days, _plus(self.teams, other.teams))

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None

    @property
    def team(self) -> str | None:
        """The team most of these transcripts were filed under (ties: the first by name)."""
        if not any(self.teams):
            return None
        return min((t for t in self.teams if t), key=lambda t: (-self.teams[t], t))

    def time_mean_s(self, name: str) -> float | None:
        return self.time_sum[name] / self.time_n[name] / 1000 if self.time_n[name] else None


def median_of_counts(counts: Mapping[float, int]) -> float | None:
    """The median of a distribution given as {value: how many} (the mean of the middle two when even)."""
    n = sum(counts.values())
    if not n:
        return None
    lo, hi = (n - 1) // 2, n // 2  # 0-based positions of the middle value(s)
    seen, low = 0, None
    for value in sorted(counts):
        seen += counts[value]
        if low is None and seen > lo:
            low = value
        if seen > hi:
            return (low + value) / 2
    return None  # not reached


def _plus(a: Counter, b: Counter) -> Counter:
    out = Counter(a)
    out.update(b)  # unlike ``a + b``, keeps zero sums
    return out


@dataclass
class QaFigures:
    n: int = 0
    mean: float | None = None
    median: float | None = None
    sd: float | None = None
    ci95: tuple[float, float] | None = None
    adjusted: float | None = None
    fatal: int = 0
    flagged: int = 0
    dimensions: dict[str, float] = field(default_factory=dict)
    dimension_n: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        r = lambda v: None if v is None else round(v, 2)  # noqa: E731
        return {
            "n": self.n, "mean": r(self.mean), "median": r(self.median), "sd": r(self.sd),
            "ci95": [r(self.ci95[0]), r(self.ci95[1])] if self.ci95 else None, "adjusted": r(self.adjusted),
            "fatal": self.fatal, "flagged": self.flagged,
            "flagged_share": round(self.flagged / self.n, 4) if self.n else None,
            "dimensions": {k: r(v) for k, v in sorted(self.dimensions.items())},
            "dimension_n": dict(sorted(self.dimension_n.items())),
        }


def qa_figures(s: QaStats, *, prior_mean: float | None, prior_n: float) -> QaFigures:
    """n, mean, median, 95% CI (Student t), and the mean shrunk toward ``prior_mean`` as if it
    had ``prior_n`` more transcripts: (n·mean + k·prior) / (n + k)."""
    q = QaFigures(n=s.n)
    if not s.n:
        return q
    q.mean, q.median = s.mean, s.median
    if s.n > 1:
        q.sd = math.sqrt(max(0.0, (s.total_sq - s.n * q.mean * q.mean) / (s.n - 1)))
        t = _T95[s.n - 2] if s.n - 1 <= len(_T95) else 1.96
        half = t * q.sd / math.sqrt(s.n)
        q.ci95 = (max(0.0, q.mean - half), min(100.0, q.mean + half))
    prior = q.mean if prior_mean is None else prior_mean
    q.adjusted = (q.n * q.mean + prior_n * prior) / (q.n + prior_n)
    q.fatal, q.flagged = s.fatal, s.flagged
    q.dimensions = {k: s.dim_sum[k] / n for k, n in s.dim_n.items() if n}
    q.dimension_n = {k: n for k, n in s.dim_n.items() if n}
    return q


def transcript_kpis(s: QaStats) -> dict[str, float | int | None]:
    """What the transcripts' timestamps tell, for teams without a KPI export."""
    frt_n = s.time_n["frt"]
    return {
        "contacts": s.n,
        "contacts_per_day": s.n / (s.agent_days or len(s.days)) if s.days else None,
        "frt_seconds": s.time_mean_s("frt"),
        "frt_within_target_share": s.frt_within / frt_n if frt_n else None,
        "reply_seconds": s.time_mean_s("reply"),
        "aht_seconds": s.time_mean_s("handling"),
        "timed_transcripts": frt_n,
    }
