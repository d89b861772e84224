"""negativity.v1: negative-word ratio per role with Chinese negation, evidence and points."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa_service.config import ScoringSettings
from qa_service.domain import Role, Transcript, Utterance
from qa_service.scoring.pipeline import Pipeline
from qa_service.scoring.registry import ScorerSetup, resolve
from qa_service.text import Analyzer, rule_words

CASES_FILE = Path(__file__).resolve().parent.parent / "data" / "negativity_cases.tsv"


def _cases():
    for line in CASES_FILE.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        role, text, *expected = line.split("\t")
        quotes = [q for q in (expected[0] if expected else "").split("|") if q]
        yield pytest.param(role, text, quotes, id=f"{role}:{text}")


@pytest.fixture(scope="module")
def scorer():
    s = resolve("negativity.v1")(ScorerSetup(ScoringSettings(), Analyzer(rule_words())))
    s.initialize()
    return s


def _one(role: str, text: str) -> Transcript:
    return Transcript(utterances=(Utterance(0, Role(role), text),))


@pytest.mark.parametrize("role,text,quotes", list(_cases()))
def test_negativity_negation_cases(scorer, role, text, quotes):
    result = scorer.score(_one(role, text))
    assert [f.quote for f in result.findings] == quotes
    for f in result.findings:  # evidence is verbatim, from the right speaker
        assert text[f.span[0]:f.span[1]] == f.quote
        assert f.role == Role(role)


def test_negativity_corpus_is_large_enough():
    assert len(list(_cases())) >= 40


def test_negativity_charges_agent_not_customer(scorer):
    t = Transcript(utterances=(
        Utterance(0, Role.customer, "你们太差了，垃圾，骗子"),
        Utterance(1, Role.agent, "你才垃圾，恶心"),
    ))
    result = scorer.score(t)
    assert result.score == 94.0
    agent = [f for f in result.findings if f.role == Role.agent]
    assert [(f.quote, f.points, f.utterance_index) for f in agent] == [("垃圾", -3.0, 1), ("恶心", -3.0, 1)]
    assert all(f.points == 0 for f in result.findings if f.role == Role.customer)
    assert result.metrics["negative_words"] == {"customer": 3, "agent": 2}
    assert result.metrics["negative_ratio"]["agent"] == pytest.approx(2 / 4, abs=1e-3)
    assert {f.reason for f in result.flags} == {"agent_negative_language", "customer_negative"}


def test_negativity_deduction_is_capped(scorer):
    t = Transcript(utterances=tuple(Utterance(i, Role.agent, "垃圾，恶心，无耻") for i in range(10)))
    result = scorer.score(t)
    assert result.score == 70.0
    assert sum(f.points for f in result.findings) == -30.0


def test_negativity_clean_conversation_scores_100_without_flags(scorer):
    t = Transcript(utterances=(
        Utterance(0, Role.customer, "你好，我想查一下快递"),
        Utterance(1, Role.agent, "您好，请提供订单号，我为您查询"),
    ))
    result = scorer.score(t)
    assert result.score == 100.0 and not result.findings and not result.flags


def test_pipeline_records_weights_and_versions():
    pipeline = Pipeline.from_settings(ScoringSettings(scorers=["negativity.v1"])).initialize()
    report = pipeline.score(_one("agent", "你好"))
    assert report.weights == {"negativity": 1.0}
    assert report.scorer_versions == {"negativity": "negativity.v1"}
    assert report.score == 100.0


def test_unknown_scorer_name_is_a_clear_error():
    from qa_service.errors import ScorerNotFound

    with pytest.raises(ScorerNotFound, match="negativity.v1"):
        Pipeline.from_settings(ScoringSettings(scorers=["politeness.v9"]))
    with pytest.raises(ScorerNotFound, match="could not be imported"):
        Pipeline.from_settings(ScoringSettings(scorers=["nowhere.module:Thing"]))


def test_custom_lexicon_file(tmp_path):
    lex = tmp_path / "neg.txt"
    lex.write_text("# mine\n慢吞吞\n", encoding="utf-8")
    p = Pipeline.from_settings(ScoringSettings(scorers=["negativity.v1"], negative_lexicon=lex)).initialize()
    findings = p.score(_one("customer", "处理得慢吞吞的，垃圾")).findings
    assert [f.quote for f in findings] == ["慢吞吞"]
