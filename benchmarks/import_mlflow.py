"""`cairn import mlflow` on a store the real mlflow client wrote: time, points/s, peak memory.

The source is an MLflow SQLite store of `--runs` runs × 20 params × 10 metrics × `--steps`
steps (default 1,000 × 1,000: 10,000,000 points), written by `mlflow.MlflowClient.log_batch`
with 1,000 metrics a call (100 steps × 10 keys, as a training loop logs them) and the params
and tags in the first call. Building it takes MLflow tens of minutes, so it is built once,
under `nice -n 19` in one process (SQLite serialises writers: more processes only wait), into
`--cache` (default benchmarks/.cache/, which holds its own `.gitignore`) and reused.

Then, as users run it (`cairn import mlflow sqlite:///… --to URI --report r.json`, a fresh
process each time), into a new SQLite file and into a new PostgreSQL database on
127.0.0.1:5432 (created, then dropped): the import's wall time, points/s and peak RSS (the
child's own `ru_maxrss`, from `os.wait4`), then the same command again, which must import
nothing (its report says `identical`). The same import from a store with a tenth of the
runs shows whether memory grows with the points. Goals (issue 16): import ≤ 60 s,
re-import ≤ 5 s, memory flat.

    .venv/bin/python benchmarks/import_mlflow.py --runs 20 --steps 100     # quick check
    .venv/bin/python benchmarks/import_mlflow.py                           # full size
    .venv/bin/python benchmarks/import_mlflow.py --targets sqlite --profile sqlite

`--profile TARGET` also runs that import once under cProfile and prints where the time goes.
Prints a table; writes every figure to benchmarks/results/import-mlflow-latest.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import pstats
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from backends import PG_HOST, fresh_postgres_database

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
RESULTS = HERE / "results" / "import-mlflow-latest.json"
CAIRN = Path(sys.executable).parent / "cairn"
PG_DATABASE = "cairn_import_bench"
TARGETS = ("sqlite", "postgresql")
PARAMS = 20
METRICS = 10
TAGS = 3
SPOT_KEY = "metric_7"
BATCH = 1000  # MLflow's log_batch limit for metrics
T0 = 1_700_000_000_000
IMPORT_GOAL_S = 60.0
REIMPORT_GOAL_S = 5.0


# -- the source store, written by the real mlflow client ----------------------------------


def build_store(path: Path, runs: int, steps: int) -> None:
    """Write the store at `path` through MlflowClient, one run after another."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    client = MlflowClient(tracking_uri=f"sqlite:///{path}")
    experiment = client.create_experiment("import-bench")
    keys = [f"metric_{k}" for k in range(METRICS)]
    started = time.monotonic()
    for index in range(runs):
        rng = random.Random(index)
        start = T0 + index * 60_000_000
        run = client.create_run(experiment, start_time=start, run_name=f"run-{index}")
        run_id = run.info.run_id
        params = [Param(f"param_{p}", str(rng.choice("abcdefgh") * (p + 1))) for p in range(PARAMS)]
        tags = [RunTag(f"tag_{t}", f"value-{index % (t + 2)}") for t in range(TAGS)]
        batch: list[Metric] = []
        for step in range(steps):
            stamp = start + 50 * step
            batch.extend(Metric(key, rng.random() / (1 + step), stamp, step) for key in keys)
            if len(batch) >= BATCH:
                client.log_batch(run_id, metrics=batch, params=params, tags=tags)
                batch, params, tags = [], [], []
        if batch or params:
            client.log_batch(run_id, metrics=batch, params=params, tags=tags)
        client.set_terminated(run_id, "FINISHED", end_time=start + 50 * steps)
        if (index + 1) % max(1, runs // 20) == 0:
            elapsed = time.monotonic() - started
            left = elapsed / (index + 1) * (runs - index - 1)
            print(
                f"  {index + 1:,}/{runs:,} runs, {elapsed:,.0f} s, ~{left:,.0f} s left",
                file=sys.stderr,
            )


def cached_store(cache: Path, runs: int, steps: int) -> tuple[Path, dict[str, Any]]:
    """The store for this size, built (niced, in its own process) unless the cache has it;
    with the facts of its build (kept beside it as JSON)."""
    cache.mkdir(parents=True, exist_ok=True)
    ignore = cache / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")  # gigabytes of generated data: never committed
    name = f"mlflow-{runs}x{steps}"
    path, facts_path = cache / f"{name}.db", cache / f"{name}.json"
    if path.exists() and facts_path.exists():
        return path, json.loads(facts_path.read_text())
    partial = cache / f"{name}.partial.db"
    partial.unlink(missing_ok=True)
    print(f"building {path.name} with the mlflow client (once; nice -n 19) ...", file=sys.stderr)
    started = time.monotonic()
    command = [sys.executable, __file__, "--build-into", str(partial)]
    command += ["--runs", str(runs), "--steps", str(steps)]
    subprocess.run(["nice", "-n", "19", *command], check=True, env=_mlflow_env())
    facts = {
        "runs": runs,
        "steps": steps,
        "points": runs * METRICS * steps,
        "build_seconds": round(time.monotonic() - started, 1),
        "bytes": partial.stat().st_size,
        "built": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "mlflow": _mlflow_version(),
    }
    partial.rename(path)
    facts_path.write_text(json.dumps(facts, indent=2) + "\n")
    return path, facts


def _mlflow_env() -> dict[str, str]:
    return {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}


def _mlflow_version() -> str:
    from importlib.metadata import version

    return version("mlflow")


# -- one import, as users run it ----------------------------------------------------------


def run_import(source: Path, target: str, folder: Path, label: str) -> dict[str, Any]:
    """`cairn import mlflow` in a fresh process: wall seconds, its own peak RSS, its report."""
    report_path = folder / f"{label}.json"
    command = [str(CAIRN), "import", "mlflow", f"sqlite:///{source}", "--to", target]
    command += ["--report", str(report_path)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    load = os.getloadavg()[0]
    with open(folder / f"{label}.log", "w+b") as log:
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=folder, env=env, stdout=log, stderr=log)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        output = log.read().decode(errors="replace")
    if child.returncode != 0 or not report_path.exists():
        raise RuntimeError(f"{label}: exit {child.returncode}\n{output[-3000:]}")
    report = json.loads(report_path.read_text())
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "load_average_1min_before": load,
        "report": report,
    }


def check_first(result: dict[str, Any], runs: int, points: int) -> list[str]:
    """What is wrong with a first import's report: everything must be imported."""
    kinds = result["report"]["kinds"]
    wanted = {"runs": runs, "metric_points": points, "params": runs * PARAMS}
    wrong = [
        f"{kind}: imported {kinds[kind]['imported']:,}, expected {n:,}"
        for kind, n in wanted.items()
        if kinds[kind]["imported"] != n
    ]
    wrong += [f"{k}: {v['skipped']} skipped" for k, v in kinds.items() if v["skipped"]]
    return wrong


def check_again(result: dict[str, Any], runs: int, points: int) -> list[str]:
    """What is wrong with a re-import's report: nothing imported, everything present."""
    report = result["report"]
    wrong = [] if report["identical"] else ["the report is not `identical`"]
    kinds = report["kinds"]
    wrong += [f"{k}: {v['imported']:,} imported" for k, v in kinds.items() if v["imported"]]
    if kinds["runs"]["present"] != runs or kinds["metric_points"]["present"] != points:
        wrong.append(
            f"present: {kinds['runs']['present']:,} runs, "
            f"{kinds['metric_points']['present']:,} points"
        )
    return wrong


def spot_check(source: Path, uri: str) -> list[str]:
    """One run read back from the target beside the source: its params, start and end,
    and every point of one history (value, timestamp, step), as MLflow stored them."""
    from cairn.store.uri import tracking_store

    with sqlite3.connect(source) as db:
        run_id, start, end = db.execute(
            "SELECT run_uuid, start_time, end_time FROM runs ORDER BY start_time DESC LIMIT 1"
        ).fetchone()
        params = dict(db.execute("SELECT key, value FROM params WHERE run_uuid = ?", (run_id,)))
        history = db.execute(
            "SELECT value, timestamp, step FROM metrics WHERE run_uuid = ? AND key = ? "
            "ORDER BY step, timestamp",
            (run_id, SPOT_KEY),
        ).fetchall()
    store = tracking_store(uri)
    try:
        run = store.get_run(run_id)
        imported = [
            (m.value, m.timestamp, m.step) for m in store.get_metric_history(run_id, SPOT_KEY)
        ]
    finally:
        store.close()  # type: ignore[attr-defined]
    wrong = []
    if (run.info.start_time, run.info.end_time) != (start, end):
        wrong.append(
            f"run {run_id}: times {run.info.start_time, run.info.end_time} != {start, end}"
        )
    if run.data.params != params:
        wrong.append(f"run {run_id}: params differ")
    if imported != history:
        wrong.append(
            f"run {run_id}: {SPOT_KEY} history differs ({len(imported)} / {len(history)} points)"
        )
    return wrong


def target_uri(kind: str, folder: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{folder}/cairn.db"
    fresh_postgres_database(PG_DATABASE)
    return f"postgresql://{PG_HOST}/{PG_DATABASE}"


def drop_postgres_database() -> None:
    import psycopg
    from backends import PG_ADMIN_DB

    with psycopg.connect(f"postgresql://{PG_HOST}/{PG_ADMIN_DB}", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')


def measure_target(kind: str, source: Path, runs: int, points: int) -> dict[str, Any]:
    """Import into a fresh `kind` target, then again into the same one."""
    with tempfile.TemporaryDirectory(prefix="import-bench-") as name:
        folder = Path(name)
        try:
            uri = target_uri(kind, folder)
            first = run_import(source, uri, folder, f"{kind}-import")
            first["problems"] = check_first(first, runs, points) + spot_check(source, uri)
            again = run_import(source, uri, folder, f"{kind}-reimport")
            again["problems"] = check_again(again, runs, points)
        finally:
            if kind == "postgresql":
                drop_postgres_database()
    first["points_per_s"] = round(points / first["seconds"])
    return {"import": _slim(first), "reimport": _slim(again)}


def _slim(result: dict[str, Any]) -> dict[str, Any]:
    """The report's counts without its per-entity reasons (kept only when something is off)."""
    report = result.pop("report")
    result["report"] = {
        "identical": report["identical"],
        "complete": report["complete"],
        "seconds": report["seconds"],
        "kinds": {
            k: {n: v[n] for n in ("source", "imported", "present", "skipped")}
            for k, v in report["kinds"].items()
        },
        "problems": report["problems"][:20],
    }
    return result


def profile_import(kind: str, source: Path, out: Path, top: int) -> str:
    """One import under cProfile, its stats kept at `out`; the functions that take the
    most time, as text. cProfile sees the main thread only: time the history reader's
    thread keeps it waiting shows as `acquire` of a lock."""
    with tempfile.TemporaryDirectory(prefix="import-profile-") as name:
        folder = Path(name)
        try:
            uri = target_uri(kind, folder)
            command = [sys.executable, "-m", "cProfile", "-o", str(out), str(CAIRN)]
            command += ["import", "mlflow", f"sqlite:///{source}", "--to", uri]
            env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
            started = time.perf_counter()
            subprocess.run(command, cwd=folder, env=env, check=True, capture_output=True)
            seconds = time.perf_counter() - started
            text = io.StringIO()
            stats = pstats.Stats(str(out), stream=text).strip_dirs()
            text.write(f"cProfile of the {kind} import: {seconds:.1f} s under the profiler, ")
            text.write(f"stats in {out}\n")
            stats.sort_stats("tottime").print_stats(top)
            stats.sort_stats("cumulative").print_stats(top)
            return text.getvalue()
        finally:
            if kind == "postgresql":
                drop_postgres_database()


# -- output -------------------------------------------------------------------------------


def print_table(results: dict[str, Any], small: dict[str, Any] | None) -> None:
    print(
        f"{'target':<12}{'':<11}{'wall s':>8}{'points/s':>12}{'peak RSS MB':>13}"
        f"{'CPU s':>8}{'load':>6}  goal      met"
    )
    for kind, result in results.items():
        first, again = result["import"], result["reimport"]
        for step, row, goal in (
            ("import", first, IMPORT_GOAL_S),
            ("re-import", again, REIMPORT_GOAL_S),
        ):
            rate = f"{row['points_per_s']:,}" if "points_per_s" in row else ""
            met = "yes" if row["seconds"] <= goal and not row["problems"] else "NO"
            print(
                f"{kind:<12}{step:<11}{row['seconds']:>8.1f}{rate:>12}{row['peak_rss_mb']:>13.0f}"
                f"{row['cpu_seconds']:>8.1f}{row['load_average_1min_before']:>6.1f}"
                f"  ≤ {goal:.0f} s    {met}"
            )
    if small is not None:
        row = small["import"]
        print(
            f"peak RSS, sqlite import of a store with a tenth of the runs "
            f"({small['points']:,} points): {row['peak_rss_mb']:.0f} MB"
        )
    for kind, result in results.items():
        for step in ("import", "reimport"):
            for problem in result[step]["problems"]:
                print(f"WRONG {kind} {step}: {problem}")
            for problem in result[step]["report"]["problems"]:
                print(f"problem reported ({kind} {step}): {problem}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--build-only", action="store_true", help="build the stores, then stop")
    parser.add_argument("--no-small", action="store_true", help="skip the tenth-size store")
    parser.add_argument("--profile", choices=TARGETS, default=None)
    parser.add_argument("--profile-top", type=int, default=30)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--build-into", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_into is not None:
        build_store(args.build_into, args.runs, args.steps)
        return
    targets = [t for t in args.targets.split(",") if t]
    source, facts = cached_store(args.cache, args.runs, args.steps)
    small_runs = 0 if args.no_small else args.runs // 10
    if small_runs:
        small_source, small_facts = cached_store(args.cache, small_runs, args.steps)
    if args.build_only:
        return
    points = facts["points"]
    print(
        f"MLflow {facts['mlflow']} SQLite store: {args.runs:,} runs × {PARAMS} params × "
        f"{METRICS} metrics × {args.steps:,} steps = {points:,} points, "
        f"{facts['bytes'] / 2**20:,.0f} MiB, built by MlflowClient.log_batch in "
        f"{facts['build_seconds']:,.0f} s ({points / facts['build_seconds']:,.0f} points/s)"
    )
    document: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_before": os.getloadavg(),
        },
        "source": {**facts, "path": os.path.relpath(source)},
        "goals": {"import_s": IMPORT_GOAL_S, "reimport_s": REIMPORT_GOAL_S},
        "targets": {},
    }
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    for kind in targets:
        print(f"importing into {kind} ...", file=sys.stderr, flush=True)
        document["targets"][kind] = measure_target(kind, source, args.runs, points)
    small = None
    if small_runs:
        print("importing the tenth-size store into sqlite ...", file=sys.stderr, flush=True)
        small = measure_target("sqlite", small_source, small_runs, small_facts["points"])
        small["points"] = small_facts["points"]
        document["tenth_size_sqlite"] = small
    document["machine"]["load_average_after"] = os.getloadavg()
    print_table(document["targets"], small)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.profile:
        out = args.cache / f"import-{args.profile}.prof"
        text = profile_import(args.profile, source, out, args.profile_top)
        document["profile"] = text
        print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
