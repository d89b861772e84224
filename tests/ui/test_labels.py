"""Every code the UI prints has a Chinese label (the queue showed raw ``customer_angry`` …)."""

from __future__ import annotations

from qa_service.review.listing import QUEUE_REASONS
from qa_service.rules.book import RuleBook
from qa_service.scoring.base import FLAG_REASONS
from qa_service.ui import labels
from tests.conftest import REPO


def test_every_flag_reason_has_a_label():
    """The built-in reasons, the shipped rule packs' flags and the queue's own reasons: so each is named
    in Chinese where it is shown and can be chosen in the queue's 原因 filter."""
    reasons = {*FLAG_REASONS, *QUEUE_REASONS, *RuleBook(REPO / "rules").load(examples=False).flags()}
    assert reasons - labels.REASONS.keys() == set()
