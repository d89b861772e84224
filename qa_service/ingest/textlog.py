"""Read the transcript forms QA teams have at hand into the API's JSON shape.

* the plain text log they paste: ``客服：…`` / ``客户：…`` / ``坐席:`` / ``用户:`` lines, the role word
  optionally followed by a name or id (``客服小王：``, ``客服-小李 09:31:00：``, ``坐席1001:``); a line
  without a speaker prefix continues the previous utterance, and a line that is surely a speaker the
  parser cannot place (``[09:31] 小王：``, ``客服/小王：``) is an error naming it rather than a silent
  continuation;
* JSON Lines in the API shape, or in the ``{"id", "source", "turns": [...]}`` shape of
  the public dialogue corpora.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qa_service.errors import TextLogError
from qa_service.text import decode_file_text

SPEAKER_ROLES = {
    "客服": "agent", "坐席": "agent", "座席": "agent", "人工客服": "agent", "服务人员": "agent", "agent": "agent",
    "卖家": "agent", "商家": "agent", "客户经理": "agent", "主管": "agent", "组长": "agent", "班长": "agent",
    "客户": "customer", "用户": "customer", "顾客": "customer", "来电人": "customer", "customer": "customer",
    "买家": "customer", "访客": "customer",
    "机器人": "bot", "智能客服": "bot", "bot": "bot",
    "系统": "system", "system": "system",
}
_TIME = r"\d{1,2}:\d{2}(?::\d{2})?"
_ROLE = "|".join(sorted(map(re.escape, SPEAKER_ROLES), key=len, reverse=True))
# The common surnames: a name after the role word starts with one (客服王芳, 客户经理张三, 顾客张先生), or
# with 小/老/阿 (客服小王), or is an id (坐席1001, 客服A12, 工号1234). Anything else after a role word is
# words (用户协议：…, 买家留言：…, 客户反映的问题是：…) and continues the utterance, as it always did.
_SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
             "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴"
             "莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅"
             "童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车"
             "项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛"
             "仲虞敖巩明佘池查麻苑迟邝")
_NAME_WORD = (r"(?:[小老阿][\u4e00-\u9fff]|[" + _SURNAMES + r"][\u4e00-\u9fff]{0,2}"
              r"|(?!" + _TIME + r")(?:工号)?[A-Za-z0-9_#]{1,12}号?)")  # never the clock time after it
_NAME = (r"(?:[\s\-_·•.]*(?P<name>" + _NAME_WORD + r")(?:\s*[(（【][^()（）【】]{1,16}[)）】])?"
         r"|\s*[(（【][^()（）【】]{1,16}[)）】])?")
# Optional [09:30:01] / 09:30:01 time before or after the speaker; full- or half-width colon.
_LINE = re.compile(
    r"^\s*(?:\[?(?P<t1>" + _TIME + r")\]?\s*)?"
    r"(?P<speaker>" + _ROLE + r")" + _NAME +
    r"\s*(?:\[?(?P<t2>" + _TIME + r")\]?\s*)?[：:]\s*(?P<text>.*)$",
    re.IGNORECASE,
)
# After a role word these make a field label inside someone's words (用户ID：…, 用户名：…), not a speaker.
_FIELD_WORDS = frozenset({
    "名", "端", "号", "id", "电话", "手机", "手机号", "号码", "地址", "信息", "编号", "热线", "中心", "姓名",
    "反馈", "问题", "需求", "要求", "备注", "满意度", "评价", "账号", "帐号", "类型", "等级",
})
# What is a speaker prefix though _LINE cannot place it: a line opening with a bracketed clock time, a short
# name and a colon ([09:31] 小王：), or a role word and a name joined by a slash or bar (客服/小王：). Such a
# line is refused: continuing the previous utterance would file one speaker's words under another's role.
# Anything less sure (周一 9:00：开门, 用户协议：…) continues it.
_SPEAKERISH = re.compile(
    r"^\s*(?:\[" + _TIME + r"\]\s*[^\s:：，,。！？!?；;]{1,8}|(?:" + _ROLE + r")\s*[/|｜\\]\s*[^\s:：，,。！？!?；;]{1,12})"
    r"\s*[：:]",
    re.IGNORECASE,
)
DAY_MS = 24 * 3600 * 1000
ROLLOVER_MS = 12 * 3600 * 1000  # a clock time this far before the previous one is on the next day


def _ms(stamp: str | None) -> int | None:
    """Milliseconds of a ``hh:mm:ss`` (or ``mm:ss``) clock time since its midnight."""
    if not stamp:
        return None
    parts = [int(p) for p in stamp.split(":")]
    if len(parts) == 2:
        parts = [0, *parts]
    h, m, s = parts
    return ((h * 60 + m) * 60 + s) * 1000


def _after_midnight(ms: int, previous: int | None) -> int:
    """``ms`` on the day that keeps the log in order: a log that runs past midnight (23:59:50 then
    00:00:10) goes on into the next day; a small step back stays a step back, for the schema to refuse."""
    if previous is None:
        return ms
    day = previous // DAY_MS
    ms += day * DAY_MS
    return ms + DAY_MS if ms < previous - ROLLOVER_MS else ms


def _is_field(prefix: str) -> bool:
    """Whether a prefix is a role word and a field label (客户电话：), words inside an utterance."""
    m = re.match(r"\s*(?:" + _ROLE + r")(.*?)\s*[：:]$", prefix, re.IGNORECASE)
    return m is not None and m.group(1).strip().lower() in _FIELD_WORDS


def parse_text_log(text: str) -> list[dict[str, Any]]:
    """Utterances from a pasted log; raises TextLogError naming the first line it cannot place."""
    utterances: list[dict[str, Any]] = []
    previous_ms: int | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        m = _LINE.match(line)
        if m and (m.group("name") or "").strip().lower() in _FIELD_WORDS:
            m = None  # 用户名：… continues the utterance, as any line without a speaker does
        if m:
            u: dict[str, Any] = {"role": SPEAKER_ROLES[m.group("speaker").lower()], "text": m.group("text").strip()}
            ms = _ms(m.group("t1") or m.group("t2"))
            if ms is not None:
                u["start_ms"] = previous_ms = _after_midnight(ms, previous_ms)
            utterances.append(u)
        elif (who := _SPEAKERISH.match(line)) is not None and not _is_field(who.group(0)):
            raise TextLogError(
                f"line {lineno}: {who.group(0).strip()!r} reads like a speaker, but this reader cannot place it: "
                f"start the line with one of {'/'.join(k for k in SPEAKER_ROLES if not k.isascii())}, "
                "a name or id after it if you like (客服小王：, 客服-小李 09:31:00：)"
            )
        elif utterances:
            utterances[-1]["text"] = (utterances[-1]["text"] + "\n" + line.strip()).strip()
        else:
            raise TextLogError(
                f"line {lineno}: no speaker prefix such as 客服： or 客户： before the first utterance: {line[:40]!r}"
            )
    utterances = [u for u in utterances if u["text"]]
    if not utterances:
        raise TextLogError("no utterances found: expected lines like '客服：您好' and '客户：我的快递没到'")
    return utterances


def from_corpus_record(record: dict[str, Any]) -> dict[str, Any]:
    """A ``{"id", "source", "turns"}`` corpus record in the API shape (empty turns dropped)."""
    utterances = [
        {"role": t["role"], "text": t["text"]} for t in record.get("turns", []) if (t.get("text") or "").strip()
    ]
    out = {"source": record.get("source", "import"), "external_id": str(record["id"]), "utterances": utterances}
    for key in ("channel", "agent_id", "team", "queue", "scenario", "started_at"):
        if record.get(key) is not None:
            out[key] = record[key]
    if record.get("meta"):
        out["metadata"] = {k: v for k, v in record["meta"].items() if isinstance(v, (str, int, float, bool))}
    return out


def read_records(path: Path, *, source: str = "import", external_id: str | None = None, scenario: str | None = None
                 ) -> Iterator[tuple[str, dict[str, Any] | str]]:
    """(where, transcript dict) for each transcript of a file, or (where, problem) for an entry that is not
    one; ``where`` is "line N" (JSONL), "item N" (a .json document: the API's batch body
    ``{"transcripts": [...]}``, a list, or one transcript) or "line 1" (a plain-text log). ``scenario``: that of
    a transcript that sets none (absent or null); one it sets is kept. Raises TextLogError for a file that is
    neither UTF-8 nor GB18030, or a text log that cannot be parsed."""
    for where, record in _read_records(path, source=source, external_id=external_id):
        if scenario is not None and isinstance(record, dict) and record.get("scenario") is None:
            record["scenario"] = scenario
        yield where, record


def _read_records(path: Path, *, source: str, external_id: str | None) -> Iterator[tuple[str, dict[str, Any] | str]]:
    try:
        text = decode_file_text(path.read_bytes())
    except UnicodeDecodeError as exc:
        raise TextLogError(f"{path} is neither UTF-8 nor GB18030 text: byte {exc.start} does not decode") from None
    stripped = text.lstrip()
    if path.suffix == ".json" and stripped[:1] in ("{", "["):
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            document = None  # JSON Lines under a .json name: read line by line below
        if isinstance(document, dict) and isinstance(document.get("transcripts"), list):
            document = document["transcripts"]
        if isinstance(document, dict) and "utterances" in document:
            document = [document]
        if isinstance(document, list):
            for n, item in enumerate(document, start=1):
                yield f"item {n}", _record(json.dumps(item, ensure_ascii=False))
            return
    if path.suffix in (".jsonl", ".json") or stripped.startswith("{"):
        for lineno, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                yield f"line {lineno}", _record(line)
        return
    yield "line 1", {"source": source, "external_id": external_id or path.stem, "channel": "chat",
                     "utterances": parse_text_log(text)}


def _record(line: str) -> dict[str, Any] | str:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"not valid JSON: {exc.msg}"
    if not isinstance(record, dict):
        return f"a line is one JSON object (a transcript), not {type(record).__name__}"
    if "utterances" in record:
        return record
    if "id" not in record or not isinstance(record.get("turns", []), list):
        return 'neither a transcript ("utterances") nor a corpus record ("id" and a list of "turns")'
    try:
        return from_corpus_record(record)
    except (KeyError, TypeError, AttributeError) as exc:
        return f"a corpus record's turns are objects with \"role\" and \"text\" ({type(exc).__name__}: {exc})"


def read_transcripts(path: Path, *, source: str = "import", external_id: str | None = None) -> Iterator[dict[str, Any]]:
    """Transcript dicts from a JSONL file (API or corpus shape) or one plain-text log; raises TextLogError
    naming the first line that is not a transcript."""
    for where, record in read_records(path, source=source, external_id=external_id):
        if isinstance(record, str):
            raise TextLogError(f"{path}:{where.split()[-1]} ({where}): {record}")
        yield record
