"""Appraisal exports HR can open: XLSX (Chinese headers, a sheet per team), CSV (UTF-8 with BOM), JSON."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from qa_service.performance.record import metric_kind, metric_label
from qa_service.period import Period
from qa_service.rules.scheme import AppraisalScheme, Points
from qa_service.spreadsheet import csv_cell, is_formula_like

# Metrics every export lists besides the scheme's own, so HR sees the operational picture.
CONTEXT_METRICS = ("contacts", "csat", "csat_responses", "fcr", "nps", "nps_responses", "frt_seconds", "aht_seconds",
                   "transfer_rate", "escalation_rate", "complaint_rate", "conversion", "sales_amount",
                   "qa_fatal", "qa_flagged_share")
# "total": the total and the parts it is made of, shown to two decimals: grades are read off the total as
# shown (appraisal.shown), so a cell never reads 90.0 for 89.96 next to 良好.
_FORMATS = {"share": "0.0%", "seconds": "0.0", "score": "0.0", "total": "0.00", "number": "0.00", "count": "0",
            "amount": "#,##0.00"}
SCORES_NOTE = {"machine": "机器评分：期内每通已评分会话的机器分（scores=machine）",
               "final": "复核终审分：仅期内复核完成的会话，取复核与申诉后的最终分（scores=final）"}
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")
NOTES_WIDTH = 60  # 备注, in Excel's character widths (about 30 Chinese characters a line)


def _item_key(first: dict[str, str], scheme: str | None, item: dict[str, Any]) -> str:
    """An item's column: its id while the id means the metric it first meant, else ``<scheme>.<id>``."""
    return item["id"] if first.get(item["id"], item["metric"]) == item["metric"] else f"{scheme}.{item['id']}"


def _item_columns(rows: Iterable[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(column key, label, metric) in scheme order, across the rows' schemes. When two schemes use one item
    id for different metrics, the later scheme's item gets its own column, keyed and labelled by scheme:
    a column never holds two metrics under one metric's header."""
    first: dict[str, str] = {}
    cols: dict[str, tuple[str, str, str]] = {}
    for r in rows:
        for it in r["items"]:
            key = _item_key(first, r["scheme"], it)
            first.setdefault(it["id"], it["metric"])
            cols.setdefault(key, (key, it["label"] if key == it["id"] else f"{it['label']}（{r['scheme']}）",
                                  it["metric"]))
    return list(cols.values())


def flat_row(row: dict[str, Any], items: list[tuple[str, str, str]]) -> dict[str, Any]:
    """One appraisal row as flat columns (CSV, and the XLSX cells)."""
    first = {key: metric for key, _, metric in items if "." not in key}  # ids and scheme names hold no dot
    by_key = {_item_key(first, row["scheme"], it): it for it in row["items"]}
    ci = row["qa_ci95"] or [None, None]
    out = {
        "rank": row["rank"], "agent_id": row["agent_id"], "team": row["team"], "scheme": row["scheme"],
        "total": row["total"], "grade": row["grade"], "quantitative": row["quantitative"],
        "qualitative": row["qualitative"],
        "metrics_scored": (row.get("coverage") or {}).get("metrics_scored"),
        "weight_scored": (row.get("coverage") or {}).get("weight_scored"),
    }
    for item_id, _, _ in items:
        it = by_key.get(item_id, {})
        out[f"{item_id}.value"] = it.get("value")
        out[f"{item_id}.attainment"] = it.get("attainment")
        out[f"{item_id}.points"] = it.get("points")
    out.update({"qa_score_mean": row["qa_score_mean"], "qa_score_adjusted": row["qa_score_adjusted"],
                "qa_n": row["qa_n"], "qa_ci95_low": ci[0], "qa_ci95_high": ci[1], "team_size": row["team_size"]})
    for m in CONTEXT_METRICS:
        out[f"metrics.{m}"] = row["metrics"].get(m)
    out["notes"] = "; ".join(row["notes"])
    out["period"] = row["period"]
    return out


def _headers(items: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """(flat key, Chinese header, number kind)."""
    h = [("rank", "团队排名", "count"), ("agent_id", "坐席工号", "text"), ("team", "团队", "text"),
         ("scheme", "考核方案", "text"), ("total", "总分", "total"), ("grade", "等级", "text"),
         ("quantitative", "量化得分", "total"), ("qualitative", "主观评分", "total"),
         ("metrics_scored", "计分指标数", "count"), ("weight_scored", "计分指标权重", "share")]
    for item_id, label, metric in items:
        h += [(f"{item_id}.value", label, metric_kind(metric)), (f"{item_id}.attainment", f"{label}达成率", "share"),
              (f"{item_id}.points", f"{label}得分", "score")]
    h += [("qa_score_mean", "质检均分", "score"), ("qa_score_adjusted", "质检校正分", "score"),
          ("qa_n", "质检样本数", "count"), ("qa_ci95_low", "质检均分95%置信下限", "score"),
          ("qa_ci95_high", "质检均分95%置信上限", "score"), ("team_size", "团队人数", "count")]
    scored = {metric for _, _, metric in items}
    h += [(f"metrics.{m}", metric_label(m), metric_kind(m)) for m in CONTEXT_METRICS if m not in scored]
    h += [("notes", "备注", "text"), ("period", "考核周期", "text")]
    return h


def to_json(rows: list[dict[str, Any]], period: Period, schemes: dict[str, AppraisalScheme],
            scores: str = "machine", team: str | None = None, warnings: list[str] | None = None) -> str:
    used = sorted({r["scheme"] for r in rows if r["scheme"]})
    return json.dumps({
        "period": period.label, "from": period.start.isoformat(), "to": period.end.isoformat(),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "scores": scores, "team": team, "warnings": warnings or [],
        "schemes": {n: {"version": schemes[n].spec.version, "title": schemes[n].spec.title,
                        "hash": schemes[n].hash} for n in used},
        "rows": rows,
    }, ensure_ascii=False, indent=1)


def to_csv(rows: list[dict[str, Any]]) -> str:
    """UTF-8 with a BOM, so Excel shows the Chinese right; machine-readable column names."""
    items = _item_columns(rows)
    keys = [k for k, _, _ in _headers(items)]
    buf = io.StringIO()
    buf.write("\ufeff")
    writer = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: csv_cell(v) for k, v in flat_row(r, items).items()})
    return buf.getvalue()


def _sheet_name(name: str, taken: set[str]) -> str:
    base = _SHEET_BAD.sub("_", name)[:31] or "未分组"
    out, n = base, 2
    while out in taken:
        suffix = f"~{n}"
        out, n = base[: 31 - len(suffix)] + suffix, n + 1
    taken.add(out)
    return out


def _points_rule(schemes: list[AppraisalScheme]) -> str:
    """得分规则 in words, with the points the schemes' metrics earn (each metric's ``points``)."""
    points = {m.points for s in schemes for m in s.spec.metrics} or {Points()}
    if len(points) == 1:
        [p] = points
        each = (f"低于基准值得 {p.below:g} 分，达到基准值 {p.baseline:g} 分、目标值 {p.target:g} 分、"
                f"挑战值 {p.challenge:g} 分")
    else:
        each = "各指标低于基准值、达到基准值、目标值与挑战值所得分数见考核方案（各指标的 points）"
    return f"{each}；基准→目标→挑战之间线性插值；超过挑战值按挑战值得分封顶"


def _info_sheet(info, rows: list[dict[str, Any]], period: Period, schemes: dict[str, AppraisalScheme], scores: str,
                team: str | None, warnings: list[str] | None, tz: str | None, shrinkage_n: float | None) -> None:
    """The 说明 sheet: what the export covers and how every figure is computed."""
    from openpyxl.styles import Font

    used = sorted({r["scheme"] for r in rows if r["scheme"]})
    zone = ZoneInfo(tz) if tz else UTC  # 生成时间 in the site's time zone, with its offset
    k = f"k = {shrinkage_n:g}（QA_PERFORMANCE__SHRINKAGE_N）" if shrinkage_n is not None else "k 为收缩样本数"
    lines = [
        ("考核周期", period.label), ("起止日期", f"{period.start.isoformat()} 至 {period.end.isoformat()}"),
        ("生成时间", datetime.now(zone).isoformat(timespec="seconds") + (f"（{tz}）" if tz else "")),
        ("坐席数", len(rows)), ("质检分口径", SCORES_NOTE[scores]),
        ("团队筛选", f"仅团队 {team}：只计入归属该团队的会话与 KPI 记录（未填班组的 KPI 记录按坐席本期所属团队计入）"
         if team else "全部团队（未筛选）"),
        *[("注意", w) for w in warnings or ()],
        *[(f"考核方案 {n}", f"{schemes[n].spec.title} v{schemes[n].spec.version} "
                            f"(sha256 {schemes[n].hash[:12]})：{schemes[n].spec.description}") for n in used],
        ("计算口径", "比率 = 周期内分子之和 ÷ 分母之和（非日均值的平均）；NPS = 推荐者% − 贬损者%；"
                    "满意度 = 满意评价数 ÷ 评价数；日均接待量 = 按日记录的接待量 ÷ 这些天数（周、月记录不计入；团队为人均每个工作日）"),
        ("质检校正分", f"质检均分向团队均分收缩：(n × 个人均分 + k × 团队均分) ÷ (n + k)，{k}，n 为坐席本期已评分会话数；"
                       "样本少的坐席不会因少数几通会话被高估或低估"),
        ("得分规则", _points_rule([schemes[n] for n in used])),
        ("等级", "按显示的总分（两位小数，四舍五入）评定：显示 90.00 即达 90 分档"),
        *[("数据不足", f"考核方案 {n} 要求计分指标权重至少 {schemes[n].spec.min_coverage:.0%}（min_coverage）："
                      "不足者等级记为“数据不足”，不参与团队排名，总分与计分指标权重照常列出")
          for n in used if schemes[n].spec.min_coverage],
    ]
    for line in lines:
        info.append(list(line))
    info.column_dimensions["A"].width = 16
    info.column_dimensions["B"].width = 100
    for cell in info["A"]:
        cell.font = Font(bold=True)


def to_xlsx(rows: list[dict[str, Any]], period: Period, schemes: dict[str, AppraisalScheme],
            scores: str = "machine", team: str | None = None, warnings: list[str] | None = None, *,
            tz: str | None = None, shrinkage_n: float | None = None) -> bytes:
    """A 说明 sheet (with the score basis, the team filter and any warning; 生成时间 in ``tz``, the value of k,
    ``shrinkage_n``), a 汇总 sheet of every agent, then one sheet per team; numbers stay numbers."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    info = wb.active
    info.title = "说明"
    _info_sheet(info, rows, period, schemes, scores, team, warnings, tz, shrinkage_n)

    taken = {"说明"}
    teams: dict[str | None, list[dict[str, Any]]] = {}
    for r in rows:
        teams.setdefault(r["team"], []).append(r)
    sheets = [("汇总", rows)] + [(f"团队 {t}" if t else "未分组", members) for t, members in teams.items()]
    header_fill = PatternFill("solid", fgColor="DDEBF7")
    for title, members in sheets:
        ws = wb.create_sheet(_sheet_name(title, taken))
        items = _item_columns(members)
        headers = _headers(items)
        ws.append([h for _, h, _ in headers])
        for cell in ws[1]:
            cell.font = Font(bold=True)
            cell.fill = header_fill
            cell.alignment = Alignment(wrap_text=True, vertical="center")
        for r in members:
            flat = flat_row(r, items)
            ws.append([flat[k] for k, _, _ in headers])
            for cell in ws[ws.max_row]:
                if is_formula_like(cell.value):
                    cell.data_type = "s"  # openpyxl took it for a formula: the text it is, not run
        for col, (key, header, kind) in enumerate(headers, start=1):
            letter = get_column_letter(col)
            ws.column_dimensions[letter].width = NOTES_WIDTH if key == "notes" else max(10, min(40, len(header) * 2 + 2))
            if kind in _FORMATS:
                for (cell,) in ws.iter_rows(min_row=2, min_col=col, max_col=col):
                    cell.number_format = _FORMATS[kind]
            if key == "notes":  # notes run to 170 characters: wrapped in a wide column, not cut at 10
                for (cell,) in ws.iter_rows(min_row=2, min_col=col, max_col=col):
                    cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.freeze_panes = "C2"
        ws.auto_filter.ref = ws.dimensions
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
