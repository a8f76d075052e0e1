"""The UI's chart call, Cairn beside MLflow: 10 runs × 100,000 steps of one metric, each run
with one spike (50.0) at a random step, both stores on SQLite holding the same points.

* Cairn: `GET /ajax-api/2.0/cairn/metrics/downsampled`, 1,000 buckets keeping min, max and
  last, on a `cairn server`; per x axis, and the store call alone (series in turn, no HTTP).
  The goal is ≤ 200 ms for the step axis.
* MLflow 3.17: `GET /ajax-api/2.0/mlflow/metrics/get-history-bulk-interval`, the call its UI
  makes for the same chart, on `mlflow server --workers 1` (several workers leave Nagle on:
  a keep-alive client would wait ~40 ms per answer). Asked for 1,000 points per run (the same
  point budget) and for the UI's default of 320. It samples rows evenly and keeps the last,
  so a spike survives only by luck. Its store is seeded in-process with MLflow's own
  `SqlAlchemyStore.log_batch`, 1,000 points a call, before its server starts.

Timing starts once a server's processes are idle: MLflow's spawns a job runner and seven huey
consumers after it answers /health, which keep a 2-core machine busy for ~15 s and made its
first answers 5-8× slower.

    .venv/bin/python benchmarks/ui_downsample.py               # 10 runs × 100,000 steps
    .venv/bin/python benchmarks/ui_downsample.py --steps 5000 --repeats 3
    .venv/bin/python benchmarks/ui_downsample.py --no-mlflow   # Cairn only

And Cairn's grouped chart call, `GET /ajax-api/2.0/cairn/metrics/grouped`: 1,000 runs split
by their learning rate (4 groups), per step bucket the mean, min, max and std of the runs'
last values, at 100 and at 1,000 steps per run (`--grouped-steps`; 200 buckets, the UI's
default), over HTTP and the store call alone.

    .venv/bin/python benchmarks/ui_downsample.py --no-mlflow --runs 0   # grouped only

Prints the seeding times, then per call the median and best of the repeats in milliseconds
(one keep-alive connection, after a warm-up), the answer's size, how many runs' spikes the
answer shows, and MLflow's median over Cairn's on the step axis. Writes every figure to
benchmarks/results/ui-downsample-latest.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from processes import HOST, start_cairn_server, stop_session, wait_until_quiet

from cairn.store.sql.tracking import SqlTrackingStore

RESULTS = Path(__file__).resolve().parent / "results" / "ui-downsample-latest.json"
T0 = 1_700_000_000_000
KEY = "loss"
SPIKE = 50.0
AXES = ("step", "timestamp", "relative")
MLFLOW_UI_POINTS = 320  # what MLflow's chart asks for by default
MLFLOW_BATCH = 1000  # MLflow's log_batch limit
MLFLOW_MAX_RESULTS = 2500  # the most its bulk-interval call accepts per run
SETTLE_TIMEOUT = 90.0


def history(run: int, steps: int) -> Iterator[tuple[float, int, int]]:
    """Run `run`'s (value, timestamp, step) points: a noisy decaying loss with one spike.
    Seeded by the run's index, so both stores get the same points without holding them all."""
    rng = random.Random(run)
    spike = rng.randrange(steps)
    for s in range(steps):
        value = SPIKE if s == spike else 1 / (1 + s) + rng.random() * 0.01
        yield value, T0 + 20 * s, s


def seed_cairn(path: Path, runs: int, steps: int) -> list[str]:
    store = SqlTrackingStore(f"sqlite:///{path}", str(path.parent / "artifacts"))
    ids = []
    for run in range(runs):
        run_id = store.create_run("0", "bench", T0, [], None).info.run_id
        points = [(run_id, KEY, v, t, s) for v, t, s in history(run, steps)]
        for i in range(0, steps, 50_000):
            store.log_metric_points(points[i : i + 50_000])
        ids.append(run_id)
    store.close()
    return ids


def seed_mlflow(folder: Path, runs: int, steps: int) -> list[str]:
    """Through MLflow's own store, in its largest batches: the fastest way its API allows.
    The file is the one `server.start_server("mlflow", folder)` serves."""
    from mlflow.entities import Metric
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(f"sqlite:///{folder}/mlflow.db", str(folder / "mlartifacts"))
    ids = []
    for run in range(runs):
        run_id = store.create_run("0", "bench", T0, [], "bench").info.run_id
        metrics = [Metric(KEY, v, t, s) for v, t, s in history(run, steps)]
        for i in range(0, steps, MLFLOW_BATCH):
            store.log_batch(run_id, metrics[i : i + MLFLOW_BATCH], [], [])
        ids.append(run_id)
    store.engine.dispose()
    return ids


def timed(call: Callable[[], object], repeats: int) -> list[float]:
    call()  # warm: connections, statement caches, the temporary bucket table
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return times


def http_call(port: int, path: str) -> Callable[[], bytes]:
    """GET `path` on one keep-alive connection (http.client sets TCP_NODELAY)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=300)

    def call() -> bytes:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200, body[:500]
        return body

    return call


def in_turn(
    store: SqlTrackingStore, ids: list[str], axis: str, buckets: int
) -> Callable[[], object]:
    def call() -> object:
        return [store.downsample_metric_history(r, KEY, axis, buckets) for r in ids]

    return call


def cairn_answer(body: bytes) -> dict[str, int]:
    """Points and runs whose spike shows (as some bucket's max) in a downsampled answer."""
    series = json.loads(body)["series"]
    return {
        "points": sum(len(s["points"]) for s in series),
        "spikes_kept": sum(any(p["max"] == SPIKE for p in s["points"]) for s in series),
    }


def mlflow_answer(body: bytes) -> dict[str, int]:
    """Points and runs whose spike is among the sampled points."""
    metrics = json.loads(body).get("metrics", [])
    return {
        "points": len(metrics),
        "spikes_kept": len({m["run_id"] for m in metrics if m["value"] == SPIKE}),
    }


def summary(times: list[float]) -> dict[str, Any]:
    return {
        "median_ms": round(statistics.median(times), 1),
        "min_ms": round(min(times), 1),
        "max_ms": round(max(times), 1),
        "samples_ms": [round(t, 1) for t in times],
    }


def measure(
    label: str,
    call: Callable[[], bytes],
    check: Callable[[bytes], dict[str, int]],
    runs: int,
    repeats: int,
) -> dict[str, Any]:
    """Time `call`, then describe one more answer; print one line, return the figures."""
    result = summary(timed(call, repeats))
    body = call()
    result |= {"answer_kib": round(len(body) / 1024, 1), **check(body)}
    print(
        f"{label:<40} median {result['median_ms']:7.1f} ms   best {result['min_ms']:7.1f} ms"
        f"   {result['answer_kib']:6.0f} KiB  {result['points']:>6,} points"
        f"   spikes {result['spikes_kept']}/{runs}"
    )
    return result


GROUP_LRS = ("0.1", "0.03", "0.01", "0.003")


def seed_grouped(path: Path, runs: int, steps: int) -> tuple[str, list[list[str]]]:
    """An experiment of `runs` runs over GROUP_LRS, each a `steps`-point loss; the runs by lr."""
    from cairn.entities import Param

    store = SqlTrackingStore(f"sqlite:///{path}", str(path.parent / "artifacts"))
    experiment = store.create_experiment(f"grouped-{steps}", None, [])
    groups: dict[str, list[str]] = {lr: [] for lr in GROUP_LRS}
    rng = random.Random(steps)
    for i in range(runs):
        run_id = store.create_run(experiment, "bench", T0, [], None).info.run_id
        lr = GROUP_LRS[i % len(GROUP_LRS)]
        store.log_batch(run_id, params=[Param("lr", lr)])
        points = [(run_id, KEY, 1 / (1 + s) + rng.random(), T0 + s, s) for s in range(steps)]
        store.log_metric_points(points)
        groups[lr].append(run_id)
    store.close()
    return experiment, list(groups.values())


def bench_grouped(
    folder: Path,
    database: Path,
    port: int,
    sweeps: dict[int, tuple[str, list[list[str]]]],
    args: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    store = SqlTrackingStore(f"sqlite:///{database}", str(folder / "artifacts"))
    for steps, (experiment, groups) in sweeps.items():
        runs = sum(len(g) for g in groups)
        query = urlencode({"experiment_ids": experiment, "key": KEY, "group_by": "params.lr"})
        call = http_call(port, f"/ajax-api/2.0/cairn/metrics/grouped?{query}")
        http = summary(timed(call, args.repeats))
        body = call()  # now: the server closes a keep-alive connection idle for 5 s
        answer, size = json.loads(body), round(len(body) / 1024, 1)
        alone = summary(
            timed(lambda g=groups: store.group_metric_history(g, KEY, 200), args.repeats)
        )
        out[str(steps)] = {"runs": runs, "http": http, "store": alone, "answer_kib": size}
        print(
            f"{f'Cairn HTTP, grouped {runs:,} runs × {steps:,} steps':<40} median "
            f"{http['median_ms']:7.1f} ms   best {http['min_ms']:7.1f} ms   "
            f"{size:6.0f} KiB  {len(answer['groups'])} groups × "
            f"{len(answer['groups'][0]['x'])} buckets   (store alone: median "
            f"{alone['median_ms']:.1f} ms)"
        )
    store.close()
    return out


def bench_cairn(folder: Path, database: Path, ids: list[str], args: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"buckets": args.buckets, "store": {}, "http": {}}
    store = SqlTrackingStore(f"sqlite:///{database}", str(folder / "artifacts"))
    for axis in AXES if ids else ():
        times = timed(in_turn(store, ids, axis, args.buckets), args.repeats)
        out["store"][axis] = summary(times)
        print(
            f"{f'Cairn store, {axis} (series in turn)':<40} median "
            f"{out['store'][axis]['median_ms']:7.1f} ms   best {min(times):7.1f} ms"
        )
    store.close()
    server, port = start_cairn_server(folder, database)
    out["settled_s"] = round(wait_until_quiet(server, SETTLE_TIMEOUT), 1)
    try:
        if args.sweeps:
            out["grouped"] = bench_grouped(folder, database, port, args.sweeps, args)
        for axis in AXES if ids else ():
            query = urlencode(
                {"run_ids": ids, "key": KEY, "x_axis": axis, "buckets": args.buckets},
                doseq=True,
            )
            call = http_call(port, f"/ajax-api/2.0/cairn/metrics/downsampled?{query}")
            label = f"Cairn HTTP, {axis}, {args.buckets} buckets"
            out["http"][axis] = measure(label, call, cairn_answer, len(ids), args.repeats)
    finally:
        stop_session(server)
    return out


def bench_mlflow(folder: Path, ids: list[str], args: Any) -> dict[str, Any]:
    from server import start_server

    out: dict[str, Any] = {"http": {}}
    server, port = start_server("mlflow", folder)
    out["settled_s"] = round(wait_until_quiet(server, SETTLE_TIMEOUT), 1)
    print(f"MLflow's server settled {out['settled_s']} s after answering /health")
    try:
        for points in dict.fromkeys((min(args.buckets, MLFLOW_MAX_RESULTS), MLFLOW_UI_POINTS)):
            query = urlencode({"run_ids": ids, "metric_key": KEY, "max_results": points}, True)
            path = f"/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?{query}"
            label = f"MLflow HTTP, step, max_results={points}"
            out["http"][str(points)] = measure(
                label, http_call(port, path), mlflow_answer, len(ids), args.repeats
            )
    finally:
        stop_session(server)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--buckets", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--no-mlflow", action="store_true", help="measure Cairn only")
    parser.add_argument("--grouped-runs", type=int, default=1000)
    parser.add_argument("--grouped-steps", default="100,1000", help="comma-separated; '' for none")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    document: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_before": os.getloadavg(),
        },
        "store": {
            "runs": args.runs,
            "steps": args.steps,
            "key": KEY,
            "spike": SPIKE,
            "grouped_runs": args.grouped_runs,
            "grouped_steps": args.grouped_steps,
        },
        "repeats": args.repeats,
    }
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        database = folder / "cairn.db"
        started = time.perf_counter()
        cairn_ids = seed_cairn(database, args.runs, args.steps)
        cairn_s = time.perf_counter() - started
        print(f"seeded Cairn:  {args.runs} runs × {args.steps:,} steps in {cairn_s:6.1f} s")
        args.sweeps = {}
        for steps in [int(s) for s in args.grouped_steps.split(",") if s]:
            started = time.perf_counter()
            args.sweeps[steps] = seed_grouped(database, args.grouped_runs, steps)
            took = time.perf_counter() - started
            print(f"seeded Cairn:  {args.grouped_runs} runs × {steps:,} steps in {took:6.1f} s")
        if not args.no_mlflow and args.runs:
            started = time.perf_counter()
            mlflow_ids = seed_mlflow(folder, args.runs, args.steps)
            mlflow_s = time.perf_counter() - started
            print(f"seeded MLflow: {args.runs} runs × {args.steps:,} steps in {mlflow_s:6.1f} s")
        document["cairn"] = {"seeding_s": round(cairn_s, 1)}
        document["cairn"] |= bench_cairn(folder, database, cairn_ids, args)
        if not args.no_mlflow and args.runs:
            document["mlflow"] = {"version": version("mlflow"), "seeding_s": round(mlflow_s, 1)}
            document["mlflow"] |= bench_mlflow(folder, mlflow_ids, args)
    document["machine"]["load_average_after"] = os.getloadavg()
    if "mlflow" in document and cairn_ids:
        cairn = document["cairn"]["http"]["step"]["median_ms"]
        document["ratios"] = {}
        for points, figures in document["mlflow"]["http"].items():
            ratio = figures["median_ms"] / cairn
            document["ratios"][f"step_max_results_{points}"] = round(ratio, 2)
            print(
                f"MLflow max_results={points} / Cairn {args.buckets} buckets, step axis, "
                f"median: {ratio:.1f}×"
            )
    args.output.parent.mkdir(exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"raw figures: {args.output}")


if __name__ == "__main__":
    main()
