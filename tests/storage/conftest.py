"""A runtime on each database backend, for the storage tests."""

from __future__ import annotations

import pytest

from qa_service.runtime import Runtime
from tests.conftest import make_settings


@pytest.fixture
def rt(tmp_path, db_url, redis_url, redis_conn):
    runtime = Runtime(make_settings(tmp_path, db_url, redis_url))
    yield runtime
    runtime.close()
