"""Live conversations as platforms send them: a header to open one, then turns numbered from 0."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from qa_service.ingest.schema import TranscriptHeader, UtteranceCreate


class LiveConversationCreate(TranscriptHeader):
    """The transcript's fields without utterances; idempotent on (source, external_id)."""


class LiveUtterance(UtteranceCreate):
    """One turn with its position: ``seq`` starts at 0 and goes up by one."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [
        {"seq": 0, "role": "customer", "text": "我的快递三天了还没到", "start_ms": 0, "end_ms": 2100}]})

    seq: int = Field(ge=0, le=1_000_000)


class LiveUtterances(BaseModel):
    utterances: list[LiveUtterance] = Field(min_length=1, max_length=100)
