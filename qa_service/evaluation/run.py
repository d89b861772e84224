"""``qa eval``: score labelled conversations with the pipeline and compare with the labels, or read the
review workflow's verdicts for a period and compare the machine with a site's own reviewers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa_service.config import Settings
from qa_service.domain import Role, Transcript, Utterance
from qa_service.errors import Invalid
from qa_service.evaluation import machine
from qa_service.evaluation.agreement import AgreementReport, Pair, compare
from qa_service.evaluation.labels import read_labels
from qa_service.ingest.service import redact_unstored
from qa_service.scoring.pipeline import Pipeline

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from qa_service.period import Period

CORPORA = ("jddc_sample", "csds", "stc3_dch1", "mobilecs_examples")
BATCH = 32  # conversations per pipeline call
TRAINING_IDS = "training_ids.json"  # in a detector model's folder: the dialogue ids it was fitted and tuned on


class Corpora(dict):
    """Dialogue id → its turns, and ``sources``: id → the source its corpus files it under (``qa import`` of
    the corpus stores it under that source, whose ``QA_PII__SOURCES`` override applies); ``folder``: the
    ``--data`` folder read (None: none given)."""

    def __init__(self, folder: Path | None = None) -> None:
        super().__init__()
        self.sources: dict[str, str] = {}
        self.folder = folder


def corpus_index(data_dir: Path | None) -> Corpora:
    """Dialogue id → its turns, for labels that carry no text (the golden set keeps it in the corpora).

    Raises :class:`Invalid`, one line, for a ``data_dir`` that is not a folder or holds none of the corpora
    (was: every label line said its id was in no corpus)."""
    if data_dir is None:
        return Corpora()
    folder = Path(data_dir)
    if not folder.is_dir():
        here = "" if folder.is_absolute() else f" ({folder.resolve()})"
        raise Invalid(f"--data {folder}{here}: {'not a folder' if folder.exists() else 'no such folder'}; "
                      f"{_CORPORA_FOLDER}", "data", loc=("data",))
    found = [c for c in CORPORA if (folder / c / f"{c}.jsonl").is_file()]
    if not found:
        below = [d for d in sorted(folder.iterdir()) if d.is_dir() and any((d / c / f"{c}.jsonl").is_file()
                                                                            for c in CORPORA)]
        hint = f" ({below[0]} does: --data {below[0]}?)" if below else ""
        raise Invalid(f"--data {folder}: holds none of the corpora{hint}; {_CORPORA_FOLDER}", "data", loc=("data",))
    out = Corpora(folder)
    for corpus in found:
        with open(folder / corpus / f"{corpus}.jsonl", encoding="utf-8") as fh:
            for r in map(json.loads, fh):
                out[r["id"]] = r["turns"]
                out.sources[r["id"]] = r.get("source") or corpus
    return out


_CORPORA_FOLDER = ("--data is the folder of the public corpora, holding "
                   + ", ".join(f"{c}/{c}.jsonl" for c in CORPORA) + " (the checkout's ../shared/data)")


def transcript_of(label: dict[str, Any], corpora: dict[str, list[dict[str, Any]]]) -> Transcript:
    """The labelled conversation, every turn kept (empty ones too) so turn indices match the label; one looked
    up in the corpora carries its corpus's source."""
    own = label.get("utterances")
    turns = own or corpora.get(label["id"])
    if not turns:
        raise Invalid(f"label {label['id']!r} has no utterances and is not in the corpora given with --data",
                      "utterances", loc=("labels", label["id"]))
    source = "" if own else getattr(corpora, "sources", {}).get(label["id"], "")
    return Transcript(utterances=tuple(Utterance(i, Role(t["role"]), t.get("text") or "", t.get("start_ms"),
                                                 t.get("end_ms"), t.get("asr_confidence"))
                                       for i, t in enumerate(turns)),
                      channel=label.get("channel", "chat"), scenario=label.get("scenario"),
                      source=source, external_id=label["id"])


def labelled(path: Path, split: str | None, corpora: dict[str, list[dict[str, Any]]] | None = None
             ) -> Iterator[dict[str, Any]]:
    """The labels of ``split``; with ``corpora``, every line must have its conversation's text (in the
    line, or its id in the corpora): checked for the whole file before any is scored."""
    for label in read_labels(path, corpora, require_text=corpora is not None):
        if split is None or label.get("split") == split:
            yield label


def judged_turns(t: Transcript) -> dict[str, set[int]]:
    """The turns a turn-level item can be judged on: non-empty turns of each role."""
    return {role.value: {u.index for u in t.utterances if u.role == role and u.text.strip()}
            for role in (Role.agent, Role.customer)}


def evaluate(pipeline: Pipeline, labels_path: Path, *, data_dir: Path | None = None, split: str | None = None,
             settings: Settings | None = None, corpora: Corpora | None = None) -> AgreementReport:
    """Score every labelled conversation (of ``split``) and compare the report's items with the labels.

    With ``settings``, each conversation is first redacted as ingest redacts it (``QA_PII__*``,
    :func:`~qa_service.ingest.service.redact_unstored`), so it is scored on the text the service would store
    and score. Was: on the raw text, so a phone number the service replaces by [座机号] could change a verdict."""
    if corpora is None:
        corpora = corpus_index(data_dir)
    labels = list(labelled(labels_path, split, corpora))
    if not labels:
        raise Invalid(f"no labels{f' of split {split!r}' if split else ''} in {labels_path}{_splits_in(labels_path)}",
                      "labels", loc=("labels",))
    pairs = []
    for start in range(0, len(labels), BATCH):
        chunk = labels[start:start + BATCH]
        transcripts = [transcript_of(label, corpora) for label in chunk]
        if settings is not None:
            transcripts = [redact_unstored(t, settings) for t in transcripts]
        for label, t, report in zip(chunk, transcripts, pipeline.score_many(transcripts)):
            seen = machine.view(report.dimension_details(), [f.reason for f in report.flags], report.score,
                                [f.as_dict() for f in report.findings])
            pairs.append(Pair(label["id"], label, seen, judged_turns(t), scored_with=(
                report.rule_pack, report.rule_pack_version, report.rule_pack_hash, report.scorecard_version)))
    return compare(pairs)


def _splits_in(path: Path) -> str:
    """What splits the file's lines carry, for the message when none is of the one asked for."""
    counts: dict[str, int] = {}
    for label in read_labels(path):
        if "split" in label:
            counts[label["split"]] = counts.get(label["split"], 0) + 1
    if not counts:
        return " (no line has a split field)"
    return " (its lines' splits: " + ", ".join(f"{k} {n}" for k, n in sorted(counts.items())) + ")"


def training_overlap(ids: list[str], model_dir: Path | None) -> dict[str, Any] | None:
    """How many of ``ids`` the detector model in ``model_dir`` was fitted on (``train``) or had its decision
    thresholds chosen on (``dev``), from its ``training_ids.json``; None when the model has no such list."""
    path = Path(model_dir) / TRAINING_IDS if model_dir is not None else None
    if path is None or not path.is_file():
        return None
    known = json.loads(path.read_text(encoding="utf-8"))
    train, dev = set(known.get("train") or ()), set(known.get("dev") or ())
    return {"conversations": len(ids), "training": sum(i in train for i in ids),
            "threshold_tuning": sum(i in dev for i in ids), "model": str(model_dir)}


def from_reviews(*, session: Session, period: Period, team: str | None = None, pass_mark: float = 60.0
                 ) -> dict[str, Any]:
    """The machine against a site's own reviewers over done reviews of the period: per rule and per
    dimension, how many machine findings reviewers kept (precision) and how many they had to add
    (misses), Cohen's κ on pass/fail (``pass_mark`` for a report stored without its scorecard's:
    ``QA_REVIEW__PASS_MARK``, as ``GET /v1/calibration`` uses), and how the machine score ranks against
    the final score."""
    from qa_service.stats import spearman
    from qa_service.review.calibration_report import calibration
    from qa_service.storage import reviews as review_repo

    cal, n, n_open = calibration(session=session, pass_mark=pass_mark, team=team, period=period)
    pairs = review_repo.score_pairs(session=session, team=team, start=period.start, end=period.end)
    rho = spearman([m for m, _ in pairs], [f for _, f in pairs]) if len(pairs) > 1 else None
    a = cal.agreement

    def tally(t) -> dict[str, Any]:
        recall = t.confirmed / (t.confirmed + t.missed) if t.confirmed + t.missed else None
        return {"reviewed": t.reviewed, "confirmed": t.confirmed, "rejected": t.rejected, "missed": t.missed,
                "precision": None if t.precision is None else round(t.precision, 4),
                "recall": None if recall is None else round(recall, 4)}

    return {"reviews": n, "reviews_open": n_open, "done": a.n, "kappa_pass_fail": None if a.kappa is None else round(a.kappa, 4),
            # κ's 2×2 table, named as GET /v1/calibration names it: κ 0.0 means little without it
            "pass_fail": {"both_pass": a.tn, "both_fail": a.tp, "machine_only_fail": a.fp, "human_only_fail": a.fn},
            "spearman_machine_vs_final": None if rho is None else round(rho, 4),
            "dimensions": {d: tally(t) for d, t in sorted(cal.dimensions.items())},
            "rules": {r: tally(t) for r, t in sorted(cal.rules.items())}}


def review_scope(*, session: Session, team: str | None) -> dict[str, Any]:
    """What the database holds, for a ``--from-reviews`` that found nothing: conversations and reviews in all,
    and whether ``team`` is a team it knows (with some that it does)."""
    from qa_service.storage import keys as key_repo
    from qa_service.storage import reviews as review_repo
    from qa_service.storage import transcripts as transcript_repo

    reviews = review_repo.counts(session=session)
    return {"conversations": sum(transcript_repo.count_by_status(session=session).values()),
            "reviews": sum(n for status, n in reviews.items() if status != "appeals_open"),
            "team_known": team is None or key_repo.team_exists(session=session, team=team),
            "teams": key_repo.team_ids(session=session, limit=10)}
