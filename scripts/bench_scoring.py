"""Scoring throughput on the real dialogues, single process: the pipeline alone, no queue or database.

Prints transcripts/s and utterances/s for each scorer and for the full default pipeline, with
torch limited to --threads, and where the time goes (ms per transcript per scorer). The
baseline row is the negative-word scorer alone, measured in the same run.
Targets: rule dimensions >= 1,000 transcripts/s on one core (issue 3); full pipeline with model
sentiment >= 300 transcripts/s on 2 cores (issue 4).

Usage: python scripts/bench_scoring.py --data ../shared/data [--threads 2] [--limit 2000]
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
import sys
import time
import zlib
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dialogues import iter_dialogues, to_domain  # noqa: E402

from qa_service.config import ScoringSettings
from qa_service.domain import Transcript
from qa_service.scoring.pipeline import Pipeline, forget_texts, freeze_heap

CORPORA = ("jddc_sample", "csds", "stc3_dch1", "mobilecs_examples")


def load(data: Path, limit: int) -> list[Transcript]:
    out = [to_domain(r) for r in iter_dialogues(data, CORPORA)]
    out.sort(key=lambda t: zlib.crc32(t.utterances[0].text.encode()))  # mix corpora, the same in every process
    return out[:limit] if limit else out


def run(pipeline: Pipeline, transcripts: list[Transcript], batch: int = 1) -> tuple[float, dict[str, float]]:
    """One transcript at a time (batch=1, as a worker takes jobs), or ``batch`` at a time. Every row
    starts from empty text caches: an earlier row's pass over the same dialogues must not speed it up."""
    forget_texts()
    pipeline.score(transcripts[0])  # warm-up
    stage: dict[str, float] = defaultdict(float)
    t0 = time.perf_counter()
    for i in range(0, len(transcripts), batch):
        chunk = transcripts[i : i + batch]
        for report in pipeline.score_many(chunk):
            for name, ms in report.stage_ms.items():
                stage[name] += ms
    wall = time.perf_counter() - t0
    return len(transcripts) / wall, {k: v / len(transcripts) for k, v in stage.items()}


V1_DEFAULT = ["politeness.v1", "compliance.v1", "objection.v1", "negativity.v1", "timing.v1", "sentiment.v1"]


def settings_for(scorers: list[str]) -> ScoringSettings:
    """Scorers that need no learned detectors run without them (the v1 pipeline did not have them)."""
    learned = any(s.endswith(".v2") for s in scorers)
    return ScoringSettings(scorers=scorers, detector_model=None if learned else "none")


def _worker(args: tuple) -> float:
    """One process of the multi-process row: its own pipeline, its share of the transcripts."""
    data, limit, index, processes, batch, scorers = args
    torch.set_num_threads(1)
    transcripts = load(data, limit)[index::processes]
    pipeline = Pipeline.from_settings(settings_for(scorers)).initialize()
    freeze_heap()  # as `qa score` and the worker do
    rate, _ = run(pipeline, transcripts, batch)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--processes", type=int, default=2, help="for the last rows: worker processes")
    parser.add_argument("--batch", type=int, default=32, help="transcripts per score_many call in batched rows")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    transcripts = load(args.data, args.limit)
    turns = statistics.median(len(t.utterances) for t in transcripts)
    n_utts = sum(len(t.utterances) for t in transcripts)
    print(f"{len(transcripts)} real dialogues ({', '.join(CORPORA)}), median {turns:.0f} turns, "
          f"torch threads {args.threads}\n")
    rows = []
    rule_dims = ["politeness.v1", "compliance.v1", "objection.v1", "timing.v1"]
    for label, scorers, batch in (("negativity.v1 alone (baseline)", ["negativity.v1"], 1),
                                  ("rule dimensions (politeness, compliance, objection, timing)", rule_dims, 1),
                                  ("rule dimensions + negativity", [*rule_dims, "negativity.v1"], 1),
                                  ("sentiment.v1 alone", ["sentiment.v1"], 1),
                                  ("learned detectors + sentiment.v2 alone", ["sentiment.v2"], 1),
                                  ("v1 default pipeline (rules + review-trained sentiment)", V1_DEFAULT, 1),
                                  ("default pipeline (learned detectors)", ScoringSettings().scorers, 1),
                                  (f"default pipeline, {args.batch} per batch", ScoringSettings().scorers, args.batch)):
        pipeline = Pipeline.from_settings(settings_for(scorers)).initialize()
        freeze_heap()  # as `qa score` and the worker do
        rate, stage = run(pipeline, transcripts, batch)
        rows.append((label, rate, stage))
    from multiprocessing import get_context

    for label, scorers in (("v1 default pipeline", V1_DEFAULT), ("default pipeline", ScoringSettings().scorers)):
        for batch in (1, args.batch):
            with get_context("spawn").Pool(args.processes) as pool:
                rates = pool.map(_worker, [(args.data, args.limit, i, args.processes, batch, scorers)
                                           for i in range(args.processes)])
            # the processes score their shares at the same time, so their rates add up
            rows.append((f"{label}, {args.processes} processes x 1 thread, batch {batch}", sum(rates), {}))
    base = rows[0][1]
    print(f"{'pipeline':<60}{'transcripts/s':>14}{'utterances/s':>14}{'vs baseline':>13}   ms/transcript by scorer")
    for label, rate, stage in rows:
        detail = ", ".join(f"{k} {v:.2f}" for k, v in stage.items())
        print(f"{label:<60}{rate:>14,.0f}{rate * n_utts / len(transcripts):>14,.0f}{rate / base:>12.2f}x   {detail}")


if __name__ == "__main__":
    main()
