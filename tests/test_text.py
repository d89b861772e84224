"""Text helpers: masking keeps offsets, negation scope."""

from __future__ import annotations

import pytest

from qa_service.text import Analyzer, mask_for_matching, negation_count


@pytest.fixture(scope="module")
def analyzer():
    a = Analyzer()
    a.initialize()
    return a


def test_mask_keeps_length_and_blanks_placeholders():
    text = "[订单x]的快递#E-s[数字x]太慢_了［呵呵］"
    masked = mask_for_matching(text)
    assert len(masked) == len(text)
    assert "订单" not in masked and "数字" not in masked and "_" not in masked
    assert masked[masked.index("快递")] == "快"


def test_tokens_offsets_point_into_original(analyzer):
    text = "ＡＢＣ[金额x]退款太慢了"
    for tok in analyzer.tokens(text):
        assert text[tok.start:tok.end].translate({0xFF21 + i: 0x41 + i for i in range(26)}) == tok.text


@pytest.mark.parametrize("text,word,expected", [
    ("我不满意", "满意", 1),
    ("没有不满意", "满意", 2),
    ("我不太满意", "满意", 1),
    ("不，满意", "满意", 0),          # a comma ends the negation's scope
    ("没有人说满意", "满意", 0),        # a content word in between ends it too
    ("不是很满意", "满意", 1),
])
def test_negation_count(analyzer, text, word, expected):
    tokens = analyzer.tokens(text)
    index = next(i for i, t in enumerate(tokens) if t.text == word)
    assert negation_count(tokens, index, text) == expected


def test_forget_texts_empties_the_process_wide_text_caches():
    """Benchmarks score the same real dialogues several times in one process; each pass must start
    cold, or a later row is faster only because it has seen the texts before."""
    from qa_service.scoring.detectors.features import ngram_ids
    from qa_service.scoring.pipeline import forget_texts
    from qa_service.text import _normalize_short, normalize

    normalize("您好，请问有什么可以帮您")
    ngram_ids("您好请问", "turn", 1 << 10)
    assert _normalize_short.cache_info().currsize > 0 and ngram_ids.cache_info().currsize > 0
    forget_texts()
    assert _normalize_short.cache_info().currsize == 0 and ngram_ids.cache_info().currsize == 0
    assert normalize("您好，请问有什么可以帮您").text == "您好,请问有什么可以帮您"  # width-folded, as before


def test_fold_id_folds_width_only_one_character_for_one():
    """Was NFKC, contrary to its docstring: ① became 1, Ⅱ II, ﬁ fi and ⑴ (1), so agent ① and agent 1 were one
    agent and a 200-character id could grow past the column."""
    from qa_service.text import fold_id

    assert fold_id("０００１２６") == "000126" and fold_id("ＡＢ０１") == "AB01" and fold_id("ａｂ！～") == "ab!~"
    assert fold_id("Ａ\u3000Ｂ") == "A B"  # the ideographic space is a space
    for kept in ("①", "Ⅱ", "ﬁ", "⑴", "㈠", "ｶ", "²", "ab\u00a0c", "Ab01"):  # half-width katakana too: not ASCII
        assert fold_id(kept) == kept
    assert len(fold_id("⑴" * 200)) == 200
