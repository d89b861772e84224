"""/v1/rules: the active rule packs, and a dry run of a pack (or one draft rule) on a posted transcript.

The dry run scores with the worker's own pipeline (every configured dimension), on the pack, draft
pack or draft rule given, the transcript redacted first as ingest redacts it; nothing is stored.
"""

from __future__ import annotations

import threading

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError

from qa_service.api import presenters
from qa_service.api.auth import QARead
from qa_service.api.deps import RuntimeDep
from qa_service.api.responses import ERROR
from qa_service.api.schemas import PackRead, RuleTestRequest, RuleTestResult
from qa_service.config import APISettings
from qa_service.errors import NotFound, RulePackError
from qa_service.ingest.service import redact_unstored
from qa_service.scoring.dry_run import dry_run

router = APIRouter(prefix="/v1/rules", tags=["rules"])


@router.get("", response_model=list[PackRead])
def list_packs(runtime: RuntimeDep, _principal: QARead) -> list[PackRead]:
    """Active packs with version, content hash and rules; ``reload_error`` says why an edit on disk was refused,
    ``warnings`` what loaded but is most likely not meant (and an edit that kept the pack's version)."""
    book = runtime.rulebook.ready()
    return [presenters.pack_read(c, book.last_error, book.warnings.get(name)) for name, c in sorted(book.packs.items())]


@router.get("/{name}", response_model=PackRead, responses={404: {"description": "No such pack"}})
def get_pack(name: str, runtime: RuntimeDep, _principal: QARead) -> PackRead:
    book = runtime.rulebook.ready()
    if name not in book.packs:
        raise NotFound(f"no rule pack {name!r}; active: {', '.join(sorted(book.packs))}", "name")
    return presenters.pack_read(book.packs[name], book.last_error, book.warnings.get(name))


TEST_PATH = "/v1/rules/test"
BUSY_RETRY_S = 2  # a dry run of a conversation at the size limit takes about this long
_TOO_LARGE = {"description": "The body is over QA_API__RULE_TEST_MAX_BODY_BYTES (512 KB by default)"}
_BUSY = {"description": "QA_API__RULE_TEST_CONCURRENCY dry runs are already running in this API process; "
                        "retry after `Retry-After` seconds"}


def dry_run_gate(concurrency: int) -> threading.BoundedSemaphore:
    """The per-process limit on dry runs at once (``app.state.rule_tests``)."""
    return threading.BoundedSemaphore(concurrency)


@router.post("/test", response_model=RuleTestResult, responses={413: {**_TOO_LARGE, **ERROR}, 429: {**_BUSY, **ERROR}})
def test_rules(body: RuleTestRequest, request: Request, runtime: RuntimeDep, _principal: QARead) -> RuleTestResult:
    """Dry-run a pack (or one draft rule) on a posted transcript: hits, findings and score; nothing stored.

    The transcript is redacted first, as ingest redacts what it stores (QA_PII__*, the overrides of
    ``transcript.source``), so hits, quotes and scores are those production would give. Scored on a thread
    of the API process, not by a worker: the size is limited (QA_API__RULE_TEST_MAX_UTTERANCES,
    QA_API__RULE_TEST_MAX_BODY_BYTES) and so are the runs at once (QA_API__RULE_TEST_CONCURRENCY; one
    more is a 429), so that no caller can hold the API's CPU while live turns wait."""
    settings = runtime.settings
    errors = _limit_errors(body, settings.api)
    if errors:
        raise RequestValidationError(errors[:20])
    gate = request.app.state.rule_tests
    if not gate.acquire(blocking=False):
        limit = settings.api.rule_test_concurrency
        raise HTTPException(429, detail=f"{limit} rule dry run{'s are' if limit > 1 else ' is'} already running "
                                        f"in this API process, the most at once (QA_API__RULE_TEST_CONCURRENCY="
                                        f"{limit}): retry after {BUSY_RETRY_S} s",
                            headers={"Retry-After": str(BUSY_RETRY_S)})
    try:
        transcript = redact_unstored(body.transcript.to_domain(), settings)
        result = dry_run(runtime.pipeline, transcript, pack=body.pack, pack_yaml=body.pack_yaml, rule=body.rule)
    except RulePackError as exc:
        field = "pack_yaml" if body.pack_yaml is not None else "rule" if body.rule is not None else "pack"
        raise HTTPException(422, detail=[{"loc": ["body", field], "type": "rule_pack", "msg": str(e),
                                          "code": e.code} for e in exc.errors]) from None
    finally:
        gate.release()
    return presenters.dry_run_read(result.pack, result.match, result.report, result.examples)


def _limit_errors(body: RuleTestRequest, api: APISettings) -> list[dict]:
    """The configured limits a dry run's transcript is over, as 422 entries."""
    turns = body.transcript.utterances
    if len(turns) > api.rule_test_max_utterances:
        return [{"loc": ["body", "transcript", "utterances"], "type": "too_long",
                 "msg": f"has {len(turns)} utterances; the limit for a rule dry run is {api.rule_test_max_utterances} "
                        "(QA_API__RULE_TEST_MAX_UTTERANCES): post the turns the rule is about"}]
    limit = api.max_text_chars
    return [{"loc": ["body", "transcript", "utterances", i, "text"], "type": "string_too_long",
             "msg": f"is {len(u.text)} characters; the limit is {limit} (QA_API__MAX_TEXT_CHARS)"}
            for i, u in enumerate(turns) if len(u.text) > limit]
