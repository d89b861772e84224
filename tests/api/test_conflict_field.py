"""A changed resend of POST /v1/transcripts is a 409 that names the first field whose value differs (as
live.md promised), single and batch; names only — a value, redacted or not, is never echoed."""

from __future__ import annotations

import copy

import pytest

from tests.conftest import transcript


def _changed(path: str, value):
    body = transcript("C1", utterances=[{"role": "customer", "text": f"第{i}句，我的电话是13912345678"}
                                        for i in range(5)], metadata={"order": "A-1"})
    body = copy.deepcopy(body)
    if path.startswith("utterances["):
        i, key = int(path[len("utterances["):path.index("]")]), path.split(".", 1)[1]
        body["utterances"][i][key] = value
    elif value is None:
        body.pop(path)
    else:
        body[path] = value
    return body


CHANGES = [
    ("agent_id", "a8"), ("team", "售后二组"), ("channel", "call"), ("started_at", None),
    ("metadata", {"order": "A-2"}), ("utterances[3].text", "第3句，我的电话是13900000000，改了"),
    ("utterances[2].role", "agent"), ("utterances[4].asr_confidence", 0.5), ("utterances[0].start_ms", 10),
]


@pytest.mark.parametrize(("changed", "value"), CHANGES)
def test_a_changed_resend_names_the_field_that_changed(client, changed, value):
    """A change inside the turns is named `utterances`, not the turn and its key (a review: turn by turn, an
    ingest key, which may not read transcripts, could test a guess at each turn's words in turn)."""
    field = changed.split("[")[0]
    original = _changed("agent_id", "a7")
    assert client.post("/v1/transcripts", json=original).status_code == 202
    resp = client.post("/v1/transcripts", json=_changed(changed, value))
    assert resp.status_code == 409, resp.text
    body = resp.json()
    assert body["field"] == field and body["id"] == 1 and body["external_id"] == "C1", body
    assert field in body["detail"] and "1391234" not in resp.text and "1390000" not in resp.text
    batch = client.post("/v1/transcripts/batch", json={"transcripts": [original, _changed(changed, value)]})
    first, second = batch.json()["items"]
    assert first["status"] == "duplicate" and second["status"] == "rejected"
    [err] = second["errors"]
    assert err["type"] == "conflict" and err["field"] == field and err["loc"] == ["body", "transcripts", 1], err


def test_a_change_only_in_a_redacted_number_is_a_duplicate_and_a_repeat_in_one_batch_is_named(client):
    original = _changed("agent_id", "a7")
    assert client.post("/v1/transcripts", json=original).status_code == 202
    other_number = _changed("utterances[1].text", "第1句，我的电话是13987654321")
    assert client.post("/v1/transcripts", json=other_number).status_code == 200  # the same once redacted
    new = transcript("C2")
    batch = client.post("/v1/transcripts/batch", json={"transcripts": [new, {**new, "team": "售后二组"}]})
    [first, second] = batch.json()["items"]
    assert first["status"] == "accepted" and second["errors"][0]["field"] == "team", batch.text
