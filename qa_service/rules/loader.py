"""Load rule packs from a directory: parse, validate, resolve includes, checksum — all or nothing.

Error codes (each message names the file, the rule and how to fix it):

- R001 the file is not valid YAML (a key given twice in one mapping included), or not a mapping
- R002 a key or value breaks the schema (unknown key, wrong type, missing field)
- R003 a regex does not compile
- R004 a rule id appears twice in a pack (after includes)
- R005 a reference (include, anchor ``rule:``) names nothing, or references loop
- R006 a rule's example did not behave as declared (``qa rules check``)
- R007 two packs share a name or a scenario
- R008 a retired rule id (``rules/RETIRED``) is used again: ids are never reused; or a line of ``RETIRED``
  is not one pack-qualified rule id (``finance.no-return-promise``)
- R010 ``exclude:`` names no rule of an included pack, or an anchor names a rule it leaves out
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import ValidationError

from qa_service.domain import DIMENSIONS
from qa_service.errors import RuleError, RulePackError
from qa_service.rules.pack import PackRule, RulePack, qualify
from qa_service.rules.refs import check_references, excluded_rules
from qa_service.rules.schema import PACK_NAME, RULE_ID, Rule, RulePackSpec
from qa_service.rules.yamlfile import display_path, misnamed_yaml, parse_yaml, read_yaml_mapping, value_hint

__all__ = ["PackRule", "RulePack", "qualify", "display_path", "misnamed_yaml", "parse_yaml", "read_yaml_mapping",
           "load_packs", "parse_pack_text", "parse_rule", "pack_from_spec", "pack_with_rule", "ReloadingBook"]

log = logging.getLogger(__name__)
RETIRED_FILE = "RETIRED"


def _schema_errors(exc: ValidationError, raw: dict, where: str, text: str = "") -> list[RuleError]:
    """Coded errors for what the schema refused; ``text`` (the file) lets a value holding full-width punctuation
    (``［a, b］`` read as one string) be named with its line."""
    errors = []
    for err in exc.errors():
        loc = err["loc"]
        rule = None
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            items = raw.get("rules") or []
            rid = items[loc[1]].get("id") if loc[1] < len(items) and isinstance(items[loc[1]], dict) else None
            rule = f"{raw.get('name', '?')}.{rid}" if rid else f"rules[{loc[1]}]"
            loc = loc[2:]
        field_path = ".".join(str(p) for p in loc) or ("(rule)" if rule else "(pack)")
        msg = err["msg"].removeprefix("Value error, ")
        kind = err["type"]
        mapping = _mapping_in(err.get("input")) if loc[:1] == ("examples",) and len(loc) >= 3 else None
        if mapping is not None:
            # `[客服: 您好]` is YAML for a list holding the mapping {客服: 您好}, not the turn '客服: 您好'
            field_path = ".".join(str(p) for p in loc[:3])
            code, fix = "R002", "write the turn with a full-width colon (坐席：您好) or quote it ('坐席: 您好')"
            msg = f"{mapping!r} reads as a mapping, not a turn"
        elif "invalid regex" in msg:
            code, fix = "R003", "fix the pattern (Python's re syntax)"
        elif kind == "extra_forbidden":
            code, fix = "R002", f"remove '{loc[-1]}' or correct its spelling (rules/README.md lists the keys)"
        elif kind == "missing":
            code, fix = "R002", f"add '{loc[-1]}'"
        elif kind == "string_type" and isinstance(err.get("input"), int | float) and not isinstance(err["input"], bool):
            # phrases: [投诉, 12300] — YAML reads 12300 as a number
            code, fix = "R002", f"quote it: '{err['input']}' (YAML reads an unquoted {err['input']} as a number)"
        else:
            hint = value_hint(text, err.get("input"))
            code, fix = "R002", hint or "correct the value (rules/README.md describes every key)"
        error = RuleError(code, where, f"{field_path}: {msg}", fix, rule)
        if str(error) not in {str(e) for e in errors}:  # a union reports each branch: say it once
            errors.append(error)
    return errors


def _mapping_in(value: object) -> dict | None:
    """The mapping an example was parsed into (itself, or one of its turns), if any."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return next((v for v in value if isinstance(v, dict)), None)
    return None


def load_packs(directory: Path, dimensions: Collection[str] | None = DIMENSIONS) -> dict[str, RulePack]:
    """Every ``*.yaml`` pack under ``directory``; raises :class:`RulePackError` listing all problems.
    ``dimensions``: those a scorecard may weigh and a rule name (None: any; see ``schema.known_dimensions``)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise RulePackError([RuleError("R001", str(directory), "rule directory does not exist",
                                       "set QA_SCORING__RULES_DIR to the folder holding the *.yaml packs")])
    errors: list[RuleError] = misnamed_yaml(directory, "R001", "rule packs")
    retired, retired_errors = read_retired(directory)
    errors += retired_errors
    specs: dict[str, tuple[RulePackSpec, str, bytes]] = {}
    scenarios: dict[str, str] = {}
    broken: set[str] = set()  # files that did not load: an include of one is not also an R005
    for path in sorted(directory.glob("*.yaml")):
        where = display_path(path)
        data, raw, error = read_yaml_mapping(path, "R001", "a pack must be a mapping with name, version, "
                                                           "scenario, rules", "start the file with 'name: <pack>'")
        if error:
            errors.append(error)
            broken.update({path.stem, str(raw.get("name")) if isinstance(raw, dict) else path.stem})
            continue
        try:
            spec = RulePackSpec.model_validate(raw, context={"dimensions": dimensions})
        except ValidationError as exc:
            errors += _schema_errors(exc, raw, where, data.decode("utf-8"))
            broken.update({path.stem, str(raw.get("name"))})
            continue
        if spec.name in specs:
            errors.append(RuleError("R007", where, f"pack name {spec.name!r} is also used by {specs[spec.name][1]}",
                                    "give each pack its own name"))
            continue
        if spec.scenario in scenarios:
            errors.append(RuleError("R007", where, f"scenario {spec.scenario!r} is also served by {scenarios[spec.scenario]}",
                                    "one pack per scenario"))
            continue
        specs[spec.name] = (spec, where, data)
        scenarios[spec.scenario] = where
        for rule in spec.rules:
            qid = f"{spec.name}.{rule.id}"
            if qid in retired:
                errors.append(RuleError("R008", where, f"{qid} was retired and ids are never reused",
                                        "choose a new id for the new rule", qid))

    for name, (spec, where, _) in specs.items():  # a scenario that is another pack's name is served by that pack
        if spec.scenario != name and spec.scenario in specs:
            errors.append(RuleError("R007", where, f"scenario {spec.scenario!r} is the name of pack "
                                    f"{specs[spec.scenario][1]}, which serves it (this pack would never be used)",
                                    "give the scenario a name no other pack has"))
    packs: dict[str, RulePack] = {}
    for name, (spec, where, _) in specs.items():
        try:
            packs[name] = _resolve(name, specs, stack=())
        except RulePackError as exc:
            errors += [e for e in exc.errors if not (e.code == "R005" and _names_broken(e, broken))]
    if errors:
        raise RulePackError(errors)
    return packs


def _names_broken(error: RuleError, broken: set[str]) -> bool:
    """An R005 for an include of a file that did not load (its own error says why)."""
    return any(error.problem == f"include {name!r} names no pack" for name in broken)


def _resolve(name: str, specs: dict[str, tuple[RulePackSpec, str, bytes]], stack: tuple[str, ...]) -> RulePack:
    spec, where, data = specs[name]
    bases: list[RulePack] = []
    digest = hashlib.sha256(data)
    errors = []
    for inc in spec.include:
        if inc in stack or inc == name:
            raise RulePackError([RuleError("R005", where, f"include loop {' → '.join((*stack, name, inc))}",
                                           "remove one of the includes")])
        if inc not in specs:
            errors.append(RuleError("R005", where, f"include {inc!r} names no pack",
                                    f"use one of: {', '.join(sorted(specs))}"))
            continue
        base = _resolve(inc, specs, (*stack, name))
        bases.append(base)
        digest.update(base.hash.encode())
    if errors:
        raise RulePackError(errors)
    return _finish(spec, bases, digest.hexdigest(), where, [])


def read_retired(directory: Path) -> tuple[set[str], list[RuleError]]:
    """The retired ids of ``RETIRED``: one pack-qualified rule id a line (``finance.no-return-promise``),
    ``#`` to the end of a line a comment, blank lines ignored. A line that is not one such id is an R008
    naming the line. Was: any line was taken as it stood, so an unqualified ``forbidden-words`` retired
    nothing (ids are compared pack-qualified) and said nothing."""
    path = directory / RETIRED_FILE
    if not path.is_file():
        return set(), []
    where = display_path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return set(), [RuleError("R001", where, f"not UTF-8 text (byte at {exc.start + 1})", "save it as UTF-8")]
    retired: set[str] = set()
    errors = []
    for n, line in enumerate(text.splitlines(), 1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        problem = _retired_entry_problem(entry)
        if problem:
            errors.append(RuleError("R008", f"{where}:{n}", problem,
                                    "write one pack-qualified rule id a line, e.g. finance.no-return-promise "
                                    "(# starts a comment)"))
        else:
            retired.add(entry)
    return retired, errors


def _retired_entry_problem(entry: str) -> str | None:
    pack, dot, rule = entry.partition(".")
    if " " in entry or "\t" in entry:
        return f"{entry!r} is more than one id (one a line)"
    if not dot:
        return (f"{entry!r} is not pack-qualified: write <pack>.{entry} (the pack that defined it), "
                "as ids are compared")
    if not PACK_NAME.match(pack) or not RULE_ID.match(rule):
        return f"{entry!r} is not a rule id: <pack>.<rule-id>, a snake_case pack name and a kebab-case rule id"
    return None


def fingerprint(directory: Path) -> tuple:
    """Changes when a pack file is added, removed or edited (cheap: stat only)."""
    directory = Path(directory)
    try:
        return tuple(sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size)
                            for p in directory.glob("*") if p.suffix == ".yaml" or p.name == RETIRED_FILE))
    except OSError:
        return ()


def canonical_hash(spec: RulePackSpec) -> str:
    """Content hash of a pack's rules and settings as parsed (a posted pack's; a file's, comments left out)."""
    return hashlib.sha256(json.dumps(spec.model_dump(mode="json", by_alias=True), sort_keys=True,
                                     ensure_ascii=False).encode()).hexdigest()


def parse_pack_text(text: str, where: str = "(posted pack)", dimensions: Collection[str] | None = DIMENSIONS
                    ) -> RulePackSpec:
    """Validate a pack given as YAML text (``POST /v1/rules/test``); raises :class:`RulePackError`."""
    raw, error = parse_yaml(text, where, "R001")
    if error:
        raise RulePackError([error])
    if not isinstance(raw, dict):
        raise RulePackError([RuleError("R001", where, "a pack must be a mapping with name, version, scenario, rules",
                                       "start with 'name: <pack>'")])
    try:
        return RulePackSpec.model_validate(raw, context={"dimensions": dimensions})
    except ValidationError as exc:
        raise RulePackError(_schema_errors(exc, raw, where, text)) from exc


def parse_rule(raw: dict, pack: str, where: str = "(posted rule)", dimensions: Collection[str] | None = DIMENSIONS
               ) -> Rule:
    try:
        return Rule.model_validate(raw, context={"dimensions": dimensions})
    except ValidationError as exc:
        rid = raw.get("id") if isinstance(raw.get("id"), str) else None
        errors = [e if e.rule or not rid else RuleError(e.code, e.path, e.problem, e.fix, f"{pack}.{rid}")
                  for e in _schema_errors(exc, {"name": pack, "rules": [raw]}, where)]
        raise RulePackError(errors) from None


def pack_from_spec(spec: RulePackSpec, *, available: dict[str, RulePack], where: str = "(posted pack)") -> RulePack:
    """A pack that is not on disk, its includes taken from the loaded packs."""
    digest = hashlib.sha256(canonical_hash(spec).encode())
    bases: list[RulePack] = []
    errors = []
    for inc in spec.include:
        if inc not in available:
            errors.append(RuleError("R005", where, f"include {inc!r} names no loaded pack",
                                    f"use one of: {', '.join(sorted(available))}"))
            continue
        bases.append(available[inc])
        digest.update(available[inc].hash.encode())
    return _finish(spec, bases, digest.hexdigest(), where, errors)


def pack_with_rule(base: RulePack, rule: Rule, where: str = "(posted rule)") -> RulePack:
    """``base`` with one rule added, or replaced when its id already exists there."""
    qid = f"{base.name}.{rule.id}"
    rules = [r for r in base.rules if r.id != qid] + [PackRule(qid, base.name, rule, where)]
    digest = hashlib.sha256(base.hash.encode())
    digest.update(json.dumps(rule.model_dump(mode="json", by_alias=True), sort_keys=True, ensure_ascii=False).encode())
    pack = RulePack(name=base.name, version=f"{base.version}+draft", scenario=base.scenario, spec=base.spec,
                    path=where, rules=rules, hash=digest.hexdigest(), by_id={r.id: r for r in rules},
                    own_hash=base.own_hash, excluded=base.excluded, anchors=dict(base.anchors),
                    scorecard_from=base.scorecard_from)
    errors = check_references(pack)
    if errors:
        raise RulePackError(errors)
    return pack


def _inherited(bases: list[RulePack]) -> list[PackRule]:
    """The included packs' rules in order; a rule reached through two includes (``include: [presale,
    after_sales]``, both including general) is one rule, kept where it first appears."""
    rules: list[PackRule] = []
    seen: dict[str, PackRule] = {}
    for base in bases:
        for rule in base.rules:
            if rule.id in seen and seen[rule.id].spec == rule.spec:
                continue
            seen.setdefault(rule.id, rule)
            rules.append(rule)
    return rules


def _with_scorecard(spec: RulePackSpec, bases: list[RulePack], where: str, errors: list[RuleError]
                    ) -> tuple[RulePackSpec, str]:
    """A pack without ``scorecard:`` inherits the first included pack's; with none to inherit it is an R002.
    Also the name of the pack that wrote the scorecard."""
    if spec.scorecard is not None:
        return spec, spec.name
    base = next((b for b in bases if b.spec.scorecard is not None), None)
    if base is None:
        errors.append(RuleError("R002", where, "scorecard: missing, and no included pack has one to inherit",
                                "add 'scorecard: {weights: {...}}' or include a pack that has one (e.g. general)"))
        return spec, spec.name
    return spec.model_copy(update={"scorecard": base.spec.scorecard}), base.scorecard_from


def _finish(spec: RulePackSpec, bases: list[RulePack], digest: str, where: str,
            errors: list[RuleError]) -> RulePack:
    own_hash = canonical_hash(spec)
    spec, scorecard_from = _with_scorecard(spec, bases, where, errors)
    inherited = _inherited(bases)
    excluded, problems = excluded_rules(spec.exclude, spec.name, {r.id for r in inherited}, where)
    errors += problems
    rules = ([r for r in inherited if r.id not in excluded]
             + [PackRule(f"{spec.name}.{r.id}", spec.name, r, where) for r in spec.rules])
    by_id: dict[str, PackRule] = {}
    for rule in rules:
        if rule.id in by_id:
            errors.append(RuleError("R004", where, "rule id used twice", "rename one (ids are stable: add, don't reuse)",
                                    rule.id))
        by_id[rule.id] = rule
    if errors:
        raise RulePackError(errors)
    pack = RulePack(name=spec.name, version=spec.version, scenario=spec.scenario, spec=spec, path=where,
                    rules=rules, hash=digest, by_id=by_id, own_hash=own_hash, excluded=excluded, scorecard_from=scorecard_from,
                    anchors={key: target for base in bases for key, target in base.anchors.items()})
    errors = check_references(pack)
    if errors:
        raise RulePackError(errors)
    return pack


T = TypeVar("T")


class ReloadingBook(Generic[T]):
    """What ``load(directory)`` returns, loaded again when a file in the folder changes; a broken edit
    keeps the last good set (``error`` says why, and it is logged). :meth:`get` raises
    :class:`RulePackError` only when no good set was ever loaded. ``check_every_s``: how long a
    check of the folder holds (a hot path reads the set many times a second; 0 checks every time)."""

    def __init__(self, directory: Path, load: Callable[[Path], T], what: str, check_every_s: float = 0.0):
        self.directory = Path(directory)
        self._load = load
        self._what = what
        self._loaded: T | None = None
        self._fingerprint: tuple = ()
        self._check_every_s = check_every_s
        self._checked_at = float("-inf")
        self.error: RulePackError | None = None

    def get(self) -> T:
        now = time.monotonic()
        if self._loaded is not None and now - self._checked_at < self._check_every_s:
            return self._loaded
        self._checked_at = now
        fp = fingerprint(self.directory) if self.directory.is_dir() else ()
        if self._loaded is None or fp != self._fingerprint:
            try:
                self._loaded = self._load(self.directory)
                self.error = None
            except RulePackError as exc:
                self.error = exc
                if self._loaded is None:
                    raise
                log.error("%s not reloaded, keeping the last good ones:\n%s", self._what, exc)
            self._fingerprint = fp
        return self._loaded
