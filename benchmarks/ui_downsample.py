"""The UI's chart call: 10 runs × 100,000 steps of one metric, downsampled to 1,000 buckets
(min, max and last each), through `GET /ajax-api/2.0/cairn/metrics/downsampled` on a
`cairn server` over SQLite. The goal is ≤ 200 ms for the step axis.

    .venv/bin/python benchmarks/ui_downsample.py             # 10 runs × 100,000 steps
    .venv/bin/python benchmarks/ui_downsample.py --steps 10000

Prints, per x axis, the median and best of the repeats in milliseconds, the same for the
store call alone (one series after another, no HTTP), and the answer's size.
"""

from __future__ import annotations

import argparse
import http.client
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

from processes import HOST, start_cairn_server, stop_session

from cairn.store.sql.tracking import SqlTrackingStore

T0 = 1_700_000_000_000
AXES = ("step", "timestamp", "relative")


def seed(path: Path, runs: int, steps: int) -> list[str]:
    """`runs` runs of `steps` noisy loss points with one spike each, written in bulk."""
    store = SqlTrackingStore(f"sqlite:///{path}", str(path.parent / "artifacts"))
    rng = random.Random(0)
    ids = []
    for _ in range(runs):
        run_id = store.create_run("0", "bench", T0, [], None).info.run_id
        points = [
            (run_id, "loss", 1 / (1 + s) + rng.random() * 0.01, T0 + 20 * s, s)
            for s in range(steps)
        ]
        points[rng.randrange(steps)] = (run_id, "loss", 50.0, T0, 0)
        for i in range(0, steps, 50_000):
            store.log_metric_points(points[i : i + 50_000])
        ids.append(run_id)
    store.close()
    return ids


def timed(call: Callable[[], object], repeats: int) -> list[float]:
    call()  # warm: connections, statement caches, the temporary bucket table
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return times


def http_call(port: int, query: str) -> Callable[[], int]:
    connection = http.client.HTTPConnection(HOST, port, timeout=120)

    def call() -> int:
        connection.request("GET", f"/ajax-api/2.0/cairn/metrics/downsampled?{query}")
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200, body[:500]
        return len(body)

    return call


def in_turn(
    store: SqlTrackingStore, ids: list[str], axis: str, buckets: int
) -> Callable[[], object]:
    def call() -> object:
        return [store.downsample_metric_history(r, "loss", axis, buckets) for r in ids]

    return call


def report(label: str, times: list[float]) -> None:
    print(f"{label:<34} median {statistics.median(times):7.1f} ms   best {min(times):7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--buckets", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "cairn.db"
        started = time.perf_counter()
        ids = seed(database, args.runs, args.steps)
        took = time.perf_counter() - started
        print(f"seeded {args.runs} runs × {args.steps:,} steps in {took:.1f} s")
        store = SqlTrackingStore(f"sqlite:///{database}", str(Path(folder) / "artifacts"))
        for axis in AXES:
            report(
                f"store, {axis} (series in turn)",
                timed(in_turn(store, ids, axis, args.buckets), args.repeats),
            )
        store.close()
        server, port = start_cairn_server(Path(folder), Path(database))
        try:
            for axis in AXES:
                query = urlencode(
                    {"run_ids": ids, "key": "loss", "x_axis": axis, "buckets": args.buckets},
                    doseq=True,
                )
                call = http_call(port, query)
                report(f"HTTP, {axis}", timed(call, args.repeats))
                print(f"{'':<34} answer {call() / 1024:.0f} KiB")
        finally:
            stop_session(server)


if __name__ == "__main__":
    main()
