"""sentiment.v1: the shipped model loads offline, classifies clear sentences, drives conversation scores."""

from __future__ import annotations

import os

import pytest

from qa_service.config import ScoringSettings
from qa_service.domain import Role, Transcript, Utterance
from qa_service.errors import ConfigError
from qa_service.scoring.pipeline import Pipeline
from qa_service.scoring.sentiment import SentimentScorer
from qa_service.scoring.sentiment_backend import HybridBackend, default_model_dir, load_backend

# Real-style sentences whose polarity nobody would dispute.
CLEAR = [
    ("服务态度太差了，我要投诉你们", "negative"),
    ("质量很差，用了两天就坏了，非常失望", "negative"),
    ("垃圾商家，再也不会买了", "negative"),
    ("非常满意，谢谢你的耐心解答", "positive"),
    ("东西很好，物流也快，五星好评", "positive"),
    ("房间干净，早餐丰富，下次还来", "positive"),
]


@pytest.fixture(scope="module")
def backend():
    return load_backend(None)


def test_shipped_model_loads_offline_and_gets_clear_sentences_right(backend, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    preds = backend.predict([t for t, _ in CLEAR])
    assert [p.label for p in preds] == [label for _, label in CLEAR]


def test_emotion_head_finds_anger_and_fear(backend):
    angry, scared, thanks = backend.predict(["你们到底什么时候发货？气死我了！", "我好害怕，账户被盗了怎么办", "好的，谢谢"])
    assert angry.emotion == "angry"
    assert scared.emotion == "fear"
    assert thanks.emotion == "happy"
    assert sum(angry.emotion_probs) == pytest.approx(1.0, abs=1e-4)


def test_backend_switch(tmp_path):
    assert load_backend("snownlp").name == "snownlp"
    assert load_backend("lexical").name == "lexical"
    assert load_backend("hybrid").name == "hybrid"
    assert load_backend(str(default_model_dir())).name == "hybrid"
    snow = load_backend("snownlp").predict(["非常满意"])[0]
    assert 0.0 <= snow.positive_prob <= 1.0 and snow.emotion_probs == ()


def test_hub_name_is_rejected_without_download():
    with pytest.raises(ConfigError, match="not an existing directory"):
        load_backend("bert-base-chinese")


def test_corrupt_model_dir_fails_at_initialize_with_clear_error(tmp_path):
    broken = tmp_path / "model"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "qa-hybrid-sentiment"}', encoding="utf-8")
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    (broken / "vocab.txt").write_text("[PAD]\n[UNK]", encoding="utf-8")
    v1 = ["sentiment.v1"]  # the review-trained model (the default pipeline reads moods with sentiment.v2)
    pipeline = Pipeline.from_settings(ScoringSettings(scorers=v1, sentiment_model=str(broken)))  # nothing loaded yet
    with pytest.raises(ConfigError, match="cannot load the sentiment model"):
        pipeline.initialize()
    with pytest.raises(ConfigError, match="not an existing directory"):
        Pipeline.from_settings(ScoringSettings(scorers=v1, sentiment_model=str(tmp_path / "missing"))).initialize()


def _conv(*turns: tuple[str, str]) -> Transcript:
    return Transcript(utterances=tuple(Utterance(i, Role(r), t) for i, (r, t) in enumerate(turns)))


@pytest.fixture(scope="module")
def scorer(backend):
    s = SentimentScorer(backend=backend)
    s.initialize()
    return s


def test_conversation_that_ends_angry_is_flagged(scorer):
    conv = _conv(
        ("customer", "你好，我想问一下我的快递"),
        ("agent", "您好，请提供订单号"),
        ("customer", "都一个星期了还没到，你们太差了"),
        ("agent", "你自己不会看物流吗"),
        ("customer", "什么态度！气死我了！我要投诉！"),
    )
    result = scorer.score(conv)
    reasons = {f.reason for f in result.flags}
    assert "customer_ends_negative" in reasons
    c = result.metrics["customer"]
    assert c["end"] < -0.4 and c["anger_at"] in (2, 4) and c["turns"] == 3
    assert result.metrics["satisfaction"] < 30
    assert result.score < 70
    assert result.findings
    for f in result.findings:  # evidence is the whole turn, from the speaker named
        assert f.quote == conv.utterances[f.utterance_index].text
        assert f.role == conv.utterances[f.utterance_index].role


def test_conversation_that_recovers_scores_well(scorer):
    angry_then_happy = scorer.score(_conv(
        ("customer", "我的订单怎么还没发货，太慢了，很生气"),
        ("agent", "非常抱歉让您久等了，我马上为您催促仓库，今天一定发出"),
        ("customer", "好的，谢谢你，辛苦了"),
        ("agent", "不客气，祝您生活愉快"),
        ("customer", "非常满意，谢谢"),
    ))
    c = angry_then_happy.metrics["customer"]
    assert c["start"] < 0 < c["end"] and c["shift"] > 0.5
    assert not {f.reason for f in angry_then_happy.flags} & {"customer_ends_negative", "anger_rising"}
    assert angry_then_happy.score >= 90
    assert angry_then_happy.metrics["satisfaction"] > 60


def test_agent_anger_is_measured_but_never_charged(scorer):
    """The emotion head reads anger into agents' stock phrases, so agent turns cost nothing here."""
    result = scorer.score(_conv(("customer", "请问怎么退货呢"), ("agent", "烦死了，自己看说明，别问我了！"),
                                ("agent", "请问还有什么可以帮您的吗?")))
    assert result.metrics["agent"]["anger_max"] > 0.5
    assert not [f for f in result.findings if f.role == Role.agent]
    assert not [f for f in result.flags if "agent" in f.reason]


def test_short_closing_turns_do_not_make_the_customer_negative(scorer):
    result = scorer.score(_conv(
        ("customer", "我想改一下收货地址，可以吗"),
        ("agent", "可以的，已经为您修改好了"),
        ("customer", "好的，谢谢你"),
        ("agent", "请问还有什么可以帮您的吗?"),
        ("customer", "没有了"),
    ))
    assert result.metrics["customer"]["turns"] == 2  # 没有了 is left out of the trajectory
    assert "customer_ends_negative" not in {f.reason for f in result.flags}
    assert result.score >= 90


def test_redaction_placeholders_carry_no_mood(scorer):
    """A turn that is only [手机号] is left out; in a longer one the placeholder is not read as a word."""
    said = ("customer", "你好，我想查一下宽带的报修进度")
    asked = ("agent", "您好，请问您的联系电话是多少？")
    with_placeholder = scorer.score(_conv(said, asked, ("customer", "[手机号]")))
    without_turn = scorer.score(_conv(said, asked))
    assert with_placeholder.metrics["customer"] == without_turn.metrics["customer"]
    assert with_placeholder.metrics["customer"]["turns"] == 1
    inline = scorer.predict([Utterance(0, Role.customer, "回电[手机号]，家里电话[座机号]，谢谢")])
    plain = scorer.predict([Utterance(0, Role.customer, "回电，家里电话，谢谢")])
    assert inline[0].valence == plain[0].valence


def test_hybrid_backend_is_deterministic(backend):
    b = HybridBackend(default_model_dir())
    first = [p.positive_prob for p in b.predict([t for t, _ in CLEAR])]
    again = [p.positive_prob for p in b.predict(list(reversed([t for t, _ in CLEAR])))][::-1]
    assert first == pytest.approx(again, abs=1e-5)


def test_score_many_matches_one_at_a_time(scorer):
    convs = [
        _conv(("customer", "快递太慢了，气死我了"), ("agent", "非常抱歉，马上为您催促")),
        _conv(("customer", "好的谢谢"), ("agent", "不客气")),
        _conv(("agent", "您好，请问有什么可以帮您")),
    ]
    batched = scorer.score_batch(convs)
    single = [scorer.score(c) for c in convs]
    assert [b.score for b in batched] == pytest.approx([s.score for s in single], abs=1e-3)
    assert [b.metrics.get("customer", {}).get("end") for b in batched] == pytest.approx(
        [s.metrics.get("customer", {}).get("end") for s in single], abs=1e-3)
    assert "customer" not in batched[2].metrics  # no customer turns: no customer trajectory


def test_users_own_hf_classifier_directory_loads_offline(tmp_path):
    """A customer's own fine-tuned model: any local sequence-classification dir with a label map."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"好差服务很太了我满意"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab), encoding="utf-8")
    BertTokenizer(str(tmp_path / "vocab.txt")).save_pretrained(tmp_path)
    config = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, num_labels=2, id2label={0: "negative", 1: "positive"},
                        label2id={"negative": 0, "positive": 1})
    BertForSequenceClassification(config).save_pretrained(tmp_path)
    backend = load_backend(str(tmp_path))
    assert backend.name == "hf"
    preds = backend.predict(["服务很好", "太差了"])
    assert all(0.0 <= p.positive_prob <= 1.0 for p in preds)
    # the same directory drives the sentiment dimension
    result = SentimentScorer(backend=backend).score(_conv(("customer", "太差了"), ("agent", "很好")))
    assert result.metrics["backend"] == "hf"


def test_forked_chunks_do_not_keep_the_parent_s_sigterm_handler():
    """A process that handles SIGTERM (an rq worker run in-process, a server) forks children with that
    handler; the pool's exit ends them with SIGTERM, and a child that only sets a flag then keeps the exit
    waiting forever (seen once in this suite, 11 minutes on one test). The children take the default."""
    import signal

    from qa_service.scoring.sentiment_backend import predict_chunks

    class Disposition:  # a backend that reports what the forked child would do on SIGTERM / SIGINT
        def predict(self, texts):
            return [(signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) for _ in texts]

    before = signal.signal(signal.SIGTERM, lambda *a: None)
    try:
        chunks = list(predict_chunks(Disposition(), ["x"] * 6, processes=2, chunk=2))
    finally:
        signal.signal(signal.SIGTERM, before)
    assert {d for c in chunks for d in c} == {(signal.SIG_DFL, signal.SIG_IGN)}


def test_shipped_model_loads_without_transformers_and_forked_chunks_match():
    """The service loads the shipped model as a plain torch module (no ``transformers`` import: seconds
    off every command's start), and ``qa sentiment``'s forked chunks predict what one process does."""
    import subprocess
    import sys

    probe = subprocess.run([sys.executable, "-c", (
        "import sys; from qa_service.scoring.sentiment_backend import load_backend; load_backend(None)"
        ".predict(['服务很好']); print('transformers' in sys.modules)")], capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "False", probe.stderr

    from qa_service.scoring.sentiment_backend import load_backend, predict_chunks

    backend = load_backend(None)
    texts = [f"第{i}单{'太差了' if i % 3 else '很满意，谢谢'}" for i in range(300)]
    chunks = list(predict_chunks(backend, texts, processes=2, chunk=64))
    assert [len(c) for c in chunks] == [64, 64, 64, 64, 44]
    forked = [p for c in chunks for p in c]
    alone = backend.predict(texts)
    assert [(p.label, round(p.positive_prob, 6), p.emotion) for p in forked] == \
        [(p.label, round(p.positive_prob, 6), p.emotion) for p in alone]


SLOW_CHILD = """
import os, signal, time
from qa_service.scoring import sentiment_backend as sb

real_init = sb._child_init

def late_init():  # the second child starts late: the first does every chunk, and the pool ends meanwhile
    try:
        os.close(os.open(os.environ["MARK"], os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        time.sleep(1.5)
    real_init()

sb._child_init = late_init

class Echo:
    def predict(self, texts):
        return texts

signal.signal(signal.SIGTERM, lambda *a: None)  # a server's or rq worker's handler: it only sets a flag
print(sum(len(c) for c in sb.predict_chunks(Echo(), ["x"] * 4, processes=2, chunk=2)))
"""


def test_a_child_that_starts_late_does_not_keep_the_pool_waiting(tmp_path):
    """Seen in this suite: a pool's exit waited forever on a child that got the exit's SIGTERM before it had
    reset the parent's handler. The pool now ends its children with its sentinel."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", SLOW_CHILD], env={**os.environ, "MARK": str(tmp_path / "mark")},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "4"
