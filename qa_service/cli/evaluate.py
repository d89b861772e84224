"""``qa eval``: how far the machine agrees with human QA labels — the golden set, a team's own labels,
or the review workflow's verdicts."""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from enum import Enum
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from qa_service.cli.app import DataDir, app, console, err_console, settings_for
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
    if "rules_dir" in report:
        packs = "; ".join(f"pack {name} {p['version']} #{(p['hash'] or '')[:12]} (scorecard {p['scorecard']}): "
                          f"{p['conversations']}" for name, p in report["packs"].items())
        console.print(f"scored with the rules in {report['rules_dir']} ({packs}); detectors: "
                      f"{report['detector_model'] or 'none'}", soft_wrap=True, highlight=False, markup=False)


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
    per_conversation: Annotated[Optional[Path], typer.Option(
        "--per-conversation", help="Also write one row per conversation (id, score, quality, each item's label and "
                                   "machine call, where they disagree): JSON Lines, or CSV for a .csv name")] = None,
    from_reviews: Annotated[bool, typer.Option("--from-reviews", help="Compare with the review workflow's "
                                                                      "verdicts instead of a label file")] = False,
    period: Annotated[Optional[str], typer.Option(help="With --from-reviews: conversations of this period")] = None,
    team: Annotated[Optional[str], typer.Option(help="With --from-reviews: only this team")] = None,
    format: Annotated[Optional[EvalFormat], typer.Option(
        "--format", help="table or json (default: table; --from-reviews writes json)")] = None,
    data_dir: DataDir = None,
) -> None:
    """Per item precision, recall, F1 (with counts) and Cohen's κ; Spearman between score and quality;
    the score by quality grade."""
    from qa_service.evaluation.labels import SPLITS

    if from_reviews:  # what only a label file uses is refused, not ignored (was: ignored, --format table too)
        _refuse_unused("--from-reviews reads the review workflow's verdicts and writes JSON", {
            "a label file": labels, "--split": split, "--data": data, "--per-conversation": per_conversation,
            "--format table": True if format is EvalFormat.table else None})
        _eval_reviews(period, team, data_dir)
        return
    _refuse_unused("--period and --team go with --from-reviews (a label file's conversations are all counted; "
                   "--split chooses among them)", {"--period": period, "--team": team})
    if labels is None:
        err_console.print("[red]give a label file[/red] (or --from-reviews --period …)")
        raise typer.Exit(2)
    if split is not None and split not in SPLITS:  # was: "no labels of split 'Test'", the valid ones unsaid
        _refuse(f"qa eval: --split {split!r} is not one of {', '.join(SPLITS)}", 2)
    _eval_labels(labels, split=split, data=data, per_conversation=per_conversation,
                 format=format or EvalFormat.table, data_dir=data_dir)


def _refuse_unused(mode: str, options: dict[str, object]) -> None:
    given = [name for name, value in options.items() if value is not None]
    if given:
        one = len(given) == 1
        _refuse(f"qa eval: {mode}: {', '.join(given)} {'has' if one else 'have'} no use here (leave "
                f"{'it' if one else 'them'} out)", 2)


def _eval_reviews(period: str | None, team: str | None, data_dir: Path | None) -> None:
    """``--from-reviews``: the machine against the review workflow's verdicts of a period, as JSON. Refuses
    (naming the database, password masked, the period and the team) a database that is not there or has no
    schema (nothing is created: was, an empty one under ./qa-data), a team it does not know, and a period
    and team with no review at all (was: zeros, exit 0)."""
    from qa_service.errors import ConfigError
    from qa_service.evaluation.run import from_reviews as review_agreement
    from qa_service.evaluation.run import review_scope
    from qa_service.period import parse_period

    if not period:
        err_console.print("[red]--from-reviews needs --period[/red] (e.g. 2026-10)")
        raise typer.Exit(2)
    try:
        p = parse_period(period)
    except ValueError as exc:
        err_console.print(f"[red]--period:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
    try:
        rt, where = _review_database(data_dir)
    except ConfigError as exc:  # a schema behind this release, or a newer release's
        _refuse(f"qa eval --from-reviews: {exc}", 2)
    scope = f"{p.label} ({p.start}..{p.end})" + (f", team {team!r}" if team else "")
    with rt.sessions() as s:
        held = review_scope(session=s, team=team)
        if not held["team_known"]:
            known = ", ".join(held["teams"]) or "none"
            _refuse(f"qa eval --from-reviews: no team {team!r} in the database {where} (mistyped? its teams: "
                    f"{known})", 2)
        out = review_agreement(session=s, period=p, team=team, pass_mark=rt.settings.review.pass_mark)
    if not out["reviews"] and not out["reviews_open"]:
        _refuse(f"qa eval --from-reviews: no review of a conversation of {scope} in the database {where}, which "
                f"holds {held['conversations']} conversation(s) and {held['reviews']} review(s) in all: nothing to "
                "compare (a review counts in the period of its conversation; is this the service's database? "
                "QA_DB__URL, else the data dir's SQLite: QA_DATA_DIR or --data-dir)", 1)
    if not out["reviews"]:
        err_console.print(f"warning: no review of {scope} is done yet ({out['reviews_open']} open): every figure "
                          "is empty", markup=False, style="yellow", soft_wrap=True)
    out.update({"period": p.label, "team": team, "database": where})
    json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


def _review_database(data_dir: Path | None):
    """The Runtime of the database to read, and its URL as it may be printed: only one that exists and has a
    schema (read-only: nothing is created); a schema behind this release is refused (``Runtime.migrate``)."""
    from qa_service.config import masked_url
    from qa_service.runtime import Runtime
    from qa_service.storage.db import current_revision

    settings = settings_for(data_dir)
    where = masked_url(settings.database_url)
    if not settings.db.url and not (settings.data_dir / "qa.sqlite3").is_file():
        _refuse(f"qa eval --from-reviews: no database at {where} (the data dir {settings.data_dir} holds none: "
                "QA_DATA_DIR or --data-dir the folder the service keeps its data in, or QA_DB__URL its database); "
                "nothing was created", 2)
    rt = Runtime(settings)  # no data dir made: the database is all it reads
    if current_revision(rt.engine) is None:
        _refuse(f"qa eval --from-reviews: the database {where} has no schema (no conversation was ever stored in "
                "it): is it the service's?", 2)
    return rt.migrate(starting=False), where


def _refuse(message: str, code: int) -> NoReturn:
    err_console.print(message, markup=False, style="red", soft_wrap=True)
    raise typer.Exit(code)


def _eval_labels(labels: Path, *, split: str | None, data: Path | None, per_conversation: Path | None,
                 format: EvalFormat, data_dir: Path | None) -> None:
    """A label file: check it whole, score each conversation as the service would, compare, print."""
    from qa_service.errors import Invalid
    from qa_service.evaluation.labels import LabelError, load_labels
    from qa_service.evaluation.run import corpus_index
    from qa_service.evaluation.run import evaluate as run_eval
    from qa_service.runtime import Runtime

    _check_writable(per_conversation)
    try:  # every line checked (turn indices against the text, given or in --data) before anything is scored
        corpora = corpus_index(data)
        load_labels(labels, corpora, require_text=True)
    except (Invalid, LabelError) as exc:
        err_console.print(f"[red]qa eval:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
    settings = settings_for(data_dir)
    pipeline = Runtime(settings).pipeline
    try:  # each conversation redacted as ingest would store it (QA_PII__*), then scored
        result = run_eval(pipeline, labels, split=split, settings=settings, corpora=corpora)
    except (Invalid, LabelError) as exc:
        err_console.print(f"[red]qa eval:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
    report = result.as_dict(rounded=format == "json")
    report["labels"], report["split"] = str(labels), split
    report["scorers"] = pipeline.versions
    # what scored them: two runs under different rule folders or models can be told apart afterwards
    report["rules_dir"] = str(Path(settings.rules_dir).resolve())
    report["detector_model"] = str(pipeline.detector.directory) if pipeline.detector is not None else None
    report["in_sample"] = _warn_in_sample(result.rows, labels, split, pipeline)
    if per_conversation is not None:
        _write_rows(per_conversation, result.rows)
        report["per_conversation_file"] = str(per_conversation)
    if format == "json":
        sys.stdout.write(_json_with_rows(report, result.rows))
    else:
        print_report(report, f"{labels} ({split or 'all'}): {report['conversations']} conversations")
        if per_conversation is not None:
            n = sum(1 for r in result.rows if r["disagree"])
            console.print(f"per conversation: {per_conversation} ({len(result.rows)} rows, {n} with a disagreement)",
                          highlight=False, soft_wrap=True)


def _warn_in_sample(rows: list[dict], labels: Path, split: str | None, pipeline) -> dict | None:
    """Say on stderr how many of the conversations the detectors were trained on (their model's
    ``training_ids.json``): figures on those are in-sample. Without such a list, say when the file's lines carry
    a split and none was chosen. Was: the golden set without --split (941 of its 1,565 conversations the
    detectors' training data) and a team's labels drawn from the public corpora were reported with no word."""
    from qa_service.evaluation.labels import read_labels
    from qa_service.evaluation.run import training_overlap

    model = pipeline.detector.directory if pipeline.detector is not None else None
    seen = training_overlap([r["id"] for r in rows], model)
    splits = {} if split else Counter(str(x["split"]) for x in read_labels(labels) if "split" in x)
    hint = (" (the file's lines carry a split: " + ", ".join(f"{k} {n}" for k, n in sorted(splits.items()))
            + ("; --split test gives the held-out figures" if "test" in splits else "") + ")"
            ) if set(splits) - {"test"} else ""
    if seen is not None and seen["training"]:
        tuned = seen["threshold_tuning"]
        err_console.print(
            f"warning: {seen['training']} of {seen['conversations']} conversations were in the detectors' training "
            f"data ({model}/training_ids.json): figures on them are in-sample"
            + (f"; {tuned} more in the split their thresholds were chosen on, where figures are optimistic"
               if tuned else "") + hint, markup=False, style="yellow", soft_wrap=True)
    elif seen is not None and seen["threshold_tuning"]:
        err_console.print(
            f"warning: {seen['threshold_tuning']} of {seen['conversations']} conversations are in the split the "
            f"detectors' thresholds were chosen on ({model}/training_ids.json): figures on them are optimistic"
            + hint, markup=False, style="yellow", soft_wrap=True)
    elif seen is None and hint:
        err_console.print(f"warning: no --split, so the figures mix every split{hint}", markup=False,
                          style="yellow", soft_wrap=True)
    return seen


def _check_writable(path: Path | None) -> None:
    """Before the work, not after it: a --per-conversation that cannot be written is one line, exit 2."""
    if path is None:
        return
    try:
        if path.is_dir() or not path.name:
            raise IsADirectoryError(f"{path} is a folder; give a file name")
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        err_console.print(f"[red]cannot write --per-conversation:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None


def _json_with_rows(report: dict, rows: list[dict]) -> str:
    """The report as JSON, its rows under ``per_conversation`` one a line: indented like the rest, the golden
    set's 1,565 rows would be about 120,000 lines; one a line they are 1,565 (about 1.3 MB)."""
    head = json.dumps(report, ensure_ascii=False, indent=1)
    body = ",\n".join("  " + json.dumps(r, ensure_ascii=False) for r in rows)
    return head[:-2] + ',\n "per_conversation": [\n' + body + "\n ]\n}\n"


def _write_rows(path: Path, rows: list[dict]) -> None:
    """``--per-conversation``: JSON Lines (the rows as they are), or CSV for a ``.csv`` name: one column per
    item's label and machine call (yes / no; — where not labelled), turn items as the turns, space-separated."""
    from qa_service.spreadsheet import csv_cell

    with open(path, "w", encoding="utf-8-sig" if path.suffix.lower() == ".csv" else "utf-8", newline="") as fh:
        if path.suffix.lower() != ".csv":
            fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
            return
        items, turns = (list(rows[0][k]) if rows else [] for k in ("items", "turns"))
        writer = csv.writer(fh)
        writer.writerow(["id", "score", "quality", "pack", "disagree",
                         *(f"{n}_{who}" for n in items + turns for who in ("label", "machine"))])
        yes = {True: "yes", False: "no", None: "—"}
        for r in rows:
            writer.writerow([csv_cell(r["id"]), r["score"], r["quality"], r["pack"], " ".join(r["disagree"]),
                             *(yes[r["items"][n][who]] for n in items for who in ("label", "machine")),
                             *("—" if r["turns"][n][who] is None else " ".join(map(str, r["turns"][n][who]))
                               for n in turns for who in ("label", "machine"))])
