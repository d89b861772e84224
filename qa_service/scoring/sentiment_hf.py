"""The shipped sentiment model as a ``transformers`` model: for training (``scripts/train_sentiment.py``),
``save_pretrained``, and ``AutoModel.from_pretrained(dir, local_files_only=True)`` by anyone who
wants it there. The service itself loads the same directory without ``transformers``
(``sentiment_model.load_hybrid``).
"""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel

from qa_service.scoring.sentiment_model import EMOTIONS, POLARITY, Featurizer, HybridLayers


class HybridSentimentConfig(PretrainedConfig):
    model_type = "qa-hybrid-sentiment"

    def __init__(
        self,
        vocab_size: int = 6000,
        hidden_size: int = 128,
        num_layers: int = 2,
        num_heads: int = 4,
        ffn_size: int = 256,
        max_chars: int = 64,
        max_ngram_chars: int = 256,
        ngram_buckets: int = 1 << 19,
        ngram_max_n: int = 3,
        dropout: float = 0.1,
        polarity_labels: tuple[str, ...] = POLARITY,
        emotion_labels: tuple[str, ...] = EMOTIONS,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.ffn_size = ffn_size
        self.max_chars = max_chars
        self.max_ngram_chars = max_ngram_chars
        self.ngram_buckets = ngram_buckets
        self.ngram_max_n = ngram_max_n
        self.dropout = dropout
        self.polarity_labels = list(polarity_labels)
        self.emotion_labels = list(emotion_labels)


class HybridSentimentModel(HybridLayers, PreTrainedModel):
    config_class = HybridSentimentConfig
    base_model_prefix = "hybrid"
    main_input_name = "char_ids"

    def __init__(self, config: HybridSentimentConfig):
        PreTrainedModel.__init__(self, config)
        self.build(config)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
        elif isinstance(module, nn.EmbeddingBag):
            nn.init.zeros_(module.weight)


AutoConfig.register(HybridSentimentConfig.model_type, HybridSentimentConfig)
AutoModel.register(HybridSentimentConfig, HybridSentimentModel)


def save_model(model: HybridSentimentModel, featurizer: Featurizer, path: Path, meta: dict | None = None) -> None:
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)
    featurizer.save(path)
    if meta is not None:
        (path / "training.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
