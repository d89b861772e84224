"""``qa rules check|list``: validate packs and appraisal schemes, run their examples, list rules."""

from __future__ import annotations

import json
import logging
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.cells import cell_len

from qa_service.cli.app import console, err_console, rules_app, setup_logging
from qa_service.config import get_settings


RulesDir = Annotated[Optional[Path], typer.Option("--dir", help="Rule pack folder (default QA_SCORING__RULES_DIR or rules/)")]


@rules_app.command("check")
def rules_check(rules_dir: RulesDir = None) -> None:
    """Validate every pack and run every rule's examples; exit 1 on any problem (coded errors)."""
    from qa_service.errors import ConfigError, RulePackError
    from qa_service.rules.book import RuleBook
    from qa_service.rules.check import example_errors, run_examples

    setup_logging(logging.WARNING)
    settings = get_settings()
    from qa_service.scoring.registry import dimension_names

    book = RuleBook(rules_dir or settings.rules_dir, default_pack=settings.scoring.default_pack,
                    dimensions=dimension_names(settings.scoring.scorers))
    try:
        book.load(examples=False)  # the examples run below, pack by pack, each failure listed
    except RulePackError as exc:
        for e in exc.errors:
            err_console.print(str(e), markup=False)
        err_console.print(f"[red]{len(exc.errors)} problem(s) in {book.directory}; nothing was loaded[/red]")
        raise typer.Exit(1) from None
    except ConfigError as exc:  # the packs load, but the default pack is not among them
        err_console.print(str(exc), markup=False)
        raise typer.Exit(1) from None
    failures = 0
    for name, compiled in sorted(book.packs.items()):
        results = run_examples(compiled)
        errors = example_errors(compiled)
        failures += len(errors)
        own = sum(1 for r in compiled.pack.rules if r.pack == name)
        console.print(f"{name} v{compiled.pack.version} ({compiled.pack.path}, sha256 {compiled.pack.hash[:12]}): "
                      f"{own} rules + {len(compiled.pack.rules) - own} included, "
                      f"{len(results) - len(errors)}/{len(results)} examples pass", markup=False)
        for e in errors:
            err_console.print(str(e), markup=False)
    for note in _notes(book, settings):
        err_console.print(note, markup=False)
    from qa_service.performance.appraisal import example_errors as scheme_example_errors
    from qa_service.rules.scheme import load_schemes

    scheme_dir = (rules_dir / "appraisal") if rules_dir else settings.schemes_dir
    schemes = {}
    if scheme_dir.is_dir():
        try:
            schemes = load_schemes(scheme_dir, book.dimensions)
        except RulePackError as exc:
            for e in exc.errors:
                err_console.print(str(e), markup=False)
            failures += len(exc.errors)
        for name, s in sorted(schemes.items()):
            errors = scheme_example_errors(s)
            failures += len(errors)
            console.print(f"appraisal scheme {name} v{s.spec.version} ({s.path}): {len(s.spec.metrics)} metrics, "
                          f"{len(s.spec.examples) - len(errors)}/{len(s.spec.examples)} examples pass", markup=False)
            for e in errors:
                err_console.print(str(e), markup=False)
    alerts, problems = _check_alerts((rules_dir / "alerts") if rules_dir else settings.alerts_dir, settings, book)
    failures += problems
    if failures:
        err_console.print(f"[red]{failures} problem(s)[/red]")
        raise typer.Exit(1)
    console.print(f"[green]all {len(book.packs)} packs, {len(schemes)} appraisal schemes and {alerts} live alerts "
                  f"valid, every example passes[/green]")


def _notes(book, settings) -> list[str]:
    """Warnings that do not fail the check: rules the configured scorers replace, tags no dimension reads, and
    what ``rules.lint`` notes (a phrase holding '，', weights not summing to 100, …)."""
    from qa_service.rules.lint import pack_notes
    from qa_service.rules.schema import tag_is_read
    from qa_service.scoring.politeness import replaced_rules

    notes = []
    v2 = "politeness.v2" in settings.scoring.scorers
    for name, compiled in sorted(book.packs.items()):
        for rule in compiled.pack.rules:
            if rule.pack != name:
                continue  # said once, for the pack that defines it
            replaced = replaced_rules(compiled.pack).get(rule.id) if v2 else None
            if replaced:
                notes.append(f"note {rule.path}:{rule.id}: politeness.v2 (QA_SCORING__SCORERS) replaces this rule "
                             f"with the learned {replaced}; its {rule.spec.points:g} points are not charged")
            if rule.spec.tag and not tag_is_read(rule.spec.tag):
                notes.append(f"note {rule.path}:{rule.id}: tag {rule.spec.tag!r} is read by no dimension "
                             "(greeting, closing, courtesy, empathy, rude, disclosure, forbidden, objection.<type>, "
                             "response.<category>, outcome.accept) — a typo?")
        notes += pack_notes(compiled.pack)
    return notes


def _check_alerts(directory: Path, settings, book) -> tuple[int, int]:
    """Live alert rules: load (coded errors) and run their examples through the live checks, over the packs
    just checked (``book``, loaded without running examples: their failures are already counted).

    Was: the live checks built ``Runtime(settings).pipeline``, which loaded ``QA_SCORING__RULES_DIR`` again
    with its examples, so a failing example there (R006) escaped as a top-level error — printed a second
    time, exit 2 instead of 1, and the alerts never checked; with ``--dir`` the alerts ran over the
    shipped packs instead of the ones checked."""
    from qa_service.errors import RulePackError
    from qa_service.live.checks import LiveChecks
    from qa_service.live.examples import check_examples
    from qa_service.rules.alerts import load_alerts
    from qa_service.scoring.pipeline import Pipeline

    try:
        rules = load_alerts(directory)
    except RulePackError as exc:
        for e in exc.errors:
            err_console.print(str(e), markup=False)
        return 0, len(exc.errors)
    if not rules:
        return 0, 0
    problems = check_examples(rules, LiveChecks(Pipeline.from_settings(settings.scoring, book)))
    examples = sum(len(r.examples) for r in rules.values())
    console.print(f"live alerts ({directory}): {len(rules)} alerts, {examples - len(problems)}/{examples} examples "
                  "pass", markup=False)
    for p in problems:
        err_console.print(p, markup=False)
    return len(rules), len(problems)


class ListFormat(str, Enum):
    table = "table"
    json = "json"


@rules_app.command("list")
def rules_list(rules_dir: RulesDir = None, format: Annotated[ListFormat, typer.Option(
        "--format", help="table (ids never cut), or json: the packs as GET /v1/rules gives them")] = ListFormat.table,
               ) -> None:
    """Packs and their rules: id, dimension, role, kind, points, severity."""
    from qa_service.errors import RulePackError
    from qa_service.rules.lint import pack_notes
    from qa_service.rules.loader import load_packs
    from qa_service.scoring.politeness import replaced_rules
    from qa_service.scoring.registry import dimension_names

    settings = get_settings()
    directory = rules_dir or settings.rules_dir
    try:
        packs = load_packs(directory, dimension_names(settings.scoring.scorers))
    except RulePackError as exc:  # as qa rules check prints them
        for e in exc.errors:
            err_console.print(str(e), markup=False)
        err_console.print(f"{len(exc.errors)} problem(s) in {directory} (qa rules check --dir tells more)", markup=False)
        raise typer.Exit(1) from None
    if not packs:
        err_console.print(f"no rule packs in {directory}", markup=False)
        raise typer.Exit(1)
    if format is ListFormat.json:
        from qa_service.api.presenters import pack_read

        out = [pack_read(pack, warnings=pack_notes(pack)).model_dump(mode="json") for _, pack in sorted(packs.items())]
        sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=1) + "\n")
        return
    v2 = "politeness.v2" in settings.scoring.scorers
    for name, pack in sorted(packs.items()):
        _print_pack(pack, replaced_rules(pack) if v2 else {})


MESSAGE_MIN_WIDTH = 20  # characters of the message column before the table is printed wider than the terminal


def _print_pack(pack, replaced: dict[str, str]) -> None:
    """One pack's table. Every column but the message is as wide as its widest cell and never wraps or cuts
    (was: at 80 columns, or piped into grep, every id read ``general…``); the message wraps in what is left, and
    where even that does not fit the table is printed wider than the terminal rather than cut."""
    from rich.console import Console
    from rich.table import Table

    rows = []
    for r in pack.rules:
        s = r.spec
        points = f"{s.points:g}{' 致命' if s.fatal else ''}{' (replaced*)' if r.id in replaced else ''}"
        rows.append((r.id, s.dimension, s.role.value, s.kind.value, points, s.severity, s.message))
    columns = ("rule", "dimension", "role", "kind", "points", "severity")
    widths = [max([cell_len(col)] + [cell_len(row[i]) for row in rows]) for i, col in enumerate(columns)]
    table = Table(title=f"{pack.name} v{pack.version} — scenario {pack.scenario}: {pack.spec.title}")
    for col, width in zip(columns, widths):
        table.add_column(col, no_wrap=True, overflow="fold", min_width=width)
    table.add_column("message", overflow="fold", min_width=MESSAGE_MIN_WIDTH)
    for row in rows:
        table.add_row(*row)
    needed = sum(widths) + MESSAGE_MIN_WIDTH + 3 * len(widths) + 4  # the borders and a space each side of a cell
    (console if console.width >= needed else Console(width=needed, highlight=False)).print(table)
    if replaced:
        console.print("* not charged: politeness.v2 replaces " + ", ".join(f"{k} with {v}" for k, v in
                                                                        sorted(replaced.items())), markup=False)
