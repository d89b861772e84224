"""The shipped sentiment/emotion model: a small character transformer plus a hashed n-gram bag.

Its directory is a ``transformers`` model (``config.json`` with ``model_type="qa-hybrid-sentiment"``,
weights in safetensors; ``sentiment_hf.py`` registers it with ``AutoModel`` for training and export),
but the service loads it as a plain ``torch`` module (:func:`load_hybrid`): importing
``transformers`` cost a command two and a half seconds before its first sentence.

Two branches whose logits add up:
* lexical: character 1–3-grams hashed into buckets with TF-IDF weights (sublinear tf × idf,
  L2-normalised) into a linear layer, an ``EmbeddingBag`` fitted as a logistic regression;
* encoder: characters (a vocabulary built from the training data) through a small transformer,
  mean-pooled, trained on top of the lexical branch to correct it (``num_layers=0`` turns it off).
Two heads: polarity (negative/positive) and emotion (neutral/happy/angry/sad/fear/surprise).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

EMOTIONS = ("neutral", "happy", "angry", "sad", "fear", "surprise")
POLARITY = ("negative", "positive")
PAD, UNK = 0, 1


@dataclass
class HybridConfig:
    """The architecture, as ``config.json`` records it (the same file ``transformers`` reads)."""

    vocab_size: int = 6000
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    ffn_size: int = 256
    max_chars: int = 64
    max_ngram_chars: int = 256
    ngram_buckets: int = 1 << 19
    ngram_max_n: int = 3
    dropout: float = 0.1
    polarity_labels: list[str] = field(default_factory=lambda: list(POLARITY))
    emotion_labels: list[str] = field(default_factory=lambda: list(EMOTIONS))

    @classmethod
    def from_dict(cls, raw: dict) -> HybridConfig:
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})


class HybridLayers:
    """The layers and the two branches, shared by the plain module below and the ``transformers``
    wrapper in ``sentiment_hf.py`` (same parameter names: the same weights file loads into both)."""

    def build(self, config) -> None:
        h = config.hidden_size
        n_pol, n_emo = len(config.polarity_labels), len(config.emotion_labels)
        self.n_pol = n_pol
        self.num_layers = config.num_layers
        self.lexical = nn.EmbeddingBag(config.ngram_buckets, n_pol + n_emo, mode="sum")
        self.lexical_bias = nn.Parameter(torch.zeros(n_pol + n_emo))
        self.register_buffer("idf", torch.ones(config.ngram_buckets), persistent=True)
        if config.num_layers > 0:
            self.char_emb = nn.Embedding(config.vocab_size, h, padding_idx=PAD)
            self.pos_emb = nn.Embedding(config.max_chars, h)
            layer = nn.TransformerEncoderLayer(h, config.num_heads, config.ffn_size, config.dropout,
                                               batch_first=True, norm_first=True, activation="gelu")
            self.encoder = nn.TransformerEncoder(layer, config.num_layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(h)
            self.dropout = nn.Dropout(config.dropout)
            self.head = nn.Linear(h, n_pol + n_emo)

    def lexical_logits(self, ngram_ids, ngram_weights, ngram_offsets) -> torch.Tensor:
        return self.lexical(ngram_ids, ngram_offsets, per_sample_weights=ngram_weights) + self.lexical_bias

    def encoder_logits(self, char_ids: torch.Tensor) -> torch.Tensor:
        mask = char_ids != PAD
        positions = torch.arange(char_ids.shape[1], device=char_ids.device)
        x = self.char_emb(char_ids) + self.pos_emb(positions)[None]
        x = self.encoder(self.dropout(x), src_key_padding_mask=~mask)
        x = self.norm(x)
        m = mask.unsqueeze(-1).to(x.dtype)
        pooled = (x * m).sum(1) / m.sum(1).clamp(min=1.0)
        return self.head(self.dropout(pooled))

    def forward(self, char_ids, ngram_ids, ngram_weights, ngram_offsets) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (polarity, emotion) for a batch; ``char_ids`` [B, L] padded with 0."""
        logits = self.lexical_logits(ngram_ids, ngram_weights, ngram_offsets)
        if self.num_layers > 0:
            logits = logits + self.encoder_logits(char_ids)
        return logits[:, : self.n_pol], logits[:, self.n_pol :]


class HybridSentimentNet(HybridLayers, nn.Module):
    """The model as a plain ``torch`` module: what the service runs (loading it imports no ``transformers``)."""

    def __init__(self, config: HybridConfig):
        nn.Module.__init__(self)
        self.config = config
        self.build(config)


def load_hybrid(path: Path) -> tuple[HybridConfig, HybridSentimentNet]:
    """The model in ``path`` (``config.json`` + ``model.safetensors``), in float32, ready for inference."""
    from safetensors.torch import load_file

    config = HybridConfig.from_dict(json.loads((path / "config.json").read_text(encoding="utf-8")))
    net = HybridSentimentNet(config)
    state = {k: v.float() for k, v in load_file(str(path / "model.safetensors")).items()}
    net.load_state_dict(state, strict=True)
    return config, net.eval()


_HALF_WIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}  # full-width ASCII → ASCII
_MIX = np.uint64(0x9E3779B97F4A7C15)
_PRIME = np.uint64(1_000_003)


def hash_ngrams(text: str, max_n: int, buckets: int) -> np.ndarray:
    """Ids of every character 1..max_n-gram: a rolling polynomial hash, mixed, mod ``buckets``."""
    cp = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    parts = []
    h = np.zeros(len(cp), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for n in range(1, max_n + 1):
            if len(cp) < n:
                break
            h = h[: len(cp) - n + 1] * _PRIME + cp[n - 1 :] + np.uint64(n)
            parts.append(((h * _MIX) >> np.uint64(24)) % np.uint64(buckets))
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(1, dtype=np.int64)


class Featurizer:
    """Text → character ids and TF-IDF-weighted hashed n-grams, exactly as in training."""

    def __init__(self, vocab: list[str], *, max_chars: int, max_ngram_chars: int, buckets: int, max_n: int,
                 idf: np.ndarray | None = None):
        self.index = {ch: i for i, ch in enumerate(vocab)}
        self.vocab = vocab
        self.max_chars = max_chars
        self.max_ngram_chars = max_ngram_chars
        self.buckets = buckets
        self.max_n = max_n
        self.idf = idf if idf is not None else np.ones(buckets, dtype=np.float32)

    @classmethod
    def for_config(cls, vocab: list[str], config, idf: np.ndarray | None = None) -> Featurizer:
        return cls(vocab, max_chars=config.max_chars, max_ngram_chars=config.max_ngram_chars,
                   buckets=config.ngram_buckets, max_n=config.ngram_max_n, idf=idf)

    def save(self, path: Path) -> None:
        (path / "vocab.txt").write_text("\n".join(self.vocab), encoding="utf-8")

    @staticmethod
    def normalise(text: str) -> str:
        return "".join(text.translate(_HALF_WIDTH).lower().split())

    def counts(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Distinct n-gram ids of a normalised text and their counts."""
        ids = hash_ngrams(text[: self.max_ngram_chars], self.max_n, self.buckets)
        return np.unique(ids, return_counts=True)

    def encode(self, text: str) -> tuple[list[int], np.ndarray, np.ndarray]:
        """Character ids, n-gram ids and their TF-IDF weights for one text."""
        t = self.normalise(text)
        chars = [self.index.get(ch, UNK) for ch in t[: self.max_chars]] or [UNK]
        ids, counts = self.counts(t)
        w = (1.0 + np.log(counts)) * self.idf[ids]
        w = (w / max(float(np.linalg.norm(w)), 1e-12)).astype(np.float32)
        return chars, ids, w

    @staticmethod
    def collate(encoded: list, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        width = max(len(c) for c, _, _ in encoded)
        chars = torch.zeros((len(encoded), width), dtype=torch.long)
        for row, (c, _, _) in enumerate(encoded):
            chars[row, : len(c)] = torch.tensor(c, dtype=torch.long)
        lengths = [len(i) for _, i, _ in encoded]
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        return {
            "char_ids": chars.to(device),
            "ngram_ids": torch.from_numpy(np.concatenate([i for _, i, _ in encoded])).to(device),
            "ngram_weights": torch.from_numpy(np.concatenate([w for _, _, w in encoded])).to(device),
            "ngram_offsets": torch.from_numpy(offsets.astype(np.int64)).to(device),
        }

    def batch(self, texts: list[str], device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        return self.collate([self.encode(t) for t in texts], device)


@dataclass(frozen=True, slots=True)
class SentimentPrediction:
    positive_prob: float
    emotion: str
    emotion_prob: float
    emotion_probs: tuple[float, ...] = ()  # in EMOTIONS order; empty when the backend has no emotion head

    @property
    def label(self) -> str:
        return "positive" if self.positive_prob >= 0.5 else "negative"

    def prob(self, emotion: str) -> float:
        return self.emotion_probs[EMOTIONS.index(emotion)] if self.emotion_probs else 0.0

    @property
    def valence(self) -> float:
        """Polarity in [-1, 1], shrunk toward 0 by the probability that the turn is neutral.

        The polarity head was trained on reviews, where every text is an opinion; service turns
        are mostly neutral questions (能否更改收货地址), which the emotion head recognises.
        """
        neutral = self.prob("neutral") if self.emotion_probs else 0.0
        return (2 * self.positive_prob - 1) * (1 - neutral)
