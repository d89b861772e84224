"""Machine against human: per-item precision/recall/F1 and κ, turn-level items, and how the score ranks.

Input is a list of :class:`Pair` (the human label and what the machine said about the same
conversation, as item → call and item → turns, plus the report's score); output is an
:class:`AgreementReport` a person reads (``qa eval``) or a program parses (``--format json``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from statistics import mean
from typing import Any

from qa_service.evaluation import labels as L
from qa_service.stats import Agreement, spearman


@dataclass(slots=True)
class MachineView:
    """What the machine said about one conversation, in the label's terms."""

    items: dict[str, bool]
    turns: dict[str, set[int]]
    score: float
    end_sentiment: str | None = None


@dataclass(slots=True)
class Pair:
    id: str
    label: dict[str, Any]
    machine: MachineView
    judged_turns: dict[str, set[int]] = field(default_factory=dict)  # role → turn indices with text
    scored_with: tuple[str | None, ...] | None = None  # (rule pack, its version, its hash, scorecard)


FIGURES = ("n", "tp", "fp", "fn", "tn", "precision", "recall", "f1", "kappa")


def _figures(a: Agreement) -> dict[str, Any]:
    return {"n": a.n, "tp": a.tp, "fp": a.fp, "fn": a.fn, "tn": a.tn, "precision": a.precision,
            "recall": a.recall, "f1": a.f1, "kappa": a.kappa}


def not_labelled(field: str) -> dict[str, Any]:
    """An item whose field no line gives: no counts, no figures, and why. Was: every conversation counted as a
    human "no", so an item a team did not label read precision 0.000 and κ 0.000."""
    return {**dict.fromkeys(FIGURES), "not_labelled": f"no line of the labels gives {field}"}


def _round(x: float | None, digits: int) -> float | None:
    return None if x is None else round(x, digits)


def _rounded_figures(f: dict[str, Any]) -> dict[str, Any]:
    return {k: _round(v, 4) if isinstance(v, float) else v for k, v in f.items()}


@dataclass(slots=True)
class AgreementReport:
    """Exact figures; ``as_dict()`` rounds them for JSON (4 places; means and the gap 2), and the table of
    ``qa eval`` rounds them once, to what it shows. Was: rounded here to 4 places and then formatted to 3,
    so closing F1 0.94349 printed as 0.944."""

    conversations: int
    items: dict[str, dict[str, Any]]
    turns: dict[str, dict[str, Any]]
    spearman: float | None
    score_by_quality: dict[int, dict[str, float]]
    gap_low_vs_top: float | None  # mean score of quality 5 minus that of quality <= 2
    rows: list[dict[str, Any]] = field(default_factory=list)  # one per conversation (:func:`conversation_row`)
    packs: dict[str, dict[str, Any]] = field(default_factory=dict)  # rule pack → version, scorecard, conversations

    def as_dict(self, rounded: bool = True) -> dict[str, Any]:
        if not rounded:
            return {"conversations": self.conversations, "items": self.items, "turns": self.turns,
                    "spearman": self.spearman,
                    "score_by_quality": {str(k): v for k, v in self.score_by_quality.items()},
                    "gap_low_vs_top": self.gap_low_vs_top, "packs": self.packs}
        return {"conversations": self.conversations,
                "items": {n: _rounded_figures(f) for n, f in self.items.items()},
                "turns": {n: _rounded_figures(f) for n, f in self.turns.items()},
                "spearman": _round(self.spearman, 4),
                "score_by_quality": {str(k): {s: _round(x, 2) if isinstance(x, float) else x for s, x in v.items()}
                                     for k, v in self.score_by_quality.items()},
                "gap_low_vs_top": _round(self.gap_low_vs_top, 2), "packs": self.packs}


def conversation_row(p: Pair, labelled: set[str]) -> dict[str, Any]:
    """One conversation as a QA lead checks it: the machine's score, the labelled quality, and per item the
    label (None: the item was not labelled in the file) and the machine's call, turn items as the turns each
    marks among the turns judged; ``disagree`` lists the items where the two differ. Summed over the rows,
    the calls give the report's counts."""
    human_items, human_turns = L.items(p.label), L.turns(p.label)
    items = {n: {"label": human_items[n] if n in labelled else None, "machine": bool(p.machine.items.get(n))}
             for n in L.ITEMS}
    turns = {}
    for n, role in L.TURN_ITEMS.items():
        judged = p.judged_turns.get(role, set())
        turns[n] = {"label": sorted(human_turns[n] & judged) if n in labelled else None,
                    "machine": sorted(p.machine.turns.get(n, set()) & judged)}
    disagree = [n for n, c in {**items, **turns}.items() if c["label"] is not None and c["label"] != c["machine"]]
    quality = p.label.get("quality")
    return {"id": p.id, "score": round(p.machine.score, 2), "quality": quality if isinstance(quality, int) else None,
            "pack": p.scored_with[0] if p.scored_with else None, "disagree": disagree, "items": items,
            "turns": turns}


def compare(pairs: list[Pair]) -> AgreementReport:
    items = {name: Agreement() for name in L.ITEMS}
    turns = {name: Agreement() for name in L.TURN_ITEMS}
    given = {key for p in pairs for key in p.label}
    labelled = {n for n, key in L.ITEM_FIELDS.items() if key in given}
    scores: dict[int, list[float]] = defaultdict(list)
    for p in pairs:
        human_items, human_turns = L.items(p.label), L.turns(p.label)
        for name in L.ITEMS:
            items[name].add(human_items[name], bool(p.machine.items.get(name)))
        for name, role in L.TURN_ITEMS.items():
            for t in p.judged_turns.get(role, set()):
                turns[name].add(t in human_turns[name], t in p.machine.turns.get(name, set()))
        if isinstance(p.label.get("quality"), int):
            scores[p.label["quality"]].append(p.machine.score)
    quality = [q for q, v in scores.items() for _ in v]
    machine = [s for v in scores.values() for s in v]
    by_grade = {q: {"n": len(v), "mean": mean(v), "min": min(v), "max": max(v)}
                for q, v in sorted(scores.items())}
    low = [s for q, v in scores.items() if q <= 2 for s in v]
    top = scores.get(5, [])
    rho = spearman(machine, quality)
    return AgreementReport(
        conversations=len(pairs),
        items={n: _figures(a) if n in labelled else not_labelled(L.ITEM_FIELDS[n]) for n, a in items.items()},
        turns={n: _figures(a) if n in labelled else not_labelled(L.ITEM_FIELDS[n]) for n, a in turns.items()},
        spearman=rho, score_by_quality=by_grade, gap_low_vs_top=mean(top) - mean(low) if low and top else None,
        rows=[conversation_row(p, labelled) for p in pairs], packs=_packs(pairs),
    )


def _packs(pairs: list[Pair]) -> dict[str, dict[str, Any]]:
    """The rule packs the conversations were scored with: each one's version and content hash (a pack edited
    under the same version differs in it), its scorecard, and how many conversations."""
    out: dict[str, dict[str, Any]] = {}
    for p in pairs:
        if p.scored_with is not None and p.scored_with[0] is not None:
            name, version, digest, scorecard = p.scored_with
            out.setdefault(name, {"version": version, "hash": digest, "scorecard": scorecard, "conversations": 0})
            out[name]["conversations"] += 1
    return dict(sorted(out.items()))
