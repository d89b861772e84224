"""Transcripts whose ``scenario`` no rule pack serves: the default pack (QA_SCORING__DEFAULT_PACK) scores them,
and ingest says so — a warning in its answer, one log line per scenario and process, a counter per scenario.

Was: silently. A typo, or an integration's own name for a scenario (``broadband_install`` for the pack serving
``broadband``), had every conversation scored without the pack's required checks and fatal items, seen only in
each report's ``rule_pack``.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from qa_service import metrics
from qa_service.errors import ConfigError, RulePackError

if TYPE_CHECKING:
    from qa_service.ingest.schema import TranscriptCreate
    from qa_service.runtime import Runtime

log = logging.getLogger(__name__)
LOGGED_MAX = 1000  # distinct scenarios a process logs one by one; past it, one line says the rest go unlogged
_logged: set[str] = set()
_lock = threading.Lock()


def unserved_warnings(items: list[tuple[int, TranscriptCreate]], *, runtime: Runtime) -> dict[int, str]:
    """Item index → the warning for each item whose scenario no loaded pack serves (none for an item without a
    scenario: the default pack is its pack by design). Empty when the packs do not load: the workers say why.
    Once a load has failed, ingest never loads them itself (a load compiles every pack and runs every example:
    it made each such request 20 times slower); the next load by anyone else that succeeds is used."""
    scenarios = {t.scenario for _, t in items if t.scenario}
    if not scenarios or runtime.rulebook.failed():
        return {}
    try:
        book = runtime.rulebook.ready()
        unserved = {s for s in scenarios if not book.serves(s)}
        served = ", ".join(book.scenarios())
    except (RulePackError, ConfigError):
        return {}
    said = {s: f"scenario {s!r} has no rule pack; scored with the default pack {book.default_pack!r} "
               f"(QA_SCORING__DEFAULT_PACK; scenarios served: {served})" for s in unserved}
    return {i: said[t.scenario] for i, t in items if t.scenario in said}


def note_unserved(scenario: str, accepted: int, warning: str) -> None:
    """Count ``accepted`` new transcripts of an unserved scenario, and log the scenario the first time this
    process meets it (a line per request would drown the log: one integration sends thousands a day)."""
    metrics.count_unserved(scenario, accepted)
    with _lock:
        if scenario in _logged or len(_logged) >= LOGGED_MAX:
            return
        _logged.add(scenario)
        last = len(_logged) == LOGGED_MAX
    log.warning("%s; said once per scenario and process (qa_unserved_scenario_total counts them)", warning)
    if last:
        log.warning("%d scenarios without a rule pack logged; further ones are not (qa_unserved_scenario_total "
                    "counts them)", LOGGED_MAX)
