"""The cheap parts of the pipeline, run on each new turn of a live conversation.

Given a recent window of the conversation (the new turns and a few before them, with how many turns
each side had before the window) :meth:`LiveChecks.observe` reads, per new turn: hits of the rule pack's
``hit`` and ``detect`` rules that can decide on one turn (forbidden wording, over-promising, complaint
threats; negation-aware), and of rules an alert reads on the other side's turns, the customer's anger, negative
emotion and escalation threat, the agent's rudeness (the learned detectors of ``sentiment.v2``,
trained on how QA reviewers read service chat), the agent's negative words (the lexicon), the
silence before the turn, and the conversation's running predicted satisfaction and resolution
likelihood (the detectors' conversation heads, as the full report computes them). The work per turn
does not grow with the conversation: only the window is matched and only the new turns are read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from qa_service.domain import Channel, Role, Transcript, Utterance
from qa_service.live.evaluate import Observation, RuleHit
from qa_service.rules.alerts import live_problem
from qa_service.rules.loader import PackRule, RulePack
from qa_service.rules.schema import RuleRole
from qa_service.scoring.mood import satisfaction
from qa_service.scoring.negativity import NegativityScorer
from qa_service.scoring.pipeline import Pipeline

log = logging.getLogger(__name__)


class LiveChecks:
    def __init__(self, pipeline: Pipeline):
        self.pipeline = pipeline.initialize()
        self.negativity = next((s for s in pipeline.scorers if isinstance(s, NegativityScorer)), None)

    def observe(self, turns: Sequence[dict[str, Any]], new: Sequence[int], *, channel: str,
                scenario: str | None, earlier: dict[str, int] | None = None,
                readings: Iterable[tuple[str, str]] = ()) -> list[Observation]:
        """One observation per new turn (``new``: positions in ``turns``, the window); ``earlier``: turns
        per role before the window; ``readings``: (rule id, role) of rules also read on that side's turns
        (an alert's ``role:``), reported as ``id@role``."""
        utterances = tuple(Utterance(i, Role(t["role"]), t["text"], t.get("start_ms"), t.get("end_ms"),
                                     t.get("asr_confidence")) for i, t in enumerate(turns))
        transcript = Transcript(utterances=utterances, channel=Channel(channel), scenario=scenario)
        pack = self.pipeline.rulebook.pack_for(transcript)
        # Rules about the conversation's first or last turns, and required ones (what was never said), wait
        # for the full report (an alert naming one is refused: rules.alerts.live_problem). Every other rule,
        # hit or detect, is read: an alert may name a detect rule (general.objection-complaint, the report's
        # escalation_threat). Was: only deducting or fatal hit rules, and such an alert never fired.
        # Required rules are still matched: the detectors read every rule's hits as features.
        extra = _read_as(pack.pack, readings)
        rules = [r for r in pack.pack.rules if live_problem(r.spec) is None] + extra
        # A regex past its time budget finds nothing here (logged) rather than refusing the turn; the
        # full report raises it (R009) and the transcript ends failed with the error.
        match = pack.match(transcript, [r for r in pack.pack.rules if r.spec.window is None] + extra,
                           skip_slow=True)
        for error in match.skipped:
            log.warning("live checks: %s (and %d regex conditions after it not run on this turn)", error,
                        match.not_run)
        detections = None
        if self.pipeline.detector is not None:
            detections = self.pipeline.detector.detect_latest(
                transcript, match, new, {Role(k): v for k, v in (earlier or {}).items()})
        conversation: dict[str, float] = {}
        if detections is not None and {"end_sentiment", "resolved"} <= detections.conversation.keys():
            end, resolved = detections.conversation["end_sentiment"], detections.conversation["resolved"]
            conversation["predicted_satisfaction"] = satisfaction(end, resolved)
            conversation["resolution_likelihood"] = resolved.get("yes", 0.0)
        out = []
        for i in new:
            u = utterances[i]
            obs = Observation(index=i, role=u.role.value, metrics=dict(conversation), quote=u.text)
            said = next((j for j in range(i, -1, -1) if utterances[j].role == Role.customer), None)
            if said is not None:  # the window holds the customer's last turns (window())
                obs.customer_index, obs.customer_quote = turns[said].get("seq", said), utterances[said].text
            for rule in rules:
                for span in (match.hits.get(rule.id) or {}).get(i, []):
                    obs.rule_hits.append(RuleHit(rule.id, rule.spec.fatal, match.turns[i].quote(span)[1]))
                    break
            turn = lambda head: detections.turns.get(head, {}).get(i) if detections else None  # noqa: E731
            if u.role == Role.customer:
                for metric, head in (("customer_anger", "angry"), ("customer_negative", "negative"),
                                     ("escalation", "escalation")):
                    if turn(head) is not None:
                        obs.metrics[metric] = turn(head)
            elif u.role == Role.agent:
                if turn("rude") is not None:
                    obs.metrics["agent_rude"] = turn("rude")
                if self.negativity is not None:
                    obs.metrics["agent_negative_words"] = float(len(self.negativity.match(u)[0]))
            if i > 0:
                obs.metrics["silence_s"] = silence_s(turns[i - 1], turns[i])
            out.append(obs)
        return out


def _read_as(pack: RulePack, readings: Iterable[tuple[str, str]]) -> list[PackRule]:
    """The rules an alert reads on another side's turns, as rules of that role (``id@role``, never fatal:
    a customer saying the agent's forbidden words is no fatal item of the agent's)."""
    out = []
    for rule_id, role in sorted(readings):
        rule = pack.by_id.get(rule_id)
        if rule is not None and live_problem(rule.spec) is None:
            spec = rule.spec.model_copy(update={"role": RuleRole(role), "fatal": False})
            out.append(PackRule(f"{rule_id}@{role}", rule.pack, spec, rule.path))
    return out


def silence_s(before: dict[str, Any], turn: dict[str, Any]) -> float:
    """Seconds between two turns: on the conversation's clock when both carry times, else by arrival."""
    if turn.get("start_ms") is not None and (before.get("end_ms") or before.get("start_ms")) is not None:
        return max(0.0, (turn["start_ms"] - (before.get("end_ms") or before["start_ms"])) / 1000)
    return max(0.0, turn["at"] - before["at"])


def window(turns: Sequence[dict[str, Any]], new: int, size: int) -> int:
    """Where the checks' window starts in ``turns`` (the last ``new`` of which are new): ``size`` turns
    back, further if needed to hold the customer's last two turns and the agent's last one."""
    start = max(0, len(turns) - max(size, new))
    while start > 0:
        kept = turns[start:]
        if sum(t["role"] == "customer" for t in kept) >= 2 and any(t["role"] == "agent" for t in kept):
            break
        start -= 1
    return start
