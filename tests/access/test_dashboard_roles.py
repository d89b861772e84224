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


NAV = {"/ui/queue": "复核队列", "/ui/appeals": "申诉", "/ui/calibration": "规则校准", "/ui/live": "实时监控"}


@pytest.mark.parametrize("role,team", [("reviewer", None), ("admin", None), ("supervisor", "after-sales"),
                                       ("hr", None)])
def test_the_menu_links_exactly_the_pages_the_role_may_open(client, role, team):
    """hr saw 复核队列, 申诉, 规则校准 and 实时监控 in the menu, and 待复核 / 待处理申诉 cards, and met 403 behind
    each (found by a probe)."""
    with session_scope(client.app.state.runtime.sessions) as s:
        _, key = access.create_key(session=s, role=role, team=team, name=f"{role}.y")
    headers = {"Authorization": f"Bearer {key}"}
    page = client.get("/ui/", headers=headers).text
    for path, label in NAV.items():
        opens = client.get(path, headers=headers).status_code
        assert opens in (200, 403), (path, opens)
        assert (f'<a href="{path}"' in page) is (opens == 200), (role, path, opens)
    assert ("待复核" in page) is (role != "hr")  # the queue's readers (a scoped key: its team's count)
