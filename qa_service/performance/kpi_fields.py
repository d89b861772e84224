"""The KPI fields a file may carry: canonical names with their kind, rates, the rules between fields on
a row, and the Chinese and BI-export headers read as each field."""

from __future__ import annotations

# field: (kind, description). kind: int = a count ≥ 0, float = a number ≥ 0, rating = 0–100, score5 = 1–5
KPI_FIELDS: dict[str, tuple[str, str]] = {
    "contacts": ("int", "contacts handled (chats, calls)"),
    "frt_seconds_mean": ("float", "mean first-response time, seconds (weighted by contacts)"),
    "frt_within_target": ("int", "contacts whose first response met the target (e.g. 30 s)"),
    "aht_seconds_mean": ("float", "mean handling time, seconds (weighted by contacts)"),
    "fcr_resolved": ("int", "contacts resolved on first contact"),
    "csat_responses": ("int", "satisfaction survey responses"),
    "csat_satisfied": ("int", "responses rating 4–5 of 5 (satisfied)"),
    "csat_score_mean": ("score5", "mean survey score on 1–5 (weighted by responses)"),
    "nps_promoters": ("int", "NPS promoters (9–10)"),
    "nps_passives": ("int", "NPS passives (7–8)"),
    "nps_detractors": ("int", "NPS detractors (0–6)"),
    "transfers": ("int", "contacts transferred"),
    "escalations": ("int", "contacts escalated"),
    "complaints": ("int", "complaints received"),
    "repeat_complaints": ("int", "repeat complaints"),
    "recontacts": ("int", "customers who came back about the same issue"),
    "consultations": ("int", "pre-sale consultations (询单)"),
    "orders": ("int", "orders placed after a consultation"),
    "sales_amount": ("float", "sales amount, currency units"),
    "supervisor_rating": ("rating", "supervisor's rating, 0–100 (qualitative part)"),
    "peer_rating": ("rating", "peer rating, 0–100 (qualitative part)"),
}
# Rates in a file, turned into counts with the denominator on the same row: rate field → (count, denominator).
RATE_FIELDS: dict[str, tuple[str, str]] = {
    "csat_rate": ("csat_satisfied", "csat_responses"),
    "fcr_rate": ("fcr_resolved", "contacts"),
}
KEY_FIELDS = ("agent_id", "date", "period", "team")
# A count may not exceed its denominator on the same row.
NOT_ABOVE: dict[str, str] = {
    "csat_satisfied": "csat_responses", "fcr_resolved": "contacts", "frt_within_target": "contacts",
    "transfers": "contacts", "escalations": "contacts", "recontacts": "contacts",
    "repeat_complaints": "complaints",
}
# A mean needs its weight, and a ratio's numerator its denominator, on the same row: otherwise a
# period's figure cannot be computed correctly from sums.
WEIGHTED_BY: dict[str, str] = {
    "frt_seconds_mean": "contacts", "aht_seconds_mean": "contacts", "csat_score_mean": "csat_responses",
    "fcr_resolved": "contacts", "frt_within_target": "contacts", "csat_satisfied": "csat_responses",
    "transfers": "contacts", "escalations": "contacts", "recontacts": "contacts",
    "repeat_complaints": "complaints", "orders": "consultations",
}
TIME_FIELDS = {"frt_seconds_mean", "aht_seconds_mean"}
# Averaged over the rows that carry them (each row once), never summed: a row carrying only these may share
# days with an agent's rows of another granularity (a month's 主管评分 next to that month's daily rows).
RATING_FIELDS = ("supervisor_rating", "peer_rating")


def rating_only(values: dict[str, object]) -> bool:
    """Whether a row's figures are ratings alone (at least one; nothing summed that could count twice)."""
    given = [f for f, v in values.items() if v is not None]
    return bool(given) and all(f in RATING_FIELDS for f in given)

# Headers accepted out of the box (besides the canonical names), as Chinese contact-centre
# reports and BI exports name them. Matching ignores case, spaces and a unit in brackets.
ALIASES: dict[str, tuple[str, ...]] = {
    "agent_id": ("坐席工号", "工号", "坐席id", "坐席编号", "客服工号", "客服id", "员工工号", "员工编号", "坐席", "agent"),
    "date": ("日期", "统计日期", "业务日期", "day"),
    "period": ("周期", "统计周期", "考核周期", "月份"),
    "team": ("班组", "团队", "组别", "小组", "技能组", "所属团队"),
    "contacts": ("接待量", "接待数", "会话量", "服务量", "接听量", "进线量", "接待人数"),
    "frt_seconds_mean": ("平均响应时间", "平均首次响应时间", "首次响应时间", "平均首响时长", "首响时长", "平均首响时间", "frt"),
    "frt_within_target": ("及时响应数", "首响达标数", "30秒应答数", "30秒响应数"),
    "aht_seconds_mean": ("平均处理时长", "平均通话时长", "平均会话时长", "平均接待时长", "aht"),
    "fcr_resolved": ("一次解决数", "首次解决数", "一次性解决数"),
    "fcr_rate": ("一次解决率", "首次解决率", "一次性解决率", "fcr"),
    "csat_responses": ("评价数", "参评数", "满意度评价数", "评价量", "参评量"),
    "csat_satisfied": ("满意数", "满意评价数", "好评数"),
    "csat_rate": ("满意度", "满意率", "好评率", "csat"),
    "csat_score_mean": ("满意度均分", "平均满意度评分", "满意度评分"),
    "nps_promoters": ("推荐者数", "推荐者"),
    "nps_passives": ("中立者数", "被动者数", "中立者"),
    "nps_detractors": ("贬损者数", "批评者数", "贬损者"),
    "transfers": ("转接数", "转接量"),
    "escalations": ("升级数", "升级量"),
    "complaints": ("投诉数", "投诉量"),
    "repeat_complaints": ("重复投诉数", "重复投诉量"),
    "recontacts": ("重复来电数", "二次来电数", "重复咨询数", "重复进线数"),
    "consultations": ("咨询量", "询单量", "询单人数", "咨询人数"),
    "orders": ("下单数", "成交单数", "订单数", "下单人数", "成交人数"),
    "sales_amount": ("销售额", "成交金额", "销售金额"),
    "supervisor_rating": ("主管评分", "上级评分", "主管打分"),
    "peer_rating": ("同事评分", "互评分", "同事互评"),
}
