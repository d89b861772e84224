"""Alert rules' examples run through the live checks, as ``qa rules check`` does."""

from __future__ import annotations

from qa_service.live.checks import LiveChecks
from qa_service.live.evaluate import LiveState, advance, evaluate
from qa_service.rules.alerts import AlertRule, role_readings, rule_problems

DEFAULT_GAP_S = 2.0  # seconds between example turns that give no wait_s


def first_fire(rule: AlertRule, turns: list[dict], checks: LiveChecks) -> int | None:
    """The turn (0-based) where ``rule`` first fires on a conversation arriving one turn at a time."""
    state, sent, at = LiveState(), [], 0.0
    team = rule.teams[0] if rule.teams else None
    channel = rule.when.channel or "chat"
    readings = role_readings([rule])
    for i, t in enumerate(turns):
        at += t.get("wait_s") if t.get("wait_s") is not None else DEFAULT_GAP_S
        turn = {"seq": i, "role": t["role"], "text": t["text"], "start_ms": None, "end_ms": None,
                "asr_confidence": None, "at": at}
        sent.append(turn)
        [obs] = checks.observe(sent, [i], channel=channel, scenario=None, readings=readings)
        waited = advance(state, turn)
        fired = evaluate([rule], state, obs, now=at, team=team, channel=channel)
        if waited is not None:
            fired += evaluate([rule], state, waited, now=at, team=team, channel=channel)
        if fired:
            return i
    return None


def check_examples(rules: dict[str, AlertRule], checks: LiveChecks) -> list[str]:
    """Every ``rule:`` names a rule of the packs that the live checks read (L004, L005), and every example
    fires where it says (L010); an empty list when all agree."""
    known = {r.id: r.spec for pack in checks.pipeline.rulebook.packs.values() for r in pack.pack.rules}
    bad = rule_problems(rules, known)
    problems = [f"{code} {alert.id}: {problem} ({fix})" for alert, code, problem, fix in bad]
    for rule in rules.values():
        if any(alert is rule for alert, *_ in bad):
            continue
        for k, example in enumerate(rule.examples):
            got = first_fire(rule, [t.model_dump() for t in example.turns], checks)
            if got != example.fires_at:
                want = "never" if example.fires_at is None else f"at turn {example.fires_at}"
                seen = "never" if got is None else f"at turn {got}"
                problems.append(f"L010 {rule.id} example {k + 1}: expected to fire {want}, fired {seen}")
    return problems
