"""A rule dry run: an active pack, a draft pack or one draft rule, tried on a transcript with the same
pipeline the worker scores with; nothing is stored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qa_service.domain import QAReport, Transcript
from qa_service.errors import Invalid, RulePackError
from qa_service.rules.check import ExampleResult, run_examples
from qa_service.rules.engine import CompiledPack, PackMatch
from qa_service.rules.loader import pack_from_spec, pack_with_rule, parse_pack_text, parse_rule
from qa_service.scoring.pipeline import Pipeline


@dataclass(frozen=True, slots=True)
class DryRun:
    pack: CompiledPack
    match: PackMatch
    report: QAReport
    examples: list[ExampleResult]  # the examples of the rules under test (draft ones)


def compile_draft(pipeline: Pipeline, transcript: Transcript, *, pack: str | None = None,
                  pack_yaml: str | None = None, rule: dict[str, Any] | None = None) -> tuple[CompiledPack, set[str]]:
    """The pack to try and the ids of the rules under test. Raises RulePackError for a broken draft."""
    book = pipeline.rulebook.ready()
    if pack is not None and pack not in book.packs:
        raise Invalid(f"no active pack {pack!r}; active: {', '.join(sorted(book.packs))}", "pack")
    if pack_yaml is not None:
        spec = parse_pack_text(pack_yaml, dimensions=book.dimensions)
        available = {n: c.pack for n, c in book.packs.items() if n != spec.name}
        compiled = CompiledPack(pack_from_spec(spec, available=available), book.analyzer)
        return compiled, {r.id for r in compiled.pack.rules if r.pack == spec.name}
    base = book.packs[pack] if pack else book.pack_for(transcript)
    if rule is None:
        return base, set()
    draft = parse_rule(rule, base.pack.name, dimensions=book.dimensions)
    return CompiledPack(pack_with_rule(base.pack, draft), book.analyzer), {f"{base.pack.name}.{draft.id}"}


def dry_run(pipeline: Pipeline, transcript: Transcript, *, pack: str | None = None, pack_yaml: str | None = None,
            rule: dict[str, Any] | None = None) -> DryRun:
    compiled, tested = compile_draft(pipeline, transcript, pack=pack, pack_yaml=pack_yaml, rule=rule)
    context = pipeline.context(transcript, pack=compiled)
    report = pipeline.score(transcript, context)
    examples = [r for r in run_examples(compiled, own_only=False) if r.rule in tested]
    stalled = [r.error for r in examples if r.error is not None]
    if stalled:  # a draft's regex that backtracks on its own example: as on the transcript, a coded R009
        raise RulePackError(stalled)
    return DryRun(compiled, context.match, report, examples)
