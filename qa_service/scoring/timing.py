"""Call and chat timing, only when every turn carries ``start_ms`` (else the dimension is left out).

Metrics for both channels: first-response latency, reply latency per customer → agent change
(mean, p90, max — the response-time KPI), silences over ``silence_ms`` and their rate per minute
(停顿频率), interruptions (the agent starts more than ``overlap_ms`` before the customer ends),
agent speech rate in characters per minute. Deductions follow the channel: chat is charged for
slow first responses and slow replies; calls for dead air before the agent speaks, interruptions
and a speech rate outside the pack's band. Each finding sits on the turn it charges and goes through the
ASR gate (``ScoringContext.settle``) before the cap, as every scorer's do: on a turn heard under
``QA_SCORING__MIN_ASR_CONFIDENCE`` it costs nothing (a speech rate is counted from the recogniser's characters).
"""

from __future__ import annotations

import re

from qa_service.domain import Channel, DimensionScore, Finding, Flag, Role, Severity, Transcript, Utterance
from qa_service.rules.schema import TimingSettings
from qa_service.scoring.base import ScoringContext, capped
from qa_service.scoring.rulebased import dimension_score

SPOKEN_CHAR = re.compile(r"[\w]")
QUOTE_CHARS = 60
MS_PER_MIN = 60_000


def _end(u: Utterance) -> int:
    return u.end_ms if u.end_ms is not None else u.start_ms


def _p90(values: list[int]) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]


def _speech_rate(turns: list[Utterance]) -> tuple[float | None, int, Utterance | None, Utterance | None]:
    """The agent's speech rate (characters/minute over timed agent turns), the time spoken, and the
    slowest and fastest agent turns."""
    agent_chars = agent_ms = 0
    slowest = fastest = None
    for u in turns:
        if u.role != Role.agent or u.end_ms is None or u.end_ms <= u.start_ms:
            continue
        chars = len(SPOKEN_CHAR.findall(u.text))
        agent_chars += chars
        agent_ms += u.end_ms - u.start_ms
        rate = chars * MS_PER_MIN / (u.end_ms - u.start_ms)
        if slowest is None or rate < slowest[1]:
            slowest = (u, rate)
        if fastest is None or rate > fastest[1]:
            fastest = (u, rate)
    rate = round(agent_chars * MS_PER_MIN / agent_ms, 1) if agent_ms else None
    return rate, agent_ms, slowest[0] if slowest else None, fastest[0] if fastest else None


class TimingScorer:
    name = "timing"
    version = "1"
    default_weight = 0.0  # weighed by the pack's scorecard, else not at all

    def initialize(self) -> None:
        """Nothing to load."""

    def score(self, transcript: Transcript, context: ScoringContext | None = None) -> DimensionScore:
        """Without a context (no pack), the default timing targets apply."""
        spec = context.pack.pack.spec if context is not None else None
        cfg = spec.timing if spec is not None else TimingSettings()
        start = spec.scorecard.start if spec is not None else 100.0
        turns = [u for u in transcript.utterances if u.role in (Role.agent, Role.customer) and u.text.strip()]
        if not turns or any(u.start_ms is None for u in turns):
            return DimensionScore(self.name, 100.0, self.version, metrics={"applicable": False}, applicable=False)
        turns.sort(key=lambda u: (u.start_ms, u.index))
        is_call = transcript.channel == Channel.call
        findings: list[Finding] = []

        def charge(u: Utterance, rule: str, points: float, message: str, severity=Severity.minor) -> None:
            quote = u.text[:QUOTE_CHARS]
            findings.append(Finding(self.name, f"timing.{rule}", u.index, (0, len(quote)), quote, points,
                                    severity, u.role, message))

        t0 = turns[0].start_ms
        first_agent = next((u for u in turns if u.role == Role.agent), None)
        first_customer = next((u for u in turns if u.role == Role.customer), None)
        first_response_ms, first_charged = None, False
        if first_agent is not None:
            if first_customer is not None and first_customer.start_ms <= first_agent.start_ms:
                first_response_ms = max(0, first_agent.start_ms - _end(first_customer))
            else:
                first_response_ms = first_agent.start_ms - t0
            if not is_call and first_response_ms > cfg.first_response_ms:
                first_charged = True
                charge(first_agent, "slow-first-response", cfg.points_slow_first_response,
                       f"首次响应 {first_response_ms / 1000:.0f} 秒，超过 {cfg.first_response_ms / 1000:.0f} 秒")

        replies, interruptions, silences = [], 0, []
        latest_end = _end(turns[0])
        for prev, cur in zip(turns, turns[1:]):
            gap = cur.start_ms - latest_end
            if prev.role == Role.customer and cur.role == Role.agent:
                latency = cur.start_ms - _end(prev)
                replies.append(max(0, latency))
                if is_call and latency < -cfg.overlap_ms:
                    interruptions += 1
                    charge(cur, "interruption", cfg.points_interruption,
                           f"抢话：客户未说完（重叠 {-latency / 1000:.1f} 秒）坐席即开口")
                elif not is_call and latency > cfg.reply_ms and not (first_charged and cur is first_agent):  # once
                    charge(cur, "slow-reply", cfg.points_slow_reply,
                           f"回复等待 {latency / 1000:.0f} 秒，超过 {cfg.reply_ms / 1000:.0f} 秒")
            if gap > cfg.silence_ms:
                silences.append(gap)
                if is_call and cur.role == Role.agent:
                    charge(cur, "silence", cfg.points_silence, f"静音 {gap / 1000:.1f} 秒后坐席才开口")
            latest_end = max(latest_end, _end(cur))

        duration_ms = max(latest_end - t0, 1)
        speech_rate, agent_ms, slowest, fastest = _speech_rate(turns)
        lo, hi = cfg.speech_rate_cpm
        if is_call and speech_rate is not None and agent_ms >= 10_000 and not lo <= speech_rate <= hi:
            charge(fastest if speech_rate > hi else slowest, "speech-rate", cfg.points_speech_rate,
                   f"语速 {speech_rate:.0f} 字/分钟，不在 {lo}–{hi} 范围内")
        findings = capped(findings if context is None else context.settle(transcript, findings), cfg.cap)
        flags = []
        if interruptions >= 3:
            flags.append(Flag("frequent_interruptions", Severity.minor, f"抢话 {interruptions} 次"))
        return DimensionScore(
            name=self.name, score=dimension_score(start, findings), version=self.version, start=start,
            findings=findings, flags=flags,
            metrics={
                "applicable": True,
                "duration_ms": duration_ms,
                "first_response_ms": first_response_ms,
                "reply_latency_ms": {
                    "n": len(replies),
                    "mean": round(sum(replies) / len(replies)) if replies else None,
                    "p90": _p90(replies) if replies else None,
                    "max": max(replies) if replies else None,
                },
                "silences": {"count": len(silences), "per_min": round(len(silences) * MS_PER_MIN / duration_ms, 2),
                             "longest_ms": max(silences) if silences else 0},
                "interruptions": interruptions,
                "agent_speech_rate_cpm": speech_rate,
            },
        )
