"""Features of the learned detectors: hashed character n-grams of a turn and of its neighbours ("slots"),
plus a few structural tokens (position, role, rule tags). The same code builds them for training
(``scripts/train_detectors.py``) and for scoring, so the two can never drift apart.

A feature is an integer bucket in ``[0, buckets)``. Each slot (the turn itself, the turn before it,
the answer to an objection …) mixes a different constant into its hashes, so 你好 in the turn and
你好 in the turn before it are different features. Within a slot every distinct feature weighs
``1/sqrt(count)`` (an L2-normalised binary bag), the shape the models were fitted on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from qa_service.domain import Role, Transcript
from qa_service.text import to_simplified

MAX_N = 3
MAX_SLOT_CHARS = 160  # a slot reads at most this many characters of its text
_MIX = np.uint64(0x9E3779B97F4A7C15)
_PRIME = np.uint64(1_000_003)
# Placeholders of desensitised data ([订单x], [数字], [手机号]), emoticon codes and Weibo's [表情]; @handles.
_PLACEHOLDER = re.compile(r"#E-s\[[^\[\]]{0,12}\]|\[[^\[\]\s]{1,8}\]")
_HANDLE = re.compile(r"@[\w\u4e00-\u9fff\-]{1,30}")
_DIGITS = re.compile(r"\d+")
# Thanks in English or chat shorthand (ok thx, 3q, 👍) read as the 谢谢 / 赞 the training chats write: a probe's
# "ok thx 👍" was read as a customer not satisfied, where 好的谢谢 was not.
_THANKS = re.compile(r"(?<![0-9a-z])(?:thx|thanks|thank you|thank u|thankyou|tks|ty|3q)(?![0-9a-z])")
_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_EMPTY = np.zeros(0, dtype=np.int64)
_EMPTY.setflags(write=False)


def normalise(text: str) -> str:
    """Traditional → simplified (as the rules read it), lower case, half width, placeholders → □, @handles → @,
    digit runs → 0, whitespace and pause marks dropped."""
    text = to_simplified(text).translate(_FULLWIDTH).lower()
    if "t" in text or "3q" in text or "👍" in text:  # the pattern only where it can match: most turns are Chinese
        text = _THANKS.sub("谢谢", text).replace("👍", "赞")
    text = _PLACEHOLDER.sub("□", text)
    text = _HANDLE.sub("@", text)
    text = _DIGITS.sub("0", text)
    return "".join(text.replace("_", " ").split())[:MAX_SLOT_CHARS]


def _slot_seed(slot: str) -> np.uint64:
    h = 1469598103934665603
    for ch in slot.encode():
        h = ((h ^ ch) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return np.uint64(h)


@lru_cache(maxsize=1 << 16)
def ngram_ids(text: str, slot: str, buckets: int) -> np.ndarray:
    """Distinct hashed character 1..3-grams of an already normalised text, in ``slot`` (remembered:
    every turn is read twice — as itself and as the next turn's context — and templates repeat; the
    array is read-only)."""
    if not text:
        return _EMPTY
    cp = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    seed = _slot_seed(slot)
    parts = []
    h = np.full(len(cp), seed, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for n in range(1, MAX_N + 1):
            if len(cp) < n:
                break
            h = h[: len(cp) - n + 1] * _PRIME + cp[n - 1:] + np.uint64(n)
            parts.append(((h * _MIX) >> np.uint64(20)) % np.uint64(buckets))
    out = np.unique(np.concatenate(parts)).astype(np.int64)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=4096)
def _token_bucket(token: str, buckets: int) -> int:
    h = int(_slot_seed("#tok"))
    for b in token.encode():
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return (((h * int(_MIX)) & 0xFFFFFFFFFFFFFFFF) >> 20) % buckets  # the uint64 arithmetic, in Python ints


def token_ids(tokens: Sequence[str], buckets: int) -> np.ndarray:
    """Buckets of whole tokens (structural features such as ``pos:first_agent`` or ``tag:empathy``)."""
    if not tokens:
        return _EMPTY
    return np.unique(np.fromiter((_token_bucket(t, buckets) for t in tokens), dtype=np.int64, count=len(tokens)))


@dataclass(slots=True)
class Bag:
    """One example's features: bucket ids and their weights."""

    ids: np.ndarray
    weights: np.ndarray


def bag(parts: Sequence[np.ndarray]) -> Bag:
    """Several slots' ids into one example; each slot weighs 1/sqrt(its size), so a long turn is no louder."""
    ids, weights = [], []
    for p in parts:
        if len(p):
            ids.append(p)
            weights.append(np.full(len(p), 1.0 / np.sqrt(len(p)), dtype=np.float32))
    if not ids:
        return Bag(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
    return Bag(np.concatenate(ids), np.concatenate(weights))


@dataclass(slots=True)
class TurnView:
    """A transcript's turns as the detectors see them: normalised text, role, position among its role."""

    texts: list[str]
    roles: list[Role]
    agent_turns: list[int]  # indices of non-empty agent turns, in order
    customer_turns: list[int]

    @classmethod
    def of(cls, transcript: Transcript) -> TurnView:
        texts = [normalise(u.text) for u in transcript.utterances]
        roles = [u.role for u in transcript.utterances]
        agent = [i for i, (t, r) in enumerate(zip(texts, roles)) if t and r == Role.agent]
        customer = [i for i, (t, r) in enumerate(zip(texts, roles)) if t and r == Role.customer]
        return cls(texts, roles, agent, customer)

    def previous(self, i: int) -> int | None:
        """The nearest earlier non-empty turn of the other side (what this turn answers)."""
        for k in range(i - 1, -1, -1):
            if self.texts[k] and self.roles[k] != self.roles[i]:
                return k
        return None


def position_tokens(view: TurnView, i: int) -> list[str]:
    """Where turn ``i`` sits: first/second turn of its side, last/second-last, after the other side's last …"""
    own = view.agent_turns if view.roles[i] == Role.agent else view.customer_turns
    k = own.index(i) if i in own else -1
    side = "a" if view.roles[i] == Role.agent else "c"
    toks = [f"{side}:role"]
    if k == 0:
        toks.append(f"{side}:first")
    elif k == 1:
        toks.append(f"{side}:second")
    if k == len(own) - 1:
        toks.append(f"{side}:last")
    elif k == len(own) - 2:
        toks.append(f"{side}:second_last")
    if view.previous(i) is None:
        toks.append(f"{side}:opens")
    n = len(view.texts[i])
    toks.append(f"{side}:len{0 if n <= 2 else 1 if n <= 6 else 2 if n <= 15 else 3 if n <= 40 else 4}")
    return toks
