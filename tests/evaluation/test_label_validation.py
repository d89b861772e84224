"""``qa eval`` checks every label line against the format (data/golden/GUIDE.md) before scoring anything:
a malformed file gets "FILE:LINE: field: problem" lines and exit 2, never a traceback or a silently wrong
figure; the golden set's own lines all pass."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from qa_service.cli import app
from qa_service.evaluation.labels import MAX_PROBLEMS, LabelError, load_labels
from qa_service.evaluation.run import corpus_index
from tests.conftest import REPO, SHARED_DATA

UTTERANCES = [{"role": "agent", "text": "您好，请问有什么可以帮您"},
              {"role": "customer", "text": "快递三天了还没到"},
              {"role": "agent", "text": "抱歉，我马上帮您催一下"},
              {"role": "customer", "text": "好的谢谢"}]


def good(**fields) -> dict:
    rec = {"id": "t-1", "greeting": True, "greeting_turn": 0, "closing": False, "closing_turn": None,
           "apology_turns": [2], "rude": [], "objections": [{"turns": [1], "type": "delay", "answer_turn": 2,
                                                            "handled": "yes"}],
           "negative_turns": [1], "angry_turns": [], "escalation_turns": [], "end_sentiment": "positive",
           "resolved": "yes", "quality": 4, "utterances": UTTERANCES}
    rec.update(fields)
    return {k: v for k, v in rec.items() if v is not ...}  # ... drops a field


def line(rec) -> str:
    return json.dumps(rec, ensure_ascii=False)


FIRST = line(good(id="t-0"))  # a valid line 1: the bad line is line 2
RULE_LINE = (REPO / "tests" / "data" / "rule_labels.jsonl").read_text(encoding="utf-8").splitlines()[0]

# (case, line 2 of the file, what the message must name after "FILE:2: ")
CASES = [
    ("not JSON", "{\"id\": \"t-1\", greeting: true}", "not JSON"),
    ("no id", line(good(id=...)), "id: missing"),
    ("numeric id", line(good(id=12345)), "id: expected a non-empty string"),
    ("array line", json.dumps([good()]), "a label line is a JSON object"),
    ("unknown role", line(good(utterances=[*UTTERANCES[:3], {"role": "boss", "text": "我是老板"}])),
     "utterances[3].role: \"boss\" is not one of agent, customer"),
    ("turn without role", line(good(utterances=[*UTTERANCES[:3], {"text": "好的谢谢"}])),
     "utterances[3].role: missing"),
    ("rude without turn", line(good(rude=[{"quote": "抱歉"}])), "rude[0].turn: missing"),
    ("objections a string", line(good(objections="delay")), "objections: expected a list"),
    ("rule-label line", RULE_LINE, "labels: values nested under \"labels\" are the rule-label format"),
    ("turn index a string", line(good(negative_turns=["3"])),
     "negative_turns[0]: turn index \"3\" is not an integer"),
    ("turn out of range", line(good(negative_turns=[999])), "negative_turns[0]: turn 999 is outside"),
    ("negative turn", line(good(negative_turns=[-1])), "negative_turns[0]: turn -1 is outside"),
    ("turn of the wrong role", line(good(negative_turns=[0])), "negative_turns[0]: turn 0 is an agent turn"),
    ("quality 0", line(good(quality=0)), "quality: 0 is not an integer 1–5"),
    ("quality 7", line(good(quality=7)), "quality: 7 is not an integer 1–5"),
    ("quality high", line(good(quality="high")), "quality: \"high\" is not an integer 1–5"),
    ("quality true", line(good(quality=True)), "quality: true is not an integer 1–5"),
    ("end_sentiment case", line(good(end_sentiment="Negative")), "end_sentiment: \"Negative\" is not one of"),
    ("handled unknown", line(good(objections=[{"turns": [1], "type": "delay", "handled": "maybe"}])),
     "objections[0].handled: \"maybe\" is not one of yes, partial, no"),
    ("greeting a string", line(good(greeting="yes")), "greeting: expected true or false"),
    ("unknown field", line(good(negative_turn=[1])),
     "negative_turn: unknown field (did you mean 'negative_turns'?)"),
    ("no label fields", line({"id": "t-1", "utterances": UTTERANCES}), "no label fields"),
    ("duplicate id", FIRST, "id: duplicate id \"t-0\" (first on line 1)"),
    # Was accepted: a rude quote that is not in its turn (GUIDE.md: a verbatim part of it) …
    ("rude quote not in its turn", line(good(rude=[{"turn": 2, "quote": "你自己看着办"}])),
     "rude[0].quote: \"你自己看着办\" is not in turn 2 (\"抱歉，我马上帮您催一下\"): quote the words as the turn has them"),
    # … and a key given twice, the last value kept silently
    ("key given twice", line(good()).replace('"greeting": true', '"greeting": true, "greeting": false'),
     "greeting: given twice in the line (true, then false): give each field once"),
    ("key given twice in an entry", line(good(objections=[{"turns": [1], "type": "delay", "handled": "yes"}])).replace(
        '"handled": "yes"', '"handled": "yes", "handled": "no"'), "handled: given twice in the line"),
]


@pytest.mark.parametrize("bad, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_malformed_label_is_refused_naming_line_and_field(tmp_path, bad, expected):
    path = tmp_path / "labels.jsonl"
    path.write_text(f"{FIRST}\n{bad}\n", encoding="utf-8")
    with pytest.raises(LabelError) as err:  # a ValueError
        load_labels(path)
    assert isinstance(err.value, ValueError) and f"{path}:2: {expected}" in str(err.value)
    out = CliRunner().invoke(app, ["eval", str(path)])
    assert out.exit_code == 2, out.output
    assert "Traceback" not in out.output and f"{path}:2: {expected}" in out.output


def test_a_gbk_file_is_refused_naming_the_encoding(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_bytes((FIRST + "\n").encode("gbk"))
    out = CliRunner().invoke(app, ["eval", str(path)])
    assert out.exit_code == 2 and "Traceback" not in out.output
    assert f"{path}:1: not UTF-8 text" in out.output and "must be UTF-8" in out.output
    assert "iconv -f GBK -t UTF-8" in " ".join(out.output.split())


def test_a_utf16_file_is_refused_with_the_utf16_conversion(tmp_path):
    """Excel's "Unicode 文本" is UTF-16 with a byte-order mark (FF FE). Was: advised iconv -f GBK."""
    path = tmp_path / "labels.jsonl"
    path.write_text(FIRST + "\n", encoding="utf-16")
    assert path.read_bytes()[:2] == b"\xff\xfe"
    out = CliRunner().invoke(app, ["eval", str(path)])
    output = " ".join(out.output.split())
    assert out.exit_code == 2 and "Traceback" not in out.output
    assert "not UTF-8 text (byte 0xff at byte 1 of the line)" in output
    assert "iconv -f UTF-16 -t UTF-8" in output and "GBK" not in output


def test_a_rule_label_file_is_named_as_such_once():
    path = REPO / "tests" / "data" / "rule_labels.jsonl"
    out = CliRunner().invoke(app, ["eval", str(path)])
    assert out.exit_code == 2 and "Traceback" not in out.output
    assert "rule-label format" in out.output and out.output.count("rule-label format") == 1


def test_turns_are_checked_against_the_corpora_given_with_data(tmp_path):
    corpora = tmp_path / "data"
    (corpora / "csds").mkdir(parents=True)
    (corpora / "csds" / "csds.jsonl").write_text(json.dumps({"id": "c-1", "turns": UTTERANCES}) + "\n",
                                                 encoding="utf-8")
    path = tmp_path / "labels.jsonl"
    path.write_text(line(good(id="c-1", utterances=..., escalation_turns=[4])) + "\n", encoding="utf-8")
    load_labels(path)  # without the text, an index is only checked to be a whole number
    outside = r"labels.jsonl:1: escalation_turns\[0\]: turn 4 is outside .*0\.\.3"
    with pytest.raises(LabelError, match=outside):
        load_labels(path, corpus_index(corpora))
    out = CliRunner().invoke(app, ["eval", str(path), "--data", str(corpora)])
    assert out.exit_code == 2 and "escalation_turns[0]: turn 4 is outside" in out.output


def test_problems_are_collected_over_the_file_and_capped(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text("\n".join(line(good(id=f"t-{i}", quality=9)) for i in range(30)) + "\n", encoding="utf-8")
    with pytest.raises(LabelError) as err:
        load_labels(path)
    assert len(err.value.problems) == 30
    message = str(err.value).splitlines()
    assert message[0] == f"{path}: 30 problems in the labels (format: data/golden/GUIDE.md)"
    assert len(message) == 1 + MAX_PROBLEMS + 1 and message[-1] == "… and 10 more"
    assert message[1] == f"{path}:1: quality: 9 is not an integer 1–5"


def test_every_golden_label_line_validates():
    golden = REPO / "data" / "golden"
    corpora = corpus_index(SHARED_DATA) if SHARED_DATA.exists() else None  # turn ranges and roles too
    for name in ("labels.jsonl", "reread.jsonl", "train_extra.jsonl", "train_extra2.jsonl"):
        lines = [x for x in (golden / name).read_text(encoding="utf-8").splitlines() if x.strip()]
        assert len(load_labels(golden / name, corpora)) == len(lines), name
    assert len(load_labels(REPO / "tests" / "data" / "golden_sample.jsonl")) == 14


@pytest.mark.parametrize("case", ["csv", "tsv", "array", "pretty", "xlsx"])
def test_a_file_in_another_format_gets_one_line_naming_it(tmp_path, case):
    """Was: an Excel CSV, a JSON array or pretty-printed JSON got one "not JSON" line per line of the file (67 for
    a three-label array), never saying what the file was or what was expected."""
    recs = [good(id=f"t-{i}") for i in range(3)]
    path = tmp_path / "labels.jsonl"
    content = {
        "csv": "id,greeting,closing,apology_turns,quality\nt-0,TRUE,TRUE,\"[2]\",4\nt-1,FALSE,TRUE,\"[]\",3\n",
        "tsv": "id\tgreeting\tquality\nt-0\tTRUE\t4\n",
        "array": json.dumps(recs, ensure_ascii=False, indent=1),
        "pretty": "\n".join(json.dumps(r, ensure_ascii=False, indent=2) for r in recs),
    }
    if case == "xlsx":
        path.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    else:
        path.write_text(content[case], encoding="utf-8")
    expected = {"csv": "this looks like a CSV or spreadsheet export (first line: id,greeting,closing",
                "tsv": "this looks like a CSV or spreadsheet export", "array": "the file is one JSON array of 3 entries",
                "pretty": "the file's 3 JSON object(s) are spread over", "xlsx": "this is an Excel workbook"}[case]
    with pytest.raises(LabelError) as err:
        load_labels(path)
    assert len(err.value.problems) == 1
    assert err.value.problems[0].startswith(f"{path}: {expected}"), err.value.problems[0]
    assert "qa eval reads JSON Lines, one label object per line" in err.value.problems[0]
    out = CliRunner().invoke(app, ["eval", str(path)])
    assert out.exit_code == 2 and "not JSON" not in out.output and expected in " ".join(out.output.split())


def test_a_json_lines_file_with_a_bad_line_still_names_that_line(tmp_path):
    """Only a file that is another format whole gets the one line; a bad line among good ones is named."""
    path = tmp_path / "labels.jsonl"
    path.write_text(f"{FIRST}\n{{\"id\": \"t-1\", greeting: true}}\n{line(good(id='t-2'))}\n", encoding="utf-8")
    with pytest.raises(LabelError) as err:
        load_labels(path)
    assert err.value.problems == [f"{path}:2: not JSON (Expecting property name enclosed in double quotes at column 15)"]


def test_messages_show_ids_whole_and_close_the_quotes_of_cut_values(tmp_path):
    """Was: every value cut at 37 characters with its quote left open, so a JDDC id (41 characters) read
    "jddc-50eab875-7699-455e-a636-4ca6b78… and could not be read or copied."""
    jddc = "jddc-50eab875-7699-455e-a636-4ca6b78191fc"
    path = tmp_path / "labels.jsonl"
    long_role = "客服" * 40
    path.write_text(line(good(id=jddc)) + "\n" + line(good(id=jddc, utterances=[
        *UTTERANCES[:3], {"role": long_role, "text": "好的"}])) + "\n", encoding="utf-8")
    with pytest.raises(LabelError) as err:
        load_labels(path)
    problems = err.value.problems
    assert f"{path}:2: id: duplicate id \"{jddc}\" (first on line 1)" in problems
    role = next(p for p in problems if "utterances[3].role" in p)
    assert f"\"{long_role[:39]}…\" is not one of" in role  # cut, and the quote closed
