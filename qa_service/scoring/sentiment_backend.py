"""Sentiment backends: the shipped hybrid model, a user's own HF classifier directory, or snownlp.

Every backend turns a batch of texts into ``SentimentPrediction``s. Loading never touches the
network: only existing local directories are accepted (a hub name is rejected before
``transformers`` sees it) and everything loads with ``local_files_only=True``.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Protocol

import torch

from qa_service.config import enforce_offline_hub
from qa_service.errors import ConfigError
from qa_service.scoring.sentiment_model import (
    Featurizer,
    HybridSentimentConfig,
    HybridSentimentModel,
    SentimentPrediction,
)

DEFAULT_MODEL_DIRNAME = "sentiment-zh"


class SentimentBackend(Protocol):
    name: str

    def predict(self, texts: Sequence[str]) -> list[SentimentPrediction]: ...


def default_model_dir() -> Path:
    """``models/sentiment-zh`` of a source checkout, or the copy installed with the package."""
    repo = Path(__file__).resolve().parents[2] / "models" / DEFAULT_MODEL_DIRNAME
    if repo.is_dir():
        return repo
    return Path(str(resources.files("qa_service").joinpath("models", DEFAULT_MODEL_DIRNAME)))


def _existing_dir(path: Path | str) -> Path:
    p = Path(path).expanduser()
    if not p.is_dir():
        raise ConfigError(
            f"sentiment model {str(path)!r} is not an existing directory; give a local directory "
            "(hub names are never downloaded), or 'snownlp'"
        )
    if not (p / "config.json").is_file():
        raise ConfigError(f"sentiment model directory {p} has no config.json")
    return p


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def _batches(texts: Sequence[str], size: int):
    """Index batches grouped by length (less padding), in original order afterwards."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for i in range(0, len(order), size):
        yield order[i : i + size]


class HybridBackend:
    """The shipped model (character transformer + TF-IDF n-gram branch)."""

    name = "hybrid"

    def __init__(self, path: Path, *, batch_size: int = 256, lexical_only: bool = False,
                 lexical_polarity: bool = False):
        enforce_offline_hub()
        path = _existing_dir(path)
        _quiet_transformers()
        try:
            config = HybridSentimentConfig.from_pretrained(path, local_files_only=True)
            self.model = HybridSentimentModel.from_pretrained(
                path, local_files_only=True, dtype=torch.float32
            ).eval()
            vocab = (path / "vocab.txt").read_text(encoding="utf-8").split("\n")
        except Exception as exc:  # safetensors, torch and transformers each raise their own kinds
            raise ConfigError(f"cannot load the sentiment model in {path}: {exc}") from exc
        self.config = config
        self.featurizer = Featurizer.for_config(vocab, config, idf=self.model.idf.numpy())
        self.batch_size = batch_size
        self.lexical_only = lexical_only or config.num_layers == 0
        if self.lexical_only:
            self.name = "lexical"
        self.emotions = list(config.emotion_labels)
        # Polarity from the lexical branch, emotion from the whole model (see models/sentiment-zh/README.md).
        self.lexical_polarity = lexical_polarity and not self.lexical_only

    @torch.inference_mode()
    def predict(self, texts: Sequence[str]) -> list[SentimentPrediction]:
        out: list[SentimentPrediction | None] = [None] * len(texts)
        for idx in _batches(texts, self.batch_size):
            inputs = self.featurizer.batch([texts[i] for i in idx])
            lexical = self.model.lexical_logits(inputs["ngram_ids"], inputs["ngram_weights"], inputs["ngram_offsets"])
            if self.lexical_only:
                pol, emo = lexical[:, :2], lexical[:, 2:]
            else:
                full = lexical + self.model.encoder_logits(inputs["char_ids"])
                pol = lexical[:, :2] if self.lexical_polarity else full[:, :2]
                emo = full[:, 2:]
            pos = torch.softmax(pol, -1)[:, 1].tolist()
            emo_p = torch.softmax(emo, -1)
            best_p, best = emo_p.max(-1)
            rows = emo_p.tolist()
            for j, i in enumerate(idx):
                out[i] = SentimentPrediction(pos[j], self.emotions[best[j]], float(best_p[j]), tuple(rows[j]))
        return out  # type: ignore[return-value]


class HFClassifierBackend:
    """Any local Hugging Face sequence-classification directory with a label map (polarity only)."""

    name = "hf"

    def __init__(self, path: Path, *, batch_size: int = 64):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        enforce_offline_hub()
        path = _existing_dir(path)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            self.model = AutoModelForSequenceClassification.from_pretrained(path, local_files_only=True).eval()
        except Exception as exc:  # safetensors, torch and transformers each raise their own kinds
            raise ConfigError(f"cannot load the sentiment model in {path}: {exc}") from exc
        labels = {int(k): str(v).lower() for k, v in self.model.config.id2label.items()}
        positive = [i for i, name in labels.items() if name.startswith("pos") or name in ("1", "label_1")]
        if len(labels) != 2 or len(positive) != 1:
            raise ConfigError(f"{path}: need a 2-label classifier with a positive label, got id2label={labels}")
        self.positive = positive[0]
        self.batch_size = batch_size

    @torch.inference_mode()
    def predict(self, texts: Sequence[str]) -> list[SentimentPrediction]:
        out: list[SentimentPrediction | None] = [None] * len(texts)
        for idx in _batches(texts, self.batch_size):
            enc = self.tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=256,
                                 return_tensors="pt")
            probs = torch.softmax(self.model(**enc).logits, -1)[:, self.positive].tolist()
            for j, i in enumerate(idx):
                out[i] = SentimentPrediction(probs[j], "neutral", 0.0)
        return out  # type: ignore[return-value]


class SnowNLPBackend:
    """snownlp's review-trained Bayes classifier: the stack's baseline (no emotion)."""

    name = "snownlp"

    def __init__(self):
        from snownlp import SnowNLP

        self._snow = SnowNLP

    def predict(self, texts: Sequence[str]) -> list[SentimentPrediction]:
        return [SentimentPrediction(float(self._snow(t).sentiments) if t.strip() else 0.5, "neutral", 0.0)
                for t in texts]


def load_backend(spec: str | Path | None) -> SentimentBackend:
    """The shipped model by default; ``"hybrid"``, ``"lexical"``, ``"snownlp"``, or a local directory.

    The default takes polarity from the model's lexical branch and emotion from the whole model:
    on the held-out reviews that measured best at >= 50x snownlp's speed (scripts/eval_sentiment.py).
    """
    if spec in (None, "", "default"):
        return HybridBackend(default_model_dir(), lexical_polarity=True)
    if str(spec) == "hybrid":
        return HybridBackend(default_model_dir())
    if str(spec) == "lexical":
        return HybridBackend(default_model_dir(), lexical_only=True)
    if str(spec) == "snownlp":
        return SnowNLPBackend()
    path = _existing_dir(spec)
    import json

    model_type = json.loads((path / "config.json").read_text(encoding="utf-8")).get("model_type")
    if model_type == HybridSentimentConfig.model_type:
        return HybridBackend(path)
    return HFClassifierBackend(path)
