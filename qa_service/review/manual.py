"""A manual finding: what a reviewer says the machine missed, and the words in the turn it points at."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from qa_service.errors import Invalid

if TYPE_CHECKING:
    from qa_service.storage.tables import ManualFinding

# The dimensions whose findings quote the customer: sentiment judges how the customer feels (the machine's
# customer-negativity, ends-negative findings sit on customer turns), objection the customer's objection the
# agent left unhandled. Politeness, compliance, negativity (only the agent's negative words cost points) and
# timing judge the agent's own conduct, and their deductions quote the agent's words.
CUSTOMER_QUOTED = frozenset({"sentiment", "objection"})


def locate(text: str, *, span: tuple[int, int] | None, quote: str | None) -> tuple[int, int]:
    """The verbatim span of a manual finding: as given, else where ``quote`` occurs, else the whole turn."""
    if span is not None:
        a, b = span
        if not (0 <= a < b <= len(text)):
            raise Invalid(f"span [{a}, {b}) is outside the utterance (0–{len(text)})", "span")
        return a, b
    if quote:
        at = text.find(quote)
        if at < 0:
            raise Invalid(f"quote {quote!r} is not in the utterance; quote it verbatim or give a span", "quote")
        return at, at + len(quote)
    return 0, len(text)


@dataclass(frozen=True, slots=True)
class ManualFindingSpec:
    """What a reviewer says the machine missed."""

    dimension: str
    utterance_index: int
    points: float
    message: str
    severity: str = "minor"
    fatal: bool = False
    rule_id: str | None = None
    span: tuple[int, int] | None = None
    quote: str | None = None


def check_speaker(spec: ManualFindingSpec, role: str, index: int) -> None:
    """A deduction for the agent's conduct quotes the agent, as machine findings do (Invalid at
    ``utterance_index`` otherwise). Was: a politeness deduction quoting the customer's words was charged
    to the agent."""
    if spec.points < 0 and role == "customer" and spec.dimension not in CUSTOMER_QUOTED:
        raise Invalid(f"utterance_index {index} is a customer turn: a {spec.dimension} deduction judges the agent's "
                      f"conduct and quotes the agent's words (dimensions that quote the customer: "
                      f"{', '.join(sorted(CUSTOMER_QUOTED))})", "utterance_index")


def same_manual(m: ManualFinding, spec: ManualFindingSpec, quote: str, by: str) -> bool:
    """Whether ``m`` is this very finding sent again by the same reviewer (a client's retry), still in force."""
    return (m.withdrawn_at is None and m.added_by == by
            and (m.dimension, m.utterance_index, m.quote, m.points, m.message, m.rule_id, m.severity, bool(m.fatal))
            == (spec.dimension, spec.utterance_index, quote, spec.points, spec.message, spec.rule_id, spec.severity,
                bool(spec.fatal)))
