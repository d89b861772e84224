"""Live conversations: open one, add its turns as they happen (checks and alerts), end it into an
ordinary transcript; the timers (a customer left waiting, a conversation gone idle); alerts.

State is in Redis (``storage/live.py``, shared by every API process; one writer per conversation
at a time under a Redis lock); alerts and their deliveries are in the database, written before
the turn counts as received, so an alert is never lost and a re-sent turn never raises it twice.
Turns are redacted (``QA_PII__*``) as they arrive: nothing unredacted is kept or sent.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from qa_service.access.service import check_team
from qa_service.errors import ConfigError, Conflict, Gone, Invalid, NotFound, RulePackError
from qa_service.ingest import pii
from qa_service.ingest.schema import TranscriptCreate, UtteranceCreate
from qa_service.ingest.service import erased_error, ingest
from qa_service.live.checks import LiveChecks, window
from qa_service.live.delivery import LEASE_S, Sender
from qa_service.live.evaluate import LiveState, Observation, advance, evaluate
from qa_service.live.schema import LiveConversationCreate, LiveUtterance
from qa_service.rules.alerts import AlertBook, AlertRule, role_readings, wait_threshold
from qa_service.rules.schema import Rule
from qa_service.runtime import Runtime
from qa_service.storage import alerts as alert_repo
from qa_service.storage import erasure as erasure_repo
from qa_service.storage import live as live_repo
from qa_service.storage import live_ids
from qa_service.storage import transcripts as transcript_repo
from qa_service.storage.alert_tables import LiveAlert
from qa_service.storage.tables import utcnow

log = logging.getLogger(__name__)
QUOTE_CHARS = 300
ALERTS_CHECK_S = 1.0  # how often the per-turn path looks for edited alert files (a hot reload within a second)
WINDOW = 8  # turns the live checks look back over (further when needed: see checks.window)


def checks(rt: Runtime) -> LiveChecks:
    """The live checks over this process's pipeline (its models load on first use)."""
    return rt.extension("live.checks", lambda: LiveChecks(rt.pipeline))


def sender(rt: Runtime) -> Sender:
    """This process's webhook sender (shared by the requests that raise alerts and the live loop)."""
    return rt.extension("live.sender", lambda: Sender(rt.sessions, rt.settings.live))


def alert_rules(rt: Runtime) -> dict[str, AlertRule]:
    """``rules/alerts/*.yaml`` (``QA_LIVE__ALERTS_DIR``), reloaded when a file changes (looked for at most
    once every ``ALERTS_CHECK_S``); an alert naming a rule no pack has, or one the live checks never read
    (L004, L005), is an error, as in ``qa rules check``. Raises :class:`RulePackError` while no good set
    was ever loaded (the turns are then 503s and ``/readyz`` says why)."""
    def known() -> dict[str, Rule]:
        return {r.id: r.spec for pack in rt.rulebook.ready().packs.values() for r in pack.pack.rules}

    return rt.extension("live.alerts", lambda: AlertBook(rt.settings.alerts_dir, ALERTS_CHECK_S, known)).get()


REFUSED_LOG_S = 60.0  # a refused live turn's 503 is logged at most this often (one line a minute, not one a turn)


def _broken_rules_line(rt: Runtime, exc: Exception) -> str:
    return (f"live QA: the alert rules in {rt.settings.alerts_dir} (or the rule packs they name) do not load, so "
            f"every live turn is refused (503) until they are fixed; run qa rules check --dir "
            f"{rt.settings.rules_dir}:\n{exc}")


def check_alert_rules(rt: Runtime) -> bool:
    """Load the alert rules once as the API starts (the live loop's first pass) and log at ERROR what keeps them
    from loading, with each problem's code (L005 …). Was: nothing in the log, only ``/readyz`` and the 503s
    said it, and an alert an older release accepted turned live QA off after an upgrade without a line."""
    try:
        alert_rules(rt)
    except (RulePackError, ConfigError) as exc:
        log.error("%s", _broken_rules_line(rt, exc))
        return False
    return True


def _alert_rules_or_refuse(rt: Runtime) -> dict[str, AlertRule]:
    """:func:`alert_rules` for a live turn; when none are loaded the turn is refused (its 503), and that is
    logged at most once every ``REFUSED_LOG_S`` per process."""
    try:
        return alert_rules(rt)
    except (RulePackError, ConfigError) as exc:
        said = rt.extension("live.refusal_logged", lambda: [float("-inf")])
        now = time.monotonic()
        if now - said[0] >= REFUSED_LOG_S:
            said[0] = now
            log.error("live turn refused (503, said at most once a minute): %s", _broken_rules_line(rt, exc))
        raise


@dataclass(frozen=True, slots=True)
class Opened:
    id: int
    created: bool
    status: str


def open_conversation(rt: Runtime, body: LiveConversationCreate) -> Opened:
    """A new live conversation, or the one already open (or ended) under this (source, external_id), also
    when Redis has lost an ended one (the database records which transcript it became). A key already stored
    as a transcript posted whole is a conflict: the turns would have nowhere to go when it ends."""
    key = (body.source, body.external_id)
    meta = body.model_dump(mode="json")
    policy = pii.policy_for(rt.settings.pii, body.source)
    if policy is not None and meta["metadata"]:
        meta["metadata"] = pii.redact_value(meta["metadata"], policy)
    for label in ("queue", "scenario"):  # as ingest does: 回拨13900001111 (was: the scenario was kept as sent)
        if policy is not None and meta.get(label):
            meta[label] = pii.redact(meta[label], policy)
    # When it was opened: the transcript's started_at if the platform gives none (live_repo keeps the first
    # open's meta; a re-open's is only compared, on the fields of the request)
    meta["opened_at"] = datetime.now(UTC).isoformat()
    cid = live_repo.find(rt.redis, key)
    created = False
    with rt.session() as session:
        mark, alerted = live_ids.floors(session=session)
        stored = transcript_repo.find_existing(session=session, keys=[key]).get(key) if cid is None else None
        erased = erasure_repo.tombstones(session=session, keys=[key]).get(key) if cid is None else None
        was_live = alert_repo.conversation_of(session=session, transcript_id=stored.id) if stored else None
    if erased is not None:  # erased on request: it would end into a transcript ingest refuses
        raise Gone(erased_error(key, erased)["msg"], "external_id")
    if cid is None and was_live is not None:
        # The conversation ended into this transcript and Redis has lost it since (restarted empty, or past its
        # day): opening it again is the same answer as before the loss. Was: the 409 for a key posted whole.
        return Opened(was_live, False, "ended")
    if cid is None:
        if stored is not None:
            raise Conflict(f"source={body.source!r}, external_id={body.external_id!r} is already stored as "
                           f"transcript {stored.id}; a live conversation needs a key of its own", "external_id")
        cid, created = live_repo.create(rt.redis, key, meta, LiveState().as_dict(), time.time(), floor=alerted,
                                        restart_at=mark)
    if cid > mark:  # also on a re-open: the request that created it may have failed before reserving
        with rt.session() as session:  # committed before the id is handed out (storage/live_ids.py)
            live_ids.reserve(session=session, through=cid)
    found = live_repo.load(rt.redis, cid)
    status = found[2] if found else "open"
    if not created and found is not None:
        _same_header(cid, found[0], meta)
    if created:
        live_repo.publish(rt.redis, {"type": "conversation", "id": cid, "team": body.team})
    return Opened(cid, created, status)


def _same_header(cid: int, stored: dict[str, Any], meta: dict[str, Any]) -> None:
    """Opening again is idempotent only with the same fields (as ``POST /v1/transcripts`` is); a time is
    the same instant however its offset is written."""
    for field in LiveConversationCreate.model_fields:
        was, now = stored.get(field), meta.get(field)
        if field == "started_at" and was is not None and now is not None:
            was, now = datetime.fromisoformat(was), datetime.fromisoformat(now)
        if was != now:
            raise Conflict(f"live conversation {cid} (source={meta['source']!r}, external_id="
                           f"{meta['external_id']!r}) was opened with {field}={stored.get(field)!r}, not "
                           f"{meta.get(field)!r}; open it again unchanged, or under a new external_id", field)


def _open_state(cid: int, team: str | None, found: tuple | None) -> tuple[dict, LiveState]:
    """The conversation's fields and running state, if it exists, is the key's team's, and is open."""
    if found is None:
        raise NotFound(f"live conversation {cid} not found", "conversation_id")
    meta, state, status, transcript_id = found
    check_team(team, meta.get("team"))
    if status != "open":
        raise _ended(cid, meta, LiveState.from_dict(state).turns, transcript_id)
    return meta, LiveState.from_dict(state)


def _ended(cid: int, meta: dict[str, Any], turns: int, transcript_id: int | None) -> Conflict:
    """The 409 for a turn sent after the end, saying what became of the conversation (end_conversation)."""
    key = f"source={meta['source']!r}, external_id={meta['external_id']!r}"
    if transcript_id is not None:
        why = f"it is transcript {transcript_id} now and takes no more turns"
    elif turns:  # ended idle while its key had been posted whole with other turns
        why = (f"it ended idle without a transcript: {key} had been stored meanwhile as another transcript (posted "
               f"whole), so its {turns} turn(s) were dropped; send the conversation again under a new external_id")
    else:
        why = (f"it ended with no turns, so without a transcript; send its turns to a new live conversation under "
               f"a new external_id ({key} stays with this one for a day), or post it whole to POST /v1/transcripts")
    return Conflict(f"live conversation {cid} has ended; {why}", "conversation_id")


def _differs(turn: dict[str, Any], new: dict[str, Any]) -> str | None:
    """The first field of a re-sent turn that is not as received (its text compared redacted), or None."""
    return next((k for k in ("role", "text", "start_ms", "end_ms", "asr_confidence") if turn.get(k) != new.get(k)),
                None)


def _changed_resend(k: int, seq: int, field: str, was: dict | None, now: dict, next_seq: int,
                    detail: bool) -> Conflict:
    """The 409 for a turn re-sent with other content. With ``detail`` (a caller that may read the
    conversation anyway) it names the turn's field and, for all but the text, both values; without, only
    ``utterances``, as a changed transcript resend does: named field by field, an ingest key (which may not
    read conversations) could test a guess at a turn's words, then at its times, one after another."""
    if not detail:
        return Conflict(f"utterances: a turn re-sent with a seq already received is not the turn received; "
                        f"re-send turns unchanged, or send new turns from seq {next_seq}", "utterances")
    values = "" if field == "text" or was is None else \
        f" ({field} {json.dumps(was.get(field))} then, {json.dumps(now[field])} now)"
    return Conflict(f"utterances[{k}]: seq {seq} was already received with another {field}{values}; "
                    f"re-send a turn unchanged, or send a new turn as seq {next_seq}", f"utterances[{k}].{field}")


def _incoming(rt: Runtime, cid: int, meta: dict, state: LiveState, items: list[LiveUtterance],
              detail: bool = True) -> tuple[list[dict], list[int]]:
    """The new turns (redacted, with arrival times) after checking every item's ``seq``; and the ``seq`` of
    those that were repeats of turns already received. Raises before anything is kept. A turn re-sent with other
    content is named with its field and the values that differ only with ``detail`` (see
    :func:`_changed_resend`)."""
    policy = pii.policy_for(rt.settings.pii, meta["source"])
    redact = (lambda text: pii.redact(text, policy)) if policy is not None else (lambda text: text)
    stored: list[dict] | None = None
    expected, now, new, repeats = state.last_seq + 1, time.time(), [], []
    last_start = state.last_start_ms
    for k, u in enumerate(items):
        if len(u.text) > rt.settings.api.max_text_chars:
            raise Invalid(f"utterances[{k}].text is {len(u.text)} characters; the limit is "
                          f"{rt.settings.api.max_text_chars} (QA_API__MAX_TEXT_CHARS)", f"utterances[{k}].text",
                          loc=("body", "utterances", k, "text"))
        turn = {"seq": u.seq, "role": u.role.value, "text": redact(u.text), "start_ms": u.start_ms,
                "end_ms": u.end_ms, "asr_confidence": u.asr_confidence, "at": now}
        if u.seq < expected and u.seq <= state.last_seq:
            stored = stored if stored is not None else live_repo.turns(rt.redis, cid)
            field = "text" if u.seq >= len(stored) else _differs(stored[u.seq], turn)
            if field is not None:
                raise _changed_resend(k, u.seq, field, stored[u.seq] if u.seq < len(stored) else None, turn,
                                      state.last_seq + 1, detail)
            repeats.append(u.seq)
        elif u.seq != expected:
            raise Conflict(f"utterances[{k}].seq is {u.seq}; the next expected is {expected} (send the turns in "
                           "order, none missing)", f"utterances[{k}].seq")
        else:
            if u.start_ms is not None:
                if last_start is not None and u.start_ms < last_start:
                    # As POST /v1/transcripts refuses it: the ended conversation must ingest as sent.
                    raise Invalid(f"utterances[{k}].start_ms goes backwards: {u.start_ms} is before the previous "
                                  f"utterance's start_ms {last_start}", f"utterances[{k}].start_ms",
                                  loc=("body", "utterances", k, "start_ms"))
                last_start = u.start_ms
            new.append(turn)
            expected += 1
    if state.turns + len(new) > rt.settings.api.max_utterances:
        raise Invalid(f"the conversation would have {state.turns + len(new)} utterances; the limit is "
                      f"{rt.settings.api.max_utterances} (QA_API__MAX_UTTERANCES)", "utterances")
    return new, repeats


@dataclass(frozen=True, slots=True)
class Appended:
    conversation_id: int
    accepted: int
    repeats: int
    alerts: list[LiveAlert]


def add_utterances(rt: Runtime, cid: int, items: list[LiveUtterance], team: str | None = None,
                   detail: bool = True) -> Appended:
    """Check new turns as they arrive and raise the alerts they call for (stored before this returns).
    ``detail``: whether a changed resend's 409 may name the turn's field and values (:func:`_changed_resend`)."""
    # Loaded before the conversation's lock is taken: the first turn after a start loads the models, and
    # must not hold its conversation (past the lock's lifetime, on a slow machine) while it does.
    live_checks, rules = checks(rt), list(_alert_rules_or_refuse(rt).values())
    with live_repo.hold(rt.redis, cid, last=WINDOW * 2,
                        wait_s=rt.settings.live.lock_timeout_s) as held:
        history = held.recent
        if held.found is None and (stored := _stored_or_none(rt, cid, team)) is not None:
            raise Conflict(f"live conversation {cid} has ended; it is transcript {stored} now and takes no more "
                           "turns", "conversation_id")
        meta, state = _open_state(cid, team, held.found)
        new, repeats = _incoming(rt, cid, meta, state, items, detail)
        if not new:
            return Appended(cid, 0, len(repeats), _raised_on(rt, cid, repeats))
        now = time.time()
        start = window(history + new, len(new), WINDOW)
        recent = (history + new)[start:]
        earlier = {role: n - sum(t["role"] == role for t in recent[:len(recent) - len(new)])
                   for role, n in state.by_role.items()}
        observations = live_checks.observe(recent, range(len(recent) - len(new), len(recent)),
                                          channel=meta["channel"], scenario=meta.get("scenario"), earlier=earlier,
                                          readings=role_readings(rules))
        fired = []
        for turn, obs in zip(new, observations):
            obs.index = turn["seq"]
            waited = advance(state, turn, meta["channel"])
            state.readings.update(obs.metrics)
            fired += evaluate(rules, state, obs, now=now, team=meta.get("team"), channel=meta["channel"])
            if waited is not None:  # the reply wait is a reading too (was: only the turn's own metrics were)
                state.readings.update(waited.metrics)
                fired += evaluate(rules, state, waited, now=now, team=meta.get("team"), channel=meta["channel"])
        stored = _store_alerts(rt, cid, meta, fired)
        live_repo.save(rt.redis, cid, state.as_dict(), new, now, state.waiting_since,
                       event={"type": "conversation", "id": cid, "team": meta.get("team")}, held=held)
    _announce(rt, cid, meta, stored, conversation=False)
    return Appended(cid, len(new), len(repeats), _raised_on(rt, cid, repeats) + stored)


def _raised_on(rt: Runtime, cid: int, seqs: list[int]) -> list[LiveAlert]:
    """The alerts already stored on turns re-sent (the same alert_id: raised and sent once), so a platform
    whose first request went unanswered still gets them. Was: a repeat answered ``alerts: []``."""
    if not seqs:
        return []
    with rt.session() as session:
        rows = alert_repo.list_alerts(session=session, conversation_ids=[cid], limit=500)
    return sorted((a for a in rows if a.utterance_index in set(seqs)), key=lambda a: a.id)


def _quote(text: str, matched: str | None) -> str:
    """The turn, cut to ``QUOTE_CHARS``; a long turn whose matched words lie past the cut is quoted from
    before them (``…`` marks the cut), so the quote shows what the alert is about."""
    if len(text) <= QUOTE_CHARS:
        return text
    at = text.find(matched) if matched else -1
    if at < 0 or at + len(matched) <= QUOTE_CHARS:
        return text[:QUOTE_CHARS]
    start = min(at, len(text) - QUOTE_CHARS + 1, max(1, at + len(matched) - QUOTE_CHARS + 1 + 20))
    return "…" + text[start:start + QUOTE_CHARS - 1]


def _store_alerts(rt: Runtime, cid: int, meta: dict, fired: list) -> list[LiveAlert]:
    if not fired:
        return []
    rows = [{"conversation_id": cid, "source": meta["source"], "external_id": meta["external_id"],
             "team_id": meta.get("team"), "agent_id": meta.get("agent_id"), "rule": f.rule.id,
             "severity": f.rule.severity, "message": f.rule.message, "utterance_index": f.index,
             "quote": _quote(f.quote or "", f.matched), "matched": f.matched[:QUOTE_CHARS] if f.matched else None,
             "value": None if f.value is None else round(float(f.value), 4)}
            for f in fired]
    with rt.session() as session:
        stored, deliveries = alert_repo.insert_alerts(session=session, rows=rows,
                                                      lease_until=utcnow() + timedelta(seconds=LEASE_S))
        jobs = Sender.jobs(deliveries)
    if jobs:
        sender(rt).send_now(jobs)
    return stored


def _announce(rt: Runtime, cid: int, meta: dict, alerts: list[LiveAlert], conversation: bool = True) -> None:
    if alerts:
        live_repo.wake_delivery(rt.redis)
        for a in alerts:
            live_repo.publish(rt.redis, {"type": "alert", "id": a.id, "conversation_id": cid, "team": a.team_id})
    if conversation:
        live_repo.publish(rt.redis, {"type": "conversation", "id": cid, "team": meta.get("team")})


@dataclass(frozen=True, slots=True)
class Ended:
    id: int
    transcript_id: int | None
    status: str


def end_conversation(rt: Runtime, cid: int, team: str | None = None, *, idle: bool = False) -> Ended:
    """The conversation becomes an ordinary transcript (stored, queued for the full pipeline). Its key
    stored meanwhile as another transcript is a conflict; ended ``idle`` (by the timer, nobody to tell)
    it then ends without a transcript, its turns dropped and logged, as a conflicting post is refused."""
    with live_repo.hold(rt.redis, cid, wait_s=rt.settings.live.lock_timeout_s) as held:
        found = held.found
        if found is None:  # gone from Redis (restarted empty, or ended over a day ago): the database may know
            return Ended(cid, _stored_as(rt, cid, team), "ended")
        meta, _, status, transcript_id = found
        check_team(team, meta.get("team"))
        if status != "open":
            return Ended(cid, transcript_id, status)
        turns = live_repo.turns(rt.redis, cid)
        if turns:
            header = {k: v for k, v in meta.items() if k in LiveConversationCreate.model_fields}
            # Opened without started_at: when it was opened (or, opened before that was kept, its first turn
            # came). Was: a transcript with no start time, left out of the per-day figures' start.
            header["started_at"] = header.get("started_at") or meta.get("opened_at") or \
                datetime.fromtimestamp(turns[0]["at"], UTC).isoformat()
            for k in ("agent_id", "team"):  # opened before such edges were refused (a conversation open across
                if isinstance(header.get(k), str):  # the upgrade): trimmed, or it could never end
                    header[k] = header[k].strip()
            body = TranscriptCreate(**header,
                                    utterances=[UtteranceCreate(role=t["role"], text=t["text"], start_ms=t["start_ms"],
                                                                end_ms=t["end_ms"], asr_confidence=t["asr_confidence"])
                                                for t in turns])
            [outcome], _ = ingest([(0, body)], runtime=rt)
            if outcome.status == "rejected":  # its key was erased on request while it went on
                live_repo.mark_ended(rt.redis, cid, None, (meta["source"], meta["external_id"]))
                if idle:
                    return Ended(cid, None, "ended")
                raise Gone(outcome.errors[0]["msg"], "external_id")
            if outcome.status == "conflict" and idle:
                log.warning("idle live conversation %s ended without a transcript: source=%r, external_id=%r "
                            "was stored meanwhile as transcript %s with other turns; its %d turns are dropped",
                            cid, meta["source"], meta["external_id"], outcome.id, len(turns))
                live_repo.mark_ended(rt.redis, cid, None, (meta["source"], meta["external_id"]))
                return Ended(cid, None, "ended")
            if outcome.status == "conflict":  # the key was posted whole meanwhile, with other turns
                raise Conflict(f"live conversation {cid} cannot end: source={meta['source']!r}, external_id="
                               f"{meta['external_id']!r} was stored meanwhile as transcript {outcome.id} with other "
                               "turns; its own turns are kept until it is ended idle", "external_id")
            transcript_id = outcome.id
            with rt.session() as session:
                alert_repo.set_transcript(session=session, conversation_id=cid, source=meta["source"],
                                          external_id=meta["external_id"], transcript_id=transcript_id)
                alert_repo.record_transcript(session=session, conversation_id=cid, transcript_id=transcript_id)
        live_repo.mark_ended(rt.redis, cid, transcript_id, (meta["source"], meta["external_id"]))
    live_repo.publish(rt.redis, {"type": "ended", "id": cid, "team": meta.get("team")})
    return Ended(cid, transcript_id, "ended")


def _stored_as(rt: Runtime, cid: int, team: str | None) -> int:
    """The transcript a live conversation Redis no longer holds became (the key's team's); a conversation that
    became none (lost while open, or ended without turns) is not found. Was: always a 404 once Redis had
    lost it, though a repeated ``/end`` of a stored conversation is answered with its transcript."""
    with rt.session() as session:
        stored = alert_repo.transcript_of(session=session, conversation_id=cid)
    if stored is None:
        raise NotFound(f"live conversation {cid} not found", "conversation_id")
    check_team(team, stored[1])
    return stored[0]


def _stored_or_none(rt: Runtime, cid: int, team: str | None) -> int | None:
    try:
        return _stored_as(rt, cid, team)
    except NotFound:
        return None


def sweep(rt: Runtime, now: float | None = None) -> tuple[int, int]:
    """The timers: a customer waiting for a reply past a threshold, a conversation idle past
    ``QA_LIVE__IDLE_TIMEOUT_S``. Returns (alerts raised, conversations ended)."""
    now = now or time.time()
    try:
        rules = alert_rules(rt)
    except RulePackError:  # no alert rules loaded yet: the idle timer still ends conversations
        rules = {}
    waits = {r.id: least for r in rules.values() if (least := wait_threshold(r)) is not None}
    raised = 0
    if waits:
        for cid, since in live_repo.waiting_since(rt.redis, now - min(waits.values())):
            raised += _wait_alerts(rt, cid, since, [rules[k] for k in waits], now)
    ended = 0
    for cid in live_repo.open_ids(rt.redis, idle_before=now - rt.settings.live.idle_timeout_s):
        try:
            end_conversation(rt, cid, idle=True)
            ended += 1
        except Exception:  # one bad conversation must not stop the timers
            log.exception("could not end idle live conversation %s", cid)
    return raised, ended


def _wait_alerts(rt: Runtime, cid: int, since: float, rules: list[AlertRule], now: float) -> int:
    with live_repo.hold(rt.redis, cid, wait_s=rt.settings.live.lock_timeout_s) as held:
        found = held.found
        if found is None or found[2] != "open":
            return 0
        meta, raw, _, _ = found
        state = LiveState.from_dict(raw)
        if state.waiting_since is None or state.waiting_index is None:
            return 0
        waiting = live_repo.turns(rt.redis, cid)[state.waiting_index]
        obs = Observation(index=state.waiting_index, role="wait", metrics={"reply_wait_s": now - since},
                          quote=waiting["text"])
        fired = evaluate(rules, state, obs, now=now, team=meta.get("team"), channel=meta["channel"])
        stored = _store_alerts(rt, cid, meta, fired)
        live_repo.set_state(rt.redis, cid, state.as_dict())
    _announce(rt, cid, meta, stored)
    return len(stored)


def board(rt: Runtime, team: str | None = None, now: float | None = None) -> list[dict[str, Any]]:
    """Open conversations (of ``team``), most recently active first, with their running readings."""
    now = now or time.time()
    out = []
    for cid in live_repo.open_ids(rt.redis):
        found = live_repo.load(rt.redis, cid)
        if found is None or (team is not None and found[0].get("team") != team):
            continue
        meta, raw, status, _ = found
        s = LiveState.from_dict(raw)
        out.append({"id": cid, "source": meta["source"], "external_id": meta["external_id"], "team": meta.get("team"),
                    "agent_id": meta.get("agent_id"), "channel": meta["channel"], "status": status,
                    "turns": s.turns, "alerts": s.alerts, "last_activity_s": None if s.last_at is None
                    else round(now - s.last_at, 1),
                    "waiting_s": None if s.waiting_since is None else round(now - s.waiting_since, 1),
                    "readings": {k: round(v, 3) for k, v in s.readings.items()}})
    return out
