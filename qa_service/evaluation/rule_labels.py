"""Conversation-level judgements read off a QA report, and precision/recall against hand labels.

The labels (``tests/data/rule_labels.jsonl``) say what a person reading the conversation found:
greeting and closing present, forbidden wording used by the agent, a customer objection raised,
the first objection handled (acknowledged and answered), an escalation threat.
"""

from __future__ import annotations

from qa_service.domain import QAReport
from qa_service.stats import Agreement

LABELS = ("greeting", "closing", "forbidden", "objection", "objection_handled", "escalation")


def judgements(report: QAReport) -> dict[str, bool]:
    pol = report.dimensions["politeness"].metrics
    comp = report.dimensions["compliance"].metrics
    obj = report.dimensions["objection"].metrics
    records = obj.get("objections", [])
    return {
        "greeting": bool(pol.get("greeting")),
        "closing": bool(pol.get("closing")),
        "forbidden": bool(comp.get("violations") or pol.get("rude")),
        "objection": bool(records),
        "objection_handled": bool(records) and records[0]["handling"] == "handled",
        "escalation": "escalation_threat" in {f.reason for f in report.flags},
    }


def compare(rows: list[tuple[dict, dict[str, bool]]]) -> dict[str, Agreement]:
    """``rows`` of (labels, judgements); ``objection_handled`` only where the label says an objection was raised."""
    out = {name: Agreement() for name in LABELS}
    for labels, predicted in rows:
        for name in LABELS:
            truth = labels.get(name)
            if truth is None:
                continue
            out[name].add(bool(truth), predicted[name])
    return out
