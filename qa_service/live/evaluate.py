"""Which alerts a live observation raises: pure functions over the conversation's small state.

An :class:`Observation` is what the checks read on one new turn (or what a timer measured): metric
values and rule hits. :func:`evaluate` applies the alert rules — threshold streaks, rule hits,
either of several conditions, cooldowns, teams, channel — and returns what fires, updating the
:class:`LiveState` in place.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from qa_service.rules.alerts import CONVERSATION_METRICS, AlertRule, Condition


@dataclass(slots=True)
class RuleHit:
    rule_id: str
    fatal: bool
    quote: str


@dataclass(slots=True)
class Observation:
    """What was measured: on turn ``index`` (its ``role``), or by a timer (``role`` = "wait")."""

    index: int | None
    role: str
    metrics: dict[str, float] = field(default_factory=dict)
    rule_hits: list[RuleHit] = field(default_factory=list)
    quote: str = ""
    customer_index: int | None = None  # the customer's latest turn so far (this one, or before it) …
    customer_quote: str = ""  # … and what they said: where an alert on the conversation's metrics rests


@dataclass(slots=True)
class LiveState:
    """Bounded per conversation: a few numbers per alert rule and the latest readings."""

    last_seq: int = -1
    turns: int = 0
    last_at: float | None = None  # arrival of the last turn (unix seconds)
    last_end_ms: int | None = None  # its end (or start) on the conversation's own clock
    last_start_ms: int | None = None  # the latest start_ms sent (a later turn may not start before it)
    waiting_since: float | None = None  # the customer has waited for a reply since (arrival time)
    waiting_ms: int | None = None  # … since this point on the conversation's clock
    waiting_index: int | None = None
    waiting_quote: str | None = None  # what they said (the start of it): the alert quotes it
    streaks: dict[str, int] = field(default_factory=dict)
    cooldown_until: dict[str, float] = field(default_factory=dict)
    readings: dict[str, float] = field(default_factory=dict)  # the latest value of every metric (the board)
    alerts: int = 0
    by_role: dict[str, int] = field(default_factory=dict)  # turns so far per role

    def as_dict(self) -> dict[str, Any]:
        # by hand: dataclasses.asdict deep-copies every value, a cost on each live turn
        return {name: dict(v) if isinstance(v := getattr(self, name), dict) else v for name in self.__slots__}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> LiveState:
        return cls(**{k: v for k, v in raw.items() if k in cls.__slots__})


@dataclass(slots=True)
class Fired:
    rule: AlertRule
    index: int | None
    value: float | None
    quote: str  # the turn the alert rests on (its start, for a wait)
    matched: str | None = None  # the words a rule matched in it (a rule's alert)


def _measured(cond: Condition, obs: Observation) -> bool:
    on = cond.measured_on
    return on == "any" or on == obs.role


def _branch(rule: AlertRule, key: str, cond: Condition, state: LiveState, obs: Observation,
            channel: str) -> Fired | None:
    """Whether one condition of ``rule`` fires on this observation (its streak, under ``key``, updated)."""
    if state.turns < cond.min_turns or cond.channel not in (None, channel):
        return None
    if cond.metric is not None:
        if cond.metric not in obs.metrics or not _measured(cond, obs):
            return None
        value = obs.metrics[cond.metric]
        streak = state.streaks.get(key, 0) + 1 if cond.holds(value) else 0
        state.streaks[key] = streak
        if streak < cond.times:
            return None
        if cond.metric in CONVERSATION_METRICS and obs.customer_index is not None:
            # the customer's latest turn: 预测满意度很低 beside the agent's apology read as if the apology were it
            return Fired(rule, obs.customer_index, value, obs.customer_quote)
        return Fired(rule, obs.index, value, obs.quote)
    for h in obs.rule_hits:
        if (cond.rule is not None and h.rule_id == cond.reading) or (cond.fatal_rule and h.fatal):
            # The turn, as every alert quotes it, and the words matched beside it. Was: the matched
            # words alone (你自己去, for 我怎么知道，你自己去问快递，别来烦我).
            return Fired(rule, obs.index, None, obs.quote, h.quote)
    return None


def evaluate(rules: Iterable[AlertRule], state: LiveState, obs: Observation, *, now: float, team: str | None,
             channel: str) -> list[Fired]:
    """Alerts this observation raises (cooldowns and streaks in ``state`` are updated). An alert with
    ``any:`` conditions fires once, on the first of them that fires (every one's streak is kept)."""
    fired: list[Fired] = []
    for rule in rules:
        if not rule.applies_to(team, channel) or state.turns < rule.when.min_turns:
            continue
        hit: Fired | None = None
        for key, cond in rule.when.branches(rule.id):
            got = _branch(rule, key, cond, state, obs, channel)
            hit = hit or got
        if hit is None or now < state.cooldown_until.get(rule.id, 0.0):
            continue
        state.cooldown_until[rule.id] = now + rule.cooldown_s
        state.alerts += 1
        fired.append(hit)
    return fired


QUOTE_CHARS = 200


def advance(state: LiveState, turn: dict[str, Any], channel: str = "chat") -> Observation | None:
    """Move the state past a turn; an agent's answer to a waiting customer returns how long they waited.

    The wait starts when the customer's turn ends (its ``end_ms``, as the timing scorer measures a reply;
    from its start, a 65-second complaint on a call counted as 66 seconds of waiting). In a chat it runs
    from the first unanswered message; on a call a customer still talking is not waiting, so it runs from
    the end of their latest turn."""
    state.turns += 1
    state.by_role[turn["role"]] = state.by_role.get(turn["role"], 0) + 1
    state.last_seq = turn["seq"]
    state.last_at = turn["at"]
    state.last_end_ms = turn["end_ms"] if turn["end_ms"] is not None else turn["start_ms"]
    if turn["start_ms"] is not None:
        state.last_start_ms = turn["start_ms"]
    if turn["role"] == "customer" and (state.waiting_since is None or channel == "call"):
        state.waiting_since, state.waiting_ms, state.waiting_index = turn["at"], state.last_end_ms, turn["seq"]
        state.waiting_quote = turn["text"][:QUOTE_CHARS]
        return None
    if turn["role"] == "agent" and state.waiting_since is not None:
        if turn["start_ms"] is not None and state.waiting_ms is not None:
            wait = (turn["start_ms"] - state.waiting_ms) / 1000
        else:
            wait = turn["at"] - state.waiting_since
        obs = Observation(index=state.waiting_index, role="wait", metrics={"reply_wait_s": max(0.0, wait)},
                          quote=state.waiting_quote or "")
        state.waiting_since = state.waiting_ms = state.waiting_index = state.waiting_quote = None
        return obs
    return None
