"""Labelled sentiment and emotion data from ../shared/data, with the project's fixed split.

Split: by hash of the text alone (identical texts always fall on the same side), 10% test,
10% dev, 80% train; applied within each corpus, so every corpus is held out in proportion.
The test split is never used for training or model selection.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

BINARY = ("chnsenticorp", "chnsenticorp_htl_all", "waimai_10k", "online_shopping_10_cats", "weibo_senti_100k_sample")
EMOTION = ("smp2020_ewect", "nlpcc2013_emotion")
# Six emotions; nlpcc2013's eight labels folded in: like/happiness → happy, disgust/anger → angry.
EMOTION_MAP = {
    "neutral": "neutral", "none": "neutral",
    "happy": "happy", "happiness": "happy", "like": "happy",
    "angry": "angry", "anger": "angry", "disgust": "angry",
    "sad": "sad", "sadness": "sad",
    "fear": "fear",
    "surprise": "surprise",
}


@dataclass(frozen=True, slots=True)
class Example:
    corpus: str
    text: str
    polarity: int | None  # 1 positive, 0 negative
    emotion: str | None
    split: str


def split_of(text: str) -> str:
    bucket = int(hashlib.sha1(("qa-sentiment-split-v1|" + text).encode("utf-8")).hexdigest()[:8], 16) % 100
    return "test" if bucket < 10 else "dev" if bucket < 20 else "train"


def load(data_dir: Path) -> list[Example]:
    out = []
    for corpus in BINARY:
        with open(data_dir / corpus / f"{corpus}.csv", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                text = (row["text"] or "").strip()
                if text:
                    out.append(Example(corpus, text, int(row["label"]), None, split_of(text)))
    for corpus in EMOTION:
        with open(data_dir / corpus / f"{corpus}.csv", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                text = (row["text"] or "").strip()
                if text and row["label"] in EMOTION_MAP:
                    out.append(Example(corpus, text, None, EMOTION_MAP[row["label"]], split_of(text)))
    return out
