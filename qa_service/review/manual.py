"""A manual finding: what a reviewer says the machine missed, and the words in the turn it points at."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from qa_service.errors import ConfigError, Invalid, RulePackError

if TYPE_CHECKING:
    from qa_service.rules.book import RuleBook
    from qa_service.rules.loader import RulePack
    from qa_service.storage.tables import ManualFinding, Review, Utterance

# The dimensions whose findings quote the customer: sentiment judges how the customer feels (the machine's
# customer-negativity, ends-negative findings sit on customer turns), objection the customer's objection the
# agent left unhandled. Politeness, compliance, negativity (only the agent's negative words cost points) and
# timing judge the agent's own conduct, and their deductions quote the agent's words.
CUSTOMER_QUOTED = frozenset({"sentiment", "objection"})
#: Rule roles that read customer turns: a pack rule of these charges the agent on the customer's words.
CUSTOMER_ROLES = frozenset({"customer", "any"})


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


@dataclass(frozen=True, slots=True)
class Speakers:
    """Whom the loaded rule packs let a manual deduction quote: each loaded rule's dimension and role, and the
    dimensions whose deductions may quote a customer turn (:data:`CUSTOMER_QUOTED`, and each dimension in
    which a deducting rule of the pack reads customer turns)."""

    rules: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # rule id → (dimension, role)
    customer: frozenset[str] = CUSTOMER_QUOTED


def speakers(packs: Mapping[str, RulePack], scored_with: str | None) -> Speakers:
    """:class:`Speakers` of the loaded ``packs``, the customer dimensions taken from ``scored_with`` (the
    pack the transcript's report was scored with), or from every loaded pack when that one is not loaded
    (renamed or removed since)."""
    rules = {r.id: (r.spec.dimension, r.spec.role.value) for pack in packs.values() for r in pack.rules}
    judging = [packs[scored_with]] if scored_with in packs else list(packs.values())
    customer = {r.spec.dimension for pack in judging for r in pack.rules
                if r.spec.role.value in CUSTOMER_ROLES and r.spec.points < 0}
    return Speakers(rules, CUSTOMER_QUOTED | customer)


def book_speakers(book: RuleBook | None, scored_with: str | None) -> Speakers:
    """:func:`speakers` of ``book``'s packs (the built-in dimensions alone without a book, or when no pack
    ever loaded: a broken rules folder refuses no more than it did)."""
    if book is None:
        return Speakers()
    try:
        packs = book.ready().packs
    except (RulePackError, ConfigError):
        return Speakers()
    return speakers({name: c.pack for name, c in packs.items()}, scored_with)


def check_speaker(spec: ManualFindingSpec, role: str, index: int, allowed: Speakers = Speakers()) -> None:
    """A deduction for the agent's conduct quotes the agent, as machine findings do (Invalid at
    ``utterance_index`` otherwise). Was: a politeness deduction quoting the customer's words was charged
    to the agent.

    A customer turn is allowed where the machine itself charges on one: a finding naming a loaded rule of
    its dimension whose role reads customer turns (``customer``, ``any``); else the dimension of such a
    deducting rule in the transcript's pack (``allowed``), or sentiment and objection. Was: only sentiment
    and objection, so the miss of a pack's ``role: customer`` compliance rule ("the customer reports fraud;
    the agent must escalate") was a 422 and calibration could not count it."""
    if spec.points >= 0 or role != "customer":
        return
    named = allowed.rules.get(spec.rule_id) if spec.rule_id else None
    if named is not None and named[0] == spec.dimension and named[1] in CUSTOMER_ROLES:
        return
    if spec.dimension not in allowed.customer:
        rule = (f"; rule {spec.rule_id} reads the agent's turns" if named is not None and named[0] == spec.dimension
                else "")
        raise Invalid(f"utterance_index {index} is a customer turn: a {spec.dimension} deduction judges the agent's "
                      f"conduct and quotes the agent's words (dimensions that quote the customer: "
                      f"{', '.join(sorted(allowed.customer))}){rule}", "utterance_index")


def quoted(review: Review, spec: ManualFindingSpec, book: RuleBook | None) -> tuple[Utterance, int, int]:
    """The utterance a manual finding quotes and the span of its words, checked: Invalid at
    ``utterance_index`` (no such turn, or the wrong speaker: :func:`check_speaker`, with ``book``'s rules
    and the pack the review's report was scored with), ``span`` or ``quote``."""
    utterance = next((u for u in review.transcript.utterances if u.index == spec.utterance_index), None)
    if utterance is None:
        raise Invalid(f"utterance_index {spec.utterance_index} is not in transcript {review.transcript_id} "
                      f"(0–{len(review.transcript.utterances) - 1})", "utterance_index")
    a, b = locate(utterance.text, span=spec.span, quote=spec.quote)
    if spec.points < 0 and utterance.role == "customer":  # the packs are read only when they may matter
        report = review.transcript.report
        check_speaker(spec, utterance.role, utterance.index,
                      book_speakers(book, report.rule_pack if report is not None else None))
    return utterance, a, b


def same_manual(m: ManualFinding, spec: ManualFindingSpec, quote: str, by: str) -> bool:
    """Whether ``m`` is this very finding sent again by the same reviewer (a client's retry), still in force."""
    return (m.withdrawn_at is None and m.added_by == by
            and (m.dimension, m.utterance_index, m.quote, m.points, m.message, m.rule_id, m.severity, bool(m.fatal))
            == (spec.dimension, spec.utterance_index, quote, spec.points, spec.message, spec.rule_id, spec.severity,
                bool(spec.fatal)))
