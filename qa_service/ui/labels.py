"""Chinese labels the UI shows for codes the API speaks."""

DIMENSIONS = {"politeness": "礼貌用语", "compliance": "合规话术", "objection": "异议处理", "negativity": "负面用词",
              "timing": "响应时效", "sentiment": "客户情绪"}
REASONS = {"fatal_rule": "致命项", "low_score": "低分", "sample": "随机抽检", "manual": "人工加入",
           "customer_ends_negative": "客户结束时情绪负面", "anger_rising": "客户愤怒上升",
           "escalation_threat": "投诉升级风险", "objection_unhandled": "异议未处理", "uncertain": "机检置信度不足",
           "agent_rude": "服务态度问题", "agent_abuse": "辱骂客户", "no_agent_reply": "坐席未回复",
           "nothing_to_judge": "无可质检内容", "customer_angry": "客户愤怒", "customer_negative": "客户情绪负面",
           "agent_negative_language": "坐席负面用语", "frequent_interruptions": "频繁打断客户",
           # the shipped rule packs' ``flag:`` names (a pack's own ``flag_labels:`` come first: reason_labels)
           "complaint_dismissed": "敷衍投诉", "guaranteed_return": "承诺保本收益",
           "personal_data_disclosed": "泄露个人信息"}
STATUS = {"queued": "待复核", "in_review": "复核中", "done": "已完成"}
# a finding's severity; 致命 is kept for fatal items (致命项), which zero the score: critical said 致命 read as one
SEVERITY = {"info": "提示", "minor": "轻微", "major": "重要", "critical": "严重"}
ROLES = {"agent": "坐席", "customer": "客户", "bot": "机器人", "system": "系统"}
VERDICTS = {"confirmed": "机检正确", "rejected": "机检错误", None: "未判定"}
APPEALS = {"open": "待处理", "accepted": "申诉成立", "rejected": "申诉驳回"}
# live alerts, as the live board (live.js) and the robot messages name them
ALERT_SEVERITY = {"info": "提示", "minor": "一般", "major": "重要", "critical": "紧急"}
ALERT_STATUS = {"open": "待介入", "acknowledged": "已介入", "closed": "已关闭"}


def label(table: dict, code) -> str:
    return table.get(code, code if code is not None else "—")


def reason_labels(pack_labels: dict[str, str]) -> dict[str, str]:
    """A flag reason's label: the rule packs' own (``flag_labels:``), then the built-in one (:data:`REASONS`);
    :func:`label` falls back to the raw name."""
    return {**REASONS, **pack_labels}


def reason_options(pack_labels: dict[str, str], pack_flags: set[str]) -> dict[str, str]:
    """The queue's 原因 filter: every built-in reason, then every flag a loaded pack can raise, each labelled."""
    known = reason_labels(pack_labels)
    return {code: known.get(code, code) for code in [*REASONS, *sorted(pack_flags - REASONS.keys())]}
ACCESS_ROLES = {"ingest": "接入", "reviewer": "质检员", "supervisor": "班组长", "hr": "人事", "admin": "管理员"}
