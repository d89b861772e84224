"""What a pack's references name: anchors (``after: {rule: …}``) and ``exclude:``, resolved over the pack and
its includes, with the names one could have meant when they name nothing.

An anchor written without a pack (``rule: objection-price``) names the pack's own rule of that id, else the
one rule of that id its includes have (``general.objection-price``); two included packs with one are an
R005 naming both. ``exclude: [general.over-promise]`` leaves an included pack's rule out of the pack: a name
that is no included rule is an R010, and so is an anchor on a rule left out.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping

from qa_service.errors import RuleError
from qa_service.rules.pack import PackRule, RulePack
from qa_service.rules.schema import Condition


def anchor_refs(cond: Condition) -> list[str]:
    """Every ``rule:`` an anchor in the condition names, as written."""
    refs = []
    for anchor in (cond.after, cond.before):
        if anchor is not None:
            if anchor.rule:
                refs.append(anchor.rule)
            if anchor.condition is not None:
                refs += anchor_refs(anchor.condition)
    for child in [*(cond.any or []), *(cond.all or []), *(cond.none or []), *(cond.of or [])]:
        refs += anchor_refs(child)
    for child in (cond.not_, cond.match):
        if child is not None:
            refs += anchor_refs(child)
    return refs


def ending_with(ref: str, ids: Collection[str]) -> list[str]:
    """The qualified ids whose rule id is ``ref``'s (``objection-price`` → ``general.objection-price``)."""
    short = ref.rsplit(".", 1)[-1]
    return sorted(i for i in ids if i.rsplit(".", 1)[-1] == short)


def closest(ref: str, ids: Collection[str]) -> list[str]:
    """The qualified ids whose rule id is nearest to ``ref``'s (those of ``ref``'s pack, when it names one
    that has it)."""
    pack, _, short = ref.rpartition(".")
    by_short: dict[str, list[str]] = {}
    for i in sorted(ids):
        by_short.setdefault(i.rsplit(".", 1)[-1], []).append(i)
    near = difflib.get_close_matches(short, list(by_short), n=1, cutoff=0.6)
    found = by_short[near[0]] if near else []
    return [i for i in found if i.startswith(f"{pack}.")] or found


def _meant(ref: str, ids: Collection[str]) -> str:
    exact = ending_with(ref, ids)
    if exact:
        return f"write {' or '.join(exact)}"
    near = closest(ref, ids)
    return f"did you mean {' or '.join(near)}?" if near else ""


def resolve_anchor(ref: str, owner: str, rules: Mapping[str, PackRule], excluded: Collection[str]
                   ) -> tuple[str | None, tuple[str, str, str] | None]:
    """The qualified id ``rule: ref`` of a rule of pack ``owner`` names among ``rules`` (the pack's, its includes'
    too), or None and (code, problem, fix)."""
    if "." in ref:
        found = [ref] if ref in rules else []
    elif f"{owner}.{ref}" in rules:
        found = [f"{owner}.{ref}"]
    else:
        found = ending_with(ref, rules)
    if len(found) == 1:
        return found[0], None
    if found:
        return None, ("R005", f"anchor rule {ref!r} is ambiguous: {' and '.join(found)} both have that id",
                      f"write the one you mean, e.g. rule: {found[0]}")
    left_out = [ref] if ref in excluded else [] if "." in ref else ending_with(ref, excluded)
    if left_out:
        return None, ("R010", f"anchor rule {ref!r} names {left_out[0]}, which exclude: leaves out of this pack",
                      f"anchor on another rule, or take {left_out[0]} out of exclude:")
    meant = _meant(ref, rules)
    return None, ("R005", f"anchor rule {ref!r} is not in pack {owner} or a pack it includes",
                  meant or "name a rule of this pack or of an included one (qa rules list shows their ids)")


def check_references(pack: RulePack) -> list[RuleError]:
    """Resolve the anchors of the pack's own rules (into ``pack.anchors``); R005 for one that names nothing or
    loops, R010 for one on a rule ``exclude:`` leaves out (an included rule kept that anchors on one, too)."""
    errors = []
    graph: dict[str, list[str]] = {}
    for rule in pack.rules:
        graph[rule.id] = []
        for ref in anchor_refs(rule.spec.match):
            if rule.pack == pack.name:
                target, problem = resolve_anchor(ref, pack.name, pack.by_id, pack.excluded)
                if problem:
                    errors.append(RuleError(problem[0], rule.path, problem[1], problem[2], rule.id))
                    continue
                pack.anchors[(rule.pack, ref)] = target
            else:
                target = pack.anchors.get((rule.pack, ref), ref)
                if target not in pack.by_id:
                    errors.append(RuleError("R010", pack.path, f"{rule.id} (an included rule this pack keeps) anchors "
                                            f"on {target}, which exclude: leaves out",
                                            f"exclude {rule.id} too, or take {target} out of exclude:", rule.id))
                    continue
            graph[rule.id].append(target)
    return errors + _loops(pack, graph)


def _loops(pack: RulePack, graph: dict[str, list[str]]) -> list[RuleError]:
    errors = []
    state: dict[str, int] = {}

    def visit(node: str, path: tuple[str, ...]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            errors.append(RuleError("R005", pack.by_id[node].path, f"anchor loop {' → '.join((*path, node))}",
                                    "anchor on a rule that does not depend back on this one", node))
            return
        state[node] = 1
        for ref in graph.get(node, []):
            if ref in graph:
                visit(ref, (*path, node))
        state[node] = 2

    for node in graph:
        visit(node, ())
    return errors


def excluded_rules(exclude: list[str], name: str, inherited: Collection[str], where: str
                   ) -> tuple[frozenset[str], list[RuleError]]:
    """The included rules ``exclude:`` names, and an R010 for each entry that is none of them."""
    errors = []
    for ref in dict.fromkeys(exclude):
        if ref in inherited:
            continue
        if ref.startswith(f"{name}."):
            problem, fix = f"{ref} is this pack's own rule", "delete the rule instead (and list its id in RETIRED)"
        elif "." not in ref:
            problem = f"{ref!r} is not pack-qualified"
            fix = _meant(ref, inherited) or "write <pack>.<rule-id> of a rule of an included pack"
        else:
            problem = f"{ref!r} is no rule of an included pack"
            fix = _meant(ref, inherited) or "name a rule of an included pack (qa rules list shows their ids)"
        errors.append(RuleError("R010", where, f"exclude: {problem}", fix))
    return frozenset(r for r in exclude if r in inherited), errors
