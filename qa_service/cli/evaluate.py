"""``qa eval``: how far the machine agrees with human QA labels — the golden set, a team's own labels,
or the review workflow's verdicts."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from qa_service.cli.app import DataDir, app, console, err_console, runtime_for, settings_for
from qa_service.evaluation.labels import ITEM_FIELDS


def _f(x) -> str:
    return "—" if x is None else f"{x + 0.0:.3f}"  # no "-0.000"


def print_report(report: dict, title: str) -> None:
    """The agreement table, from the report's exact figures (``as_dict(rounded=False)``), each rounded once here.

    Was: figures already rounded to 4 places, formatted to 3 (0.94349 → 0.9435 → 0.944), and, written to a file
    or a log, the item names cut to nine characters (two rows read ``objectio…``)."""
    table = Table(title=title)
    names = [n for n in report["items"]] + [f"{n} (turns)" for n in report["turns"]]
    for col in ("item", "n", "human yes", "machine yes", "precision", "recall", "F1", "κ"):
        if col == "item":
            table.add_column(col, justify="left", no_wrap=True, min_width=max(map(len, names), default=4))
        else:
            table.add_column(col, justify="right", no_wrap=True)
    unlabelled = []
    for group in ("items", "turns"):
        for name, f in report[group].items():
            shown = name if group == "items" else f"{name} (turns)"
            if f.get("not_labelled"):  # no line gives its field: nothing to compare, not "all no"
                unlabelled.append(ITEM_FIELDS[name])
                table.add_row(shown, "—", "not labelled", "—", "—", "—", "—", "—")
                continue
            table.add_row(shown, str(f["n"]), str(f["tp"] + f["fn"]),
                          str(f["tp"] + f["fp"]), _f(f["precision"]), _f(f["recall"]), _f(f["f1"]), _f(f["kappa"]))
    out = console
    if not console.is_terminal:  # a file or a log has no width to keep to: print the table whole
        needed = Measurement.get(console, console.options.update_width(1000), table).maximum
        out = Console(file=console.file, width=max(console.width, needed), highlight=False)
    out.print(table)
    if unlabelled:
        console.print(f"not labelled: no line of the file gives {', '.join(dict.fromkeys(unlabelled))}, so those "
                      "items have nothing to compare (a field left out of only some lines counts as no there)",
                      soft_wrap=True, highlight=False)
    graded = sum(v["n"] for v in report["score_by_quality"].values())
    console.print(f"Spearman(score, overall quality 1–5): {_f(report['spearman'])}"
                  + ("" if graded else " (no line gives quality)"))
    grades = ", ".join(f"{q}: {v['mean']:.1f} (n {v['n']})" for q, v in report["score_by_quality"].items())
    console.print(f"mean score by quality grade: {grades}", soft_wrap=True)
    gap = report["gap_low_vs_top"]
    console.print("quality 5 minus quality ≤ 2: " + (f"{gap:.2f} points" if gap is not None else
                                                      "n/a (it needs conversations rated 5 and rated ≤ 2)"))


class EvalFormat(str, Enum):
    table = "table"
    json = "json"


@app.command("eval")
def evaluate(
    labels: Annotated[Optional[Path], typer.Argument(exists=True, dir_okay=False,
                                                     help="Labels (JSONL, data/golden/GUIDE.md format)")] = None,
    split: Annotated[Optional[str], typer.Option(help="Only labels of this split (train, dev, test)")] = None,
    data: Annotated[Optional[Path], typer.Option(help="Corpora folder for labels that carry no text "
                                                      "(the golden set: ../shared/data)")] = None,
    from_reviews: Annotated[bool, typer.Option("--from-reviews", help="Compare with the review workflow's "
                                                                      "verdicts instead of a label file")] = False,
    period: Annotated[Optional[str], typer.Option(help="With --from-reviews: conversations of this period")] = None,
    team: Annotated[Optional[str], typer.Option(help="With --from-reviews: only this team")] = None,
    format: Annotated[EvalFormat, typer.Option("--format", help="table or json")] = EvalFormat.table,
    data_dir: DataDir = None,
) -> None:
    """Per item precision, recall, F1 (with counts) and Cohen's κ; Spearman between score and quality;
    the score by quality grade."""

    from qa_service.errors import Invalid
    from qa_service.evaluation.run import evaluate as run_eval
    from qa_service.evaluation.run import from_reviews as review_agreement
    from qa_service.period import parse_period

    if from_reviews:
        if not period:
            err_console.print("[red]--from-reviews needs --period[/red] (e.g. 2026-10)")
            raise typer.Exit(2)
        try:
            p = parse_period(period)
        except ValueError as exc:
            err_console.print(f"[red]--period:[/red] {escape(str(exc))}")
            raise typer.Exit(2) from None
        rt = runtime_for(data_dir)
        with rt.sessions() as s:
            out = review_agreement(session=s, period=p, team=team, pass_mark=rt.settings.review.pass_mark)
        out["period"] = p.label
        json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
        return
    if labels is None:
        err_console.print("[red]give a label file[/red] (or --from-reviews --period …)")
        raise typer.Exit(2)
    from qa_service.evaluation.labels import LabelError, load_labels
    from qa_service.evaluation.run import corpus_index
    from qa_service.runtime import Runtime

    try:  # every line checked (turn indices against the text, given or in --data) before anything is scored
        load_labels(labels, corpus_index(data))
    except LabelError as exc:
        err_console.print(f"[red]qa eval:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
    settings = settings_for(data_dir)
    pipeline = Runtime(settings).pipeline
    try:  # each conversation redacted as ingest would store it (QA_PII__*), then scored
        result = run_eval(pipeline, labels, data_dir=data, split=split, settings=settings)
    except (Invalid, LabelError) as exc:
        err_console.print(f"[red]qa eval:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
    report = result.as_dict(rounded=format == "json")
    report["labels"], report["split"] = str(labels), split
    report["scorers"] = pipeline.versions
    if format == "json":
        json.dump(report, sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    else:
        print_report(report, f"{labels} ({split or 'all'}): {report['conversations']} conversations")
