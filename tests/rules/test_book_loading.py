"""Loading the rule book: packs that never loaded are loaded once, by the first caller (others wait for that
load), and a failed load is not repeated until the files change; the API starts that load in the background,
and ingest never loads broken packs itself (found by a review: with one failing example in the rules folder each
ingest request naming a scenario compiled every pack and ran every example again, 99 ms instead of 4)."""

from __future__ import annotations

import logging
import shutil
import threading

import pytest
from fastapi.testclient import TestClient

from qa_service.app import create_app
from qa_service.config import DEFAULT_RULES_DIR, LiveSettings
from qa_service.errors import RulePackError
from qa_service.rules import book as book_module
from qa_service.rules.book import RuleBook
from tests.conftest import make_settings, transcript

GOOD_EXAMPLE = "no_match: [您可以在订单详情里查看哦"
FAILING_EXAMPLE = "no_match: [你自己看订单详情"  # the rule it belongs to matches it: an R006


@pytest.fixture
def rules(tmp_path):
    """A copy of the shipped packs with one example that fails."""
    directory = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, directory)
    general = directory / "general.yaml"
    text = general.read_text(encoding="utf-8")
    assert GOOD_EXAMPLE in text
    general.write_text(text.replace(GOOD_EXAMPLE, FAILING_EXAMPLE), encoding="utf-8")
    return directory


@pytest.fixture
def loads(monkeypatch) -> list[int]:
    """Counts the loads of the rule packs (the real loader runs)."""
    calls: list[int] = []
    real = book_module.load_packs

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(book_module, "load_packs", counted)
    return calls


def _fix(rules) -> None:
    general = rules / "general.yaml"
    general.write_text(general.read_text(encoding="utf-8").replace(FAILING_EXAMPLE, GOOD_EXAMPLE), encoding="utf-8")


def test_a_failed_first_load_is_not_repeated_until_the_files_change(rules, loads, monkeypatch):
    book = RuleBook(rules)
    for _ in range(5):
        with pytest.raises(RulePackError, match="R006"):
            book.ready()
        with pytest.raises(RulePackError, match="R006"):
            book.serves("broadband")
    assert len(loads) == 1 and book.failed()
    monkeypatch.setattr(book_module, "RELOAD_CHECK_S", 0.0)
    with pytest.raises(RulePackError):  # looked at again, but the files did not change: no load
        book.ready()
    assert len(loads) == 1
    _fix(rules)
    assert book.ready().serves("finance") and not book.failed()
    assert len(loads) == 2


def test_a_failed_first_load_is_retried_at_most_every_reload_check(rules, loads):
    book = RuleBook(rules)
    with pytest.raises(RulePackError):
        book.ready()
    _fix(rules)
    with pytest.raises(RulePackError):  # changed, but within RELOAD_CHECK_S of the failure
        book.ready()
    assert len(loads) == 1
    book._failed_checked_at -= book_module.RELOAD_CHECK_S  # as if that time had passed
    assert book.ready().packs and len(loads) == 2


def test_concurrent_first_callers_load_once(loads):
    book = RuleBook(DEFAULT_RULES_DIR)
    start = threading.Barrier(4)
    got: list[object] = []

    def first_call():
        start.wait()
        got.append(book.ready())

    threads = [threading.Thread(target=first_call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [book] * 4 and len(loads) == 1


def test_ingest_never_loads_broken_packs(tmp_path, sqlite_url, redis_url, redis_conn, rules, loads, monkeypatch):
    monkeypatch.setattr(book_module, "RELOAD_CHECK_S", 0.0)  # not even when a load would be allowed
    settings = make_settings(tmp_path, sqlite_url, redis_url, scoring={"rules_dir": rules},
                             live=LiveSettings(enabled=False))
    with TestClient(create_app(settings)) as client:
        client.app.state.rules_loading.join(timeout=30)
        assert client.app.state.runtime.rulebook.failed() and len(loads) == 1  # the start-up's load
        for i in range(5):
            r = client.post("/v1/transcripts", json=transcript(f"b{i}", scenario="broadband"))
            assert r.status_code == 202 and r.json()["warnings"] == []
        assert len(loads) == 1


def test_the_api_loads_the_rule_packs_as_it_starts(tmp_path, sqlite_url, redis_url, redis_conn, loads):
    settings = make_settings(tmp_path, sqlite_url, redis_url, live=LiveSettings(enabled=False))
    with TestClient(create_app(settings)) as client:
        client.app.state.rules_loading.join(timeout=30)
        assert client.app.state.runtime.rulebook.packs  # before any request needed them
        r = client.post("/v1/transcripts", json=transcript("b1", scenario="broadband"))
        assert "scenario 'broadband' has no rule pack" in r.json()["warnings"][0]
        assert len(loads) == 1


def test_broken_packs_do_not_keep_the_api_from_starting(tmp_path, sqlite_url, redis_url, redis_conn, rules, caplog,
                                                       monkeypatch):
    settings = make_settings(tmp_path, sqlite_url, redis_url, scoring={"rules_dir": rules},
                             live=LiveSettings(enabled=False))
    monkeypatch.setattr(logging.getLogger("qa_service.app"), "disabled", False)  # see test_audit_trail
    with caplog.at_level(logging.WARNING, logger="qa_service.app"), TestClient(create_app(settings)) as client:
        client.app.state.rules_loading.join(timeout=30)
        assert client.get("/readyz").status_code == 200
        assert client.post("/v1/transcripts", json=transcript("b1")).status_code == 202
    assert f"rule packs in {rules} do not load" in caplog.text and "R006" in caplog.text
