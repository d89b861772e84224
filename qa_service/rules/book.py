"""The rule book a worker scores with: every pack compiled, chosen per transcript, reloaded safely.

A pack edited on disk is picked up by the next job; if the edit breaks a pack (or one of its rules'
examples fails, as ``qa rules check`` would say), the error is logged, kept in ``last_error`` (shown as
``reload_error`` by ``GET /v1/rules``) and the packs already loaded stay active (nothing scores against
a half-loaded book).

What loads but is most likely not meant (``rules.lint``), and a pack whose rules changed while its
``version`` did not, are logged once each and kept in ``warnings`` (``GET /v1/rules``'s ``warnings``).

Packs that never loaded are loaded once by the first caller (others arriving meanwhile wait for that load, not
start their own); when that load fails, :meth:`RuleBook.ready` raises its error again without loading until the
files change (looked at no more than once every ``RELOAD_CHECK_S``). Was: every call loaded, compiled and ran
every example again (a tenth of a second or more, holding the GIL), so with broken packs each ingest request
that named a scenario took 99 ms instead of 4, and concurrent first callers each loaded in parallel.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection
from pathlib import Path

from qa_service.domain import DIMENSIONS, Transcript
from qa_service.errors import ConfigError, RulePackError
from qa_service.rules.check import example_errors
from qa_service.rules.engine import CompiledPack
from qa_service.rules.lint import pack_notes
from qa_service.rules.loader import RulePack, fingerprint, load_packs
from qa_service.text import Analyzer, rule_words

log = logging.getLogger(__name__)
RELOAD_CHECK_S = 2.0


class RuleBook:
    """Every pack of a directory, compiled over one analyzer: jieba with the fixed :func:`rule_words`
    (``analyzer``: another, for a test), loaded with the packs; nothing a scorer does changes it.
    ``dimensions``: those its scorecards may weigh and its rules name (the built-in ones and the configured
    scorers': ``scoring.registry.dimension_names``; None: any)."""

    def __init__(self, directory: Path, *, default_pack: str = "general", analyzer: Analyzer | None = None,
                 dimensions: Collection[str] | None = DIMENSIONS):
        self.directory = Path(directory)
        self.default_pack = default_pack
        self.dimensions = dimensions  # what scorecards may weigh and rules name: see schema.known_dimensions
        self.analyzer = analyzer or Analyzer(rule_words())
        self.packs: dict[str, CompiledPack] = {}
        self._by_scenario: dict[str, CompiledPack] = {}
        self._fingerprint: tuple = ()
        self._checked_at = 0.0
        self._lock = threading.Lock()
        self._loading = threading.RLock()  # one load at a time; a first caller arriving meanwhile waits for it
        self._failed: tuple[tuple, ConfigError] | None = None  # (fingerprint, error) of a load that failed
        self._failed_checked_at = 0.0  # when the files were last looked at after that failure (monotonic)
        self.last_error: str | None = None
        self.warnings: dict[str, list[str]] = {}  # pack name → notes on it, and an edit that kept its version
        self._contents: dict[tuple[str, str], str] = {}  # (pack, version) → own_hash of the first content loaded
        self._said: set[str] = set()  # warnings already logged

    def load(self, *, examples: bool = True) -> RuleBook:
        """Load every pack and run its rules' examples, as ``qa rules check`` does (raises
        :class:`RulePackError` with every problem, R006 for an example that fails; nothing is swapped in).
        One load at a time; a failure while no pack was ever loaded is remembered for :meth:`ready`."""
        with self._loading:
            stamp = fingerprint(self.directory)
            try:
                return self._load(stamp, examples=examples)
            except (RulePackError, ConfigError) as exc:
                if not self.packs:  # nothing to fall back on: ready() raises this until the files change
                    self._failed, self._failed_checked_at = (stamp, exc), time.monotonic()
                raise

    def _load(self, stamp: tuple, *, examples: bool) -> RuleBook:
        packs = load_packs(self.directory, self.dimensions)
        if self.default_pack not in packs:
            raise ConfigError(
                f"default rule pack {self.default_pack!r} is not in {self.directory} "
                f"(packs: {', '.join(sorted(packs)) or 'none'}); set QA_SCORING__DEFAULT_PACK"
            )
        compiled = {name: CompiledPack(pack, self.analyzer) for name, pack in packs.items()}
        if examples:
            self.analyzer.initialize()  # jieba's dictionary: loaded here, once, not by the first job
            failed = [e for name in sorted(compiled) for e in example_errors(compiled[name])]
            if failed:
                raise RulePackError(failed)
        by_scenario = {c.pack.scenario: c for c in compiled.values()} | {n: c for n, c in compiled.items()}
        warnings = {name: self._version_warnings(pack) + pack_notes(pack) for name, pack in packs.items()}
        with self._lock:
            self.packs, self._by_scenario, self._fingerprint = compiled, by_scenario, stamp
            self.last_error, self.warnings, self._failed = None, warnings, None
        for text in (w for name in sorted(warnings) for w in warnings[name] if w not in self._said):
            self._said.add(text)  # once per change, not per reload; a note (qa rules check's) is no alarm
            log.log(logging.INFO if text.startswith("note ") else logging.WARNING, "%s", text)
        return self

    def _version_warnings(self, pack: RulePack) -> list[str]:
        """A pack whose own rules or settings differ from what this book first loaded under the same version:
        reports record the version, and two contents that carry one version cannot be told apart by it."""
        first = self._contents.setdefault((pack.name, pack.version), pack.own_hash)
        if first == pack.own_hash:
            return []
        return [f"warning {pack.path}: pack {pack.name} changed (sha256 {first[:12]} → {pack.own_hash[:12]}) but its "
                f"version is still {pack.version!r}: bump version: reports cannot tell the two apart (only "
                "rule_pack_hash differs)"]

    def reload_if_changed(self, *, force: bool = False) -> bool:
        """Swap in edited packs; on any error keep the loaded ones. True when a new book is active."""
        now = time.monotonic()
        if not force and now - self._checked_at < RELOAD_CHECK_S:
            return False
        self._checked_at = now
        if fingerprint(self.directory) == self._fingerprint:
            return False
        try:
            self.load()
        except (RulePackError, ConfigError) as exc:
            self._fingerprint = fingerprint(self.directory)  # report a broken edit once, not per job
            self.last_error = str(exc)
            log.error("rule packs in %s not reloaded; the loaded packs stay active:\n%s", self.directory, exc)
            return False
        log.info("rule packs reloaded from %s: %s", self.directory,
                 ", ".join(f"{c.pack.name} v{c.pack.version}" for c in self.packs.values()))
        return True

    def ready(self) -> RuleBook:
        """Loaded (raising on a broken set only if nothing was ever loaded), and reloaded if the files changed."""
        if not self.packs:
            return self._first_load()
        self.reload_if_changed()
        return self

    def _first_load(self) -> RuleBook:
        """Load the packs that never loaded, once: a caller arriving during a load waits for it. After a failed
        load its error is raised again, with no load, until the files change (looked at once per
        ``RELOAD_CHECK_S`` at most)."""
        with self._loading:
            if self.packs:  # another caller loaded them while this one waited
                return self
            if self._failed is not None:
                stamp, error = self._failed
                now = time.monotonic()
                if now - self._failed_checked_at < RELOAD_CHECK_S:
                    raise error.with_traceback(None)  # not the same traceback grown by every raise
                self._failed_checked_at = now
                if fingerprint(self.directory) == stamp:
                    raise error.with_traceback(None)
            return self.load()

    def failed(self) -> bool:
        """Whether no pack is loaded because the last load failed (:meth:`ready` would raise without loading
        until the files change)."""
        return not self.packs and self._failed is not None

    def recorded_versions(self) -> tuple[tuple[str, str, str | None], dict[str, tuple[str, str, str | None]]]:
        """What a report scored now records — (pack, pack version, scorecard version) — for a scenario no pack
        serves (the default pack's), and per scenario a pack serves (its scenario and its name), as
        :meth:`pack_for` chooses (``qa rescore --outdated`` selects the reports that record otherwise)."""
        if not self.packs:
            self._first_load()
        of = lambda c: (c.pack.name, c.pack.version, c.pack.spec.scorecard.version)  # noqa: E731
        return of(self.packs[self.default_pack]), {scenario: of(c) for scenario, c in self._by_scenario.items()}

    def pack_for(self, transcript: Transcript) -> CompiledPack:
        """The pack serving the transcript's scenario (by scenario or pack name), else the default."""
        if not self.packs:
            self._first_load()
        if transcript.scenario and transcript.scenario in self._by_scenario:
            return self._by_scenario[transcript.scenario]
        return self.packs[self.default_pack]

    def serves(self, scenario: str) -> bool:
        """Whether a pack serves ``scenario`` (its scenario or its name); else :meth:`pack_for` gives the default."""
        if not self.packs:
            self._first_load()
        return scenario in self._by_scenario

    def scenarios(self) -> list[str]:
        """The scenarios the loaded packs serve, sorted (each pack's name serves too)."""
        if not self.packs:
            self._first_load()
        return sorted({c.pack.scenario for c in self.packs.values()})

    def owners(self) -> dict[str, str | None]:
        """Rule id → its owner (the rule's ``owner``, else its defining pack's), for every loaded rule."""
        if not self.packs:
            self._first_load()
        pack_owner = {name: c.pack.spec.owner for name, c in self.packs.items()}
        return {r.id: r.spec.owner or pack_owner.get(r.pack) for c in self.packs.values() for r in c.pack.rules}

    def messages(self) -> dict[str, str]:
        """Rule id → its ``message:`` (what every finding of the rule is), for every loaded rule."""
        if not self.packs:
            self._first_load()
        return {r.id: r.spec.message for c in self.packs.values() for r in c.pack.rules}

    def flags(self) -> set[str]:
        """The flag reasons the loaded packs' rules raise (``flag:`` in a rule)."""
        if not self.packs:
            self._first_load()
        return {r.spec.flag for c in self.packs.values() for r in c.pack.rules if r.spec.flag}

    def flag_labels(self, pack: str | None = None) -> dict[str, str]:
        """Flag → the label a pack gives it (``flag_labels:``), for every flag the loaded packs label. A flag
        labelled by two packs takes the default pack's label, else the first pack's by name; with ``pack``, the
        labels of the packs whose rules ``pack`` runs (its own and its included packs') come first."""
        if not self.packs:
            self._first_load()
        order = [self.default_pack, *sorted(n for n in self.packs if n != self.default_pack)]
        labels: dict[str, str] = {}
        for name in order:
            for flag, text in self.packs[name].pack.spec.flag_labels.items():
                labels.setdefault(flag, text)
        if pack in self.packs:
            for rule in self.packs[pack].pack.rules:
                owner = self.packs.get(rule.pack)
                text = owner.pack.spec.flag_labels.get(rule.spec.flag) if owner and rule.spec.flag else None
                if text:
                    labels[rule.spec.flag] = text
        return labels
