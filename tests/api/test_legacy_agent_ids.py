"""Agent ids an earlier release stored in full width (``ＡＢ０１``, ``０００１２６``) are not rewritten by the
upgrade, and every ``agent_id`` filter folds what it is given: they were matched by no value of the filter, so
their conversations vanished from ``?agent_id=`` and their KPI rows could not be deleted (review of 2026-11-29,
defect 1). A filter now matches the id as sent and its folded form (``agent_id IN (:sent, :folded)``)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import update

from qa_service.storage.tables import Agent, AgentKpi, Transcript
from tests.api.test_review_api import api, finding, report, sessions_for, store  # noqa: F401 (fixtures)
from tests.test_cli_ops import _env, _invoke

LOW = {"politeness": (50, 1.0, [finding("politeness", "general.rude-dismissive", -10)])}


def _as_stored_before(sessions, tid: int, agent: str) -> None:
    """Give a conversation the id as a release before 2026-11-29 stored it: as sent, full width and all."""
    with sessions() as s, s.begin():
        if s.get(Agent, agent) is None:
            s.add(Agent(id=agent))
            s.flush()
        s.execute(update(Transcript).where(Transcript.id == tid).values(agent_id=agent))


def _ids(client, path: str, **params) -> list[int]:
    body = client.get(path, params=params).json()
    return sorted(item.get("transcript_id", item["id"]) for item in body["items"])


def test_conversations_stored_under_a_full_width_id_are_found_by_asking_in_full_width(api, sessions_for):  # noqa: F811
    client, runtime = api, api.app.state.runtime
    old = store(client, sessions_for, "LG-old", report(LOW), agent="ＡＢ０１")
    new = store(client, sessions_for, "LG-new", report(LOW), agent="AB01")  # folded at ingest
    _as_stored_before(sessions_for, old, "ＡＢ０１")

    assert _ids(client, "/v1/transcripts", agent_id="ＡＢ０１") == [old, new]  # was [] (asked as AB01 only)
    assert _ids(client, "/v1/transcripts", agent_id="AB01") == [new]  # half width finds the half-width rows
    assert _ids(client, "/v1/reviews", agent_id="ＡＢ０１") == [old, new]
    assigned = client.post("/v1/reviews/assign", json={"reviewers": ["qa-li"], "agent_id": "ＡＢ０１", "by": "lead"})
    assert assigned.status_code == 200 and len(assigned.json()["assigned"]) == 2, assigned.text

    rid = client.get(f"/v1/transcripts/{old}/review").json()["id"]
    done = client.post(f"/v1/reviews/{rid}/complete", json={"by": "qa-li", "confirm_rest": True}).json()
    appeal = client.post(f"/v1/reviews/{rid}/appeals", json={"finding_id": done["findings"][0]["id"],
                                                             "reason": "并无此事", "by": "lead"})
    assert appeal.status_code == 201, appeal.text
    assert [a["id"] for a in client.get("/v1/appeals", params={"agent_id": "ＡＢ０１"}).json()["items"]] == \
        [appeal.json()["id"]]

    env = _env(runtime.settings)
    result = _invoke(["rescore", "--all", "--agent", "ＡＢ０１", "--dry-run"], env)
    out = " ".join(result.output.split())  # was exit 2: "no conversation at all is filed under agent 'AB01'"
    assert result.exit_code == 0 and "1 scored transcript(s) to score again" in out, out


def test_kpi_rows_stored_under_a_full_width_id_are_listed_appraised_and_deleted(api, sessions_for):  # noqa: F811
    client, runtime = api, api.app.state.runtime
    with sessions_for() as s, s.begin():  # as a release before 2026-11-29 stored an import of ０００１２６
        s.add(Agent(id="０００１２６"))
        s.flush()
        s.add(AgentKpi(agent_id="０００１２６", date_from=date(2026, 10, 1), date_to=date(2026, 10, 1), contacts=40,
                       source="old"))
    r = client.post("/v1/kpis", content="坐席工号,日期,接待量\n０００１２６,2026-10-02,30\n".encode(),
                    headers={"Content-Type": "text/csv"})
    assert r.status_code == 200 and r.json()["inserted"] == 1, r.text  # stored as 000126

    listed = client.get("/v1/kpis", params={"period": "2026-10", "agent_id": "０００１２６"}).json()
    assert sorted(k["agent_id"] for k in listed) == ["000126", "０００１２６"]
    assert [k["agent_id"] for k in client.get("/v1/kpis", params={"period": "2026-10", "agent_id": "000126"}).json()
            ] == ["000126"]
    perf = client.get("/v1/performance", params={"period": "2026-10", "agent_id": "０００１２６"}).json()
    assert sorted(a["agent_id"] for a in perf["agents"]) == ["000126", "０００１２６"]  # two agents until merged
    rows = client.get("/v1/appraisals", params={"period": "2026-10", "agent_id": "０００１２６"}).json()["rows"]
    assert sorted(row["agent_id"] for row in rows) == ["000126", "０００１２６"]

    dry = client.delete("/v1/kpis", params={"agent_id": "０００１２６", "all": "true", "dry_run": "true"}).json()
    assert (dry["agent_id"], dry["matched"], dry["deleted"]) == ("000126", 2, 0)
    gone = client.delete("/v1/kpis", params={"agent_id": "０００１２６", "period": "2026-10-01"}).json()
    assert gone["deleted"] == 1  # was 0: no route or command could delete the legacy row
    assert [k["agent_id"] for k in client.get("/v1/kpis", params={"period": "2026-10"}).json()] == ["000126"]

    with sessions_for() as s, s.begin():
        s.add(AgentKpi(agent_id="０００１２６", date_from=date(2026, 10, 3), date_to=date(2026, 10, 3), contacts=9,
                       source="old"))
    env = _env(runtime.settings)
    result = _invoke(["delete-kpis", "--agent", "０００１２６", "--period", "2026-10-03", "--yes"], env)
    assert result.exit_code == 0 and "deleted 1 KPI row(s)" in " ".join(result.output.split()), result.output
    assert [k["agent_id"] for k in client.get("/v1/kpis", params={"period": "2026-10"}).json()] == ["000126"]


def test_status_counts_the_agent_ids_stored_before_they_were_folded(api, sessions_for):  # noqa: F811
    client, env = api, _env(api.app.state.runtime.settings)
    old = store(client, sessions_for, "ST-old", report(LOW), agent="AB01")
    store(client, sessions_for, "ST-new", report(LOW), agent="ＡＢ０１")  # stored as AB01
    store(client, sessions_for, "ST-circled", report(LOW), agent="①")  # no width to fold
    assert "full width" not in _invoke(["status"], env).output
    _as_stored_before(sessions_for, old, "ＡＢ０１")
    with sessions_for() as s, s.begin():
        s.add(Agent(id="０００１２６"))
    out = " ".join(_invoke(["status"], env).output.split())
    assert ("agent ids stored in full width by a release before 2026-11-29: 2 (e.g. ０００１２６, ＡＢ０１); kept as "
            "stored; asked for in full width (?agent_id=０００１２６) an agent's rows of both forms are found; 1 also "
            "stored in half width, one person as two agents") in out, out
