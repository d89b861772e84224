"""What enters the review queue, in which order, and the weekly random sample per agent.

Every flagged transcript is queued when its report is stored (fatal items first). The sampling
plan adds ``percent`` of each agent's unflagged transcripts per ISO week (at least ``minimum``),
so agents who are never flagged are still reviewed. The draw is seeded by week and agent: running
it twice picks the same transcripts, and nothing already queued is drawn again.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass

SEVERITY_ORDER = ("info", "minor", "major", "critical")
PRIORITY = {"critical": 1, "major": 2, "minor": 3, "info": 4}
FATAL_PRIORITY = 0
SAMPLE_PRIORITY = 5
SAMPLE_REASON = "sample"
MANUAL_REASON = "manual"


@dataclass(frozen=True, slots=True)
class QueueEntry:
    reasons: list[str]
    severity: str
    priority: int


def queue_entry(flags: Iterable[tuple[str, str]]) -> QueueEntry:
    """Queue reasons, the worst severity and a priority (0 first) from a report's (reason, severity) flags."""
    flags = list(flags)
    if not flags:
        return QueueEntry([SAMPLE_REASON], "info", SAMPLE_PRIORITY)
    reasons = sorted({reason for reason, _ in flags})
    worst = max((severity for _, severity in flags), key=lambda s: SEVERITY_ORDER.index(s) if s in SEVERITY_ORDER else 0)
    priority = FATAL_PRIORITY if "fatal_rule" in reasons else PRIORITY.get(worst, 4)
    return QueueEntry(reasons, worst, priority)


def sample_size(n: int, percent: float, minimum: int) -> int:
    """How many of an agent's ``n`` unflagged transcripts in a week to review."""
    if n <= 0:
        return 0
    return min(n, max(minimum, math.ceil(n * percent / 100)))


def draw(candidates: list[int], *, already: int, percent: float, minimum: int, seed: str) -> list[int]:
    """Transcript ids to sample from one agent-week's unflagged ``candidates`` (sorted ids).

    ``already`` counts that agent-week's earlier samples (same plan run twice adds nothing).
    """
    pool = sorted(candidates)
    want = sample_size(len(pool) + already, percent, minimum) - already
    if want <= 0:
        return []
    return sorted(random.Random(seed).sample(pool, min(want, len(pool))))
