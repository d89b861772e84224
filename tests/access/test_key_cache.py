"""The per-process cache of verified keys: a revocation that clears it while a request is verifying the
same key wins (the request's result is not cached after the clear)."""

from __future__ import annotations

import pytest

from qa_service.access import service as access
from qa_service.runtime import Runtime, TTLCache
from tests.conftest import make_settings


@pytest.fixture
def rt(tmp_path, db_url, redis_url, redis_conn):
    runtime = Runtime(make_settings(tmp_path, db_url, redis_url))
    yield runtime
    runtime.close()


def test_key_cache_revocation_during_verification_is_not_undone(rt, monkeypatch):
    with rt.session() as s:
        row, key = access.create_key(session=s, role="reviewer", name="qa.zhang")
        key_id = row.id
    cache = TTLCache(60.0)
    real_key_row = access.key_row

    def revoked_meanwhile(*, session, key):
        found = real_key_row(session=session, key=key)  # read while the key is live...
        with rt.session() as other:  # ...then DELETE /v1/keys/{id} commits and clears the cache
            access.revoke_key(session=other, ident=str(key_id))
        cache.clear()
        return found

    monkeypatch.setattr(access, "key_row", revoked_meanwhile)
    with rt.sessions() as s:
        assert access.authenticate_key(session=s, key=key, cache=cache) is not None  # this request got in
    monkeypatch.setattr(access, "key_row", real_key_row)
    assert access.recently_verified(key=key, cache=cache) is None
    with rt.sessions() as s:
        assert access.authenticate_key(session=s, key=key, cache=cache) is None  # the next one does not


def test_key_cache_keeps_a_key_verified_without_a_clear(rt):
    with rt.session() as s:
        _, key = access.create_key(session=s, role="reviewer", name="qa.li")
    cache = TTLCache(60.0)
    with rt.sessions() as s:
        who = access.authenticate_key(session=s, key=key, cache=cache)
    assert who is not None and access.recently_verified(key=key, cache=cache) == who
