"""/v1/rules: list packs, dry-run a pack or a draft rule on a posted transcript; flagged transcripts are queryable."""

from __future__ import annotations

import textwrap

from qa_service.queue.worker import run_worker
from tests.conftest import transcript

TURNS = [
    {"role": "customer", "text": "这个理财收益怎么样"},
    {"role": "agent", "text": "放心，这个产品保证收益的"},
    {"role": "customer", "text": "我再考虑考虑"},
]


def test_list_packs_shows_versions_and_hashes(client):
    packs = {p["name"]: p for p in client.get("/v1/rules").json()}
    assert {"general", "presale", "after_sales", "complaint", "finance"} <= set(packs)
    finance = packs["finance"]
    assert finance["include"] == ["general"] and len(finance["hash"]) == 64
    fatal = {r["id"] for r in finance["rules"] if r["fatal"]}
    assert "finance.guaranteed-return" in fatal
    assert client.get("/v1/rules/finance").json()["scenario"] == "finance"
    assert client.get("/v1/rules/nope").status_code == 404
    # the scorecard's version, as every report records it (the listing left it out)
    assert packs["general"]["scorecard_version"] == "golden-oof-2026-11-28c"
    assert finance["scorecard_version"] == "golden-oof-2026-11-28c"


def test_dry_run_active_pack_returns_hits_and_score(client):
    body = client.post("/v1/rules/test", json={"pack": "finance", "transcript": {"utterances": TURNS}}).json()
    assert body["pack"] == "finance" and body["score"] == 0.0
    hits = {(h["rule_id"], h["kind"]) for h in body["hits"]}
    assert ("finance.guaranteed-return", "hit") in hits
    assert ("finance.recording-notice-missing", "missing") in hits
    assert ("finance.objection-delay", "detect") in hits
    promise = next(h for h in body["hits"] if h["rule_id"] == "finance.guaranteed-return")
    assert promise["quote"] == "保证收益" and promise["role"] == "agent" and promise["utterance_index"] == 1
    assert "fatal_rule" in {f["reason"] for f in body["flags"]}
    # The dry run scores with the worker's pipeline: every dimension, the learned ones included.
    assert set(body["dimensions"]) == {"politeness", "compliance", "objection", "negativity", "timing", "sentiment"}
    assert "objections" in body["metrics"]["objection"] and "end_sentiment" in body["metrics"]["sentiment"]


def test_dry_run_draft_rule_with_its_examples(client):
    rule = {"id": "say-thanks", "dimension": "politeness", "points": 2, "message": "致谢",
            "match": {"phrases": ["谢谢"]}, "examples": {"match": ["谢谢您"], "no_match": ["不用谢谢"]}}
    turns = [{"role": "agent", "text": "谢谢您的耐心"}]
    body = client.post("/v1/rules/test", json={"pack": "general", "rule": rule,
                                               "transcript": {"utterances": turns}}).json()
    assert body["version"].endswith("+draft")
    assert [h["rule_id"] for h in body["hits"] if h["rule_id"] == "general.say-thanks"] == ["general.say-thanks"]
    assert [(e["expected"], e["ok"]) for e in body["examples"]] == [("match", True), ("no_match", True)]


def test_dry_run_draft_pack_yaml(client):
    pack = textwrap.dedent("""\
        name: telecom
        version: "0.1"
        scenario: telecom
        include: [general]
        scorecard: {weights: {compliance: 1}}
        rules:
          - id: no-unlimited-claim
            dimension: compliance
            points: -10
            message: 宣传无限流量
            match: {phrases: [无限流量]}
            examples: {match: [这是无限流量套餐], no_match: [不是无限流量]}
        """)
    turns = [{"role": "agent", "text": "您好，这是无限流量套餐"}]
    body = client.post("/v1/rules/test", json={"pack_yaml": pack, "transcript": {"utterances": turns}}).json()
    assert body["pack"] == "telecom" and body["dimensions"]["compliance"] == 90.0
    assert body["weights"]["compliance"] == 1.0
    assert all(e["ok"] for e in body["examples"])


def test_dry_run_bad_rule_is_422_with_code(client):
    rule = {"id": "Bad Id", "dimension": "politeness", "message": "x", "match": {"regex": "("},
            "examples": {"match": ["a"], "no_match": ["b"]}}
    resp = client.post("/v1/rules/test", json={"rule": rule, "transcript": {"utterances": TURNS}})
    assert resp.status_code == 422
    msgs = [d["msg"] for d in resp.json()["detail"]]
    assert any(m.startswith("R002") and "kebab-case" in m for m in msgs)
    assert any(m.startswith("R003") and "invalid regex" in m for m in msgs)
    resp = client.post("/v1/rules/test", json={"pack": "nope", "transcript": {"utterances": TURNS}})
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", "pack"]
    resp = client.post("/v1/rules/test", json={"pack": "general", "transcript": {"utterances": []}})
    assert resp.status_code == 422 and "utterances" in str(resp.json()["detail"][0]["loc"])


def test_dry_run_of_a_backtracking_regex_is_422_not_a_stalled_api(client):
    """Any QA reader may dry-run a draft; a pattern that backtracks for hours stops at the engine's budget."""
    rule = {"id": "stall", "dimension": "politeness", "points": -1, "message": "x", "role": "customer",
            "match": {"regex": "^(a|aa)+$"}, "examples": {"match": ["aaa"], "no_match": ["b"]}}
    turns = [{"role": "agent", "text": "您好"}, {"role": "customer", "text": "a" * 40 + "b"}]
    resp = client.post("/v1/rules/test", json={"pack": "general", "rule": rule, "transcript": {"utterances": turns}})
    assert resp.status_code == 422
    (detail,) = resp.json()["detail"]
    assert detail["code"] == "R009" and detail["loc"] == ["body", "rule"]
    assert "general.stall" in detail["msg"] and "turn 1" in detail["msg"] and "backtracks" in detail["msg"]
    # The same draft on text it decides quickly is an ordinary dry run.
    turns[1]["text"] = "aaaa"
    body = client.post("/v1/rules/test", json={"pack": "general", "rule": rule,
                                               "transcript": {"utterances": turns}}).json()
    assert [h["utterance_index"] for h in body["hits"] if h["rule_id"] == "general.stall"] == [1]


def test_flagged_transcripts_are_queryable_by_reason(client, settings):
    fatal = client.post("/v1/transcripts", json=transcript("fatal", scenario="finance", utterances=TURNS)).json()["id"]
    clean = client.post("/v1/transcripts", json=transcript("clean", utterances=[
        {"role": "customer", "text": "在吗"}, {"role": "agent", "text": "您好，请问有什么可以帮您"},
        {"role": "customer", "text": "没事了"}, {"role": "agent", "text": "好的，祝您生活愉快，再见"},
    ])).json()["id"]
    run_worker(settings, burst=True, reconcile=False)
    got = client.get(f"/v1/transcripts/{fatal}").json()["report"]
    assert got["fatal"] is True and got["score"] == 0.0 and got["rule_pack"] == "finance"
    assert any(f["fatal"] for f in got["findings"])
    ids = [t["id"] for t in client.get("/v1/transcripts", params={"flagged": "true", "reason": "fatal_rule"}).json()["items"]]
    assert ids == [fatal]
    unflagged = [t["id"] for t in client.get("/v1/transcripts", params={"flagged": "false"}).json()["items"]]
    assert clean in unflagged and fatal not in unflagged


MINE = textwrap.dedent("""\
    name: mine
    version: "1.0"
    scenario: mine
    include: [general]
    rules:
      - id: no-guarantee
        dimension: compliance
        points: -10
        message: 承诺保证
        match: {phrases: [百分百保证]}
        examples: {match: [我们百分百保证到货], no_match: [我们不能百分百保证]}
    """)


def _client_on(tmp_path, db_url, redis_url, mine: str):
    import shutil

    from fastapi.testclient import TestClient

    from qa_service.app import create_app
    from qa_service.config import DEFAULT_RULES_DIR
    from tests.conftest import make_settings

    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules)
    (rules / "mine.yaml").write_text(mine, encoding="utf-8")
    return rules, TestClient(create_app(make_settings(tmp_path, db_url, redis_url, scoring={"rules_dir": rules})))


def test_pack_without_scorecard_is_listed_and_scored_with_generals(tmp_path, db_url, redis_url, redis_conn):
    """A pack without ``scorecard:`` used to make GET /v1/rules a 500 for every pack."""
    _, client = _client_on(tmp_path, db_url, redis_url, MINE)
    with client:
        packs = {p["name"]: p for p in client.get("/v1/rules").json()}
        assert packs["mine"]["weights"] == packs["general"]["weights"] and packs["mine"]["reload_error"] is None
        assert packs["mine"]["scorecard_version"] == packs["general"]["scorecard_version"] is not None
        body = client.post("/v1/rules/test", json={"pack": "mine", "transcript": {"utterances": [
            {"role": "agent", "text": "您好，我们百分百保证到货"}]}}).json()
        assert body["dimensions"]["compliance"] < 100 and body["weights"]["compliance"] > 0


def test_example_turn_without_a_speaker_is_422_naming_the_rule(client):
    rule = {"id": "x-rule", "dimension": "politeness", "message": "x", "match": {"phrases": ["您好"]},
            "examples": {"match": [["顾问：您好"]], "no_match": ["再见"]}}
    resp = client.post("/v1/rules/test", json={"pack": "general", "rule": rule, "transcript": {"utterances": TURNS}})
    assert resp.status_code == 422
    (detail,) = resp.json()["detail"]
    assert detail["code"] == "R002" and detail["loc"] == ["body", "rule"]
    assert "general.x-rule" in detail["msg"] and "'顾问：您好' must start with 客户： or 坐席：" in detail["msg"]


def test_edit_whose_examples_fail_is_not_reloaded_and_is_shown(tmp_path, db_url, redis_url, redis_conn):
    """Hot reload runs the examples as ``qa rules check`` does; the refused edit is ``reload_error``."""
    rules, client = _client_on(tmp_path, db_url, redis_url, MINE.replace("include: [general]", "include: [general]\n"
                                                                          "scorecard: {weights: {compliance: 1}}"))
    with client:
        runtime = client.app.state.runtime
        old = client.get("/v1/rules/mine").json()
        (rules / "mine.yaml").write_text(MINE.replace('"1.0"', '"1.1"').replace("no_match: [我们不能百分百保证]",
                                                                                 "no_match: [百分百保证]"), "utf-8")
        assert runtime.rulebook.reload_if_changed(force=True) is False
        now = client.get("/v1/rules/mine").json()
        assert now["version"] == "1.0" and now["hash"] == old["hash"]
        assert now["reload_error"].startswith("R006 rules/mine.yaml:mine.no-guarantee: example '百分百保证'")
        assert all(p["reload_error"] == now["reload_error"] for p in client.get("/v1/rules").json())
        (rules / "mine.yaml").write_text(MINE.replace('"1.0"', '"1.2"'), "utf-8")
        assert runtime.rulebook.reload_if_changed(force=True) is True
        now = client.get("/v1/rules/mine").json()
        assert now["version"] == "1.2" and now["reload_error"] is None


def test_dry_run_redacts_as_ingest_does_and_scores_as_production(client, settings):
    """Found by a probe: the dry run scored the text as posted, so a phone number an agent read out was a
    leak finding (quoted in clear) and cost compliance points that the stored, redacted conversation
    never showed. Now it is redacted first, under the source's overrides, and scores as the stored one."""
    turns = [{"role": "agent", "text": "你的手机13812345678我记下了，你自己去问快递"}]
    tid = client.post("/v1/transcripts", json=transcript("pii-dry", utterances=turns)).json()["id"]
    run_worker(settings, burst=True, reconcile=False)
    stored = client.get(f"/v1/transcripts/{tid}").json()
    assert stored["utterances"][0]["text"] == "你的手机[手机号]我记下了，你自己去问快递"
    body = client.post("/v1/rules/test", json={"transcript": {"utterances": turns}}).json()
    assert "13812345678" not in str(body)
    report = stored["report"]
    assert body["score"] == report["score"]
    assert body["dimensions"] == report["dimensions"]
    assert sorted((f["rule_id"], f["quote"], f["points"]) for f in body["findings"]) == \
        sorted((f["rule_id"], f["quote"], f["points"]) for f in report["findings"])
    assert not any(h["rule_id"] == "general.leak-personal-data" for h in body["hits"])


def test_dry_run_applies_the_sources_redaction_overrides(tmp_path, sqlite_url, redis_url, redis_conn):
    from fastapi.testclient import TestClient

    from qa_service.app import create_app
    from qa_service.config import PIISettings, SourcePII
    from tests.conftest import make_settings

    pii = PIISettings(sources={"internal-test": SourcePII(redact=False)})
    turns = [{"role": "agent", "text": "你的手机13812345678我记下了"}]
    with TestClient(create_app(make_settings(tmp_path, sqlite_url, redis_url, pii=pii))) as client:
        raw = client.post("/v1/rules/test", json={"transcript": {"source": "internal-test", "utterances": turns}})
        assert "13812345678" in raw.text  # that source is stored unredacted: so is it tried
        redacted = client.post("/v1/rules/test", json={"transcript": {"source": "crm", "utterances": turns}})
        assert "13812345678" not in redacted.text and "[手机号]" in redacted.text
