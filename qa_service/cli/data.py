"""Transcripts in and out without the API: ``qa import``, ``qa score`` (offline), ``qa sentiment``."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.console import Console
from rich.progress import track

from qa_service.cli.app import DataDir, app, console, err_console, runtime_for
from qa_service.config import get_settings
from qa_service.spreadsheet import csv_cell


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL or a plain-text log")],
    api: Annotated[Optional[str], typer.Option(help="POST to this API base URL instead of writing directly")] = None,
    api_key: Annotated[Optional[str], typer.Option(envvar="QA_API_KEY", help="Key for --api (an ingest key)")] = None,
    source: Annotated[str, typer.Option(help="source for a plain-text log")] = "import",
    external_id: Annotated[Optional[str], typer.Option(help="external_id for a plain-text log (default: file name)")] = None,
    scenario: Annotated[Optional[str], typer.Option(help="scenario (picks the rule pack) of a text log, and of each "
                                                         "transcript that sets none; one that sets its own keeps it")] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=1000)] = 500,
    data_dir: DataDir = None,
) -> None:
    """Import transcripts: JSONL (API or corpus shape) or a pasted 客服：/客户： text log."""
    from qa_service.errors import TextLogError
    from qa_service.ingest.textlog import read_records

    try:
        records = list(read_records(file, source=source, external_id=external_id, scenario=scenario))
    except TextLogError as exc:
        console.print(f"[red]cannot read {escape(str(file))}:[/red] {escape(str(exc))}")
        raise typer.Exit(2)
    counts: dict[str, int] = {}
    rejected: list[tuple[str, list]] = [(where, [{"msg": r}]) for where, r in records if isinstance(r, str)]
    if rejected:
        counts["rejected"] = len(rejected)
    readable = [(where, r) for where, r in records if not isinstance(r, str)]
    if not readable and not rejected:
        console.print(f"[red]cannot read {escape(str(file))}:[/red] no transcripts in it")
        raise typer.Exit(2)
    wheres = [where for where, _ in readable]
    items = [r for _, r in readable]
    batches = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
    warnings: dict[str, None] = {}  # each once, in order: a scenario no rule pack serves
    if api:
        import httpx

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        with httpx.Client(base_url=api, timeout=120, headers=headers) as client:
            for n, batch in enumerate(track(batches, description="importing", console=console)):
                try:
                    resp = client.post("/v1/transcripts/batch", json={"transcripts": batch})
                except httpx.HTTPError as exc:  # unreachable, not a URL (the batches before it are stored)
                    console.print(f"[red]cannot reach --api {escape(api)}:[/red] "
                                  f"{escape(str(exc) or type(exc).__name__)}; {n} batch(es) sent before")
                    raise typer.Exit(2) from None
                if resp.status_code >= 400:
                    console.print(f"[red]{resp.status_code}[/red] {escape(resp.text[:500])}")
                    raise typer.Exit(1)
                for item in resp.json()["items"]:
                    warnings.update(dict.fromkeys(item.get("warnings", [])))  # an older server sends none
                    counts[item["status"]] = counts.get(item["status"], 0) + 1
                    if item["errors"]:
                        rejected.append((wheres[n * batch_size + item["index"]], item["errors"]))
    else:
        from qa_service.ingest.service import ingest, validate_items

        rt = runtime_for(data_dir, starting=True)  # import migrates at start, as serve and worker do
        for n, batch in enumerate(track(batches, description="importing", console=console)):
            valid, bad = validate_items(batch, rt.settings)
            outcomes, _ = ingest(valid, runtime=rt)
            for o in [*outcomes, *bad]:
                warnings.update(dict.fromkeys(o.warnings))
                status = "rejected" if o.status == "conflict" else o.status
                counts[status] = counts.get(status, 0) + 1
                if o.errors or o.status == "conflict":
                    rejected.append((wheres[n * batch_size + o.index],
                                     o.errors or [{"msg": "conflict: same key, other content"}]))
    console.print(f"imported {escape(str(file))}: {counts}")
    for warning in warnings:
        err_console.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    for where, errors in rejected[:20]:
        console.print(f"  {where}: " + "; ".join(
            (f"{'.'.join(map(str, _within_item(e['loc'])))}: " if e.get("loc") else "") + escape(e["msg"])
            for e in errors))
    if rejected:  # as import-kpis: 0 every item stored, 1 some rejected, 2 unreadable
        raise typer.Exit(1)




def _within_item(loc: list) -> list:
    """A batch error's location inside its transcript: body.transcripts.3.utterances.0.role → utterances.0.role."""
    return loc[3:] if len(loc) > 3 and loc[:2] == ["body", "transcripts"] and isinstance(loc[2], int) else loc


class OutputFormat(str, Enum):
    jsonl = "jsonl"
    csv = "csv"


@app.command()
def score(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL of transcripts (API shape)")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the reports")],
    format: Annotated[Optional[OutputFormat], typer.Option(help="jsonl or csv (default: from --output's suffix)")] = None,
) -> None:
    """Score a file offline, in-process (no Redis, no database): one report per transcript."""
    from pydantic import ValidationError

    from qa_service.ingest.schema import TranscriptCreate
    from qa_service.ingest.service import redact_transcript
    from qa_service.errors import ConfigError, TextLogError
    from qa_service.ingest.textlog import read_records
    from qa_service.runtime import Runtime
    from qa_service.scoring.pipeline import freeze_heap

    fmt = format or (OutputFormat.csv if output.suffix.lower() == ".csv" else OutputFormat.jsonl)
    try:  # before the work, not after it
        if output.is_dir() or not output.name:
            raise IsADirectoryError(f"{output} is a folder; give a file name")
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        console.print(f"[red]cannot write --output:[/red] {escape(str(exc))}")
        raise typer.Exit(2)
    try:
        records = list(read_records(file))
    except TextLogError as exc:
        console.print(f"[red]cannot read {escape(str(file))}:[/red] {escape(str(exc))}")
        raise typer.Exit(2)
    settings = get_settings()
    try:
        pipeline = Runtime(settings).pipeline.initialize()
    except ConfigError as exc:  # a broken rule pack (coded errors, one a line), a missing default pack, a model
        err_console.print(f"[red]cannot score:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    freeze_heap()
    valid, errors, seen = [], 0, {}
    for where, record in records:  # an entry that is not a transcript is named and skipped; the rest are scored
        if isinstance(record, str):
            errors += 1
            console.print(f"[yellow]{where} skipped:[/yellow] {escape(record)}")
            continue
        try:
            t = TranscriptCreate.model_validate(record)
        except ValidationError as exc:
            errors += 1
            console.print(f"[yellow]{where} skipped:[/yellow] {exc.errors()[0]['loc']}: {escape(exc.errors()[0]['msg'])}")
            continue
        t = redact_transcript(t, settings)  # as the service stores it: the report quotes no phone number
        valid.append((where, t, t.to_domain()))
        seen.setdefault((t.source, t.external_id), []).append(where)
    repeated = {key: places for key, places in seen.items() if len(places) > 1}
    if repeated:  # the API would keep the first and answer the rest as duplicates; here each is scored
        (source, external_id), places = next(iter(repeated.items()))
        console.print(f"[yellow]note:[/yellow] {len(repeated)} (source, external_id) pair(s) appear more than once, "
                      f"e.g. {escape(source)}/{escape(external_id)} at {', '.join(places)}; each is scored, "
                      f"and the service would store only the first")
    rows, failed = _score_all(pipeline, valid)
    _write_reports(output, fmt, rows)
    console.print(f"scored {len(rows)} transcript(s) → {output} ({fmt.value}); {errors} skipped"
                  + (f"; {len(failed)} failed" if failed else ""))
    for where, t, problem in failed:
        err_console.print(f"[red]{where} failed[/red] ({escape(t.source)}/{escape(t.external_id)}): {escape(problem)}")
    if failed or not rows:  # a transcript that could not be scored, or nothing scored at all
        raise typer.Exit(1)


def _score_all(pipeline, valid: list) -> tuple[list[dict], list[tuple[str, object, str]]]:
    """Reports of ``valid`` ((where, TranscriptCreate, Transcript) triples) in batches, and the ones that failed:
    a batch that raises is scored again one by one, so one transcript (a regex past its budget, R009) fails
    alone, as it does in the service."""
    rows, failed = [], []
    batch = 32  # transcripts per model batch
    for start in track(range(0, len(valid), batch), description="scoring", console=console):
        chunk = valid[start : start + batch]
        try:
            scored = list(zip(chunk, pipeline.score_many([d for _, _, d in chunk])))
        except Exception:
            scored = []
            for item in chunk:
                try:
                    scored.append((item, pipeline.score(item[2])))
                except Exception as exc:  # named on stderr; the others are still scored
                    failed.append((item[0], item[1], f"{type(exc).__name__}: {exc}".replace("\n", " ")))
        for (_, t, _), report in scored:
            rows.append({"source": t.source, "external_id": t.external_id, **report.as_dict()})
    return rows, failed


def _write_reports(output: Path, fmt: OutputFormat, rows: list[dict]) -> None:
    with open(output, "w", encoding="utf-8", newline="") as fh:
        if fmt is OutputFormat.jsonl:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            dims = sorted({d for r in rows for d in r["dimensions"]})
            writer = csv.writer(fh)
            writer.writerow(["source", "external_id", "score", *dims, "findings", "points", "flags"])
            for r in rows:
                writer.writerow([csv_cell(r["source"]), csv_cell(r["external_id"]), r["score"],
                                 *[r["dimensions"].get(d) for d in dims], len(r["findings"]),
                                 round(sum(f["points"] for f in r["findings"]), 2),
                                 csv_cell(";".join(f["reason"] for f in r["flags"]))])


def _sentence_lines(file: Path) -> list[str]:
    """The ``text`` column of a CSV (a header naming it, in any case, quoted or spaced; cells may span
    lines; comma-, tab-, semicolon- or bar-separated, as the header line shows — Excel writes ``;`` in
    many locales), else every non-empty line. UTF-8 (with or without a BOM), else GB18030."""
    from qa_service.text import decode_file_text

    raw = decode_file_text(file.read_bytes())
    first = raw.split("\n", 1)[0]
    for delimiter in (",", "\t", ";", "|"):
        names = [h.strip().lower() for h in next(csv.reader([first], delimiter=delimiter), [])]
        if "text" in names:
            rows = csv.reader(io.StringIO(raw), delimiter=delimiter)
            next(rows)
            col = names.index("text")
            return [row[col] if col < len(row) else "" for row in rows if any(c.strip() for c in row)]
    return [line for line in raw.splitlines() if line.strip()]


@app.command()
def sentiment(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV with a `text` column, or plain lines")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="JSONL output (default: stdout)")] = None,
    model: Annotated[Optional[str], typer.Option(help="Model directory, or hybrid / lexical / snownlp "
                                                      "(default: QA_SCORING__SENTIMENT_MODEL or the shipped model)")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Sentences per model batch")] = 64,
    processes: Annotated[Optional[int], typer.Option(min=1, help="Processes (default: one per core)")] = None,
) -> None:
    """Sentiment and emotion per line: JSONL {"text","label","positive_prob","emotion"}."""
    from qa_service.errors import ConfigError
    from rich.progress import Progress

    from qa_service.scoring.sentiment_backend import load_backend, predict_chunks

    err = Console(stderr=True)  # messages never go to stdout: it may be the JSONL output
    try:
        texts = _sentence_lines(file)
    except (UnicodeDecodeError, csv.Error) as exc:
        err.print(f"[red]cannot read {escape(str(file))}:[/red] {escape(str(exc))} (UTF-8 or GB18030 text)")
        raise typer.Exit(2) from None
    try:
        backend = load_backend(model or get_settings().scoring.sentiment_model)
    except ConfigError as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2)
    try:
        if output:
            output.parent.mkdir(parents=True, exist_ok=True)
        out = open(output, "w", encoding="utf-8") if output else sys.stdout
    except OSError as exc:
        err.print(f"[red]cannot write --output:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    processes = processes or os.cpu_count() or 1
    if hasattr(backend, "batch_size"):
        backend.batch_size = batch_size  # padded together: small batches of similar length run fastest
    try:
        chunks = predict_chunks(backend, texts, processes=processes, chunk=batch_size * 8)
        start = 0
        with Progress(console=err, disable=output is None and not err.is_terminal) as progress:
            task = progress.add_task("sentiment", total=len(texts))
            for predictions in chunks:
                for text, p in zip(texts[start:start + len(predictions)], predictions):
                    out.write(json.dumps({"text": text, "label": p.label, "positive_prob": round(p.positive_prob, 4),
                                          "emotion": p.emotion if p.emotion_probs else None},
                                         ensure_ascii=False) + "\n")
                start += len(predictions)
                progress.advance(task, len(predictions))
    finally:
        if output:
            out.close()
    if output:
        err.print(f"{len(texts)} line(s) → {output} ({backend.name})")


