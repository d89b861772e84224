"""A manual finding: what a reviewer says the machine missed, and the words in the turn it points at."""

from __future__ import annotations

from dataclasses import dataclass

from qa_service.errors import Invalid


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
