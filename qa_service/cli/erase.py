"""``qa erase``: a customer's deletion request — one conversation, or all of a customer's, erased for good."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from qa_service.cli.app import DataDir, app, clear_deleted_bytes, console, err_console, live_redis, runtime_for

if TYPE_CHECKING:
    from qa_service.ingest.erasure import Counts, Found, Selection

ID_MAX = 2_147_483_647  # id columns are 32-bit integers


@app.command()
def erase(
    transcript_id: Annotated[Optional[list[int]], typer.Option(
        "--transcript-id", metavar="N", help="A transcript's id (repeat for more)")] = None,
    source: Annotated[Optional[list[str]], typer.Option(
        metavar="S", help="With --external-id: a conversation's key (repeat the pair for more)")] = None,
    external_id: Annotated[Optional[list[str]], typer.Option("--external-id", metavar="X", help="With --source")] = None,
    ids_file: Annotated[Optional[Path], typer.Option(
        "--ids-file", metavar="FILE", help="A file of source,external_id lines (UTF-8; blank lines and # comments skipped)")] = None,
    metadata: Annotated[Optional[list[str]], typer.Option(
        metavar="KEY=VALUE", help="KEY=VALUE: every transcript whose metadata has it (reads every transcript; repeat for more)")] = None,
    allow_reingest: Annotated[bool, typer.Option(
        "--allow-reingest", help="Keep no tombstone: the source system may send these conversations again")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would go; erase nothing")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
    data_dir: DataDir = None,
) -> None:
    """Erase conversations on request (PIPL Art. 47): with their reports, reviews, appeals, live alerts,
    audit events and figures, and what Redis keeps of them; their keys are refused if sent again.

    Exit 0: erased (or counted, --dry-run); 1: not confirmed, or Redis did not answer (nothing erased);
    2: nothing matched, or bad arguments.
    """
    from qa_service.ingest import erasure
    from qa_service.performance.audit import cli_actor

    selection = _selection(transcript_id or [], source or [], external_id or [], ids_file, metadata or [])
    rt = runtime_for(data_dir)
    with rt.session() as s:
        found = erasure.find(session=s, selection=selection)
        counts = erasure.count(session=s, ids=found.ids)
    _say_unmatched(found)
    if not found.ids:
        err_console.print("nothing matched: nothing was erased", markup=False)
        raise typer.Exit(2)
    console.print(f"{_said(counts)} to erase" + ("" if allow_reingest else
                  "; their keys are then refused if sent again (410)"), markup=False, highlight=False, soft_wrap=True)
    if dry_run:
        return
    if not yes and not typer.confirm("erase them for good? (their figures leave performance records and appraisals)"):
        raise typer.Exit(1)
    import redis

    try:
        with live_redis(rt, counts.live_conversations) as r:
            done = erasure.erase(runtime=rt, ids=found.ids, selection=selection, actor=cli_actor().name,
                                 tombstone=not allow_reingest, r=r)
    except (redis.RedisError, OSError) as exc:
        err_console.print(f"Redis does not answer ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}): "
                          f"it keeps the state of {counts.live_conversations} of these live conversation(s), which "
                          "must go too, so nothing was erased; start Redis (or qa serve) and run this again",
                          markup=False, soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"erased {_said(done)}; re-sending them is " + ("allowed (no tombstone)" if allow_reingest
                  else "refused (410)"), markup=False, highlight=False, soft_wrap=True)
    clear_deleted_bytes(rt, what="erased")


def _said(c: Counts) -> str:
    return (f"{c.transcripts} transcript(s) with {c.reviews} review(s), {c.appeals} appeal(s), {c.alerts} live "
            f"alert(s) and {c.live_conversations} live conversation(s)")


def _selection(ids: list[int], sources: list[str], external_ids: list[str], ids_file: Path | None,
               metadata: list[str]) -> Selection:
    """What the options name; a bad one is one line naming it, exit 2."""
    from qa_service.ingest.erasure import Selection

    def refuse(message: str) -> None:
        err_console.print(message, markup=False, style="red", soft_wrap=True)
        raise typer.Exit(2)

    if len(sources) != len(external_ids):
        refuse(f"--source and --external-id go in pairs: {len(sources)} --source, {len(external_ids)} --external-id")
    for n in ids:
        if not 1 <= n <= ID_MAX:
            refuse(f"--transcript-id {n}: an id is 1 to {ID_MAX}")
    keys = list(zip(sources, external_ids))
    if ids_file is not None:
        keys += _read_keys(ids_file, refuse)
    pairs = []
    for item in metadata:
        key, sep, value = item.partition("=")
        if not sep or not key:
            refuse(f"--metadata {item!r}: give KEY=VALUE (customer_id=C1024)")
        pairs.append((key, value))
    selection = Selection(list(dict.fromkeys(ids)), list(dict.fromkeys(keys)), list(dict.fromkeys(pairs)))
    if not selection:
        refuse("say what to erase: --transcript-id, --source with --external-id, --ids-file or --metadata")
    return selection


def _read_keys(path: Path, refuse) -> list[tuple[str, str]]:
    """source,external_id lines (a header line ``source,external_id`` is skipped)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        refuse(f"--ids-file {path}: cannot read it ({type(exc).__name__}: {exc})")
    keys = []
    for line_no, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            refuse(f"--ids-file {path}, line {line_no}: expected source,external_id")
        if line_no == 1 and [c.strip() for c in row] == ["source", "external_id"]:
            continue
        keys.append((row[0].strip(), row[1].strip()))
    return keys


def _say_unmatched(found: Found) -> None:
    from qa_service.ingest import pii

    for tid in found.unknown_ids:
        err_console.print(f"no transcript {tid}", markup=False)
    for source, external_id in found.unknown_keys:
        err_console.print(f"no conversation stored as source={source!r}, external_id={external_id!r}", markup=False)
    every = pii.make_policy(pii.KINDS, ())
    for key, value in found.unmatched_metadata:
        hint = (" (a phone, ID or card number, or an e-mail, is stored as its placeholder, [手机号]: it cannot be "
                "looked up by its value)") if pii.redact(value, every) != value else ""
        err_console.print(f"no transcript has metadata {key}={value!r}{hint}", markup=False, soft_wrap=True)
