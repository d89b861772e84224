"""Run the learned detectors over transcripts, in one batch: what each turn and each conversation shows.

Turn heads: ``objection``, ``negative``, ``angry``, ``escalation`` (customer turns), ``apology``, ``rude``
(agent turns). Consecutive customer turns called objections, with no agent turn between, are one
objection; the ``handling`` head reads it with the agent turns that answer it and the ``objection_type``
head names its kind. Conversation heads: ``greeting``, ``closing``, ``end_sentiment``, ``resolved``.
Then, when the model has them, the second stage's conversation items (``items.py``: ``ends_negative``,
``objection_unhandled``), each read from all the heads' probabilities together.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa_service.domain import Role, Transcript
from qa_service.errors import ConfigError
from qa_service.rules.engine import PackMatch
from qa_service.scoring.detectors import examples as ex
from qa_service.scoring.detectors.features import TurnView
from qa_service.scoring.detectors.items import summaries
from qa_service.scoring.detectors.model import DetectorModel

CUSTOMER_HEADS = ("objection", "negative", "angry", "escalation")
AGENT_HEADS = ("apology", "rude")
# A source checkout's models/ (an installed package has none: the Docker image sets QA_SCORING__DETECTOR_MODEL).
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[3] / "models" / "qa-detectors"


@dataclass(slots=True)
class DetectedObjection:
    turns: list[int]
    probability: float  # the strongest of its turns
    type: str
    handling: dict[str, float]  # yes / partial / no → probability
    answers: list[int]

    @property
    def unhandled(self) -> float:
        return self.handling.get("no", 0.0)


def excess(probability: float, floor: float) -> float:
    """How far ``probability`` is above ``floor``, on a 0–1 scale (0 at or under the floor, 1 at 1)."""
    return max(0.0, probability - floor) / (1.0 - floor)


@dataclass(slots=True)
class Detections:
    turns: dict[str, dict[int, float]] = field(default_factory=dict)  # head → turn index → P(yes)
    objections: list[DetectedObjection] = field(default_factory=list)
    conversation: dict[str, dict[str, float]] = field(default_factory=dict)  # head → class → probability
    thresholds: dict[str, float] = field(default_factory=dict)
    model: str = ""

    def hits(self, head: str) -> list[tuple[int, float]]:
        """Turns where ``head`` is called (probability at or above its threshold), in order."""
        th = self.thresholds.get(head, 0.5)
        return [(i, p) for i, p in sorted(self.turns.get(head, {}).items()) if p >= th]

    def graded(self, head: str, floor: float, cap: float, exempt: Collection[int] = ()
               ) -> list[tuple[int, float, float]]:
        """(turn, probability, amount) for each turn where ``head``'s probability is above ``floor``, in
        order: the amount is how far above (``excess``), the amounts together at most ``cap``; a turn in
        ``exempt`` (going to review, not to the score) keeps its whole amount and uses none of the cap."""
        out, total = [], 0.0
        for i, p in sorted(self.turns.get(head, {}).items()):
            if i in exempt:
                amount = excess(p, floor)
            else:
                amount = min(excess(p, floor), cap - total)
                total += max(amount, 0.0)
            if amount > 0:
                out.append((i, p, amount))
        return out

    def called(self, head: str) -> bool:
        """A conversation head's yes/no call."""
        return self.conversation.get(head, {}).get("yes", 0.0) >= self.thresholds.get(head, 0.5)


def turn_tags(match: PackMatch | None) -> dict[int, set[str]]:
    """Rule tags that hit each turn (the pack's phrase knowledge, as features)."""
    out: dict[int, set[str]] = {}
    if match is None:
        return out
    for rule in match.pack.rules:
        tag = rule.spec.tag
        if not tag:
            continue
        for t in match.hits.get(rule.id, {}):
            out.setdefault(t, set()).add(tag)
    return out


class Detector:
    def __init__(self, directory: Path | None = None, *, model: DetectorModel | None = None):
        self.directory = Path(directory) if directory else DEFAULT_MODEL_DIR
        self.model = model

    def initialize(self) -> Detector:
        if self.model is None:
            if self.directory == DEFAULT_MODEL_DIR and not self.directory.is_dir():
                raise ConfigError(
                    f"the detector model is not at its default place {self.directory} (a source checkout's "
                    "models/qa-detectors; an installed package has none): set QA_SCORING__DETECTOR_MODEL to that "
                    "folder (the Docker image's is /app/models/qa-detectors), or none to turn the detectors off")
            self.model = DetectorModel.load(self.directory)
        return self

    def detect(self, transcripts: Sequence[Transcript], matches: Sequence[PackMatch | None]) -> list[Detections]:
        """Detections for each transcript; every head runs once over the whole batch."""
        model = self.initialize().model
        b = model.buckets
        views = [TurnView.of(t) for t in transcripts]
        tags = [turn_tags(m) for m in matches]
        out = [Detections(thresholds={n: h.threshold for n, h in model.heads.items() if h.threshold is not None},
                          model=model.tag) for _ in transcripts]
        for role, heads in ((Role.customer, CUSTOMER_HEADS), (Role.agent, AGENT_HEADS)):
            where = [(k, i) for k, v in enumerate(views)
                     for i in (v.customer_turns if role == Role.customer else v.agent_turns)]
            bags = [ex.turn_example(views[k], i, tags[k].get(i, ()), b) for k, i in where]
            for head in heads:
                probs = model.heads[head].probabilities(bags)[:, 0]
                for (k, i), p in zip(where, probs):
                    out[k].turns.setdefault(head, {})[i] = float(p)
        self._objections(views, tags, out, model)
        for head, build in (("greeting", ex.greeting_example), ("closing", ex.closing_example),
                            ("end_sentiment", ex.ending_example), ("resolved", ex.ending_example)):
            h = model.heads[head]
            probs = h.probabilities([build(v, tg, b) for v, tg in zip(views, tags)])
            for k, row in enumerate(probs):
                out[k].conversation[head] = dict(zip(h.classes, map(float, row)))
        if model.items and out:
            x = np.stack([summaries(v.customer_turns, d) for v, d in zip(views, out)])
            for name, item in model.items.items():
                for d, p in zip(out, item.probabilities(x)):
                    d.conversation[name] = {"yes": float(p)}
                    d.thresholds[name] = item.threshold
        return out

    def detect_latest(self, transcript: Transcript, match: PackMatch | None, new: Sequence[int],
                      earlier: Mapping[Role, int]) -> Detections:
        """Live checks: the turn heads of the ``new`` turns of a recent window of a conversation, and its
        end-sentiment and resolved heads as if it ended now. ``earlier`` counts each side's turns
        before the window, so a turn's position among its side (first, second …) is the conversation's."""
        model = self.initialize().model
        b = model.buckets
        view = TurnView.of(transcript)
        view.agent_turns = list(range(-earlier.get(Role.agent, 0), 0)) + view.agent_turns
        view.customer_turns = list(range(-earlier.get(Role.customer, 0), 0)) + view.customer_turns
        tags = turn_tags(match)
        out = Detections(thresholds={n: h.threshold for n, h in model.heads.items() if h.threshold is not None},
                         model=model.tag)
        for i in new:
            heads = {Role.customer: CUSTOMER_HEADS, Role.agent: AGENT_HEADS}.get(view.roles[i], ())
            if not heads or not view.texts[i]:
                continue
            bag = ex.turn_example(view, i, tags.get(i, ()), b)
            for head in heads:
                out.turns.setdefault(head, {})[i] = float(model.heads[head].probabilities([bag])[0, 0])
        if view.customer_turns:
            ending = ex.ending_example(view, tags, b)
            for head in ("end_sentiment", "resolved"):
                h = model.heads[head]
                out.conversation[head] = dict(zip(h.classes, map(float, h.probabilities([ending])[0])))
        return out

    @staticmethod
    def _objections(views: list[TurnView], tags: list[dict[int, set[str]]], out: list[Detections],
                    model: DetectorModel) -> None:
        found: list[tuple[int, list[int], float]] = []
        for k, det in enumerate(out):
            group: list[int] = []
            best = 0.0
            for i, p in det.hits("objection"):
                if group and any(j in views[k].agent_turns for j in range(group[-1] + 1, i)):
                    found.append((k, group, best))
                    group, best = [], 0.0
                group.append(i)
                best = max(best, p)
            if group:
                found.append((k, group, best))
        if not found:
            return
        b = model.buckets
        handling = model.heads["handling"].probabilities(
            [ex.handling_example(views[k], g, tags[k], b) for k, g, _ in found])
        kinds = model.heads["objection_type"]
        types = kinds.probabilities([ex.turn_example(views[k], g[0], tags[k].get(g[0], ()), b) for k, g, _ in found])
        for (k, g, p), hp, tp in zip(found, handling, types):
            out[k].objections.append(DetectedObjection(
                turns=g, probability=p, type=kinds.classes[int(tp.argmax())],
                handling=dict(zip(model.heads["handling"].classes, map(float, hp))),
                answers=ex.answer_turns(views[k], g)))
