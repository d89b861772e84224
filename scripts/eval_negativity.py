"""Run negativity.v1 over every dialogue in ../shared/data and print what it finds.

Per role: negative words found, the most frequent ones with an example each (so a human can
see false alarms), flag rates, and the lexicon sizes. No labels exist for this dimension in
the corpora; this is a read-through aid, not an accuracy figure.

Usage: python scripts/eval_negativity.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dialogues import iter_dialogues, to_domain  # noqa: E402

from qa_service.config import ScoringSettings  # noqa: E402
from qa_service.domain import Role
from qa_service.scoring.pipeline import Pipeline

CORPORA = ("jddc_sample", "csds", "stc3_dch1", "mobilecs_examples")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()

    pipeline = Pipeline.from_settings(ScoringSettings(scorers=["negativity.v1"])).initialize()
    scorer = pipeline.scorers[0]
    hits = {Role.agent: Counter(), Role.customer: Counter()}
    examples: dict[tuple[Role, str], str] = {}
    flags: Counter[str] = Counter()
    n = 0
    t0 = time.perf_counter()
    for record in iter_dialogues(args.data, CORPORA):
        t = to_domain(record)
        report = pipeline.score(t)
        n += 1
        flags.update(f.reason for f in report.flags)
        for f in report.findings:
            hits[f.role][f.quote] += 1
            examples.setdefault((f.role, f.quote), t.utterances[f.utterance_index].text[:60])
    wall = time.perf_counter() - t0
    print(f"dialogues: {n} ({', '.join(CORPORA)}); {n / wall:,.0f} transcripts/s single process")
    print(f"lexicons: {len(scorer.negative_words)} negative, {len(scorer.positive_words)} positive, "
          f"{len(scorer.problem_words)} problem words")
    for role in (Role.agent, Role.customer):
        print(f"\n{role.value}: {sum(hits[role].values())} negative words in total")
        for quote, count in hits[role].most_common(args.top):
            print(f"  {count:5d}  {quote}\t{examples[(role, quote)]}")
    print("\nflags:", {k: f"{v} ({v / n:.1%})" for k, v in flags.items()})


if __name__ == "__main__":
    main()
