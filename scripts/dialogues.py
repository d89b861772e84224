"""The real customer-service dialogues in ../shared/data, in the API's transcript shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from qa_service.domain import Role, Transcript, Utterance
from qa_service.ingest.textlog import from_corpus_record

DIALOGUE_CORPORA = ("jddc_sample", "csds", "stc3_dch1", "mobilecs_examples")


def iter_dialogues(data_dir: Path, corpora: tuple[str, ...] = DIALOGUE_CORPORA) -> Iterator[dict]:
    """API-shaped transcript dicts (empty turns dropped; dialogues left empty skipped)."""
    for corpus in corpora:
        with open(data_dir / corpus / f"{corpus}.jsonl", encoding="utf-8") as fh:
            for line in fh:
                record = from_corpus_record(json.loads(line))
                if record["utterances"]:
                    yield record


def to_domain(record: dict) -> Transcript:
    return Transcript(utterances=tuple(Utterance(i, Role(u["role"]), u["text"])
                                       for i, u in enumerate(record["utterances"])))
