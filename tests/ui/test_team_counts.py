"""A team-scoped key's dashboard and menu count its own team's open reviews and appeals (TestClient): a
team's supervisor or reviewer got no 待复核 or 待处理申诉 card and no badge, though those numbers are theirs to
see; never another team's."""

from __future__ import annotations

import re

from qa_service.access import service as key_repo
from qa_service.queue.tasks import record_report
from qa_service.storage.db import session_scope
from tests.api.test_access import TEAM_A, TEAM_B, _bearer, _review_id, world  # noqa: F401  (a fixture)
from tests.api.test_review_api import UTTERANCES, finding, report
from tests.conftest import transcript


def _counts(client, headers) -> tuple[int, int, str]:
    page = client.get("/ui/", headers=headers).text
    cards = dict(re.findall(r'<div class="card"><span>(待复核|待处理申诉)</span><b>(\d+)</b>', page))
    badge = re.search(r'href="/ui/queue"[^>]*>复核队列(?: <span class="pill">(\d+)</span>)?', page).group(1)
    return int(cards["待复核"]), int(cards["待处理申诉"]), badge


def test_a_team_scoped_key_counts_its_own_team_only(world):  # noqa: F811
    client, keys, ids = world
    sessions = client.app.state.runtime.sessions
    for i in range(2):  # team B: three open reviews to team A's one
        tid = client.post("/v1/transcripts", headers=keys["ingest"], json=transcript(
            f"T-b{i}", team=TEAM_B, agent_id="b1", utterances=UTTERANCES)).json()["id"]
        with session_scope(sessions) as s:
            record_report(session=s, transcript_id=tid, report=report({"politeness": (40, 0.5, [
                finding("politeness", "rude-dismissive", -10)]), "compliance": (50, 0.5, [])}))  # low: queued
    rid_b = _review_id(client, keys, ids[TEAM_B])
    assert client.post(f"/v1/reviews/{rid_b}/complete", headers=keys["reviewer"],
                       json={"confirm_rest": True}).status_code == 200
    fid = client.get(f"/v1/reviews/{rid_b}", headers=keys["admin"]).json()["findings"][0]["id"]
    assert client.post(f"/v1/reviews/{rid_b}/appeals", headers=keys["sup_b"],
                       json={"finding_id": fid, "reason": "客户先辱骂坐席"}).status_code == 201
    with session_scope(sessions) as s:
        reviewer_b = _bearer(key_repo.create_key(session=s, role="reviewer", team=TEAM_B, name="qa.b")[1])

    assert _counts(client, keys["sup_a"]) == (1, 0, "1")
    assert _counts(client, keys["sup_b"]) == (2, 1, "2")
    assert _counts(client, reviewer_b) == (2, 1, "2")
    assert _counts(client, keys["reviewer"]) == (3, 1, "3")  # unscoped: every team's
    queue_b = client.get("/v1/reviews?status=open", headers=keys["sup_b"]).json()["total"]
    appeals_b = client.get("/v1/appeals?status=open", headers=keys["sup_b"]).json()["total"]
    assert (queue_b, appeals_b) == (2, 1)  # the same numbers as the pages they link to
    assert "待复核" not in client.get("/ui/", headers=keys["hr"]).text  # not a reader of the queue
