"""Read the label's items off a stored or fresh report (its ``dimension_details`` and flags).

Reports of the v2 scorers (learned detectors) record each item as a metric; reports of the v1 scorers
(rules and the review-trained sentiment model) are read as they were meant, so the two can be
compared on the same labels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from qa_service.evaluation.agreement import MachineView


def _metrics(details: Mapping[str, Mapping[str, Any]], name: str) -> tuple[str, dict[str, Any]]:
    d = details.get(name) or {}
    return str(d.get("version", "")), dict(d.get("metrics") or {})


def view(details: Mapping[str, Mapping[str, Any]], flags: Iterable[str], score: float,
         findings: Iterable[Mapping[str, Any]] = ()) -> MachineView:
    """What the report says, in the label's terms (``flags``: flag reasons; ``findings``: public shape)."""
    flags = set(flags)
    findings = list(findings)
    pv, pol = _metrics(details, "politeness")
    _, obj = _metrics(details, "objection")
    sv, sen = _metrics(details, "sentiment")
    records = obj.get("objections") or []
    items: dict[str, bool] = {
        "greeting": bool(pol.get("greeting")),
        "closing": bool(pol.get("closing")),
        "objection": bool(records),
        "escalation": "escalation_threat" in flags,
    }
    turns: dict[str, set[int]] = {
        "objection_turn": {t for r in records for t in (r.get("turns") or [r.get("utterance_index")]) if t is not None},
    }
    if pv.endswith(".v1"):
        turns["apology_turn"] = {f["utterance_index"] for f in findings if "empathy" in f.get("rule_id", "")}
        turns["rude_turn"] = {f["utterance_index"] for f in findings if "rude" in f.get("rule_id", "")}
        items["apology"] = bool(pol.get("empathy")) or bool(turns["apology_turn"])
        items["rude"] = bool(pol.get("rude"))
    else:
        turns["apology_turn"] = set(pol.get("apology_turns") or [])
        turns["rude_turn"] = set(pol.get("rude_turns") or [])
        items["apology"] = bool(turns["apology_turn"])
        items["rude"] = bool(turns["rude_turn"])
    items["objection_unhandled"] = any(r.get("handling") == "unhandled" for r in records)
    if sv.endswith(".v1"):
        turns["negative_turn"] = {f["utterance_index"] for f in findings
                                  if f.get("rule_id") == "sentiment.customer-negative"}
        turns["angry_turn"] = set()
        end = "negative" if "customer_ends_negative" in flags else None
    else:
        turns["negative_turn"] = set(sen.get("negative_turns") or [])
        turns["angry_turn"] = set(sen.get("angry_turns") or [])
        items["escalation"] = items["escalation"] or bool(sen.get("escalation_turns"))
        end = sen.get("end_sentiment")
    items["customer_negative"] = bool(turns["negative_turn"])
    items["end_negative"] = end == "negative"
    return MachineView(items=items, turns=turns, score=score, end_sentiment=end)
