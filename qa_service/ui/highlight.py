"""Split an utterance into segments so every finding's span can be highlighted in place.

Spans may overlap (a rude word inside a sentence-long sentiment finding): the text is cut at every
span edge, and each segment lists the findings covering it, its severity the worst of those that still count
(a withdrawn −5 fatal kept the segment critical). Templates escape each segment.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

SEVERITY_RANK = {"info": 0, "minor": 1, "major": 2, "critical": 3}


@dataclass(frozen=True, slots=True)
class Mark:
    key: str        # "f12" (machine finding) or "m3" (manual)
    start: int
    end: int
    severity: str
    counts: bool = True  # False: rejected, or withdrawn by an appeal — it costs nothing, so it colours nothing


@dataclass(frozen=True, slots=True)
class Segment:
    text: str
    keys: tuple[str, ...] = ()
    severity: str | None = None


def segments(text: str, marks: list[Mark]) -> list[Segment]:
    marks = [m for m in marks if 0 <= m.start < m.end <= len(text)]
    cuts = sorted({0, len(text), *(m.start for m in marks), *(m.end for m in marks)})
    out = []
    for a, b in pairwise(cuts):
        covering = [m for m in marks if m.start <= a and b <= m.end]
        worst = max((m.severity for m in covering if m.counts), key=lambda s: SEVERITY_RANK.get(s, 0), default=None)
        out.append(Segment(text[a:b], tuple(m.key for m in covering), worst))
    return out or [Segment(text)]
