"""``qa import --scenario``: a pasted text log (which cannot say its scenario) and the transcripts of a file that
set none get the scenario given, so the pack serving it scores them; one a transcript sets is kept. A scenario
no pack serves is warned of. Before, every text log was scored with the default pack, silently."""

from __future__ import annotations

import json

from sqlalchemy import select
from typer.testing import CliRunner

from qa_service.cli import app
from qa_service.storage.db import create_db_engine, session_factory
from qa_service.storage.tables import Transcript
from tests.conftest import make_settings, transcript

runner = CliRunner()


def test_import_scenario_applies_to_what_sets_none_and_warns_of_an_unserved_one(tmp_path, sqlite_url, redis_url,
                                                                                redis_conn):
    settings = make_settings(tmp_path, sqlite_url, redis_url)
    env = {"QA_DB__URL": sqlite_url, "QA_REDIS__URL": redis_url, "QA_REDIS__QUEUE": settings.redis.queue}
    log = tmp_path / "log1.txt"
    log.write_text("客户：我家宽带装了吗\n客服：您好，保证明天到\n", encoding="utf-8")
    result = runner.invoke(app, ["import", str(log), "--source", "paste", "--scenario", "complaint"], env=env)
    assert result.exit_code == 0 and "'accepted': 1" in result.output, result.output
    assert "warning" not in result.output  # complaint has its pack
    lines = tmp_path / "t.jsonl"
    lines.write_text("\n".join(json.dumps(t, ensure_ascii=False) for t in [
        transcript("own", scenario="finance"), transcript("none"), transcript("null", scenario=None)]) + "\n",
        encoding="utf-8")
    result = runner.invoke(app, ["import", str(lines), "--scenario", "broadband_install"], env=env)
    said = " ".join(result.output.split())
    assert result.exit_code == 0 and "'accepted': 3" in said, result.output
    assert said.count("warning: scenario 'broadband_install' has no rule pack; scored with the default pack "
                      "'general'") == 1, result.output  # once, for the two transcripts it applied to
    with session_factory(create_db_engine(settings))() as s:
        stored = dict(s.execute(select(Transcript.external_id, Transcript.scenario)).all())
    assert stored == {"log1": "complaint", "own": "finance", "none": "broadband_install", "null": "broadband_install"}
    assert "--scenario" in runner.invoke(app, ["import", "--help"]).output
