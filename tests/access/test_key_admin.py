"""Key administration, by ``qa keys`` and ``/v1/keys`` alike: names and teams checked the same way, names
unique among active keys, the last admin key kept, ids and prefixes told apart, last use recorded."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from qa_service.access import service as access
from qa_service.app import create_app
from qa_service.cli import app as cli
from qa_service.config import AuthSettings
from qa_service.errors import Conflict
from qa_service.storage.db import session_scope
from qa_service.storage.tables import ApiKey
from tests.conftest import make_settings

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("fresh_settings")


@pytest.fixture
def api(tmp_path, db_url, redis_url, redis_conn):
    settings = make_settings(tmp_path, db_url, redis_url, auth=AuthSettings(enabled=True))
    with TestClient(create_app(settings)) as client:
        with session_scope(client.app.state.runtime.sessions) as s:
            row, key = access.create_key(session=s, role="admin", name="root")
        yield client, {"Authorization": f"Bearer {key}"}, row.id


def qa(data, *args: str):
    return runner.invoke(cli, [*args, "--data-dir", str(data)])


def said(result) -> str:
    return " ".join(result.output.split())


BAD_LABELS = [
    ("name", "x" * 201, "is 201 characters long; at most 200"),
    ("team", "t" * 500, "is 500 characters long; at most 200"),
    ("team", " after-sales", "starts or ends with a space (U+0020)"),
    ("team", "after-sales\u00a0", "starts or ends with a space (U+00A0)"),
    ("name", "\u3000lead.a", "starts or ends with a space (U+3000)"),
    ("name", "lead\u200b.a", "contains a control character (U+200B)"),
    ("team", "a\u202eb", "contains a control character (U+202E)"),
]


@pytest.mark.parametrize("field,value,problem", BAD_LABELS)
def test_key_labels_are_checked_alike_by_cli_and_api(tmp_path, api, field, value, problem):
    client, admin, _ = api
    body = {"role": "supervisor", "team": "after-sales", "name": "lead.a", field: value}
    refused = client.post("/v1/keys", headers=admin, json=body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["loc"] == ["body", field]
    out = qa(tmp_path / "cli", "keys", "create", "--role", "supervisor", "--team", body["team"], "--name", body["name"])
    assert out.exit_code == 2 and f"{field} {problem}" in said(out), out.output
    assert "qak_" not in qa(tmp_path / "cli", "keys", "list").output  # nothing stored


def test_key_labels_may_hold_inner_spaces(tmp_path):
    out = qa(tmp_path, "keys", "create", "--role", "hr", "--team", "售后 一组", "--name", "Wang Li")
    assert out.exit_code == 0, out.output


def test_key_names_are_unique_among_active_keys(tmp_path, api):
    client, admin, _ = api
    first = client.post("/v1/keys", headers=admin, json={"role": "reviewer", "name": "qa.zhang"})
    assert first.status_code == 201
    for role, team in (("reviewer", None), ("supervisor", "after-sales")):  # another role does not help
        again = client.post("/v1/keys", headers=admin, json={"role": role, "team": team, "name": "qa.zhang"})
        assert again.status_code == 409 and again.json()["field"] == "name", again.text
        assert "already named 'qa.zhang'" in again.json()["detail"]
    assert client.delete(f"/v1/keys/{first.json()['id']}", headers=admin).status_code == 200
    renewed = client.post("/v1/keys", headers=admin, json={"role": "reviewer", "name": "qa.zhang"})
    assert renewed.status_code == 201  # a revoked key's name is free again: the same person's new key

    data = tmp_path / "cli"
    assert qa(data, "keys", "create", "--role", "hr", "--name", "hr.li").exit_code == 0
    dup = qa(data, "keys", "create", "--role", "admin", "--name", "hr.li")
    assert dup.exit_code == 2 and "already named 'hr.li'" in said(dup) and "qak_" not in dup.output


def test_two_keys_of_one_name_created_at_once_one_is_refused(api):
    """The second request waits for the first's transaction and then sees the name taken: without the lock
    both read the name as free before either committed, and two active keys shared it."""
    client, _, _ = api
    sessions = client.app.state.runtime.sessions
    outcome: list[object] = []

    def second() -> None:
        try:
            with session_scope(sessions) as s:
                outcome.append(access.create_key(session=s, role="reviewer", name="qa.chen")[0].id)
        except Conflict as exc:
            outcome.append(exc)

    with session_scope(sessions) as s:
        access.create_key(session=s, role="reviewer", name="qa.chen")
        other = threading.Thread(target=second)
        other.start()
        other.join(0.5)
        assert other.is_alive() and not outcome  # waiting for this transaction
    other.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], Conflict), outcome
    with session_scope(sessions) as s:
        assert s.query(ApiKey).filter_by(name="qa.chen").count() == 1


def test_the_last_active_admin_key_cannot_be_revoked_through_the_api(api):
    client, root, root_id = api
    last = client.delete(f"/v1/keys/{root_id}", headers=root)
    assert last.status_code == 409 and last.json()["field"] == "key_id"
    assert "last active admin key" in last.json()["detail"] and "qa keys create --role admin" in last.json()["detail"]
    assert client.get("/v1/keys", headers=root).status_code == 200  # still an admin
    second = client.post("/v1/keys", headers=root, json={"role": "admin", "name": "wang.li"}).json()
    other = {"Authorization": f"Bearer {second['key']}"}
    assert client.delete(f"/v1/keys/{root_id}", headers=root).status_code == 200  # one's own, with another left
    assert client.delete(f"/v1/keys/{second['id']}", headers=other).status_code == 409


def test_cli_may_revoke_the_last_admin_key_and_warns(tmp_path):
    data = tmp_path / "cli"
    assert qa(data, "keys", "create", "--role", "admin", "--name", "root").exit_code == 0
    assert qa(data, "keys", "create", "--role", "admin", "--name", "wang.li").exit_code == 0
    first = qa(data, "keys", "revoke", "1")
    assert first.exit_code == 0 and "warning" not in first.output
    last = qa(data, "keys", "revoke", "--id", "2")
    assert last.exit_code == 0 and "revoked" in last.output
    assert "last active admin key" in said(last) and "qa keys create --role admin" in said(last)


def _set_prefix(data, key_id: int, prefix: str) -> None:
    import sqlite3

    with sqlite3.connect(data / "qa.sqlite3") as conn:
        conn.execute("UPDATE api_keys SET prefix = ? WHERE id = ?", (prefix, key_id))


def test_an_all_digit_prefix_revokes_its_key_and_one_that_is_also_an_id_is_refused(tmp_path):
    data = tmp_path / "cli"
    for name in ("a", "b", "c"):
        assert qa(data, "keys", "create", "--role", "reviewer", "--name", name).exit_code == 0
    _set_prefix(data, 1, "41304473")  # token_hex(4) is all digits about one time in 43
    _set_prefix(data, 3, "00000002")  # and this one reads as key 2's id
    only_prefix = qa(data, "keys", "revoke", "41304473")
    assert only_prefix.exit_code == 0 and "key 1 (a, reviewer) revoked" in only_prefix.output
    both = qa(data, "keys", "revoke", "00000002")
    assert both.exit_code == 2, both.output
    assert ("00000002 is both the id of key 2 (b) and the prefix of key 3 (c)" in said(both)
            and "qak_00000002" in said(both) and "--id 00000002" in said(both))
    assert "key 3 (c, reviewer) revoked" in qa(data, "keys", "revoke", "qak_00000002").output
    assert "key 2 (b, reviewer) revoked" in qa(data, "keys", "revoke", "--id", "2").output
    assert qa(data, "keys", "revoke").exit_code == 2  # neither a key nor --id
    assert qa(data, "keys", "revoke", "99999999999").exit_code == 1  # no such key (and not an id past 2**31)


def test_a_key_used_through_a_ui_login_records_its_last_use(api):
    client, root, _ = api
    made = client.post("/v1/keys", headers=root, json={"role": "reviewer", "name": "qa.zhang"}).json()
    login = client.post("/ui/login", json={"key": made["key"]})
    assert login.status_code == 200

    def last_used():
        [row] = [k for k in client.get("/v1/keys", headers=root).json() if k["id"] == made["id"]]
        return row["last_used_at"]

    with session_scope(client.app.state.runtime.sessions) as s:  # as if the login was made long ago
        s.get(ApiKey, made["id"]).last_used_at = None
    assert client.get("/ui/queue").status_code == 200  # the cookie, no key header
    first = last_used()
    assert first is not None
    assert client.get("/ui/queue").status_code == 200
    assert last_used() == first  # at most once a minute: not a write per page


def test_cli_revoke_unassigns_the_keys_open_reviews(tmp_path, redis_url):
    """`qa keys revoke` left a reviewer's open reviews assigned to a name that could no longer open them."""
    from qa_service.queue.tasks import record_report
    from tests.api.test_review_api import UTTERANCES, finding, report
    from tests.conftest import transcript

    data = tmp_path / "cli"
    assert qa(data, "keys", "create", "--role", "reviewer", "--name", "rev.cli").exit_code == 0
    settings = make_settings(tmp_path, f"sqlite:///{data / 'qa.sqlite3'}", redis_url)
    with TestClient(create_app(settings)) as c:
        tid = c.post("/v1/transcripts", json=transcript("CLI-1", utterances=UTTERANCES)).json()["id"]
        with session_scope(c.app.state.runtime.sessions) as s:
            record_report(session=s, transcript_id=tid, report=report({"politeness": (40, 1.0, [
                finding("politeness", "general.rude-dismissive", -10)])}))
        assert c.post("/v1/reviews/assign", json={"reviewers": ["rev.cli"], "by": "lead"}).json()["assigned"]
    out = qa(data, "keys", "revoke", "1")
    assert out.exit_code == 0 and "1 open review(s) assigned to rev.cli unassigned" in out.output
    with TestClient(create_app(settings)) as c:
        review = c.get("/v1/reviews").json()["items"][0]
        assert review["assigned_to"] is None
        assert c.get(f"/v1/reviews/{review['id']}/audit").json()[-1]["actor"] == "cli"
