"""Fixtures the API tests share."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from qa_service.app import create_app


@pytest.fixture
def app_client(settings):
    """The app on the test's database and Redis, answering a server error as a 500 (not raising it): the tests
    that walk every route check that none answers one."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c
