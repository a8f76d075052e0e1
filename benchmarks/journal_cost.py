"""What the durable journal costs on the hot path: fluent `log_metric` until stored.

Each round starts one fresh process per durability setting (CAIRN_DURABILITY=none, journal,
fsync), in turn, each logging `--points` points to a new SQLite store in one run and timing
the calls until `cairn.flush()` returns. Prints µs per point (median, min-max) and each
setting's ratio to `none` (the median of the per-round ratios).

    python benchmarks/journal_cost.py [--points 1000000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

MODES = ("none", "journal", "fsync")

WORKER = """
import sys, time
import cairn
n = int(sys.argv[1])
log = cairn.log_metric
with cairn.start_run():
    start = time.perf_counter()
    for i in range(n):
        log("loss", i * 0.001, step=i)
    cairn.flush()
    seconds = time.perf_counter() - start
print(seconds / n * 1e6)
"""


def one(mode: str, points: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        env = {
            **os.environ,
            "CAIRN_DURABILITY": mode,
            "CAIRN_CAPTURE_SOURCE": "false",
            "CAIRN_CAPTURE_ENVIRONMENT": "false",
        }
        env.pop("CAIRN_TRACKING_URI", None)
        env.pop("CAIRN_JOURNAL_DIR", None)
        done = subprocess.run(
            [sys.executable, "-c", WORKER, str(points)],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return float(done.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    samples: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(args.rounds):
        for mode in MODES:
            samples[mode].append(one(mode, args.points))
    base = samples["none"]
    print(f"fluent log_metric until stored, {args.points:,} points, {args.rounds} rounds")
    print(f"{'CAIRN_DURABILITY':<18}{'µs/point median':>16}{'min':>8}{'max':>8}{'÷ none':>9}")
    for mode in MODES:
        values = samples[mode]
        ratio = statistics.median(v / b for v, b in zip(values, base, strict=True))
        print(
            f"{mode:<18}{statistics.median(values):>16.2f}{min(values):>8.2f}"
            f"{max(values):>8.2f}{ratio:>9.2f}"
        )


if __name__ == "__main__":
    main()
