"""Performance records added up by the database equal the Python reference (``build_records`` over plain
rows) on the hand-computed period of ``test_records.py`` and on the awkward cases: fatal and flagged
transcripts, timings, an inapplicable dimension, a plugin scorer's dimension, an agent filed under two
teams (the team median then comes from its members' rows), days outside the period, reviewed scores.

Rows are written through ``storage.facts.write_machine`` (what the worker calls) and ``set_final``
(what closing a review calls), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from qa_service.performance import service
from qa_service.performance.qa_stats import QaRow
from qa_service.performance.record import build_records
from qa_service.runtime import Runtime
from qa_service.storage import facts
from qa_service.period import parse_period
from qa_service.storage.tables import Agent, Report, Team, Transcript
from tests.conftest import make_settings
from tests.performance.test_records import KPI_ROWS, PERIOD, QA_ROWS

TZ = ZoneInfo("Asia/Shanghai")


def row(agent, team, day, score, *, fatal=False, flagged=False, dims=None, **times):
    return QaRow(agent, team, day, score, fatal, {"dims": dims if dims is not None else {"politeness": score},
                                                  "flagged": flagged, **times})


AWKWARD = [
    row("c1", "pre-sales", date(2026, 10, 1), 55.5, fatal=True, flagged=True,
        dims={"politeness": 40.0, "timing": None, "empathy": 70.0}, frt_ms=12_000, reply_ms=4_000),
    row("c1", "pre-sales", date(2026, 10, 2), 91.25, dims={"politeness": 88.0, "timing": 75.0, "empathy": 90.0},
        frt_ms=31_000, handling_ms=600_000),
    row("c1", "pre-sales", date(2026, 10, 2), 77.0, flagged=True, frt_ms=30_000),
    row("c2", "pre-sales", date(2026, 10, 3), 64.0, dims={"compliance": 0.0, "sentiment": 100.0}),
    row("c3", "pre-sales", date(2026, 10, 1), 81.0),
    row("c3", "pre-sales", date(2026, 10, 2), 73.0),
    row("c3", "after-sales", date(2026, 10, 3), 59.0),  # filed under two teams: most rows decide
    row("c4", None, date(2026, 10, 2), 88.0),
    row("c2", "pre-sales", date(2026, 9, 30), 10.0),  # outside the period
]
ROWS = [*QA_ROWS, *AWKWARD]
# transcript index → (final score, fatal, final dims) of a done review
REVIEWED = {5: (70.0, False, {"politeness": 60.0, "timing": 80.0, "empathy": 95.0}), 0: (95.0, False, {}),
            8: (50.0, True, {"compliance": 30.0}), 11: (66.0, False, {})}


def _store(rt: Runtime, rows: list[QaRow]) -> list[int]:
    with rt.session() as s:
        teams = sorted({r.team for r in rows if r.team} | {k["team_id"] for k in KPI_ROWS})
        s.execute(insert(Team), [{"id": t} for t in teams])
        s.execute(insert(Agent), [{"id": a} for a in sorted({r.agent_id for r in rows})])
        ids = []
        for i, r in enumerate(rows):
            started = datetime.combine(r.day, time(0, 30), TZ).astimezone(UTC)  # UTC: the day before
            ids.append(s.scalar(insert(Transcript).returning(Transcript.id).values(
                source="t", external_id=str(i), content_hash="x", agent_id=r.agent_id, team_id=r.team,
                started_at=started, status="scored")))
        s.execute(insert(Report), [{"transcript_id": tid, "score": r.score, "fatal": r.fatal, "dimensions": {},
                                    "weights": {}, "scorer_versions": {}, "summary": dict(r.summary)}
                                   for tid, r in zip(ids, rows)])
        facts.write_machine(s.connection(), {tid: (r.score, r.fatal, r.summary) for tid, r in zip(ids, rows)}, {},
                            rt.derivation)
    with rt.session() as s:
        for i, (score, fatal, dims) in REVIEWED.items():
            facts.set_final(s, ids[i], score=score, fatal=fatal, dims=dims)
    return ids


def _reviewed_rows(rows: list[QaRow]) -> list[QaRow]:
    """What ``final`` reads: reviewed transcripts only, the reviewer's score and dimensions in place."""
    out = []
    for i, (score, fatal, dims) in REVIEWED.items():
        r = rows[i]
        machine = r.summary["dims"]
        summary = {**r.summary, "dims": {n: dims.get(n, v) if v is not None else None for n, v in machine.items()}}
        out.append(QaRow(r.agent_id, r.team, r.day, score, fatal, summary))
    return out


@pytest.fixture
def rt(tmp_path, db_url, redis_url):
    runtime = Runtime(make_settings(tmp_path, db_url, redis_url))
    _store(runtime, ROWS)
    yield runtime
    runtime.close()


def _as_dicts(records):
    agents, teams = records
    return [a.as_dict() for a in agents], [t.as_dict() for t in teams]


# Beyond the hand-computed rows: a two-day record (no day of its own), a record without a team, a later
# record moving an agent to another team, and one outside the period.
MORE_KPIS = [
    {"agent_id": "c2", "period": "2026-10-01..2026-10-02", "team": "pre-sales", "contacts": 20, "transfers": 2,
     "fcr_resolved": 15},
    {"agent_id": "c4", "date": "2026-10-02", "contacts": 5, "csat_responses": 2, "csat_satisfied": 1,
     "supervisor_rating": 70},
    {"agent_id": "c3", "date": "2026-10-01", "team": "pre-sales", "contacts": 7},
    {"agent_id": "c3", "date": "2026-10-03", "team": "after-sales", "contacts": 9, "nps_passives": 4},
    {"agent_id": "a1", "date": "2026-10-09", "team": "after-sales", "contacts": 999},
]


def _kpi_records(more: bool = True):
    from qa_service.performance.kpi import parse_records

    rows = [{"agent_id": k["agent_id"], "date": k["date_from"].isoformat(), "team": k["team_id"],
             **{f: v for f, v in k.items() if f not in ("agent_id", "team_id", "date_from", "date_to")}}
            for k in KPI_ROWS]
    parsed = parse_records([*rows, *(MORE_KPIS if more else [])])
    assert not parsed.errors
    return parsed.records


def _kpis(rt, more: bool = True):
    with rt.session() as s:
        service.import_kpis(session=s, records=_kpi_records(more), source="test", known=rt.known_ids)


def _reference_kpi_rows():
    return [{"agent_id": r.agent_id, "team_id": r.team, "date_from": r.date_from, "date_to": r.date_to, **r.values}
            for r in _kpi_records() if r.date_from >= PERIOD.start and r.date_to <= PERIOD.end]


@pytest.mark.parametrize("final", [False, True])
def test_sql_aggregates_equal_the_python_reference(rt, final):
    _kpis(rt)
    with rt.session() as s:
        got = service.records(session=s, settings=rt.settings, period=PERIOD, final=final)
    reference = build_records(PERIOD, _reference_kpi_rows(), _reviewed_rows(ROWS) if final else ROWS, shrinkage_n=10,
                              frt_target_s=rt.settings.performance.frt_target_seconds)
    assert _as_dicts(got) == _as_dicts(reference)


def test_sql_aggregates_keep_the_hand_computed_figures(rt):
    _kpis(rt, more=False)
    with rt.session() as s:
        agents, teams = service.records(session=s, settings=rt.settings, period=PERIOD)
    a1 = next(a for a in agents if a.agent_id == "a1")
    assert (a1.qa.n, a1.qa.mean, a1.qa.median) == (3, 90, 90)
    assert a1.qa.sd == pytest.approx(10.0) and a1.qa.adjusted == pytest.approx(1120 / 13)
    assert a1.metrics["fcr"] == pytest.approx(0.84) and a1.metrics["contacts_per_day"] == 50
    c1 = next(a for a in agents if a.agent_id == "c1")
    assert c1.qa.fatal == 1 and c1.qa.flagged == 2 and c1.qa.dimension_n == {"empathy": 2, "politeness": 3,
                                                                            "timing": 1}
    assert c1.from_transcripts["frt_within_target_share"] == pytest.approx(2 / 3)  # 12 s and 30 s of 12/31/30
    c3 = next(a for a in agents if a.agent_id == "c3")
    assert c3.team == "pre-sales" and c3.qa.n == 3
    presales = next(t for t in teams if t.team == "pre-sales")
    members = [a for a in agents if a.team == "pre-sales"]
    assert presales.qa.n == sum(a.qa.n for a in members)


def test_facts_are_derived_again_when_the_time_zone_changes(rt):
    period = parse_period("2026-09-30..2026-09-30")
    with rt.session() as s:
        before = _as_dicts(service.records(session=s, settings=rt.settings, period=PERIOD))
        assert facts.sync(s, rt.derivation) == len(ROWS)  # never derived here: derives them all
    with rt.session() as s:
        assert facts.sync(s, rt.derivation) is None
        # Derived from the stored reports, they add up as written (reviews aside: none stored here).
        after = _as_dicts(service.records(session=s, settings=rt.settings, period=PERIOD))
        assert after == before
        assert [a.agent_id for a in service.records(session=s, settings=rt.settings, period=period)[0]] == ["c2"]
    honolulu = facts.Derivation("Pacific/Honolulu", rt.derivation.frt_target_ms)  # 00:30 in Shanghai: 06:30 the day before
    with rt.session() as s:
        assert facts.sync(s, honolulu) == len(ROWS)
    with rt.session() as s:
        agents, _ = service.records(session=s, settings=rt.settings, period=period)
    assert sorted(a.agent_id for a in agents) == ["a1", "c1", "c3"]  # the rows of Shanghai's 1 October
    assert sum(a.qa.n for a in agents) == 3
