"""The label format (one JSON object per conversation) and the QA items read off a label.

A label line (the golden set's, or a QA team's own) follows ``data/golden/GUIDE.md``::

    {"id": "...", "greeting": true, "closing": false, "apology_turns": [3],
     "rude": [{"turn": 5, "quote": "..."}],
     "objections": [{"turns": [2], "type": "delay", "answer_turn": 3, "handled": "no"}],
     "negative_turns": [2], "angry_turns": [], "escalation_turns": [],
     "end_sentiment": "negative", "resolved": "no", "quality": 2,
     "utterances": [{"role": "customer", "text": "..."}, ...]}

``utterances`` carries the conversation's text when it is not in a corpus the evaluator can look up
by ``id``. Turn indices count every turn, from 0.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Conversation-level yes/no items, in the order reports list them.
ITEMS = ("greeting", "closing", "apology", "rude", "objection", "objection_unhandled", "escalation",
         "customer_negative", "end_negative")
# Turn-level items: (role of the turns judged, how a label lists them).
TURN_ITEMS = {"negative_turn": "customer", "angry_turn": "customer", "objection_turn": "customer",
              "apology_turn": "agent", "rude_turn": "agent"}
QUALITY_GRADES = (1, 2, 3, 4, 5)
END_SENTIMENTS = ("positive", "neutral", "negative")
RESOLVED = ("yes", "no", "unknown")


def objection_unhandled(label: dict[str, Any]) -> bool:
    """An objection left unhandled (handled "no"; "partial" counts as handled, as the standard's yes/no does)."""
    return any(o.get("handled") == "no" for o in label.get("objections") or [])


def items(label: dict[str, Any]) -> dict[str, bool]:
    """The conversation-level items of a label."""
    return {
        "greeting": bool(label.get("greeting")),
        "closing": bool(label.get("closing")),
        "apology": bool(label.get("apology_turns")),
        "rude": bool(label.get("rude")),
        "objection": bool(label.get("objections")),
        "objection_unhandled": objection_unhandled(label),
        "escalation": bool(label.get("escalation_turns")),
        "customer_negative": bool(label.get("negative_turns")),
        "end_negative": label.get("end_sentiment") == "negative",
    }


def turns(label: dict[str, Any]) -> dict[str, set[int]]:
    """The turn-level items: which turns carry each."""
    return {
        "negative_turn": set(label.get("negative_turns") or []),
        "angry_turn": set(label.get("angry_turns") or []),
        "objection_turn": {t for o in label.get("objections") or [] for t in o.get("turns") or []},
        "apology_turn": set(label.get("apology_turns") or []),
        "rude_turn": {r["turn"] for r in label.get("rude") or []},
    }


def read_labels(path: Path) -> Iterator[dict[str, Any]]:
    """Label lines of a JSONL file (blank lines skipped); raises ValueError naming the line of a bad one."""
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not JSON ({exc.msg})") from None
            if not isinstance(rec, dict) or not isinstance(rec.get("id"), str):
                raise ValueError(f"{path}:{n}: a label line is an object with an \"id\"")
            yield rec
