"""The dashboard shows the calibration κ card only to the roles that may open calibration (reviewer,
admin): a supervisor or hr login saw it and got 403 behind its link (found by a probe). hr's
dashboard is QA trends, agents compared and frequent findings (aggregates, as in performance records)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from qa_service.access import service as access
from qa_service.app import create_app
from qa_service.config import AuthSettings
from qa_service.storage.db import session_scope
from tests.conftest import make_settings

CARD = "人机一致性 κ"


@pytest.fixture
def client(tmp_path, sqlite_url, redis_url, redis_conn):
    with TestClient(create_app(make_settings(tmp_path, sqlite_url, redis_url, auth=AuthSettings(enabled=True)))) as c:
        yield c


@pytest.mark.parametrize("role,team,calibrates", [
    ("reviewer", None, True), ("admin", None, True), ("supervisor", "after-sales", False), ("hr", None, False)])
def test_dashboard_shows_calibration_only_to_roles_that_may_read_it(client, role, team, calibrates):
    with session_scope(client.app.state.runtime.sessions) as s:
        _, key = access.create_key(session=s, role=role, team=team, name=f"{role}.x")
    headers = {"Authorization": f"Bearer {key}"}
    page = client.get("/ui/", headers=headers)
    assert page.status_code == 200 and (CARD in page.text) is calibrates
    assert (client.get("/ui/calibration", headers=headers).status_code == 200) is calibrates
    assert (client.get("/v1/calibration", headers=headers).status_code == 200) is calibrates
