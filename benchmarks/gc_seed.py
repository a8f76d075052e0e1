"""Seed a store for the gc benchmark: runs through the store, metric histories in bulk SQL,
two small artifact files per run on local disk or in S3.

Runs, params, tags and statuses go through `SqlTrackingStore` (create_run, log_batch,
update_run_info), as a client would write them. The histories (runs × metrics × steps
points, 100,000,000 at full size) are generated inside the database: SQLite joins a chunk
of run ids with the keys and steps (a few temp tables) in `INSERT … SELECT` statements of
a few million rows, in run-id order (the primary key's order, so each insert appends to the
B-tree), with journal_mode=OFF and synchronous=OFF while it loads; PostgreSQL does the same
with `generate_series`, its primary key dropped during the load and built once after (as
`pg_restore` does). Python never touches a point. `latest_metrics` gets each key's last
step, and `run_storage` (when the schema has it) the counts the writers would keep.

Half of the experiments keep their artifacts in the local artifact root, half in
`s3://<prefix>-<n>/exp-<n>` (a moto server on 127.0.0.1): a bucket per experiment, since
moto scans every key of a bucket to answer each listing (about 1 ms per 1,000 keys on
this machine), which real S3 does not.
"""

from __future__ import annotations

import hashlib
import os
import random
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends import PG_ADMIN_DB, PG_HOST

DAY_MS = 86_400_000
# The artifacts every run logs: a small model file and a JSON summary, a few KB each.
ARTIFACTS = (("model/model.pkl", 4096), ("summary.json", 1024))
CHUNK_POINTS = 2_000_000  # points per INSERT … SELECT statement
PARAM_KEYS = [f"p{i}" for i in range(5)]
TAG_KEYS = [f"t{i}" for i in range(3)]


@dataclass(frozen=True)
class Shape:
    """The store's size: `runs` spread over `experiments`, `metrics` × `steps` each."""

    runs: int
    metrics: int
    steps: int
    experiments: int = 10

    @property
    def points(self) -> int:
        return self.runs * self.metrics * self.steps


@dataclass
class Seeded:
    """What was written, for the checks after the gc."""

    shape: Shape
    experiments: list[str]
    s3_experiments: set[str]
    run_ids: list[str]  # in creation order
    experiment_of: dict[str, str]
    artifact_uri: dict[str, str]
    artifact_bytes: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def metric_keys(shape: Shape) -> list[str]:
    return [f"m{i}" for i in range(shape.metrics)]


def artifact_body(run_id: str, path: str, size: int) -> bytes:
    """Deterministic content of one artifact file, `size` bytes plus up to 511 more."""
    seed = hashlib.sha256(f"{run_id}/{path}".encode()).digest()
    length = size + seed[0] * 2  # files differ in size, so a byte count is a real check
    return (seed * (length // len(seed) + 1))[:length]


def seed_store(
    store: Any, shape: Shape, bucket: str | None, s3: Any, log: Callable[[str], None]
) -> Seeded:
    """Experiments, runs, histories and artifacts; the seconds each part took. Without a
    `bucket` every experiment keeps its artifacts in the local artifact root."""
    from cairn.entities import Param, RunStatus, RunTag

    started = time.perf_counter()
    experiments, s3_experiments = [], set()
    for n in range(shape.experiments):
        location = f"s3://{bucket}-{n}/exp-{n}" if n % 2 and bucket else None
        if location:
            s3.create_bucket(Bucket=f"{bucket}-{n}")
        experiment_id = store.create_experiment(f"gc-bench-{n}", artifact_location=location)
        experiments.append(experiment_id)
        if location:
            s3_experiments.add(experiment_id)
    gen = random.Random(42)
    now = int(time.time() * 1000)
    span = 365 * DAY_MS  # runs started over the last year, oldest first
    seeded = Seeded(shape, experiments, s3_experiments, [], {}, {})
    for i in range(shape.runs):
        experiment_id = experiments[i % len(experiments)]
        start = now - span + i * span // shape.runs
        tags = [RunTag(k, f"tag-{gen.randrange(10)}") for k in TAG_KEYS]
        run = store.create_run(experiment_id, "bench", start, tags, f"run-{i}")
        run_id = run.info.run_id
        params = [Param(k, gen.choice("abcd")) for k in PARAM_KEYS]
        store.log_batch(run_id, params=params)
        store.update_run_info(run_id, RunStatus.FINISHED, start + 3_600_000)
        seeded.run_ids.append(run_id)
        seeded.experiment_of[run_id] = experiment_id
        seeded.artifact_uri[run_id] = run.info.artifact_uri
        if i % 1000 == 999:
            log(f"  {i + 1:,} runs ({time.perf_counter() - started:.0f} s)")
    seeded.seconds["runs"] = time.perf_counter() - started
    started = time.perf_counter()
    loader = _sqlite_histories if store.engine.dialect.name == "sqlite" else _postgresql_histories
    loader(store, seeded, log)
    seeded.seconds["histories"] = time.perf_counter() - started
    started = time.perf_counter()
    seeded.artifact_bytes = write_artifacts(seeded, s3)
    seeded.seconds["artifacts"] = time.perf_counter() - started
    started = time.perf_counter()
    _fill_run_storage(store, seeded)
    seeded.seconds["run_storage"] = time.perf_counter() - started
    return seeded


def _run_rows(seeded: Seeded, store: Any) -> list[tuple[str, int, int]]:
    """(run id, start time, seed) in run-id order: the metrics primary key's order."""
    from sqlalchemy import text

    with store.engine.connect() as conn:
        starts = dict(conn.execute(text("SELECT run_uuid, start_time FROM runs")).all())
    return [(r, int(starts[r]), int(r[:6], 16) % 10007) for r in sorted(seeded.run_ids)]


# value = a different walk in [0, 1) for each (run, key); the last step's values are spread
# uniformly over the runs, so `metrics.m1 > 0.5` matches about half of them.
_VALUE = "((s.step * 7919 + k.i * 104729 + c.seed) % 10007) / 10007.0"
_INSERT_POINTS = (
    "INSERT INTO metrics (run_uuid, key, step, timestamp, value, is_nan) "
    f"SELECT c.run_uuid, k.key, s.step, c.start_time + s.step * 1000, {_VALUE}, {{false}} "
)
_INSERT_LATEST = (
    "INSERT INTO latest_metrics (run_uuid, key, value, timestamp, step, is_nan) "
    f"SELECT c.run_uuid, k.key, {_VALUE}, c.start_time + s.step * 1000, s.step, {{false}} "
)


def _sqlite_histories(store: Any, seeded: Seeded, log: Callable[[str], None]) -> None:
    shape = seeded.shape
    path = store.engine.url.database
    store.engine.dispose()  # nothing else holds the file while it loads
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-1000000")
    conn.execute("CREATE TEMP TABLE k (i INTEGER, key TEXT)")
    conn.executemany("INSERT INTO k VALUES (?, ?)", list(enumerate(metric_keys(shape))))
    conn.execute("CREATE TEMP TABLE s (step INTEGER PRIMARY KEY)")
    conn.executemany("INSERT INTO s VALUES (?)", [(i,) for i in range(shape.steps)])
    conn.execute("CREATE TEMP TABLE c (run_uuid TEXT PRIMARY KEY, start_time INT, seed INT)")
    rows = _run_rows(seeded, store)
    per_chunk = max(1, CHUNK_POINTS // (shape.metrics * shape.steps))
    started = time.perf_counter()
    for first in range(0, len(rows), per_chunk):
        conn.execute("BEGIN")
        conn.execute("DELETE FROM c")
        conn.executemany("INSERT INTO c VALUES (?, ?, ?)", rows[first : first + per_chunk])
        conn.execute(
            _INSERT_POINTS.format(false=0) + "FROM c, k, s ORDER BY c.run_uuid, k.key, s.step"
        )
        conn.execute("COMMIT")
        _progress(log, first + per_chunk, len(rows), shape, started)
    conn.execute("BEGIN")
    conn.execute("DELETE FROM c")
    conn.executemany("INSERT INTO c VALUES (?, ?, ?)", rows)
    conn.execute(
        _INSERT_LATEST.format(false=0) + "FROM c, k, s WHERE s.step = ? ORDER BY c.run_uuid, k.key",
        (shape.steps - 1,),
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")
    for table in ("runs", "latest_metrics", "params", "tags", "experiments"):
        conn.execute(f"ANALYZE {table}")  # as the store does: the history is left out
    conn.close()


_PG_FROM = (
    "FROM unnest(%s::text[], %s::bigint[], %s::int[]) AS c(run_uuid, start_time, seed), "
    "unnest(%s::text[], %s::int[]) AS k(key, i), generate_series(%s::int, %s::int) AS s(step)"
)


def _pg(statement: str) -> str:
    """A statement for psycopg, whose placeholders make '%' the modulo operator '%%'."""
    return statement.format(false="false").replace("%", "%%")


def _postgresql_histories(store: Any, seeded: Seeded, log: Callable[[str], None]) -> None:
    import psycopg

    shape = seeded.shape
    url = store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    rows = _run_rows(seeded, store)
    per_chunk = max(1, CHUNK_POINTS // (shape.metrics * shape.steps))
    keys = metric_keys(shape)
    key_columns = (keys, list(range(len(keys))))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '2GB'")
        conn.execute("ALTER TABLE metrics DROP CONSTRAINT metrics_pk")
        started = time.perf_counter()
        for first in range(0, len(rows), per_chunk):
            chunk = [list(col) for col in zip(*rows[first : first + per_chunk], strict=True)]
            conn.execute(
                _pg(_INSERT_POINTS) + _PG_FROM,
                (*chunk, *key_columns, 0, shape.steps - 1),
            )
            _progress(log, first + per_chunk, len(rows), shape, started)
        log(f"  building the metrics primary key ({time.perf_counter() - started:.0f} s)")
        conn.execute(
            "ALTER TABLE metrics ADD CONSTRAINT metrics_pk "
            "PRIMARY KEY (run_uuid, key, step, timestamp, value, is_nan)"
        )
        every = [list(col) for col in zip(*rows, strict=True)]
        last = shape.steps - 1
        conn.execute(_pg(_INSERT_LATEST) + _PG_FROM, (*every, *key_columns, last, last))
        log(f"  latest_metrics; VACUUM ANALYZE ({time.perf_counter() - started:.0f} s)")
        conn.execute("VACUUM ANALYZE")
        log(f"  done ({time.perf_counter() - started:.0f} s)")


def _progress(log: Callable[[str], None], done: int, total: int, shape: Shape, t0: float) -> None:
    done = min(done, total)
    if done == total or done * 10 // total != (done - 1) * 10 // total:
        points = done * shape.metrics * shape.steps
        seconds = time.perf_counter() - t0
        log(f"  {points:,} points ({seconds:.0f} s, {points / max(seconds, 1e-9):,.0f}/s)")


def split_s3(uri: str) -> tuple[str, str]:
    """s3://bucket/key → (bucket, key)."""
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def write_artifacts(seeded: Seeded, s3: Any) -> int:
    """Each run's files: under its local artifact folder, or put into S3 (16 at a time)."""
    total = 0
    uploads: list[tuple[str, str, bytes]] = []
    for run_id in seeded.run_ids:
        uri = seeded.artifact_uri[run_id]
        for path, size in ARTIFACTS:
            body = artifact_body(run_id, path, size)
            total += len(body)
            if uri.startswith("s3://"):
                bucket, key = split_s3(f"{uri}/{path}")
                uploads.append((bucket, key, body))
            else:
                target = Path(local_path(uri)) / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(body)
    if uploads:
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda u: s3.put_object(Bucket=u[0], Key=u[1], Body=u[2]), uploads))
    return total


def local_path(uri: str) -> str:
    return uri[len("file://") :] if uri.startswith("file://") else uri


def _fill_run_storage(store: Any, seeded: Seeded) -> None:
    """What the writers keep in `run_storage` (schema 0008), when the schema has it."""
    from sqlalchemy import inspect, text

    if "run_storage" not in inspect(store.engine).get_table_names():
        return
    shape = seeded.shape
    points = shape.metrics * shape.steps
    rows = []
    for run_id in seeded.run_ids:
        sizes = [len(artifact_body(run_id, p, s)) for p, s in ARTIFACTS]
        rows.append({"r": run_id, "p": points, "b": sum(sizes), "f": len(sizes)})
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM run_storage"))
        conn.execute(
            text(
                "INSERT INTO run_storage (run_uuid, metric_points, artifact_bytes, "
                "artifact_files) VALUES (:r, :p, :b, :f)"
            ),
            rows,
        )


def drop_postgres_database(name: str) -> None:
    """Drop a benchmark database (through the admin database of benchmarks/backends.py)."""
    import psycopg

    with psycopg.connect(f"postgresql://{PG_HOST}/{PG_ADMIN_DB}", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def delete_runs(store: Any, run_ids: Sequence[str]) -> float:
    """Soft-delete through the store, as users do; the seconds it took."""
    started = time.perf_counter()
    for run_id in run_ids:
        store.delete_run(run_id)
    return time.perf_counter() - started


def register(registry: Any, run_ids: Sequence[str]) -> None:
    """One registered model version per run, its source `runs:/<id>/model`."""
    registry.create_registered_model("gc-bench-model")
    for run_id in run_ids:
        registry.create_model_version("gc-bench-model", f"runs:/{run_id}/model", run_id=run_id)


def file_sizes(root: str) -> dict[str, int]:
    """Every file under a local folder: relative path → bytes."""
    found = {}
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            found[os.path.relpath(path, root)] = os.path.getsize(path)
    return found


def bucket_sizes(s3: Any, prefix: str) -> dict[str, int]:
    """Every object in the buckets named `<prefix>-<n>`: 'bucket/key' → bytes."""
    found = {}
    for bucket in s3.list_buckets()["Buckets"]:
        if not bucket["Name"].startswith(f"{prefix}-"):
            continue
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
            for item in page.get("Contents", []):
                found[f"{bucket['Name']}/{item['Key']}"] = int(item["Size"])
    return found
