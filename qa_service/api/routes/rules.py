"""/v1/rules: the active rule packs, and a dry run of a pack (or one draft rule) on a posted transcript.

The dry run scores with the worker's own pipeline (every configured dimension), on the pack, draft
pack or draft rule given; nothing is stored.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.exceptions import RequestValidationError

from qa_service.api import presenters
from qa_service.api.auth import QARead
from qa_service.api.deps import RuntimeDep
from qa_service.api.schemas import PackRead, RuleTestRequest, RuleTestResult
from qa_service.errors import NotFound, RulePackError
from qa_service.scoring.dry_run import dry_run

router = APIRouter(prefix="/v1/rules", tags=["rules"])


@router.get("", response_model=list[PackRead])
def list_packs(runtime: RuntimeDep, _principal: QARead) -> list[PackRead]:
    """Active packs with version, content hash and rules; ``reload_error`` says why an edit on disk was refused."""
    book = runtime.rulebook.ready()
    return [presenters.pack_read(c, book.last_error) for _, c in sorted(book.packs.items())]


@router.get("/{name}", response_model=PackRead, responses={404: {"description": "No such pack"}})
def get_pack(name: str, runtime: RuntimeDep, _principal: QARead) -> PackRead:
    book = runtime.rulebook.ready()
    if name not in book.packs:
        raise NotFound(f"no rule pack {name!r}; active: {', '.join(sorted(book.packs))}", "name")
    return presenters.pack_read(book.packs[name], book.last_error)


@router.post("/test", response_model=RuleTestResult)
def test_rules(body: RuleTestRequest, runtime: RuntimeDep, _principal: QARead) -> RuleTestResult:
    """Dry-run a pack (or one draft rule) on a posted transcript: hits, findings and score; nothing stored."""
    limit = runtime.settings.api.max_text_chars
    long = [{"loc": ["body", "transcript", "utterances", i, "text"], "type": "string_too_long",
             "msg": f"is {len(u.text)} characters; the limit is {limit} (QA_API__MAX_TEXT_CHARS)"}
            for i, u in enumerate(body.transcript.utterances) if len(u.text) > limit]
    if long:
        raise RequestValidationError(long[:20])
    try:
        result = dry_run(runtime.pipeline, body.transcript.to_domain(), pack=body.pack, pack_yaml=body.pack_yaml,
                         rule=body.rule)
    except RulePackError as exc:
        field = "pack_yaml" if body.pack_yaml is not None else "rule" if body.rule is not None else "pack"
        raise HTTPException(422, detail=[{"loc": ["body", field], "type": "rule_pack", "msg": str(e),
                                          "code": e.code} for e in exc.errors]) from None
    return presenters.dry_run_read(result.pack, result.match, result.report, result.examples)
