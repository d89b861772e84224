"""The ASR gate covers every scorer's findings, timing's too: a real mobile-operator call (mobilecs, from the
demo sample) given turn timings, scored by the configured pipeline (found by an API probe, 2026-11-29:
``timing.speech-rate`` cost −3 on a turn heard at ASR confidence 0.3, not flagged ``uncertain``)."""

from __future__ import annotations

import pytest

from qa_service.config import ScoringSettings
from qa_service.demo import load_sample
from qa_service.domain import Channel, Role, Transcript, Utterance
from qa_service.scoring.pipeline import Pipeline
from qa_service.scoring.timing import SPOKEN_CHAR

GATE = ScoringSettings().min_asr_confidence  # 0.6


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline.from_settings(ScoringSettings()).initialize()


@pytest.fixture(scope="module")
def call() -> dict:
    return next(r for r in load_sample() if r["source"] == "demo:mobilecs_examples")


def timed(call: dict, asr: dict[int, float] | None = None, default: float = 0.9) -> Transcript:
    """The call's turns one after another, 0.5 s apart: the agent at 500 characters a minute (the pack's
    band is 180–330), its longest turn at 600; the customer at 250."""
    agent = [i for i, u in enumerate(call["utterances"]) if u["role"] == "agent"]
    longest = max(agent, key=lambda i: len(SPOKEN_CHAR.findall(call["utterances"][i]["text"])))
    out, t = [], 0
    for i, u in enumerate(call["utterances"]):
        cpm = 250 if u["role"] == "customer" else (600 if i == longest else 500)
        ms = max(200, len(SPOKEN_CHAR.findall(u["text"])) * 60_000 // cpm)
        out.append(Utterance(i, Role(u["role"]), u["text"], t, t + ms, (asr or {}).get(i, default)))
        t += ms + 500
    return Transcript(tuple(out), channel=Channel.call, source=call["source"], external_id=call["external_id"])


def fastest_agent_turn(t: Transcript) -> int:
    return max((u for u in t.utterances if u.role == Role.agent),
               key=lambda u: len(SPOKEN_CHAR.findall(u.text)) / (u.end_ms - u.start_ms)).index


def test_a_speech_rate_counted_on_a_turn_heard_below_the_gate_goes_to_review(pipeline, call):
    heard = timed(call)
    turn = fastest_agent_turn(heard)
    [sure] = [f for f in pipeline.score(heard).findings if f.rule_id == "timing.speech-rate"]
    assert sure.utterance_index == turn and sure.points < 0 and not sure.uncertain

    unsure = pipeline.score(timed(call, {turn: 0.44}))  # the probe's real call: utterance 8 at 0.44
    [gated] = [f for f in unsure.findings if f.rule_id == "timing.speech-rate"]
    assert gated.utterance_index == turn and gated.points == 0 and gated.uncertain
    assert unsure.dimensions["timing"].score == 100.0
    assert "uncertain" in {f.reason for f in unsure.flags}


def test_no_finding_of_any_scorer_costs_points_on_a_call_heard_below_the_gate(pipeline, call):
    sure = pipeline.score(timed(call))
    assert {d for d, dim in sure.dimensions.items() if any(f.points for f in dim.findings)} >= {"timing"}
    report = pipeline.score(timed(call, default=GATE - 0.3))
    assert report.findings and all(f.uncertain for f in report.findings if f.points or f.uncertain)
    assert [(f.rule_id, f.points) for f in report.findings if f.points] == []
    assert all(dim.score == dim.start for dim in report.dimensions.values() if dim.applicable
               and dim.name in {f.dimension for f in report.findings})
