"""A loaded rule pack: its rules (its own and those of its includes) under their pack-qualified ids."""

from __future__ import annotations

from dataclasses import dataclass, field

from qa_service.rules.schema import Rule, RulePackSpec


@dataclass(frozen=True, slots=True)
class PackRule:
    """A rule with its pack-qualified id (``finance.no-return-promise``)."""

    id: str
    pack: str
    spec: Rule
    path: str


def qualify(ref: str, pack: str) -> str:
    """A rule reference as written in ``pack`` (``objection-price``) with that pack's name in front; a
    qualified one (``general.objection-price``) as it stands."""
    return ref if "." in ref else f"{pack}.{ref}"


@dataclass(slots=True)
class RulePack:
    """``hash``: the content hash reports record (the file, and its includes' hashes); ``own_hash``: the pack's
    own rules and settings alone (a comment does not change it), to tell an edit that kept its version.
    ``excluded``: the included packs' rules ``exclude:`` leaves out. ``anchors``: (the pack that wrote an
    anchor, its ``rule:`` as written) → the rule it names (an unqualified name may be an included pack's).
    ``scorecard_from``: the pack whose ``scorecard:`` this one uses (its own name, or an included pack's)."""

    name: str
    version: str
    scenario: str
    spec: RulePackSpec
    path: str
    rules: list[PackRule]
    hash: str = ""
    by_id: dict[str, PackRule] = field(default_factory=dict)
    own_hash: str = ""
    excluded: frozenset[str] = frozenset()
    scorecard_from: str = ""
    anchors: dict[tuple[str, str], str] = field(default_factory=dict)

    def rule(self, rule_id: str) -> PackRule:
        return self.by_id[rule_id]

    def anchor(self, rule: PackRule, ref: str) -> PackRule:
        """The rule an anchor ``rule: ref`` of ``rule`` names (resolved when the pack was loaded)."""
        return self.by_id[self.anchors.get((rule.pack, ref)) or qualify(ref, rule.pack)]
