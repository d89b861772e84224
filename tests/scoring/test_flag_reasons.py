"""The built-in flag reasons are one list, in step with the flags the scorers and the pipeline raise."""

from __future__ import annotations

import ast

from qa_service.rules.book import RuleBook
from qa_service.scoring.base import FLAG_REASONS
from tests.conftest import REPO


def _raised_reasons() -> set[str]:
    """Every literal reason in a Flag("…", …) call under qa_service/scoring."""
    found = set()
    for path in (REPO / "qa_service" / "scoring").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Flag"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                found.add(node.args[0].value)
    return found


def test_flag_reasons_list_every_reason_the_scorers_raise():
    raised = _raised_reasons()
    assert "no_agent_reply" in raised and "agent_negative_language" in raised  # the scan finds them
    assert raised == FLAG_REASONS


def test_rule_book_flags_are_the_rules_flag_names():
    flags = RuleBook(REPO / "rules").load(examples=False).flags()
    assert {"agent_abuse", "guaranteed_return", "complaint_dismissed"} <= flags
