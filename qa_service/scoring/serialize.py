"""Domain reports as plain dicts in the API's report shape (used by storage and offline scoring)."""

from __future__ import annotations

from typing import Any

from qa_service.domain import Finding, QAReport


def dimension_details(report: QAReport) -> dict[str, dict[str, Any]]:
    return {
        name: {
            "score": round(dim.score, 2),
            "version": f"{dim.name}.v{dim.version}",
            "weight": round(report.weights.get(name, 0.0), 4),
            "applicable": dim.applicable,
            "metrics": dim.metrics,
            "timing_ms": round(report.stage_ms.get(name, 0.0), 3),
        }
        for name, dim in report.dimensions.items()
    }


def finding_dict(f: Finding) -> dict[str, Any]:
    return {
        "dimension": f.dimension, "rule_id": f.rule_id, "utterance_index": f.utterance_seq,
        "span": list(f.span), "quote": f.quote, "points": f.points, "severity": f.severity.value,
        "role": f.role.value if f.role else None, "message": f.message, "fatal": f.fatal,
    }


def report_dict(report: QAReport) -> dict[str, Any]:
    """The API's ``report`` object for a freshly computed report."""
    return {
        "score": report.score,
        "fatal": report.fatal,
        "dimensions": {name: round(d.score, 2) for name, d in report.dimensions.items()},
        "dimension_details": dimension_details(report),
        "weights": report.weights,
        "scorer_versions": report.scorer_versions,
        "rule_pack": report.rule_pack,
        "rule_pack_version": report.rule_pack_version,
        "rule_pack_hash": report.rule_pack_hash,
        "findings": [finding_dict(f) for f in report.findings],
        "flags": [{"reason": f.reason, "severity": f.severity.value, "detail": f.detail} for f in report.flags],
    }
