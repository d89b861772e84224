"""A transcript whose scenario no rule pack serves is scored with the default pack, and ingest says so: a warning
in its answer (single and batch), one log line per scenario and process, a counter per scenario with a bounded
number of labels. It was silent: a typo'd scenario (broadband_install for broadband) lost the pack's required
checks and fatal items, seen only in each report's rule_pack."""

from __future__ import annotations

import logging
import re
import uuid

from qa_service.ingest import unserved
from tests.conftest import transcript


def _count(text: str, scenario: str) -> float:
    m = re.search(rf'^qa_unserved_scenario_total\{{scenario="{re.escape(scenario)}"\}} (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def test_an_unserved_scenario_is_warned_of_logged_once_and_counted(client, caplog, monkeypatch):
    monkeypatch.setattr(unserved.log, "disabled", False)  # alembic's fileConfig disables loggers it finds
    odd = f"broadband_install_{uuid.uuid4().hex[:6]}"  # a scenario this process has not met (the log is per process)
    before = client.get("/metrics").text
    with caplog.at_level(logging.WARNING, logger="qa_service.ingest.unserved"):
        r = client.post("/v1/transcripts", json=transcript("U1", scenario=odd))
        assert r.status_code == 202, r.text
        (warning,) = r.json()["warnings"]
        assert warning.startswith(f"scenario '{odd}' has no rule pack; scored with the default pack 'general'")
        assert "scenarios served: after_sales, complaint, finance, general, presale" in warning
        again = client.post("/v1/transcripts", json=transcript("U2", scenario=odd))
        assert again.json()["warnings"] == [warning]
        resent = client.post("/v1/transcripts", json=transcript("U1", scenario=odd))  # a duplicate: said, not counted
        assert resent.status_code == 200 and resent.json()["warnings"] == [warning]
    logged = [rec.getMessage() for rec in caplog.records if odd in rec.getMessage()]
    assert len(logged) == 1 and "said once per scenario and process" in logged[0]
    assert _count(client.get("/metrics").text, odd) - _count(before, odd) == 2

    for scenario in ("finance", "general", None):  # served (a pack's scenario or name), or none given: no warning
        body = transcript(f"S-{scenario}", **({"scenario": scenario} if scenario else {}))
        assert client.post("/v1/transcripts", json=body).json()["warnings"] == []

    batch = client.post("/v1/transcripts/batch", json={"transcripts": [
        transcript("B1", scenario=odd), transcript("B2", scenario="after_sales"), transcript("B3", scenario=odd),
        {"source": "x", "external_id": "B4", "scenario": odd, "utterances": []}]})
    assert batch.status_code == 207, batch.text
    items = batch.json()["items"]
    assert [i["warnings"] for i in items] == [[warning], [], [warning], []]  # the rejected one was not stored
    assert batch.json()["warnings"] == [warning]


def test_the_counter_labels_at_most_50_scenarios_and_counts_the_rest_as_other(client):
    """The scenario is the client's text: sent ids would grow the series without bound."""
    names = [f"odd_{uuid.uuid4().hex[:8]}" for _ in range(60)]
    before = client.get("/metrics").text
    r = client.post("/v1/transcripts/batch", json={"transcripts": [
        transcript(f"C{i}", scenario=name) for i, name in enumerate(names)]})
    assert r.status_code == 202, r.text
    text = client.get("/metrics").text
    labelled = [n for n in names if _count(text, n) == 1]
    assert len(labelled) <= 50 and len(set(re.findall(r'^qa_unserved_scenario_total\{scenario="([^"]*)"', text,
                                                      re.M))) <= 51
    assert _count(text, "(other)") - _count(before, "(other)") == 60 - len(labelled) >= 10
