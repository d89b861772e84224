"""The transcript as clients send it (API, ``qa import``, live conversations): validation and limits.

Field names are a public interface: add optional fields, never rename. ``TranscriptCreate.to_domain``
is the one conversion from this shape to the domain ``Transcript`` the scorers read.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from datetime import UTC, datetime
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from qa_service.config import APISettings
from qa_service.domain import Channel, Role, Transcript, Utterance
from qa_service.text import fold_id, label
from qa_service.period import EARLIEST, LATEST  # the years a conversation's time may fall in (UTC)

# C0 controls other than tab/newline/carriage return, DEL, and lone surrogates: never stored.
BAD_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


MAX_METADATA_DEPTH = 16


def _depth(value: Any, limit: int = MAX_METADATA_DEPTH + 1) -> int:
    """Nesting depth of a JSON value, counted iteratively and only as far as ``limit``."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict | list):
            d += 1
            deepest = max(deepest, d)
            if d < limit:
                stack.extend((c, d) for c in (v.values() if isinstance(v, dict) else v))
    return deepest


MAX_MS = 2_147_483_647  # start_ms / end_ms are 32-bit columns: about 24.8 days into a conversation


def check_time(v: datetime | None) -> datetime | None:
    """An aware datetime (UTC when it has no offset) within the supported years, or a ValueError."""
    if v is None:
        return None
    if v.tzinfo is None:
        v = v.replace(tzinfo=UTC)
    try:
        year = v.astimezone(UTC).year
    except OverflowError:
        year = None
    if year is None or not EARLIEST <= year <= LATEST:
        raise ValueError(f"is outside the supported range (years {EARLIEST}–{LATEST}, UTC)")
    return v


def _check_json(value: Any) -> None:
    """Every key and string of a JSON value free of control characters and lone surrogates, and no NaN or
    ±Infinity (not JSON: stored, they would come back changed)."""
    stack = [(value, "")]
    while stack:
        v, path = stack.pop()
        if isinstance(v, dict):
            for k, c in v.items():
                if isinstance(k, str):
                    try:
                        storable_text(k)
                    except ValueError as exc:
                        raise ValueError(f"key {path}{k[:40]!r} {exc}") from None
                stack.append((c, f"{path}{k[:40]}."))
        elif isinstance(v, list):
            stack.extend((c, f"{path}{i}.") for i, c in enumerate(v))
        elif isinstance(v, str):
            try:
                storable_text(v)
            except ValueError as exc:
                raise ValueError(f"value at {path.rstrip('.') or '(top)'} {exc}") from None
        elif isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
            raise ValueError(f"value at {path.rstrip('.') or '(top)'} is {v}, which JSON cannot carry")


def storable_text(value: str | None) -> str | None:
    """A pydantic ``AfterValidator`` for free text: no characters that are never stored (``BAD_CHARS``)."""
    if value is not None:
        bad = BAD_CHARS.search(value)
        if bad:
            raise ValueError(f"contains control character U+{ord(bad.group()):04X} at position {bad.start()}")
    return value


class UtteranceCreate(BaseModel):
    """One turn. Only ``role`` and ``text`` are required."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [
        {"role": "customer", "text": "我的快递三天了还没到", "start_ms": 0, "end_ms": 2100, "asr_confidence": 0.93}
    ]})

    role: Role
    # The limits are settings, checked by ``limit_errors`` (a 422 naming them), so the schema states none of its
    # own: a fixed 1,000,000 here was a second, wrong limit in the OpenAPI schema and in some messages.
    # minLength in the schema only: empty (or whitespace-only) text is refused by ``_text`` with its own message
    text: str = Field(description="At most QA_API__MAX_TEXT_CHARS characters (10,000 by default); not empty or "
                      "whitespace only", json_schema_extra={"minLength": 1})
    start_ms: int | None = Field(None, ge=0, le=MAX_MS)
    end_ms: int | None = Field(None, ge=0, le=MAX_MS)
    asr_confidence: float | None = Field(None, ge=0.0, le=1.0)

    @field_validator("text")
    @classmethod
    def _text(cls, v: str) -> str:
        storable_text(v)
        if all(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in v):
            raise ValueError("must not be empty or whitespace only")  # zero-width spaces alone are empty too
        return v

    @field_validator("asr_confidence", mode="before")
    @classmethod
    def _number(cls, v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"is {v}; give a number from 0 to 1")  # pydantic said "less than or equal to 1"
        return v

    @field_validator("end_ms")
    @classmethod
    def _span(cls, v: int | None, info: ValidationInfo) -> int | None:
        """At ``end_ms`` (``start_ms`` is read before it). Was: a model check, so the 422 was at the
        utterance (``["body","utterances",0]``), not at the field docs/live.md and docs/api.md name."""
        start = info.data.get("start_ms")
        if v is not None and start is not None and v < start:
            raise ValueError(f"end_ms ({v}) is before start_ms ({start})")
        return v


class TranscriptHeader(BaseModel):
    """A conversation's fields without its turns (a live conversation opens with these)."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [{
        "source": "jd-chat", "external_id": "A124", "channel": "chat", "agent_id": "a7", "team": "after-sales",
        "started_at": "2026-10-01T09:30:00+08:00"}]})

    source: str = Field(min_length=1, max_length=200)
    external_id: str = Field(min_length=1, max_length=200)
    channel: Channel = Channel.chat
    agent_id: str | None = Field(None, min_length=1, max_length=200)
    team: str | None = Field(None, min_length=1, max_length=200)
    queue: str | None = Field(None, max_length=200, description="Queue or skill group")
    scenario: str | None = Field(None, max_length=100)
    started_at: datetime | None = Field(None, description="ISO 8601; without an offset it is taken as UTC")
    metadata: dict[str, Any] = Field(default_factory=dict)
    _agent_id_as_sent: str | None = PrivateAttr(None)  # when folding changed it (full-width digits)

    @field_validator("source", "external_id", "agent_id", "team", "queue", "scenario")
    @classmethod
    def _ids(cls, v: str | None) -> str | None:
        storable_text(v)
        if v is not None and not v.strip():
            raise ValueError("must not be blank")
        return v

    @field_validator("agent_id", "team")
    @classmethod
    def _labels(cls, v: str | None, info: ValidationInfo) -> str | None:
        """An agent or team is matched with KPI rows and keys' team scope: checked as a key's team is
        (``text.label_problem``: no control, zero-width or bidirectional character, no space at either end).
        ``after-sales `` or ``售后\u200b二组`` was a team no key could be made for, so no supervisor saw the
        conversation. Refused, not cleaned, so the stored content and its idempotency hash stay what the
        client sent. (``source``, ``external_id`` and ``queue`` scope nothing: the client's own key and a
        label, they keep the looser ``storable_text`` check.) The one exception: an agent id's full-width
        digits and letters are folded to half width (``text.fold_id``: ``０００１２６`` is ``000126``, as a
        KPI file's 坐席工号 is read), so one person is one agent whichever width a system typed; the id as
        sent is kept for the hashes earlier versions stored (:meth:`TranscriptCreate.content_hashes`)."""
        if v is not None and info.field_name == "agent_id":
            v = fold_id(v)
        return label(v)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_agent_id_as_sent(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        model = handler(data)
        sent = data.get("agent_id") if isinstance(data, dict) else None
        if isinstance(sent, str) and sent != model.agent_id:
            model._agent_id_as_sent = sent
        return model

    @field_validator("metadata", mode="before")
    @classmethod
    def _none_is_empty(cls, v: Any) -> Any:
        return {} if v is None else v  # "metadata": null, as "agent_id": null is accepted

    @field_validator("metadata")
    @classmethod
    def _shallow(cls, v: dict[str, Any]) -> dict[str, Any]:
        depth = _depth(v)
        if depth > MAX_METADATA_DEPTH:
            raise ValueError(f"is nested {depth} levels deep; the limit is {MAX_METADATA_DEPTH}")
        _check_json(v)
        return v

    @field_validator("started_at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        return check_time(v)


class TranscriptCreate(TranscriptHeader):
    """A chat or call transcript. Only ``source``, ``external_id`` and ``utterances`` are required."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [{
        "source": "jd-chat", "external_id": "A123", "channel": "chat", "agent_id": "a7",
        "team": "after-sales", "started_at": "2026-10-01T09:30:00+08:00", "scenario": "after_sales",
        "utterances": [
            {"role": "customer", "text": "我买的手机屏幕有划痕，怎么处理？", "start_ms": 0, "end_ms": 2100,
             "asr_confidence": 0.93},
            {"role": "agent", "text": "您好，很抱歉给您带来不便，请提供一下订单号，我为您核实处理。"},
        ],
    }]})

    utterances: list[UtteranceCreate] = Field(
        min_length=1, description="At most QA_API__MAX_UTTERANCES turns (5,000 by default)")

    def to_domain(self) -> Transcript:
        """The domain transcript (utterances indexed from 0), for scoring without storing."""
        return to_domain(self.utterances, source=self.source, external_id=self.external_id, channel=self.channel,
                         agent_id=self.agent_id, team=self.team, scenario=self.scenario, started_at=self.started_at)

    def content_hash(self) -> str:
        """Hash of everything sent, for idempotency: same key + same hash = the same transcript."""
        return self.content_hashes()[0]

    def content_hashes(self) -> tuple[str, tuple[str, ...]]:
        """The hash, and what earlier versions hashed the same content to. The start time counts as an
        instant (``09:30+08:00`` and ``01:30Z`` alike: the API gives times back in UTC, and a client resending
        what it read back sent the same conversation); versions before 2026-11-29 hashed the offset as sent,
        and an agent id as sent, full width and all (it is folded now: ``text.fold_id``), so a conversation
        stored then and resent now is still the same one."""
        payload = self.model_dump(mode="json", exclude_none=True)
        canonical, earlier = _hashes(payload, self.started_at)
        sent = self._agent_id_as_sent
        if sent is not None:
            unfolded, before = _hashes({**payload, "agent_id": sent}, self.started_at)
            earlier = (*earlier, unfolded, *before)
        return canonical, earlier


def _hashes(payload: dict[str, Any], started_at: datetime | None) -> tuple[str, tuple[str, ...]]:
    """The hash of ``payload`` with its start time in UTC, and (when the time was sent with another offset) the
    hash with the offset as sent."""
    as_sent = _hash(payload)
    if started_at is None:
        return as_sent, ()
    utc = started_at.astimezone(UTC).isoformat().replace("+00:00", "Z")  # as pydantic writes UTC
    if payload["started_at"] == utc:
        return as_sent, ()
    return _hash({**payload, "started_at": utc}), (as_sent,)


def _hash(payload: dict[str, Any]) -> str:
    blob = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def to_domain(utterances: list[UtteranceCreate], **fields: Any) -> Transcript:
    """Utterances in the API shape (and any transcript fields) as the domain ``Transcript``."""
    return Transcript(utterances=tuple(Utterance(i, u.role, u.text, u.start_ms, u.end_ms, u.asr_confidence)
                                       for i, u in enumerate(utterances)), **fields)


def limit_errors(t: TranscriptCreate, limits: APISettings, loc: tuple = ("body",)) -> list[dict[str, Any]]:
    """Configurable limits and cross-utterance checks, as FastAPI-style error entries."""
    errors = []
    if len(t.utterances) > limits.max_utterances:
        errors.append(_err(loc + ("utterances",), f"has {len(t.utterances)} utterances; the limit is "
                           f"{limits.max_utterances} (QA_API__MAX_UTTERANCES)", "too_long"))
    for field in ("source", "external_id", "agent_id", "team"):
        value = getattr(t, field)
        if value is not None and len(value) > limits.max_id_chars:
            errors.append(_err(loc + (field,), f"is {len(value)} characters; the limit is {limits.max_id_chars}",
                               "string_too_long"))
    prev_start = None
    for i, u in enumerate(t.utterances):
        if len(u.text) > limits.max_text_chars:
            errors.append(_err(loc + ("utterances", i, "text"), f"is {len(u.text)} characters; the limit is "
                               f"{limits.max_text_chars} (QA_API__MAX_TEXT_CHARS)", "string_too_long"))
        if u.start_ms is not None:
            if prev_start is not None and u.start_ms < prev_start:
                errors.append(_err(loc + ("utterances", i, "start_ms"), f"goes backwards: {u.start_ms} is "
                                   f"before the previous utterance's start_ms {prev_start}", "timestamp_order"))
            prev_start = u.start_ms
        if len(errors) >= 20:
            break
    return errors


def _err(loc: tuple, msg: str, kind: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": kind}


def _ctx(error: dict) -> dict[str, Any]:
    """A batch item's error keeps ``ctx`` (the broken limit, the expected values) as a single POST's does."""
    ctx = error.get("ctx")
    return {"ctx": {k: v if isinstance(v, int) else str(v) for k, v in ctx.items()}} if ctx else {}


def errors_from_validation(exc: ValidationError, loc: tuple) -> list[dict[str, Any]]:
    return [
        {"loc": list(loc) + list(e["loc"]), "msg": e["msg"], "type": e["type"], **_ctx(e)}
        for e in exc.errors(include_url=False, include_input=False)
    ][:20]


