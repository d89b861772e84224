"""The negation corpus (tests/data/negation_cases.tsv): negation is an operator of every rule leaf."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa_service.domain import Role, Transcript, Utterance
from qa_service.rules.engine import CompiledPack
from qa_service.rules.loader import pack_from_spec
from qa_service.rules.schema import RulePackSpec
from qa_service.text import Analyzer

CASES = Path(__file__).resolve().parents[1] / "data" / "negation_cases.tsv"


def _cases() -> list[tuple[str, str, bool, str]]:
    rows = []
    for line in CASES.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            phrase, mode, expected, sentence = line.split("\t")
            rows.append((phrase, mode, expected == "1", sentence))
    return rows


@pytest.fixture(scope="module")
def compiled_for():
    analyzer = Analyzer()
    cache: dict[tuple[str, str], CompiledPack] = {}

    def get(phrase: str, mode: str) -> CompiledPack:
        if (phrase, mode) not in cache:
            spec = RulePackSpec.model_validate({
                "name": "neg", "version": "1", "scenario": "neg",
                "scorecard": {"weights": {"compliance": 1}},
                "rules": [{"id": "probe", "dimension": "compliance", "role": "any", "kind": "detect",
                           "message": "probe", "match": {"phrases": [phrase], "negation": mode},
                           "examples": {"match": ["x"], "no_match": ["y"]}}],
            })
            cache[(phrase, mode)] = CompiledPack(pack_from_spec(spec, available={}), analyzer)
        return cache[(phrase, mode)]

    return get


def test_negation_corpus_is_big_enough():
    assert len(_cases()) >= 100


@pytest.mark.parametrize(("phrase", "mode", "expected", "sentence"), _cases(),
                         ids=[f"{c[0]}-{c[1]}-{c[3]}" for c in _cases()])
def test_negation_operator_on_corpus(compiled_for, phrase, mode, expected, sentence):
    compiled = compiled_for(phrase, mode)
    match = compiled.match(Transcript(utterances=(Utterance(0, Role.customer, sentence),)))
    assert bool(match.hits["neg.probe"]) is expected


def test_negated_hit_quotes_the_negator(compiled_for):
    compiled = compiled_for("满意", "negated")
    text = "说实话我对处理结果不太满意。"
    match = compiled.match(Transcript(utterances=(Utterance(0, Role.customer, text),)))
    (span,) = match.hits["neg.probe"][0]
    assert match.turns[0].quote(span)[1] == "不太满意"
