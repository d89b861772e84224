"""Conversation-level judgements read off a QA report, and precision/recall against hand labels.

The labels (``tests/data/rule_labels.jsonl``) say what a person reading the conversation found:
greeting and closing present, forbidden wording used by the agent, a customer objection raised,
the first objection handled (acknowledged and answered), an escalation threat.
"""

from __future__ import annotations

from dataclasses import dataclass

from qa_service.domain import QAReport

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


@dataclass(slots=True)
class Agreement:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, truth: bool, predicted: bool) -> None:
        if truth and predicted:
            self.tp += 1
        elif predicted:
            self.fp += 1
        elif truth:
            self.fn += 1
        else:
            self.tn += 1

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
        """Cohen's κ = (p_o − p_e) / (1 − p_e); None with no rows or when p_e = 1 (nothing to tell apart)."""
        pe = self.expected
        return None if pe is None or pe >= 1 else (self.accuracy - pe) / (1 - pe)


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
