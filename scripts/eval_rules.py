"""Run the rule packs over the real dialogues: hit rates, most/least frequent hits with quotes,
and precision/recall against the hand-labelled conversations.

    python scripts/eval_rules.py --data ../shared/data [--labels tests/data/rule_labels.jsonl] [--top 20]

Every pack is run over every dialogue of jddc_sample, csds, stc3_dch1 and mobilecs_examples
(whatever its real scenario), so a human can read the quotes and spot false alarms.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dialogues import DIALOGUE_CORPORA, iter_dialogues, to_domain  # noqa: E402

from qa_service.config import ScoringSettings  # noqa: E402
from qa_service.domain import Role, Transcript, Utterance  # noqa: E402
from qa_service.evaluation.rule_labels import LABELS, compare, judgements  # noqa: E402
from qa_service.rules.schema import RuleKind  # noqa: E402
from qa_service.scoring.base import ScoringContext  # noqa: E402
from qa_service.scoring.pipeline import Pipeline  # noqa: E402

RULE_SCORERS = ["politeness.v1", "compliance.v1", "objection.v1", "negativity.v1", "timing.v1"]


def rule_pipeline(rules_dir: Path | None) -> Pipeline:
    return Pipeline.from_settings(ScoringSettings(scorers=RULE_SCORERS, rules_dir=rules_dir)).initialize()


@dataclass
class PackRun:
    """One pack run over the dialogues: what ``hit_rates`` prints."""

    name: str
    version: str
    n: int = 0
    score_sum: float = 0.0
    flagged: int = 0
    with_objection: int = 0
    seconds: float = 0.0
    dims: Counter[str] = field(default_factory=Counter)
    fired: Counter[str] = field(default_factory=Counter)
    quotes: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    ranked: list[tuple[str, int]] = field(default_factory=list)


def quote_for(rule, match) -> str:
    if rule.spec.kind == RuleKind.required:
        return f"(缺失) {match.missing_turn(rule).utterance.text[:40]}"
    t_idx, spans = next(iter(sorted(match.hits[rule.id].items())))
    turn = match.turns[t_idx]
    _, quote = turn.quote(spans[0]) if spans else (None, turn.utterance.text[:30])
    return f"{quote} ⟨{turn.utterance.text[:40]}⟩"


def run_pack(pipeline: Pipeline, compiled, transcripts: list[Transcript]) -> PackRun:
    """Score every transcript under ``compiled`` (whatever its scenario) and count the hits.

    Was: ``pipeline.score_with(t, compiled, match)``, removed from Pipeline, so the script crashed; the pack
    and its match now go in through a ScoringContext, the way ``Pipeline.context`` builds one."""
    run = PackRun(compiled.pack.name, compiled.pack.version)
    t0 = time.perf_counter()
    for t in transcripts:
        match = compiled.match(t)
        report = pipeline.score(t, ScoringContext(pack=compiled, match=match, gate=pipeline.gate))
        run.n += 1
        run.score_sum += report.score
        run.flagged += bool(report.flags)
        for d, dim in report.dimensions.items():
            if any(f.points < 0 for f in dim.findings):
                run.dims[d] += 1
        objection = False
        for rule in compiled.pack.rules:
            if match.fired(rule):
                run.fired[rule.id] += 1
                run.quotes[rule.id].append(quote_for(rule, match))
                objection |= rule.id.split(".", 1)[-1].startswith("objection-")
        run.with_objection += objection
    run.seconds = time.perf_counter() - t0
    run.ranked = sorted(((rule.id, run.fired[rule.id]) for rule in compiled.pack.rules), key=lambda x: -x[1])
    return run


def print_run(run: PackRun, top: int) -> None:
    n = max(run.n, 1)
    print(f"\n=== pack {run.name} v{run.version}: {run.n} dialogues, mean score {run.score_sum / n:.1f}, "
          f"flagged {run.flagged / n:.1%}, an objection detected {run.with_objection / n:.1%}, "
          f"{run.n / max(run.seconds, 1e-9):.0f} dialogues/s")
    print("dimension with a deduction: " + ", ".join(f"{d} {c / n:.1%}" for d, c in run.dims.most_common()))
    print("-- hit rate per rule (share of dialogues where it fired), with up to 3 quotes")
    for rid, count in run.ranked:
        print(f"{count / n:7.2%}  {rid}")
    shown = [r for r in run.ranked if r[1]]
    print(f"-- {top} most frequent hits")
    for rid, count in shown[:top]:
        print(f"  {rid} ×{count}: " + " | ".join(run.quotes[rid][:3]))
    print(f"-- {top} least frequent hits")
    for rid, count in shown[::-1][:top]:
        print(f"  {rid} ×{count}: " + " | ".join(run.quotes[rid][:3]))


def hit_rates(pipeline: Pipeline, transcripts: list[Transcript], top: int) -> dict[str, PackRun]:
    runs = {}
    for name, compiled in sorted(pipeline.rulebook.packs.items()):
        runs[name] = run_pack(pipeline, compiled, transcripts)
        print_run(runs[name], top)
    return runs


def labelled(pipeline: Pipeline, path: Path) -> dict:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        t = Transcript(utterances=tuple(Utterance(i, Role(u["role"]), u["text"])
                                        for i, u in enumerate(rec["utterances"])))
        rows.append((rec["labels"], judgements(pipeline.score(t))))
    print(f"\n=== hand labels: {len(rows)} conversations ({path}), pack general")
    print(f"{'label':<18}{'n':>5}{'pos':>5}{'precision':>11}{'recall':>8}{'accuracy':>10}")
    for name, a in compare(rows).items():
        fmt = lambda v: "  n/a" if v is None else f"{v:.3f}"  # noqa: E731
        print(f"{name:<18}{a.n:>5}{a.tp + a.fn:>5}{fmt(a.precision):>11}{fmt(a.recall):>8}{a.accuracy:>10.3f}")
    return compare(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--labels", type=Path, default=Path(__file__).resolve().parents[1] / "tests/data/rule_labels.jsonl")
    parser.add_argument("--rules-dir", type=Path, default=None)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--limit", type=int, default=None, help="dialogues per corpus (default all)")
    args = parser.parse_args()
    pipeline = rule_pipeline(args.rules_dir)
    transcripts = []
    for corpus in DIALOGUE_CORPORA:
        records = list(iter_dialogues(args.data, (corpus,)))[: args.limit]
        transcripts += [to_domain(r) for r in records]
    hit_rates(pipeline, transcripts, args.top)
    if args.labels and args.labels.is_file():
        labelled(pipeline, args.labels)
    print(f"\nlabels: {', '.join(LABELS)}")


if __name__ == "__main__":
    main()
