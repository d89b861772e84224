"""A worker's read of a chunk (``load_for_scoring``): each transcript as stored, in the order asked,
with its turns in order and every field the scorers read."""

from __future__ import annotations

from datetime import UTC, datetime

from qa_service.domain import Channel, Role
from qa_service.storage.transcripts import KnownIds, NewTranscript, create_many, load_for_scoring


def _new(external_id: str, turns: list[dict], **over) -> NewTranscript:
    fields = {"source": "load", "external_id": external_id, "content_hash": external_id, "channel": "chat",
              "agent_id": "a1", "team": "t1", "queue": None, "scenario": "after_sales",
              "started_at": datetime(2026, 11, 28, 2, 0, tzinfo=UTC), "meta": {}, "utterances": turns, **over}
    return NewTranscript(**fields)


def test_a_chunk_loads_as_stored_in_the_order_asked(rt):
    call = [{"role": "customer", "text": "喂，我的宽带断了", "start_ms": 0, "end_ms": 2100, "asr_confidence": 0.62},
            {"role": "agent", "text": "您好，请问您的账号是？", "start_ms": 2500, "end_ms": 4000, "asr_confidence": 0.97},
            {"role": "customer", "text": "😡 三天了！", "start_ms": None, "end_ms": None, "asr_confidence": None}]
    chat = [{"role": "agent", "text": "您好，很高兴为您服务", "start_ms": None, "end_ms": None, "asr_confidence": None}]
    with rt.session() as s:
        ids = create_many(session=s, items=[_new("call", call, channel="call"), _new("chat", chat, agent_id=None,
                                                                                       team=None, started_at=None)],
                          known=KnownIds())
    first, second = ids[("load", "call")], ids[("load", "chat")]
    with rt.session() as s:
        loaded = load_for_scoring(session=s, ids=[second, 999_999, first])  # an unknown id is left out
    assert [t.id for t in loaded] == [second, first]
    chat_t, call_t = loaded
    assert [(u.index, u.role, u.text, u.start_ms, u.end_ms, u.asr_confidence) for u in call_t.utterances] == [
        (0, Role.customer, "喂，我的宽带断了", 0, 2100, 0.62), (1, Role.agent, "您好，请问您的账号是？", 2500, 4000, 0.97),
        (2, Role.customer, "😡 三天了！", None, None, None)]
    assert (call_t.channel, call_t.agent_id, call_t.team, call_t.scenario, call_t.external_id, call_t.source) == (
        Channel.call, "a1", "t1", "after_sales", "call", "load")
    assert call_t.started_at == datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    assert [(u.role, u.text) for u in chat_t.utterances] == [(Role.agent, "您好，很高兴为您服务")]
    assert (chat_t.agent_id, chat_t.team, chat_t.started_at) == (None, None, None)
