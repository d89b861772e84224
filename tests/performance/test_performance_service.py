"""The performance service called directly (what the API and ``qa export-appraisals`` both call)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from qa_service.errors import Invalid
from qa_service.ingest.schema import TranscriptCreate
from qa_service.ingest.service import ingest
from qa_service.performance import service
from qa_service.performance.kpi import parse_records
from qa_service.period import parse_period
from qa_service.queue.tasks import record_report
from qa_service.runtime import Runtime
from tests.api.test_review_api import report
from tests.conftest import make_settings, transcript


@pytest.fixture
def rt(tmp_path, db_url, redis_url, redis_conn):
    runtime = Runtime(make_settings(tmp_path, db_url, redis_url))
    yield runtime
    runtime.close()


def test_performance_service_records_and_every_export_format(rt):
    scores = {"a1": [90, 70], "a2": [60]}
    for agent, values in scores.items():
        for n, score in enumerate(values):
            body = TranscriptCreate.model_validate(transcript(f"{agent}-{n}", agent_id=agent))
            [outcome], _ = ingest([(0, body)], runtime=rt)
            with rt.session() as s:
                record_report(session=s, transcript_id=outcome.id, report=report({"politeness": (score, 1.0, [])}))
    parsed = parse_records([{"agent_id": "a1", "date": "2026-10-01", "team": "after-sales", "contacts": 10,
                             "fcr_resolved": 8}])
    with rt.session() as s:
        stored = service.import_kpis(session=s, records=parsed.records, source="test", known=rt.known_ids)
    assert stored.inserted == 1
    october = parse_period("2026-10")
    with rt.session() as s:
        agents, teams = service.records(session=s, settings=rt.settings, period=october)
        by_agent = {a.agent_id: a.as_dict() for a in agents}
        assert by_agent["a1"]["qa"]["n"] == 2 and by_agent["a1"]["qa"]["mean"] == 80
        assert by_agent["a1"]["kpi"]["fcr"] == 0.8 and by_agent["a2"]["qa"]["mean"] == 60
        assert [t.team for t in teams] == ["after-sales"]
        as_json = service.export_appraisals(session=s, settings=rt.settings, schemes=rt.schemes.get(),
                                            period=october, fmt="json")
        rows = json.loads(as_json.content)["rows"]
        assert {r["agent_id"] for r in rows} == {"a1", "a2"} and as_json.rows == 2
        as_csv = service.export_appraisals(session=s, settings=rt.settings, schemes=rt.schemes.get(),
                                           period=october, fmt="csv", agent_id="a2")
        assert [r["agent_id"] for r in csv.DictReader(io.StringIO(as_csv.content.lstrip("\ufeff")))] == ["a2"]
        xlsx = service.export_appraisals(session=s, settings=rt.settings, schemes=rt.schemes.get(),
                                         period=october, fmt="xlsx")
        assert xlsx.content[:2] == b"PK" and xlsx.filename == "appraisal-2026-10.xlsx"
        with pytest.raises(Invalid) as unknown:
            service.export_appraisals(session=s, settings=rt.settings, schemes=rt.schemes.get(), period=october,
                                      fmt="json", scheme="nope")
        assert unknown.value.loc == ("query", "scheme")


def test_two_records_of_one_agent_and_days_in_a_batch_are_never_both_inserted(rt):
    """Was: two records with one key reaching the store were 'inserted 2', the later overwriting the earlier
    (its fields lost). The service refuses the later as a duplicate; the repository refuses such rows."""
    from qa_service.performance.kpi import KpiRecord
    from qa_service.storage import kpis as kpi_repo

    day = parse_period("2026-10")
    records = [KpiRecord("d1", day.start, day.end, values={"supervisor_rating": 90}, line=2, sheet="评分"),
               KpiRecord("d1", day.start, day.end, values={"contacts": 300}, line=2, sheet="接待")]
    with rt.session() as s:
        stored = service.import_kpis(session=s, records=records, source="test", known=rt.known_ids)
    assert (stored.inserted, stored.replaced) == (1, 0)
    assert [str(e) for e in stored.errors] == [
        "sheet '接待' line 2: period: duplicate of sheet '评分' line 2 for agent d1 (2026-10-01..2026-10-31); "
        "one row per agent and day"]
    row = {"agent_id": "d2", "team_id": None, "date_from": day.start, "date_to": day.end, "source": None}
    with rt.session() as s, pytest.raises(ValueError, match="two rows for agent d2 over 2026-10-01..2026-10-31"):
        kpi_repo.upsert_many(session=s, rows=[{**row, "contacts": 1}, {**row, "contacts": 2}], known=rt.known_ids)
