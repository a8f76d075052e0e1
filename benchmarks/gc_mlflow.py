"""`cairn gc` beside `mlflow gc` (3.17.2): the same store shape, the same deleted runs.

Each tool gets a store of `--runs` runs over 10 experiments × 10 metrics × `--steps` steps
with 5 params, 3 tags and two artifact files each (all in a local artifact root: the S3
half of benchmarks/gc.py measures moto as much as either tool), written through its own
client (Cairn: the store; MLflow: `MlflowClient`), the histories in bulk SQL into each
tool's own tables. Then `--deleted` runs are deleted through the client and each tool's gc
runs as users run it, in a fresh process: `cairn gc --tracking-uri URI --yes` and
`mlflow gc --backend-store-uri URI`. Afterwards neither store may hold a row or a file of
a deleted run. MLflow's gc does not look at registered model versions, so no run here is
registered.

    .venv/bin/python benchmarks/gc_mlflow.py                  # 1,000 runs, 500 deleted
    .venv/bin/python benchmarks/gc_mlflow.py --backends sqlite,postgresql

Prints a table; adds the figures to benchmarks/results/gc-latest.json under "mlflow".
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from backends import PG_HOST, fresh_postgres_database
from gc_seed import (
    ARTIFACTS,
    CHUNK_POINTS,
    PARAM_KEYS,
    TAG_KEYS,
    Shape,
    artifact_body,
    delete_runs,
    drop_postgres_database,
    file_sizes,
    local_path,
    metric_keys,
    seed_store,
)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "gc-latest.json"
PG_DATABASE = "cairn_gc_bench"
ENV = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "CAIRN_CAPTURE_SOURCE": "false"}
_VALUE = "((s.step * 7919 + k.i * 104729 + c.seed) % 10007) / 10007.0"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def uri_for(backend: str, tool: str, folder: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{folder / f'{tool}.db'}"
    fresh_postgres_database(PG_DATABASE)
    scheme = "postgresql" if tool == "cairn" else "postgresql+psycopg"
    return f"{scheme}://{PG_HOST}/{PG_DATABASE}"


# -- MLflow's store ----------------------------------------------------------------------


def seed_mlflow(uri: str, root: Path, shape: Shape) -> list[str]:
    """The same runs as gc_seed.seed_store writes, through MlflowClient; the run ids."""
    from mlflow import MlflowClient
    from mlflow.entities import Param, RunTag

    client = MlflowClient(tracking_uri=uri)
    experiments = [
        client.create_experiment(f"gc-bench-{n}", artifact_location=str(root / str(n)))
        for n in range(shape.experiments)
    ]
    gen = random.Random(42)
    run_ids = []
    for i in range(shape.runs):
        run = client.create_run(experiments[i % len(experiments)], run_name=f"run-{i}")
        run_id = run.info.run_id
        client.log_batch(
            run_id,
            params=[Param(k, gen.choice("abcd")) for k in PARAM_KEYS],
            tags=[RunTag(k, f"tag-{gen.randrange(10)}") for k in TAG_KEYS],
        )
        client.set_terminated(run_id, "FINISHED")
        for path, size in ARTIFACTS:
            target = Path(local_path(run.info.artifact_uri)) / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(artifact_body(run_id, path, size))
        run_ids.append(run_id)
    _mlflow_histories(uri, shape, run_ids)
    return run_ids


def _mlflow_histories(uri: str, shape: Shape, run_ids: list[str]) -> None:
    """The histories in MLflow's own tables (metrics, latest_metrics), in bulk SQL."""
    rows = [(r, 1_700_000_000_000, int(r[:6], 16) % 10007) for r in sorted(run_ids)]
    keys = metric_keys(shape)
    points = (
        "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
        f"SELECT k.key, {_VALUE}, c.start_time + s.step * 1000, c.run_uuid, s.step, {{false}} "
    )
    latest = (
        "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
        f"SELECT k.key, {_VALUE}, c.start_time + s.step * 1000, s.step, {{false}}, c.run_uuid "
    )
    per_chunk = max(1, CHUNK_POINTS // (shape.metrics * shape.steps))
    if uri.startswith("sqlite"):
        conn = sqlite3.connect(uri[len("sqlite:///") :], isolation_level=None)
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("CREATE TEMP TABLE k (i INTEGER, key TEXT)")
        conn.executemany("INSERT INTO k VALUES (?, ?)", list(enumerate(keys)))
        conn.execute("CREATE TEMP TABLE s (step INTEGER PRIMARY KEY)")
        conn.executemany("INSERT INTO s VALUES (?)", [(i,) for i in range(shape.steps)])
        conn.execute("CREATE TEMP TABLE c (run_uuid TEXT, start_time INT, seed INT)")
        for first in range(0, len(rows), per_chunk):
            conn.execute("BEGIN")
            conn.execute("DELETE FROM c")
            conn.executemany("INSERT INTO c VALUES (?, ?, ?)", rows[first : first + per_chunk])
            conn.execute(points.format(false=0) + "FROM c, k, s")
            conn.execute("COMMIT")
        conn.execute("DELETE FROM c")
        conn.executemany("INSERT INTO c VALUES (?, ?, ?)", rows)
        conn.execute(latest.format(false=0) + "FROM c, k, s WHERE s.step = ?", (shape.steps - 1,))
        conn.close()
        return
    import psycopg

    source = (
        "FROM unnest(%s::text[], %s::bigint[], %s::int[]) AS c(run_uuid, start_time, seed), "
        "unnest(%s::text[], %s::int[]) AS k(key, i), "
        "generate_series(%s::int, %s::int) AS s(step)"
    )
    key_columns = (keys, list(range(len(keys))))
    with psycopg.connect(uri.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        for first in range(0, len(rows), per_chunk):
            chunk = [list(col) for col in zip(*rows[first : first + per_chunk], strict=True)]
            statement = points.format(false="false").replace("%", "%%") + source
            conn.execute(statement, (*chunk, *key_columns, 0, shape.steps - 1))
        every = [list(col) for col in zip(*rows, strict=True)]
        last = shape.steps - 1
        statement = latest.format(false="false").replace("%", "%%") + source
        conn.execute(statement, (*every, *key_columns, last, last))
        conn.execute("VACUUM ANALYZE")


def delete_mlflow_runs(uri: str, run_ids: list[str]) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    for run_id in run_ids:
        client.delete_run(run_id)


# -- both --------------------------------------------------------------------------------


def timed(command: list[str], folder: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=folder, env=ENV, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{command[:4]} failed:\n{done.stderr[-3000:]}")
    return seconds


def leftovers(uri: str, doomed: list[str], root: Path) -> dict[str, int]:
    """Rows and files of the deleted runs still there after the gc."""
    import sqlalchemy as sa

    engine = sa.create_engine(
        uri
        if "+" in uri or uri.startswith("sqlite")
        else uri.replace("postgresql://", "postgresql+psycopg://")
    )
    wanted = set(doomed)
    with engine.connect() as conn:
        runs = {r for (r,) in conn.execute(sa.text("SELECT run_uuid FROM runs"))}
        history = {
            r for (r,) in conn.execute(sa.text("SELECT DISTINCT run_uuid FROM latest_metrics"))
        }
        points = conn.execute(sa.text("SELECT COUNT(*) FROM metrics")).scalar()
    engine.dispose()
    files = file_sizes(str(root))
    return {
        "runs_left": len(runs & wanted),
        "latest_metrics_left": len(history & wanted),
        "metric_points_after": int(points or 0),
        "files_of_deleted_runs_left": sum(1 for k in files if k.split("/")[1] in wanted),
        "files_after": len(files),
    }


def bench_tool(tool: str, backend: str, shape: Shape, deleted: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix=f"gc-{tool}-{backend}-"))
    root = folder / "artifacts"
    uri = uri_for(backend, tool, folder)
    try:
        started = time.perf_counter()
        if tool == "cairn":
            from cairn.store.sql.tracking import SqlTrackingStore

            store = SqlTrackingStore(uri, str(root))
            run_ids = seed_store(store, shape, None, None, log).run_ids
        else:
            run_ids = seed_mlflow(uri, root, shape)
        seeded = time.perf_counter() - started
        doomed = run_ids[1::2][:deleted]
        if tool == "cairn":
            delete_runs(store, doomed)
            store.close()
            command = [sys.executable, "-c", "from cairn.cli import cli; cli()", "gc"]
            command += ["--tracking-uri", uri, "--yes"]
        else:
            delete_mlflow_runs(uri, doomed)
            command = [sys.executable, "-m", "mlflow", "gc", "--backend-store-uri", uri]
            command += ["--tracking-uri", uri]
        log(f"{tool} on {backend}: seeded in {seeded:.0f} s; gc of {len(doomed):,} runs")
        seconds = timed(command, folder)
        return {
            "seed_seconds": seeded,
            "gc_seconds": seconds,
            "deleted": len(doomed),
            **leftovers(uri, doomed, root),
        }
    finally:
        if backend == "postgresql":
            drop_postgres_database(PG_DATABASE)
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite")
    parser.add_argument("--runs", type=int, default=1_000)
    parser.add_argument("--steps", type=int, default=1_000)
    parser.add_argument("--deleted", type=int, default=500)
    args = parser.parse_args()
    shape = Shape(args.runs, 10, args.steps)
    found: dict[str, Any] = {"shape": shape.__dict__, "deleted": args.deleted, "backends": {}}
    for backend in args.backends.split(","):
        found["backends"][backend] = {
            tool: bench_tool(tool, backend, shape, args.deleted) for tool in ("cairn", "mlflow")
        }
    lines = [
        f"| gc of {args.deleted:,} of {shape.runs:,} runs × 10 metrics × {shape.steps:,} steps, "
        "local artifacts | Cairn | MLflow 3.17.2 | Cairn faster by |",
        "|---|---:|---:|---:|",
    ]
    for backend, tools in found["backends"].items():
        cairn, mlflow = tools["cairn"]["gc_seconds"], tools["mlflow"]["gc_seconds"]
        lines.append(f"| {backend} | {cairn:.1f} s | {mlflow:.1f} s | {mlflow / cairn:.1f}× |")
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["mlflow"] = {"date": time.strftime("%Y-%m-%d"), **found}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
