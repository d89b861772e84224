"""``qa rescore``: stored conversations scored again with the packs and models as they are now (after a
pack was fixed). Only the chosen ones; each keeps one report; the figures follow (no double count); one
under review or reviewed is left as it is."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from qa_service.app import create_app
from qa_service.domain import DimensionScore, Finding, QAReport, Role, Severity
from qa_service.domain import Flag as ReportFlag
from qa_service.queue.tasks import record_report
from qa_service.queue.worker import run_worker
from qa_service.storage import transcripts as repo
from qa_service.storage.db import session_scope
from qa_service.storage.tables import Report
from tests.conftest import make_settings, transcript
from tests.test_cli_ops import _env, _invoke


def _stored(client, external_id: str, **fields) -> int:
    """A transcript with a made-up report of 40 (one -60 finding): not what the pipeline would say."""
    r = client.post("/v1/transcripts", json=transcript(external_id, **fields))
    assert r.status_code == 202, r.text
    tid = r.json()["id"]
    text = transcript()["utterances"][1]["text"]
    made_up = Finding("politeness", "general.made-up", 1, (0, 2), text[:2], -60, Severity.major, Role.agent, "编造")
    report = QAReport(score=40.0, dimensions={"politeness": DimensionScore("politeness", 40.0, "1",
                                                                            findings=[made_up])},
                      weights={"politeness": 1.0}, scorer_versions={}, rule_pack="general", fatal=False,
                      report_flags=[ReportFlag("low_score", Severity.major, "低分")], pass_mark=60.0)
    with session_scope(client.app.state.runtime.sessions) as s:
        record_report(session=s, transcript_id=tid, report=report)
    return tid


def _agent(client, agent: str) -> dict:
    """The agent's QA figures for October (n, mean, …)."""
    rows = client.get("/v1/performance", params={"period": "2026-10"}).json()["agents"]
    return next(r for r in rows if r["agent_id"] == agent)["qa"]


def test_rescore_scores_the_chosen_conversations_again_and_the_figures_follow(tmp_path, db_url, redis_url, redis_conn):
    settings = make_settings(tmp_path, db_url, redis_url)
    env = _env(settings)
    with TestClient(create_app(settings)) as client:
        sessions = client.app.state.runtime.sessions
        chosen = _stored(client, "oct-a")  # agent a7, team after-sales; flagged: its review is queued
        chosen_too = _stored(client, "oct-c", started_at="2026-10-31T23:30:00+08:00")  # the period's last hour
        reviewed = _stored(client, "oct-r")  # its review done: a reviewer's verdicts are on its findings
        other_team = _stored(client, "oct-b", agent_id="a8", team="presale")
        other_month = _stored(client, "sep-a", started_at="2026-09-15T09:30:00+08:00")
        reviews = {r["transcript_id"]: r["id"] for r in client.get("/v1/reviews").json()["items"]}
        done = client.post(f"/v1/reviews/{reviews[reviewed]}/complete", json={"by": "qa-li", "confirm_rest": True})
        assert done.json()["status"] == "done", done.text
        assert (_agent(client, "a7")["n"], _agent(client, "a7")["mean"]) == (3, 40.0)

        result = _invoke(["rescore", "--period", "2026-10", "--team", "after-sales", "--dry-run"], env)
        out = " ".join(result.output.split())
        assert result.exit_code == 0 and "2 scored transcript(s) to score again; 1 under review or reviewed" in out, out
        result = _invoke(["rescore", "--period", "2026-10", "--team", "after-sales"], env)  # asks; no answer
        assert result.exit_code == 1 and "score them again?" in result.output
        result = _invoke(["rescore", "--period", "2026-10", "--team", "after-sales", "--batch", "1", "--yes"], env)
        assert result.exit_code == 0, result.output
        assert "2 transcript(s) marked to be scored again; 2 queued now" in " ".join(result.output.split())
        result = _invoke(["rescore", "--period", "2026-10", "--team", "after-sales", "--dry-run"], env)  # again
        out = " ".join(result.output.split())
        assert "0 scored transcript(s) to score again" in out and "2 already wait to be scored" in out, out
        for typo in (["--team", "aftersales"], ["--agent", "a77"], ["--source", "jd"]):
            result = _invoke(["rescore", "--period", "2026-10", *typo, "--dry-run"], env)
            assert result.exit_code == 2 and "no conversation at all is filed under" in result.output, result.output
        result = _invoke(["rescore", "--period", "2026-10", "--agent", "a8", "--team", "after-sales", "--dry-run"], env)
        assert result.exit_code == 0 and "0 scored transcript(s)" in result.output  # both exist, never together
        with sessions() as s:
            assert [repo.get(session=s, transcript_id=i).status
                    for i in (chosen, chosen_too, reviewed, other_team, other_month)] == \
                ["queued", "queued", "scored", "scored", "scored"]

        run_worker(settings, burst=True, reconcile=False)
        with sessions() as s:
            for tid in (chosen, chosen_too):
                row = repo.get(session=s, transcript_id=tid)
                assert (row.status, row.attempts) == ("scored", 1)
                assert s.scalar(select(func.count(Report.id)).where(Report.transcript_id == tid)) == 1
        again = client.get(f"/v1/transcripts/{chosen}").json()["report"]
        assert again["score"] != 40.0 and "general.made-up" not in {f["rule_id"] for f in again["findings"]}
        a7 = _agent(client, "a7")  # two scores replaced, not added; the reviewed one's kept
        assert (a7["n"], a7["mean"]) == (3, round((2 * again["score"] + 40.0) / 3, 2))
        for untouched in (reviewed, other_team, other_month):
            assert client.get(f"/v1/transcripts/{untouched}").json()["report"]["score"] == 40.0
        assert _agent(client, "a8")["mean"] == 40.0
        kept = client.get(f"/v1/reviews/{reviews[reviewed]}").json()
        assert (kept["status"], kept["completed_by"], kept["final_score"]) == ("done", "qa-li", 40.0)
        queued = client.get(f"/v1/reviews/{reviews[chosen]}").json()  # a queued entry follows its new report
        assert queued["status"] == "queued" and queued["machine_score"] == again["score"]


def test_rescore_needs_a_period_or_all_and_a_period_it_can_read(client, settings):
    env = _env(settings)
    for args in (["rescore"], ["rescore", "--period", "2026-10", "--all"]):
        result = _invoke(args, env)
        assert result.exit_code == 2 and "give --period or --all" in result.output, result.output
    result = _invoke(["rescore", "--period", "2026-13"], env)
    assert result.exit_code == 2 and "--period" in result.output
    result = _invoke(["rescore", "--all"], env)  # nothing stored: says so, changes nothing
    out = " ".join(result.output.split())
    assert result.exit_code == 0 and "all periods: 0 scored transcript(s) to score again" in out, out  # was "every day:"
