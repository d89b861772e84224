"""`qa sentiment` against snownlp, in one run, on the held-out reviews of ../shared/data.

1. snownlp (the stack's baseline) in this process on a sample of the held-out test split (every
   binary corpus in proportion): sentences/s and accuracy;
2. `qa sentiment FILE -o OUT` as a QA lead runs it, wall clock including start-up, on the whole
   held-out split (6,615 reviews) and on ten times it (a large file: start-up amortised), with the
   accuracy of its labels and the emotion macro-F1 of its output on the held-out emotion split.

Prints each rate and its ratio to snownlp. Target (issue 16): >= 50x snownlp at no lower accuracy.

Usage: python scripts/bench_sentiment.py --data ../shared/data [--snownlp-sample 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_sentiment import macro_f1  # noqa: E402
from sentiment_data import BINARY, load  # noqa: E402

from qa_service.scoring.sentiment_backend import SnowNLPBackend  # noqa: E402


def run_cli(lines: list[str], extra: list[str]) -> tuple[float, list[dict]]:
    """Wall seconds of ``qa sentiment`` on these lines, and its output rows."""
    with tempfile.TemporaryDirectory(prefix="qa-bench-sent-") as tmp:
        src, out = Path(tmp) / "in.txt", Path(tmp) / "out.jsonl"
        src.write_text("\n".join(lines) + "\n", encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")} | {"HF_HUB_OFFLINE": "1"}
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "qa_service.cli", "sentiment", str(src), "-o", str(out), *extra],
                       check=True, env=env, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(lines), (len(rows), len(lines))
    return wall, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--snownlp-sample", type=int, default=1000)
    args = parser.parse_args()
    examples = load(args.data)
    test = [e for e in examples if e.split == "test" and e.polarity is not None]
    emotion = [e for e in examples if e.split == "test" and e.emotion is not None]
    lines = [" ".join(e.text.split()) for e in test]  # one review per line

    share = min(1.0, args.snownlp_sample / len(test))
    sample = [e for c in BINARY for e in [x for x in test if x.corpus == c][
        : max(1, round(share * sum(x.corpus == c for x in test)))]]
    snow = SnowNLPBackend()
    t0 = time.perf_counter()
    snow_pred = snow.predict([e.text for e in sample])
    snow_rate = len(sample) / (time.perf_counter() - t0)
    snow_acc = sum((p.positive_prob >= 0.5) == (e.polarity == 1) for p, e in zip(snow_pred, sample)) / len(sample)

    rows = [("snownlp (baseline, in process)", len(sample), snow_rate, snow_acc, None)]
    for label, extra in (("qa sentiment (one process, 2 threads)", ["--processes", "1"]),
                         ("qa sentiment (default: a process per core)", [])):
        for times in (1, 10):
            wall, out = run_cli(lines * times, extra)
            acc = sum((r["label"] == "positive") == (e.polarity == 1) for r, e in zip(out, test)) / len(test)
            rows.append((f"{label}, {len(lines) * times:,} lines", len(lines) * times, len(lines) * times / wall,
                         acc, None))
    _, emo_out = run_cli([" ".join(e.text.split()) for e in emotion], [])
    labels = sorted({e.emotion for e in emotion})
    emo_f1 = macro_f1([e.emotion for e in emotion], [r["emotion"] for r in emo_out], labels)

    print(f"\nheld-out test split: {len(test):,} reviews from {len(BINARY)} corpora; {os.cpu_count()} cores; "
          "qa sentiment timed wall clock, start-up included")
    print(f"{'run':<62} {'sentences/s':>12} {'vs snownlp':>11} {'accuracy':>9}")
    for name, _, rate, acc, _ in rows:
        print(f"{name:<62} {rate:>12,.0f} {rate / snow_rate:>10.1f}x {acc:>9.4f}")
    print(f"qa sentiment emotion macro-F1 on {len(emotion):,} held-out emotion sentences: {emo_f1:.4f}")
    print("target: >= 50x snownlp at no lower accuracy than before (polarity 0.9262-0.9283, emotion ~0.56)")


if __name__ == "__main__":
    main()
