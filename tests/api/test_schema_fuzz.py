"""Property-based fuzzing of every operation in the OpenAPI schema (schemathesis, bounded examples).

Whatever schemathesis sends — valid or not — the API must never answer 5xx (a 503 only when a
dependency is down, which it is not here), and its 2xx/4xx bodies must be JSON where it says so.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from qa_service.api.app import create_app
from tests.conftest import make_settings

MAX_EXAMPLES = 12  # per operation: bounded for CI (≈40 operations)


@pytest.fixture
def api_schema(tmp_path, sqlite_url, redis_url, redis_conn):
    app = create_app(make_settings(tmp_path, sqlite_url, redis_url, api={"max_body_bytes": 200_000}))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_schema_fuzz_never_answers_5xx(case):
    response = case.call()
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} answered {response.status_code}: {response.text[:500]}")
