"""The customer's mood (客户情绪), read by detectors trained on labelled service chat: negative and angry
turns, escalation threats (投诉/差评/12315/媒体), how the customer ends, whether the issue was resolved,
and a predicted satisfaction. Registered as ``sentiment.v2``; ``sentiment.v1`` (the review-trained
model) stays available, and ``qa sentiment`` still uses it for review sentences.
"""

from __future__ import annotations

from qa_service.domain import DimensionScore, Flag, Role, Severity, Transcript
from qa_service.errors import ConfigError
from qa_service.scoring.base import DETECTOR_CAP, ScoringContext, capped
from qa_service.scoring.detectors.items import ENDS_NEGATIVE
from qa_service.scoring.learned import graded_turns, learned_finding, spoken, utterance_at
from qa_service.scoring.rulebased import dimension_score
from qa_service.scoring.titles import TITLES


#: P(the customer does not end positive) at which ``detector.customer-not-satisfied`` is called.
NOT_SATISFIED_THRESHOLD = 0.5
#: Units of ``customer_negativity`` a conversation can cost at most (a unit: one customer turn surely negative).
NEGATIVITY_CAP = 3.0


def satisfaction(end: dict[str, float], resolved: dict[str, float]) -> float:
    """Predicted satisfaction 0–100: how the customer ends (positive 1, neutral ½) and whether it was resolved."""
    mood = end.get("positive", 0.0) + 0.5 * end.get("neutral", 0.0)
    solved = resolved.get("yes", 0.0) + 0.5 * resolved.get("unknown", 0.0)
    return round(100 * (0.6 * mood + 0.4 * solved), 1)


def ending_negative(det) -> tuple[float, float]:
    """P(the customer ends negative) and the threshold it is called at: the second stage's item, which
    reads the whole conversation's heads, when the model has it; else the end-sentiment head alone."""
    item = det.conversation.get(ENDS_NEGATIVE)
    if item is not None:
        return item["yes"], det.thresholds[ENDS_NEGATIVE]
    return det.conversation["end_sentiment"].get("negative", 0.0), det.thresholds["end_sentiment"]


class MoodScorer:
    name = "sentiment"
    version = "2"
    default_weight = 0.0  # weighed by the pack's scorecard, else not at all

    def initialize(self) -> None:
        """Nothing of its own to load: the pipeline's detectors read the turns."""

    def score(self, transcript: Transcript, context: ScoringContext) -> DimensionScore:
        det = context.detections
        if det is None:
            raise ConfigError("sentiment.v2 needs the learned detectors (QA_SCORING__DETECTOR_MODEL is none)")
        pts = context.pack.pack.spec.detectors
        negative, angry, escalation = det.hits("negative"), det.hits("angry"), det.hits("escalation")
        end, resolved = det.conversation["end_sentiment"], det.conversation["resolved"]
        p_end, th_end = ending_negative(det)
        ends_negative = p_end >= th_end
        # the label agrees with the call: not "negative" when the call says no (the likelier of the others)
        end_label = "negative" if ends_negative else max((k for k in end if k != "negative"), key=end.get,
                                                           default="neutral")
        customer = spoken(transcript, Role.customer)
        findings = []
        for i, p in negative:
            findings.append(learned_finding(context, utterance_at(transcript, i), dimension=self.name,
                                            rule_id="detector.customer-negative", points=0.0, probability=p,
                                            threshold=det.thresholds["negative"], severity=Severity.info,
                                            message=TITLES["detector.customer-negative"]))
        learned = []
        if escalation:
            i, p = escalation[0]
            learned.append(learned_finding(context, utterance_at(transcript, i), dimension=self.name,
                                           rule_id="detector.escalation", points=pts.escalation, probability=p,
                                           threshold=det.thresholds["escalation"],
                                           message=TITLES["detector.escalation"]))
        if angry:
            i, p = angry[0]
            learned.append(learned_finding(context, utterance_at(transcript, i), dimension=self.name,
                                           rule_id="detector.customer-angry", points=pts.customer_angry,
                                           probability=p, threshold=det.thresholds["angry"],
                                           message=TITLES["detector.customer-angry"]))
        if len(negative) >= 2:
            i, p = negative[1]
            learned.append(learned_finding(context, utterance_at(transcript, i), dimension=self.name,
                                           rule_id="detector.customer-negative-repeated",
                                           points=pts.customer_negative_repeated, probability=p,
                                           threshold=det.thresholds["negative"], message=TITLES["detector.customer-negative-repeated"]))
        if ends_negative and customer:
            learned.append(learned_finding(context, customer[-1], dimension=self.name,
                                           rule_id="detector.customer-ends-negative", points=pts.customer_ends_negative,
                                           probability=p_end, threshold=th_end,
                                           message=TITLES["detector.customer-ends-negative"]))
        not_satisfied = 1.0 - end.get("positive", 0.0)
        if not_satisfied >= NOT_SATISFIED_THRESHOLD and customer and not ends_negative:
            learned.append(learned_finding(context, customer[-1], dimension=self.name,
                                           rule_id="detector.customer-not-satisfied",
                                           points=pts.customer_not_satisfied, probability=not_satisfied,
                                           threshold=NOT_SATISFIED_THRESHOLD,
                                           severity=Severity.minor, message=TITLES["detector.customer-not-satisfied"]))
        graded, load = graded_turns(context, transcript, "negative", NEGATIVITY_CAP, dimension=self.name,
                                    rule_id="detector.customer-negativity", points_per_unit=pts.customer_negativity,
                                    message=TITLES["detector.customer-negativity"])
        learned += graded
        findings = context.settle(transcript, findings) + capped(context.settle(transcript, learned), pts.cap,
                                                                               explain=DETECTOR_CAP)
        flags = []
        for f in findings:
            if f.rule_id == "detector.escalation" and not f.uncertain:
                flags.append(Flag("escalation_threat", Severity.major, f"客户投诉升级风险：{f.quote[:40]}"))
            if f.rule_id == "detector.customer-ends-negative" and not f.uncertain:
                flags.append(Flag("customer_ends_negative", Severity.major, f"客户结束时情绪负面：{f.quote[:40]}"))
        if angry:
            flags.append(Flag("customer_angry", Severity.minor, f"客户愤怒 {len(angry)} 次"))
        metrics = {
            "negative_turns": [i for i, _ in negative], "angry_turns": [i for i, _ in angry],
            "escalation_turns": [i for i, _ in escalation], "end_sentiment": end_label,
            "end_probabilities": {k: round(v, 4) for k, v in end.items()},
            "resolved": max(resolved, key=resolved.get),
            "resolved_probabilities": {k: round(v, 4) for k, v in resolved.items()},
            "satisfaction": satisfaction(end, resolved),
            "negativity_load": round(load, 4),
            "utterances": [{"seq": u.index, "role": u.role.value,
                            "negative_prob": round(det.turns["negative"].get(u.index, 0.0), 4),
                            "valence": round(1 - 2 * det.turns["negative"].get(u.index, 0.0), 4)} for u in customer],
        }
        return DimensionScore(name=self.name, score=dimension_score(context.pack.pack.spec.scorecard.start, findings),
                              start=context.pack.pack.spec.scorecard.start, version=self.version, findings=findings, flags=flags, metrics=metrics)
