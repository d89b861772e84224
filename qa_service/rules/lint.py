"""Notes on a pack that loads but most likely does not say what its author meant (``qa rules check`` prints
them, the rule book logs them and ``GET /v1/rules`` lists them as the pack's ``warnings``; none fails a load).

* A phrase holding ``，`` ``、`` or ``；``: YAML splits a list only at the ASCII comma, so
  ``[保证明天到，百分之百]`` is one phrase that real text never matches.
* A pattern or phrase wrapped in full-width quotes (``‘…’`` ``“…”``): the quotes are part of it.
* A fatal item of ``severity: info``: a hit zeroes the score; reviewers, flags and alerts read the severity.
* Scorecard weights that do not sum to 100: they are normalised, so each weighs its share of the sum.
"""

from __future__ import annotations

from collections.abc import Iterator

from qa_service.rules.pack import RulePack
from qa_service.rules.schema import Condition, Rule

LIST_PUNCTUATION = "，、；"
QUOTES = {"‘": "’", "“": "”"}
WEIGHTS_TOTAL = 100  # the unit of the docs and the shipped packs (shares of 1 read the same)
SHOWN_CHARS = 12


def conditions(cond: Condition) -> Iterator[Condition]:
    """The condition and every condition inside it (anchors' included)."""
    yield cond
    for child in [*(cond.any or []), *(cond.all or []), *(cond.none or []), *(cond.of or [])]:
        yield from conditions(child)
    for child in (cond.not_, cond.match, *(a.condition for a in (cond.after, cond.before) if a is not None)):
        if child is not None:
            yield from conditions(child)


def _shown(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…"


def _list_punctuation(phrase: str, key: str) -> str | None:
    mark = next((ch for ch in phrase if ch in LIST_PUNCTUATION), None)
    if mark is None:
        return None
    parts = [p.strip() for p in phrase.replace("、", "，").replace("；", "，").split("，") if p.strip()]
    return (f"{key[:-1]} {_shown(phrase)!r} contains {mark!r}: YAML reads one {key[:-1]}; write them as separate "
            f"list items [{', '.join(parts)}] (ASCII comma)")


def _quoted(text: str, what: str) -> str | None:
    if len(text) < 2 or QUOTES.get(text[0]) != text[-1]:
        return None
    return (f"{what} {_shown(text)!r} is wrapped in full-width quotes {text[0]}…{text[-1]}, which are part of it "
            f"(YAML quotes are the ASCII ' and \"): write {text[1:-1]!r}")


def rule_notes(rule: Rule) -> list[str]:
    """What most likely reads otherwise than meant in one rule."""
    notes = []
    for cond in conditions(rule.match):
        for key in ("phrases", "tokens"):
            for item in getattr(cond, key) or ():
                notes += [n for n in (_list_punctuation(item, key), _quoted(item, key[:-1])) if n]
        for pattern, what in [(cond.regex, "regex"), *((p, "exclude pattern") for p in cond.exclude)]:
            note = _quoted(pattern, what) if pattern else None
            notes += [note] if note else []
    if rule.fatal and rule.severity == "info":
        notes.append("a fatal item (a hit zeroes the score) has severity: info, which flags, the review queue and "
                     "live alerts show as the least serious — write severity: critical")
    return list(dict.fromkeys(notes))


def weights_note(weights: dict[str, float]) -> str | None:
    """Weights that do not sum to 100 (or 1), with the share each then takes."""
    total = sum(weights.values())
    if abs(total - WEIGHTS_TOTAL) < 1e-6 or abs(total - 1) < 1e-9:
        return None
    shares = ", ".join(f"{name} {100 * w / total:.1f}".removesuffix(".0") + "%"
                       for name, w in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0])) if w > 0)
    return (f"scorecard weights sum to {total:g}, not {WEIGHTS_TOTAL}; normalised: {shares} (a dimension that does "
            "not apply to a conversation, such as timing without timestamps, is left out and the rest renormalised)")


def pack_notes(pack: RulePack) -> list[str]:
    """Notes on the pack's own rules and scorecard (an included pack's are said for that pack)."""
    notes = [f"note {rule.path}:{rule.id}: {note}" for rule in pack.rules if rule.pack == pack.name
             for note in rule_notes(rule.spec)]
    card = pack.spec.scorecard
    note = weights_note(card.weights) if card is not None and pack.scorecard_from == pack.name else None
    return notes + ([f"note {pack.path}: {note}"] if note else [])
