"""The web UI's errors in Chinese: a /ui page's error page, and the words its message bar uses for the API's
validation errors. The API's JSON is unchanged (English, as documented); only what the UI shows is said here.

Here rather than in ``ui/`` because the API's exception handlers (``api/errors.py``, ``api/middleware.py``)
answer a /ui page's errors; ``ui/render.py`` hands the same tables to the page's script (``ui.js``), so the
message bar and the error pages say a field and a problem alike. Was: ``points：Input should be greater than
or equal to -100``, ``message：Value error, is blank …`` — pydantic's English under the API's field name.
"""

from __future__ import annotations

import html
import re
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

UI_TITLES = {400: "请求有误", 403: "无权限", 404: "未找到", 422: "请求参数有误", 500: "服务器出错", 503: "暂不可用"}

# Each field by the label its form gives it (the query's and body's names alike).
FIELD_LABELS = {
    "transcript_id": "会话编号", "review_id": "复核编号", "appeal_id": "申诉编号", "finding_id": "机检结果",
    "manual_id": "人工补充", "manual_finding_id": "人工补充", "limit": "每页条数", "offset": "起始位置",
    "points": "分值", "message": "说明", "quote": "原文", "utterance_index": "语句 #", "dimension": "维度",
    "rule_id": "规则", "rule": "规则", "fatal": "致命项", "reason": "申诉理由", "reviewers": "复核员",
    "review_ids": "复核", "comment": "意见", "by": "当前用户", "verdict": "判定", "decision": "处理结果",
    "period": "周期", "score_min": "最低分数", "score_max": "最高分数", "team": "团队", "agent_id": "坐席",
    "status": "状态", "severity": "严重度", "assigned_to": "复核员", "unassigned": "仅未分配", "key": "API 密钥",
    "take_over": "接手", "confirm_rest": "其余视为正确", "mode": "分配方式",
}

# pydantic's error types (and this API's own) as a problem in Chinese; {name} is the error's ctx[name].
TYPE_MESSAGES = {
    "missing": "必填", "int_parsing": "应为整数", "int_type": "应为整数", "int_from_float": "应为整数",
    "float_parsing": "应为数字", "float_type": "应为数字", "finite_number": "应为有限的数字",
    "bool_parsing": "应为是或否", "bool_type": "应为是或否", "string_type": "应为文字",
    "greater_than_equal": "不能小于 {ge}", "greater_than": "须大于 {gt}", "less_than_equal": "不能大于 {le}",
    "less_than": "须小于 {lt}", "string_too_long": "最多 {max_length} 个字符", "string_too_short": "不能为空",
    "too_short": "至少填写 {min_length} 项", "too_long": "最多 {max_length} 项", "literal_error": "可选值：{expected}",
    "enum": "可选值：{expected}", "json_invalid": "不是有效的 JSON", "list_type": "应为列表",
}

# This app's own value errors (text.py, the API's validators), by their English start; {0}… are the groups.
VALUE_ERRORS = (
    (r"is blank \(only spaces or invisible characters\)", "不能为空（只有空格或不可见字符）"),
    (r"is blank", "不能为空"),
    (r"contains a control character \((U\+[0-9A-F]+)\)", "含有控制字符（{0}），请只用可打印的文字"),
    (r"starts or ends with a space \((U\+[0-9A-F]+)\)", "首尾有空格（{0}），请去掉"),
    (r"is (\d+) characters long; at most (\d+)", "共 {0} 个字符，最多 {1} 个"),
    (r"query parameter (?:name|value) contains control character (U\+[0-9A-F]+) at position (\d+)",
     "含有控制字符 {0}（第 {1} 个字符之后），请删除"),
)


def _said(template: str, values: Any) -> str:
    try:
        return template.format(*values) if isinstance(values, tuple) else template.format(**values)
    except (KeyError, IndexError):
        return template.split("{", 1)[0].rstrip("：:， ") or template


def problem_in_chinese(error: dict) -> str:
    """One validation error (``loc``, ``type``, ``msg``, ``ctx``) as ``标签：问题`` — the field by its form's label;
    a parameter of the address (query, path) by its label and its name there, as typed: ``会话编号（transcript_id）``."""
    raw = [str(part) for part in error.get("loc", ())]
    loc = [part for part in raw if part not in ("body", "query", "path")]
    name = next((part for part in reversed(loc) if not part.isdigit()), "")
    where = FIELD_LABELS.get(name, ".".join(loc) or "请求")
    if raw[:1] in (["query"], ["path"]) and name and where != name:
        where = f"{where}（{name}）"
    kind, msg = error.get("type") or "", str(error.get("msg") or "")
    if kind in TYPE_MESSAGES:
        ctx = {k: (", ".join(map(str, v)) if isinstance(v, list | tuple) else v) for k, v in (error.get("ctx") or {}).items()}
        if kind == "string_too_short" and ctx.get("min_length", 1) != 1:
            return f"{where}：至少 {ctx['min_length']} 个字符"
        return f"{where}：{_said(TYPE_MESSAGES[kind], ctx)}"
    text = msg.removeprefix("Value error, ")
    for pattern, words in VALUE_ERRORS:
        if m := re.match(pattern, text):
            return f"{where}：{_said(words, m.groups())}"
    return f"{where}：{text}"


def validation_in_chinese(errors: list[dict]) -> str:
    return "；".join(problem_in_chinese(e) for e in errors)


def script_words() -> dict:
    """The tables ``ui.js`` reads (``render.page`` puts them in every page as JSON)."""
    return {"fields": FIELD_LABELS, "types": TYPE_MESSAGES, "values": [list(v) for v in VALUE_ERRORS]}


PERIOD_FORMATS = "2026-10（月）、2026-W43（周）、2026-Q4（季度）、2026-10-05（日）、2026（年）或 2026-10-01..2026-10-15"
PERIOD_ERRORS = (  # period.parse_period's refusals
    (r"^'(.*)': month (\d+) is not 1–12", "“{0}” 的月份 {1} 不在 1–12 之间"),
    (r"^'(.*)': week (\d+) is not 1–(\d+) \(ISO weeks of (\d+)\)", "“{0}” 的周数 {1} 不在 1–{2} 之间（{3} 年的 ISO 周）"),
    (r"^'(.*)': quarter (\d+) is not 1–4", "“{0}” 的季度 {1} 不在 1–4 之间"),
    (r"^'(.*)': the range ends \((.+)\) before it starts \((.+)\)", "“{0}” 的结束日期 {1} 早于开始日期 {2}"),
    (r"^'(.*)' is outside the supported years \((\d+)–(\d+)\)", "“{0}” 超出支持的年份（{1}–{2}）"),
    (r"^'(.*)' is not a period \(no such day in the calendar\)", "“{0}” 不是存在的日期；请用 " + PERIOD_FORMATS),
    (r"^'(.*)' is not a period", "“{0}” 无法识别；请用 " + PERIOD_FORMATS),
)


def period_in_chinese(exc: ValueError) -> str:
    """``周期：…`` for a period the UI could not read (its filter box)."""
    text = str(exc)
    for pattern, words in PERIOD_ERRORS:
        if m := re.match(pattern, text):
            return f"周期：{words.format(*m.groups())}"
    return f"周期：{text}"


def ui_page(request: Request) -> bool:
    """A page of the web UI (a browser reading it wants HTML, not the API's JSON)."""
    path = request.url.path
    return (request.method == "GET" and (path == "/ui" or path.startswith("/ui/"))
            and not path.startswith(("/ui/static/", "/ui/live/events")))


# The refusals a /ui page meets most, in Chinese (the page's script, ui.js, says the API's messages in its bar
# the same way); any other detail is shown as sent. Was: "403 无权限 this key sees team after-sales only".
UI_CHINESE = (
    (re.compile(r"^this key sees team (.+) only"), "当前密钥只能查看团队 {0} 的数据。"),
    (re.compile(r"^role (\S+) may not "), "当前角色（{0}）无权打开此页面。"),
    (re.compile(r"^(?:transcript|review|appeal) (\d+) not found"), "编号 {0} 不存在。"),
)


def ui_chinese(detail: str) -> str:
    """``detail`` in Chinese when it is one of :data:`UI_CHINESE`, else as it is."""
    for pattern, words in UI_CHINESE:
        if m := pattern.match(detail):
            return words.format(*m.groups())
    return detail


def ui_error(status: int, detail: str, *, link: str = '<a href="/ui/">返回看板</a>',
             headers: dict[str, str] | None = None) -> HTMLResponse:
    """A /ui page's error as a page (``detail`` is escaped here, and said in Chinese where it is a common one):
    the site's language, a phone's width and the site's stylesheet, as every other page. Was a bare
    ``<h1>`` with no language, drawn at 981 px on a phone."""
    title = UI_TITLES.get(status, "出错了")
    return HTMLResponse(
        '<!doctype html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<title>{title} · qa_service</title>\n<link rel="icon" href="data:,">\n'
        '<link rel="stylesheet" href="/ui/static/ui.css">\n</head>\n<body>\n'
        '<header class="top"><a class="brand" href="/ui/">智能质检</a></header>\n'
        f'<main>\n<h1>{status} {title}</h1>\n<p class="error">{html.escape(ui_chinese(detail))}</p>\n'
        f'<p>{link}</p>\n</main>\n</body>\n</html>\n', status_code=status, headers=headers)
