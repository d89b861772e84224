"""A resent conversation is the same one whatever offset its start time is written with: the API gives
times back in UTC, and a client resending what it read back got a 409 (found by a probe). Conversations
stored before the hash counted the start time as an instant are still recognised."""

from __future__ import annotations

from sqlalchemy import update

from qa_service.ingest.schema import TranscriptCreate
from qa_service.storage.tables import Agent, Transcript
from tests.conftest import transcript


def test_a_start_time_resent_in_utc_is_the_same_conversation(client, sessions):
    first = client.post("/v1/transcripts", json=transcript("off-1", started_at="2026-10-01T09:30:00+08:00"))
    assert first.status_code == 202
    read_back = client.get(f"/v1/transcripts/{first.json()['id']}").json()["started_at"]
    for when in ("2026-10-01T01:30:00Z", read_back, "2026-10-01T09:30:00+08:00"):
        again = client.post("/v1/transcripts", json=transcript("off-1", started_at=when))
        assert again.status_code == 200 and again.json()["duplicate"] is True, (when, again.text)
    moved = client.post("/v1/transcripts", json=transcript("off-1", started_at="2026-10-01T09:30:00Z"))
    assert moved.status_code == 409  # another instant: other content


def test_a_conversation_hashed_the_earlier_way_is_still_recognised(client, sessions):
    body = transcript("off-2", started_at="2026-10-01T09:30:00+08:00")
    tid = client.post("/v1/transcripts", json=body).json()["id"]
    canonical, (as_sent,) = TranscriptCreate.model_validate(body).content_hashes()
    assert canonical != as_sent
    with sessions() as s, s.begin():  # as versions before 2026-11-29 stored it: the offset as sent
        s.execute(update(Transcript).where(Transcript.id == tid).values(content_hash=as_sent))
    again = client.post("/v1/transcripts", json=body)
    assert again.status_code == 200 and again.json()["id"] == tid
    utc = client.post("/v1/transcripts/batch", json={"transcripts": [transcript("off-2", started_at="2026-10-01T01:30:00Z")]})
    assert utc.json()["items"][0]["status"] == "duplicate", utc.text  # the stored one, hashed again, is the same
    batch = client.post("/v1/transcripts/batch", json={"transcripts": [body]})
    assert batch.json()["items"][0]["status"] == "duplicate"


def test_times_sent_in_utc_hash_as_they_always_did():
    """So every conversation stored with a UTC time (or none) keeps its hash."""
    t = TranscriptCreate.model_validate(transcript("off-3", started_at="2026-10-01T01:30:00Z"))
    assert t.content_hashes()[1] == () and TranscriptCreate.model_validate(transcript("off-4", started_at=None)).content_hashes()[1] == ()


def test_metadata_null_is_no_metadata_and_the_same_conversation_as_none_sent():
    """``"metadata": null`` was a 422 while ``"agent_id": null`` was accepted (found by a probe)."""
    a = TranscriptCreate.model_validate(transcript("m1", metadata=None))
    b = TranscriptCreate.model_validate({k: v for k, v in transcript("m1").items() if k != "metadata"})
    assert a.metadata == {} and a.content_hash() == b.content_hash()


def test_a_conversation_stored_before_redaction_learned_a_format_is_still_the_same_one(client, sessions):
    """The hash is of the redacted content: a number an earlier release left as typed (two spaces between
    groups) is a placeholder now, and the resent conversation hashed differently: a 409 for the same
    conversation (found by a review). The stored one, redacted again, is compared before a conflict."""
    from qa_service.storage.tables import Utterance

    said = "我的电话是139  0000  1111，麻烦回个电话"
    body = transcript("old-format", utterances=[{"role": "customer", "text": said},
                                                {"role": "agent", "text": "好的，稍后联系您"}])
    tid = client.post("/v1/transcripts", json=body).json()["id"]
    as_then, _ = TranscriptCreate.model_validate(body).content_hashes()  # what that release stored: no redaction
    with sessions() as s, s.begin():
        s.execute(update(Transcript).where(Transcript.id == tid).values(content_hash=as_then))
        s.execute(update(Utterance).where(Utterance.transcript_id == tid, Utterance.index == 0).values(text=said))
    again = client.post("/v1/transcripts", json=body)
    assert again.status_code == 200 and again.json()["duplicate"] is True, again.text
    changed = transcript("old-format", utterances=[{"role": "customer", "text": said + "！"},
                                                   {"role": "agent", "text": "好的，稍后联系您"}])
    assert client.post("/v1/transcripts", json=changed).status_code == 409  # other content is still a conflict


def test_an_agent_id_in_full_width_is_the_agent_in_half_width_and_a_conversation_stored_before_still_matches(
        client, sessions):
    """Was: ０００１２６ was stored as sent, an agent of its own beside 000126 (whose KPI rows are folded the same
    way). Now it is folded at ingest; one stored before, with the id as sent, is still the same conversation."""
    wide = transcript("fw-1", agent_id="０００１２６", started_at="2026-10-01T01:30:00Z")
    first = client.post("/v1/transcripts", json=wide)
    assert first.status_code == 202, first.text
    assert client.get(f"/v1/transcripts/{first.json()['id']}").json()["agent_id"] == "000126"
    for asked in ("000126", "０００１２６"):
        assert [t["id"] for t in client.get("/v1/transcripts", params={"agent_id": asked}).json()["items"]] == \
            [first.json()["id"]]
    narrow = client.post("/v1/transcripts", json={**wide, "agent_id": "000126"})
    assert narrow.status_code == 200 and narrow.json()["duplicate"] is True  # one person, one conversation

    old = transcript("fw-2", agent_id="ＡＢ０１", started_at="2026-10-01T01:30:00Z")
    tid = client.post("/v1/transcripts", json=old).json()["id"]
    canonical, (unfolded,) = TranscriptCreate.model_validate(old).content_hashes()
    assert canonical != unfolded
    with sessions() as s, s.begin():  # as versions before 2026-11-29 stored it: the id and its hash as sent
        s.add(Agent(id="ＡＢ０１"))
        s.flush()
        s.execute(update(Transcript).where(Transcript.id == tid).values(content_hash=unfolded, agent_id="ＡＢ０１"))
    again = client.post("/v1/transcripts/batch", json={"transcripts": [old]})
    assert again.json()["items"][0]["status"] == "duplicate", again.text
    live = client.post("/v1/live/conversations", json={"source": "live", "external_id": "fw-3", "agent_id": "ＡＢ０１"})
    assert live.status_code in (200, 201), live.text
    board = client.get("/v1/live/conversations").json()
    assert [c["agent_id"] for c in board if c["external_id"] == "fw-3"] == ["AB01"]  # live conversations too


def test_an_agent_id_differing_in_more_than_width_stays_another_agent(client):
    """Was: NFKC folded ① to 1 (and ⑴ to (1), an id three times as long): two people were one agent."""
    ids = [client.post("/v1/transcripts", json=transcript(f"nf-{i}", agent_id=agent)).json()["id"]
           for i, agent in enumerate(("①", "1", "Ⅱ", "１", "⑴" * 200))]
    stored = [client.get(f"/v1/transcripts/{tid}").json()["agent_id"] for tid in ids]
    assert stored == ["①", "1", "Ⅱ", "1", "⑴" * 200]
    assert len(client.get("/v1/transcripts", params={"agent_id": "1"}).json()["items"]) == 2  # 1 and １, not ①
