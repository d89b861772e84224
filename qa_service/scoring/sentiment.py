"""Sentiment and emotion per utterance, and how the customer's mood moves (客户情感指数).

Per utterance (customer and agent, one batch per transcript): positive probability, emotion,
valence. Per conversation: the customer's sentiment at the start and end and the shift
(情感转化), the minimum and where it was, the share of negative turns, the strongest anger and
where it was, agent negativity, and a predicted satisfaction score (0–100).

Score (100 at best): −40 × how far the customer ends below neutral, −20 × how far the mood
fell. Flags: the customer ends strongly negative; anger rises over the conversation.

Two guards against the model's domain shift (it learned polarity from reviews and emotion from
Weibo), both found by reading its output on the real dialogues:
* turns with fewer than ``MIN_CHARS`` letters that the model finds negative (没有了, 没了, 不用了,
  ?) answer "anything else?" and carry no mood; they are left out of the trajectory (short
  thanks such as 谢谢 stay: they are the clearest signal of a satisfied customer);
* agent turns are measured (``agent.negative_share``, ``agent.anger_max``) but never cost points
  or raise flags: on agents' stock phrases (请问还有什么可以帮您的吗?) the emotion head reads
  anger. Agent language is scored by the lexicon (negativity.v1) until a model trained on
  service talk exists.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from statistics import mean

from qa_service.domain import (PII_PLACEHOLDER, DimensionScore, Finding, Flag, Role, Severity, Transcript,
                               Utterance)
from qa_service.scoring.base import ScoringContext
from qa_service.scoring.sentiment_backend import SentimentBackend, load_backend
from qa_service.scoring.sentiment_model import SentimentPrediction

NEGATIVE_VALENCE = -0.3          # a turn at or below this counts as negative
STRONGLY_NEGATIVE_VALENCE = -0.5
ENDS_NEGATIVE_VALENCE = -0.5     # flag when the customer's closing mood is at or below this …
ENDS_ANGRY_PROB = 0.3            # … and the last turn has at least this much anger (a plain question
                                 # reads negative to a review-trained head; read off the demo sample)
ANGRY_PROB = 0.6
EDGE_TURNS = 2                   # start/end = mean of the first/last two customer turns (one if < 4 turns)
MIN_CHARS = 4                    # shorter turns carry no mood for the trajectory


@dataclass(frozen=True, slots=True)
class Scored:
    utterance: Utterance
    prediction: SentimentPrediction

    @property
    def valence(self) -> float:
        return self.prediction.valence

    @property
    def anger(self) -> float:
        return self.prediction.prob("angry")


SATISFACTION_FILE = Path(__file__).with_name("satisfaction.json")
FEATURES = ("start", "end", "mean", "min", "negative_share", "anger_max", "anger_end",
            "agent_negative_share", "turns")


def satisfaction_features(metrics: dict) -> list[float]:
    c = metrics["customer"]
    values = {**c, "agent_negative_share": metrics["agent"]["negative_share"], "turns": min(c["turns"], 10) / 10}
    return [float(values[name]) for name in FEATURES]


@lru_cache(maxsize=1)
def _satisfaction_weights() -> tuple[list[float], float]:
    spec = json.loads(SATISFACTION_FILE.read_text(encoding="utf-8"))
    if tuple(spec["features"]) != FEATURES:
        raise ValueError(f"{SATISFACTION_FILE} was fitted on other features; rerun scripts/eval_satisfaction.py")
    return spec["coef"], spec["intercept"]


def predict_satisfaction(metrics: dict) -> float:
    """0–100 from the customer's trajectory: a linear model of the mean annotator satisfaction.

    Weights in satisfaction.json, fitted on half of stc3_dch1 by scripts/eval_satisfaction.py,
    which also reports the Spearman correlation on the other half. S in [-2, 2] maps to 0–100.
    """
    coef, intercept = _satisfaction_weights()
    s = intercept + sum(c * f for c, f in zip(coef, satisfaction_features(metrics)))
    return round(max(0.0, min(100.0, 50 + 25 * s)), 1)


def _mood_text(text: str) -> str:
    """The words that can carry a mood: redaction placeholders ([手机号] …) removed."""
    return PII_PLACEHOLDER.sub("", text)


def _informative(s: Scored) -> bool:
    """Long enough to judge, or a short turn the model finds positive (谢谢, 好的, 辛苦了): short
    negatives are mostly answers (没有了, 不用了), not moods; placeholders do not count."""
    return sum(ch.isalnum() for ch in _mood_text(s.utterance.text)) >= MIN_CHARS or s.valence > 0


class SentimentScorer:
    name = "sentiment"
    version = "1"
    default_weight = 0.0  # weighed by the pack's scorecard, else not at all

    def __init__(self, *, backend_spec: str | None = None, backend: SentimentBackend | None = None,
                 satisfaction: bool = True):
        self.backend_spec = backend_spec
        self.backend = backend
        self.satisfaction = satisfaction

    def initialize(self) -> None:
        """Load the model now, so a missing or corrupt model fails at worker start, not mid-job."""
        if self.backend is None:
            self.backend = load_backend(self.backend_spec)

    def predict(self, utterances: list[Utterance]) -> list[Scored]:
        if self.backend is None:
            self.initialize()
        preds = self.backend.predict([_mood_text(u.text) for u in utterances]) if utterances else []
        return [Scored(u, p) for u, p in zip(utterances, preds)]

    @staticmethod
    def _turns(transcript: Transcript) -> list[Utterance]:
        return [u for u in transcript.utterances
                if u.role in (Role.customer, Role.agent) and _mood_text(u.text).strip(" ,.，。、；;:：")]

    def score(self, transcript: Transcript, context: ScoringContext | None = None) -> DimensionScore:
        return self._score(self.predict(self._turns(transcript)))

    def score_batch(self, transcripts: Sequence[Transcript], contexts: Sequence[ScoringContext] | None = None
                    ) -> list[DimensionScore]:
        """Score several transcripts with one model batch over all their turns (a worker with a backlog)."""
        turns = [self._turns(t) for t in transcripts]
        flat = self.predict([u for ts in turns for u in ts])
        out, i = [], 0
        for ts in turns:
            out.append(self._score(flat[i : i + len(ts)]))
            i += len(ts)
        return out

    def _score(self, scored: list[Scored]) -> DimensionScore:
        customer = [s for s in scored if s.utterance.role == Role.customer and _informative(s)]
        agent = [s for s in scored if s.utterance.role == Role.agent and _informative(s)]
        findings: list[Finding] = []
        flags: list[Flag] = []
        metrics: dict = {
            "backend": getattr(self.backend, "name", "?"),
            "utterances": [
                {"seq": s.utterance.index, "role": s.utterance.role.value,
                 "positive_prob": round(s.prediction.positive_prob, 4), "emotion": s.prediction.emotion,
                 "valence": round(s.valence, 4)}
                for s in scored
            ],
        }
        score = 100.0
        agent_negative_share = (
            sum(s.anger >= ANGRY_PROB and s.valence <= NEGATIVE_VALENCE for s in agent) / len(agent) if agent else 0.0
        )
        metrics["agent"] = {"negative_share": round(agent_negative_share, 4),
                            "anger_max": round(max((s.anger for s in agent), default=0.0), 4)}
        if customer:
            v = [s.valence for s in customer]
            k = EDGE_TURNS if len(v) >= 2 * EDGE_TURNS else 1
            start = mean(v[:k])
            end = mean(v[-k:])
            low = min(v)
            low_at = customer[v.index(low)].utterance.index
            angriest = max(customer, key=lambda s: s.anger)
            negative_share = sum(x <= NEGATIVE_VALENCE for x in v) / len(v)
            metrics["customer"] = {
                "start": round(start, 4), "end": round(end, 4), "shift": round(end - start, 4),
                "min": round(low, 4), "min_at": low_at, "mean": round(mean(v), 4),
                "negative_share": round(negative_share, 4),
                "anger_max": round(angriest.anger, 4), "anger_at": angriest.utterance.index,
                "turns": len(customer),
            }
            metrics["customer"]["anger_end"] = round(customer[-1].anger, 4)
            if self.satisfaction:
                metrics["satisfaction"] = predict_satisfaction(metrics)
            score -= 40.0 * min(1.0, max(0.0, -end))
            score -= 20.0 * min(1.0, max(0.0, start - end) / 0.5) if len(customer) > 1 else 0.0
            for s in customer:
                if s.valence <= STRONGLY_NEGATIVE_VALENCE:
                    findings.append(self._finding(s, "sentiment.customer-negative", 0.0, Severity.info,
                                                  f"客户情绪负面（{s.prediction.emotion}）"))
            if end <= ENDS_NEGATIVE_VALENCE and customer[-1].anger >= ENDS_ANGRY_PROB:
                flags.append(Flag("customer_ends_negative", Severity.major,
                                  f"客户结束时情绪负面：{end:.2f}（开始 {start:.2f}）"))
            first_anger, last_anger = customer[0].anger, customer[-1].anger
            if len(customer) > 1 and last_anger >= 0.5 and last_anger - first_anger >= 0.3:
                flags.append(Flag("anger_rising", Severity.major,
                                  f"客户愤怒上升：{first_anger:.2f} → {last_anger:.2f}"))
        return DimensionScore(name=self.name, score=round(max(0.0, score), 2), version=self.version,
                              findings=findings, flags=flags, metrics=metrics)

    def _finding(self, s: Scored, rule_id: str, points: float, severity: Severity, message: str) -> Finding:
        text = s.utterance.text
        return Finding(dimension=self.name, rule_id=rule_id, utterance_index=s.utterance.index, span=(0, len(text)),
                       quote=text, points=points, severity=severity, role=s.utterance.role, message=message)
