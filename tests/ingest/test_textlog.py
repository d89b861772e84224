"""Plain-text logs and corpus JSONL into the API shape."""

from __future__ import annotations

import json

import pytest

from qa_service.errors import TextLogError
from qa_service.ingest.textlog import from_corpus_record, parse_text_log, read_transcripts


def test_parse_text_log_all_speaker_forms():
    log = "客户：你好，快递三天没到\n客服：您好，请提供订单号\n用户:123456\n后面还有一行\n坐席:好的，正在为您查询\n"
    utts = parse_text_log(log)
    assert [u["role"] for u in utts] == ["customer", "agent", "customer", "agent"]
    assert utts[2]["text"] == "123456\n后面还有一行"
    assert utts[3]["text"] == "好的，正在为您查询"


def test_parse_text_log_reads_times_as_start_ms():
    utts = parse_text_log("[00:00:05] 客服：您好\n客户 00:01:02：你好")
    assert [u.get("start_ms") for u in utts] == [5000, 62000]


def test_parse_text_log_rejects_text_without_speaker():
    with pytest.raises(TextLogError, match="line 1"):
        parse_text_log("你好\n客服：您好")
    with pytest.raises(TextLogError, match="no utterances"):
        parse_text_log("\n\n")


def test_from_corpus_record_drops_empty_turns():
    rec = {"id": "x1", "source": "stc3_dch1", "turns": [
        {"role": "customer", "text": "信号太差"}, {"role": "agent", "text": ""}, {"role": "agent", "text": "您好"}]}
    out = from_corpus_record(rec)
    assert out["source"] == "stc3_dch1" and out["external_id"] == "x1"
    assert [u["text"] for u in out["utterances"]] == ["信号太差", "您好"]


def test_read_transcripts_text_log_and_jsonl(tmp_path):
    log = tmp_path / "call-42.txt"
    log.write_text("客户：在吗\n客服：您好\n", encoding="utf-8")
    [t] = list(read_transcripts(log, source="paste"))
    assert (t["source"], t["external_id"], len(t["utterances"])) == ("paste", "call-42", 2)
    jl = tmp_path / "x.jsonl"
    jl.write_text(json.dumps({"source": "s", "external_id": "e", "utterances": [{"role": "agent", "text": "您好"}]})
                  + "\n\n", encoding="utf-8")
    assert [t["external_id"] for t in read_transcripts(jl)] == ["e"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"source": \n', encoding="utf-8")
    with pytest.raises(TextLogError, match="bad.jsonl:1"):
        list(read_transcripts(bad))
