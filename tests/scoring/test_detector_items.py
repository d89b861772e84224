"""The detectors' second stage: conversation items read from all the heads together (ends negative, an
objection left unhandled), stored in the model's config, and how the scorers use them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qa_service.config import ScoringSettings
from qa_service.errors import ConfigError
from qa_service.evaluation.run import transcript_of
from qa_service.scoring.detectors.detector import DetectedObjection, Detections, Detector
from qa_service.scoring.detectors.items import ENDS_NEGATIVE, FEATURES, OBJECTION_UNHANDLED, Item, summaries
from qa_service.scoring.detectors.model import DetectorModel
from qa_service.scoring.mood import ending_negative
from qa_service.scoring.objection import unhandled_calls
from qa_service.scoring.pipeline import Pipeline
from tests.scoring.test_detectors import GOOD, POOR, SAMPLE


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline.from_settings(ScoringSettings()).initialize()


def test_the_shipped_model_carries_both_items_fitted_on_the_summaries():
    model = Detector().initialize().model
    assert set(model.items) == {ENDS_NEGATIVE, OBJECTION_UNHANDLED}
    for item in model.items.values():
        assert item.coef.shape == item.mean.shape == item.scale.shape == (len(FEATURES),)
        assert 0.05 <= item.threshold <= 0.95 and (item.scale > 0).all()


def test_a_clear_complaint_ends_negative_with_an_objection_unhandled_and_a_good_chat_neither(pipeline):
    poor, good = transcript_of(SAMPLE[POOR], {}), transcript_of(SAMPLE[GOOD], {})
    dp, dg = (c.detections for c in pipeline.contexts([poor, good]))
    for name in (ENDS_NEGATIVE, OBJECTION_UNHANDLED):
        assert dp.conversation[name]["yes"] >= dp.thresholds[name] > dg.conversation[name]["yes"]
    report = pipeline.score(poor)
    ends = next(f for f in report.findings if f.rule_id == "detector.customer-ends-negative")
    assert ends.probability == pytest.approx(dp.conversation[ENDS_NEGATIVE]["yes"], abs=1e-4)
    assert ends.quote == poor.utterances[ends.utterance_index].text[:120] and ends.role.value == "customer"
    assert report.dimensions["sentiment"].metrics["end_sentiment"] == "negative"
    good_report = pipeline.score(good)
    assert good_report.dimensions["sentiment"].metrics["end_sentiment"] != "negative"
    assert not [f for f in good_report.findings if f.rule_id == "detector.objection-unhandled"]


def _objection(unhandled: float, turn: int) -> DetectedObjection:
    return DetectedObjection(turns=[turn], probability=0.9, type="quality",
                             handling={"yes": 1 - unhandled, "partial": 0.0, "no": unhandled}, answers=[])


def _detections(item: float | None, *unhandled: float) -> Detections:
    det = Detections(objections=[_objection(u, k) for k, u in enumerate(unhandled)], thresholds={"handling": 0.6})
    if item is not None:
        det.conversation[OBJECTION_UNHANDLED] = {"yes": item}
        det.thresholds[OBJECTION_UNHANDLED] = 0.4
    return det


def test_the_unhandled_item_decides_and_its_likeliest_objection_carries_the_call():
    assert unhandled_calls(_detections(None, 0.7, 0.3)) == [(0.7, 0.6), None]  # no item: each objection's own
    assert unhandled_calls(_detections(0.3, 0.7, 0.3)) == [None, None]  # the conversation says no: none is
    assert unhandled_calls(_detections(0.5, 0.2, 0.3)) == [None, (0.5, 0.4)]  # yes: the likeliest one
    assert unhandled_calls(_detections(0.5, 0.65, 0.68)) == [(0.65, 0.6), (0.5, 0.4)]  # and any over its own bar
    # the likeliest keeps its own call when that is the surer one (a borderline item must not send a
    # confident call to review), and takes the item's when the item is surer
    assert unhandled_calls(_detections(0.45, 0.2, 0.9)) == [None, (0.9, 0.6)]
    assert unhandled_calls(_detections(0.9, 0.62)) == [(0.9, 0.4)]
    assert unhandled_calls(_detections(0.9)) == []  # no objection found: nothing to point at


def test_ends_negative_reads_the_item_and_falls_back_to_the_end_head_without_one():
    det = Detections(conversation={"end_sentiment": {"positive": 0.2, "neutral": 0.3, "negative": 0.5}},
                     thresholds={"end_sentiment": 0.45})
    assert ending_negative(det) == (0.5, 0.45)
    det.conversation[ENDS_NEGATIVE] = {"yes": 0.3}
    det.thresholds[ENDS_NEGATIVE] = 0.35
    assert ending_negative(det) == (0.3, 0.35)


def test_item_probability_is_a_standardised_logistic_regression_and_survives_save_and_load(tmp_path):
    model = Detector().initialize().model
    item = model.items[ENDS_NEGATIVE]
    x = np.linspace(0.0, 2.0, len(FEATURES))
    by_hand = 1 / (1 + np.exp(-(sum(c * (min(v, hi) - m) / s for c, v, m, s, hi
                                    in zip(item.coef, x, item.mean, item.scale, item.clip)) + item.bias)))
    assert item.probabilities(x)[0] == pytest.approx(by_hand)
    model.save(tmp_path)
    again = DetectorModel.load(tmp_path).items[ENDS_NEGATIVE]
    assert again.threshold == item.threshold and again.probabilities(x)[0] == pytest.approx(by_hand, abs=1e-5)


def test_a_model_without_items_scores_from_the_single_heads(pipeline):
    shipped = Detector().initialize().model
    bare = DetectorModel(shipped.name, shipped.version, shipped.buckets, shipped.heads, shipped.meta)
    t = transcript_of(SAMPLE[POOR], {})
    det = Detector(model=bare).detect([t], [None])[0]
    assert ENDS_NEGATIVE not in det.conversation and OBJECTION_UNHANDLED not in det.conversation
    assert summaries([], det).shape == (len(FEATURES),)


def test_an_empty_batch_has_no_detections():
    assert Detector().detect([], []) == []


def test_a_very_long_conversation_is_read_no_further_than_the_training_conversations_went():
    item = Detector().initialize().model.items[ENDS_NEGATIVE]
    at_clip = item.clip.copy()
    far = at_clip * 10 + 5  # sums and counts of a conversation ten times longer than any fitted one
    assert item.probabilities(far)[0] == pytest.approx(item.probabilities(at_clip)[0])
    assert (item.clip[[FEATURES.index(f) for f in ("neg_sum", "obj_sum", "n_objections")]] > 1).all()


def test_items_fitted_on_other_features_are_refused(tmp_path):
    Detector().initialize().model.save(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))
    config["items"][ENDS_NEGATIVE]["features"] = list(reversed(FEATURES))
    (tmp_path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ConfigError, match="conversation items"):
        DetectorModel.load(tmp_path)
    assert isinstance(Item.from_json(OBJECTION_UNHANDLED, config["items"][OBJECTION_UNHANDLED]), Item)
    config["items"][ENDS_NEGATIVE]["features"] = list(FEATURES)
    config["items"][ENDS_NEGATIVE]["coef"] = config["items"][ENDS_NEGATIVE]["coef"][:-1]
    (tmp_path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ConfigError, match="must hold 23 numbers"):
        DetectorModel.load(tmp_path)
