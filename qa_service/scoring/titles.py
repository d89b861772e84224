"""Chinese words scorers put in finding messages: objection types' names, and each built-in finding's
generic message (its title).

A finding's message may carry what is particular to it — an objection's type, a wait in seconds, the
figures of a cap that cut it — so one finding's message does not describe the others of its rule. A
chart or list that counts a rule's findings together is labelled with :func:`title` (was: the dashboard's
高频问题 bar for ``detector.objection-unhandled`` read "客户异议（service）未得到处理…" over 5 policy, 4
service and 3 delay objections).
"""

from __future__ import annotations

from collections.abc import Mapping

#: The learned detectors' objection types (``data/golden/GUIDE.md``: ``delay`` is late delivery, slow
#: refund, nobody came, waiting — not only logistics).
OBJECTION_TYPES = {"price": "价格", "quality": "质量", "delay": "时效", "policy": "政策", "service": "服务",
                   "other": "其他"}
#: The shipped packs' ``tag: objection.<type>`` (``objection.v1``): there ``delay`` is 拖延 (我再考虑).
OBJECTION_TAGS = {"price": "价格", "quality": "质量", "policy": "政策", "service": "服务", "complaint": "投诉",
                  "refuse": "拒绝", "delay": "拖延"}


def objection_name(code: str, names: Mapping[str, str] = OBJECTION_TYPES) -> str:
    """An objection type's Chinese name (a pack's own tag with none: the tag itself)."""
    return names.get(code, code)


#: Built-in finding ids (no rule of a pack defines them) → a message that fits every finding of the id.
TITLES = {
    "detector.greeting-missing": "开场前两句未问候客户（您好/很高兴为您服务/有什么可以帮您）",
    "detector.closing-missing": "结束前两句未规范结束（询问是否还有其他问题/感谢/祝福/道别），或结束后客户的新问题未处理",
    "detector.no-empathy": "客户表达不满，坐席全程未致歉或安抚（抱歉/理解您的心情/别着急）",
    "detector.rude": "坐席推诿、生硬拒绝或指责客户（无理由、无替代方案）",
    "detector.attitude-risk": "坐席可能推诿、生硬或指责客户（按检测器的可能性扣分）",
    "detector.customer-negative": "客户表达不满或负面情绪",
    "detector.escalation": "客户威胁或已经投诉、升级（投诉/差评/12315/媒体）",
    "detector.customer-angry": "客户愤怒（辱骂、指责或连续质问）",
    "detector.customer-negative-repeated": "客户多次表达不满",
    "detector.customer-ends-negative": "客户结束时仍不满意（愤怒、无奈放弃或投诉未解决）",
    "detector.customer-not-satisfied": "客户结束时未表示满意（没有致谢或认可）",
    "detector.customer-negativity": "客户可能表达不满或负面情绪（按检测器的可能性扣分）",
    "detector.unresolved": "问题可能未解决，也无客户接受的后续方案（按检测器的可能性扣分；引用坐席最后一句）",
    "detector.objection-unhandled": "客户异议未得到处理",
    "detector.objection-partial": "客户异议只处理了一部分",
    "objection.unhandled": "客户异议未得到回应",
    "objection.partial": "客户异议回应不完整",
    "objection.answer-dismissive": "客户异议的答复推诿或生硬，未处理",
    "negativity.agent-negative-word": "坐席使用负面词汇",
    "negativity.customer-negative-word": "客户表达负面情绪",
    "sentiment.customer-negative": "客户情绪负面",
    "timing.slow-first-response": "首次响应超时",
    "timing.slow-reply": "回复等待超时",
    "timing.interruption": "抢话：客户未说完坐席即开口",
    "timing.silence": "静音过久坐席才开口",
    "timing.speech-rate": "语速不在规定范围内",
    "manual": "复核员补充的漏检（未指明规则）",  # the dashboard's key for added findings that name no rule
}


def title(rule_id: str, rule_messages: Mapping[str, str], message: str) -> str:
    """What a rule's findings are, together: a pack rule's own ``message:``, a built-in id's title, else
    ``message`` (one finding's: a rule no longer loaded, a reviewer's added finding)."""
    return rule_messages.get(rule_id) or TITLES.get(rule_id) or message
