"""Sentiment backends: the shipped hybrid model, a user's own HF classifier directory, or snownlp.

Every backend turns a batch of texts into ``SentimentPrediction``s. Loading never touches the
network: only existing local directories are accepted (a hub name is rejected before
``transformers`` sees it) and everything loads with ``local_files_only=True``.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Protocol

import torch

from qa_service.config import enforce_offline_hub
from qa_service.errors import ConfigError
from qa_service.scoring.sentiment_model import Featurizer, SentimentPrediction, load_hybrid

DEFAULT_MODEL_DIRNAME = "sentiment-zh"
HYBRID_MODEL_TYPE = "qa-hybrid-sentiment"


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
        path = _existing_dir(path)
        try:
            config, self.model = load_hybrid(path)
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


_forked: SentimentBackend | None = None  # the backend a forked child predicts with (inherited, not pickled)


def _child_init() -> None:
    # A forked child inherits the parent's Python signal handlers (an rq worker's or a server's SIGTERM
    # handler only sets a flag): then Pool.terminate's SIGTERM does not end it and the pool's exit
    # waits forever. The child takes the defaults; Ctrl-C is the parent's to handle.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)


def _child_predict(texts: list[str]) -> list[SentimentPrediction]:
    return _forked.predict(texts)  # type: ignore[union-attr]


def predict_chunks(backend: SentimentBackend, texts: Sequence[str], *, processes: int = 1,
                   chunk: int = 2048) -> Iterator[list[SentimentPrediction]]:
    """Predictions for consecutive chunks of ``texts``, in order. With ``processes`` > 1 (and ``fork``
    available) forked children share the loaded model and each runs one torch thread: on small
    matrices two processes outrun two threads of one. Nothing is predicted in this process before
    the fork (OpenMP does not survive a fork mid-use)."""
    import multiprocessing

    chunks = [list(texts[i:i + chunk]) for i in range(0, len(texts), chunk)]
    if processes <= 1 or len(chunks) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        for c in chunks:
            yield backend.predict(c)
        return
    global _forked
    _forked = backend
    pool = multiprocessing.get_context("fork").Pool(min(processes, len(chunks)), initializer=_child_init)
    try:
        yield from pool.imap(_child_predict, chunks)
        # Each child ends at the pool's sentinel. Not terminate(): its SIGTERM can reach a child that has
        # not yet run _child_init (a loaded machine: the other child did every chunk), whose inherited
        # handler only sets a flag; that child then waits on the task queue and the join never returns.
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
        _forked = None


def load_backend(spec: str | Path | None) -> SentimentBackend:
    """The shipped model by default; ``"hybrid"``, ``"lexical"``, ``"snownlp"``, or a local directory.

    The default takes polarity from the model's lexical branch and emotion from the whole model:
    on the held-out reviews that measured best at >= 50x snownlp's speed (scripts/eval_sentiment.py).
    """
    if spec in (None, "", "default", "hybrid", "lexical") and not default_model_dir().is_dir():
        raise ConfigError(f"the sentiment model is not at its default place {default_model_dir()} (a source "
                          "checkout's models/sentiment-zh; an installed package has none): set "
                          "QA_SCORING__SENTIMENT_MODEL to that folder (the Docker image's is /app/models/sentiment-zh)")
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
    if model_type == HYBRID_MODEL_TYPE:
        return HybridBackend(path)
    return HFClassifierBackend(path)
