"""The detectors' weights: linear heads over hashed features, stored as safetensors + a JSON config.

``models/qa-detectors/config.json`` names each head, its classes and its decision threshold (tuned on
the golden dev split); ``model.safetensors`` holds one ``W_<head>`` matrix (buckets × classes, float16)
and one ``b_<head>`` vector per head. A binary head has one column (the positive class). The
``handling`` head (yes / partial / no) gives each objection's P(no); ``items`` (the second stage,
``items.py``) holds the conversation items, which decide "ends negative" and whether any objection was
left unhandled when the model has them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa_service.errors import ConfigError
from qa_service.scoring.detectors.features import Bag
from qa_service.scoring.detectors.items import Item

CONFIG = "config.json"
WEIGHTS = "model.safetensors"


@dataclass(slots=True)
class Head:
    name: str
    classes: list[str]  # ["yes"] for a binary head
    threshold: float | None = None  # binary heads: P(yes) at which the item is called
    weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))

    @property
    def binary(self) -> bool:
        return len(self.classes) == 1

    def probabilities(self, bags: Sequence[Bag]) -> np.ndarray:
        """(len(bags), classes): P(yes) for a binary head, a softmax over the classes otherwise."""
        n = len(bags)
        if not n:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        ids = np.concatenate([b.ids for b in bags])
        w = np.concatenate([b.weights for b in bags])
        row = np.repeat(np.arange(n), [len(b.ids) for b in bags])
        contrib = self.weights[ids].astype(np.float32) * w[:, None]
        logits = np.stack([np.bincount(row, weights=contrib[:, k], minlength=n)
                           for k in range(contrib.shape[1])], axis=1) + self.bias
        if self.binary:
            return 1.0 / (1.0 + np.exp(-logits))
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)


@dataclass(slots=True)
class DetectorModel:
    name: str
    version: str
    buckets: int
    heads: dict[str, Head]
    meta: dict
    items: dict[str, Item] = field(default_factory=dict)  # the second stage (``items.py``); may be empty

    @property
    def tag(self) -> str:
        """How findings name the model that made them: ``qa-detectors@2``."""
        return f"{self.name}@{self.version}"

    @classmethod
    def load(cls, directory: Path) -> DetectorModel:
        from safetensors.numpy import load_file

        directory = Path(directory)
        if not directory.is_dir():
            raise ConfigError(f"QA_SCORING__DETECTOR_MODEL: {directory} is not an existing directory "
                              "(the shipped model is models/qa-detectors; none turns the detectors off)")
        try:
            config = json.loads((directory / CONFIG).read_text(encoding="utf-8"))
            tensors = load_file(str(directory / WEIGHTS))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"detector model in {directory} cannot be loaded: {exc} "
                              "(set QA_SCORING__DETECTOR_MODEL to a model directory)") from exc
        heads = {}
        for name, spec in config["heads"].items():
            heads[name] = Head(name, list(spec["classes"]), spec.get("threshold"),
                               tensors[f"W_{name}"], tensors[f"b_{name}"].astype(np.float32))
        try:
            items = {name: Item.from_json(name, spec) for name, spec in config.get("items", {}).items()}
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"detector model in {directory}: its conversation items cannot be read: {exc}") from exc
        return cls(config["name"], str(config["version"]), int(config["buckets"]), heads, config.get("meta", {}), items)

    def save(self, directory: Path) -> None:
        from safetensors.numpy import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {}
        for name, head in self.heads.items():
            tensors[f"W_{name}"] = head.weights.astype(np.float16)
            tensors[f"b_{name}"] = head.bias.astype(np.float32)
        save_file(tensors, str(directory / WEIGHTS))
        config = {"name": self.name, "version": self.version, "model_type": "qa-detectors", "buckets": self.buckets,
                  "heads": {n: {"classes": h.classes, "threshold": h.threshold} for n, h in self.heads.items()},
                  "items": {n: item.to_json() for n, item in self.items.items()}, "meta": self.meta}
        (directory / CONFIG).write_text(json.dumps(config, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
