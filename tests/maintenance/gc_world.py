"""A small world of runs for the garbage collector's tests: runs with every kind of row
(metrics, params, tags, dataset inputs, a logged model, a trace) and a few artifact files,
and ways to look at what is left afterwards (rows in every table, bytes on disk).

A plain module, not a conftest: the tests import it by name.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import sqlalchemy as sa

from cairn.artifact_store.uri import artifact_repository
from cairn.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelMetric,
    LoggedModelOutput,
    Metric,
    Param,
    RunTag,
)
from cairn.entities.trace import TraceInfo
from cairn.store.sql.tracking import SqlTrackingStore

STEPS = 20
KEYS = ("loss", "acc")


def make_run(
    store: SqlTrackingStore,
    experiment_id: str,
    tmp: Path,
    *,
    files: int = 2,
    model: bool = True,
    trace: bool = True,
) -> str:
    """A finished run with history, params, tags, a dataset input, `files` artifacts, a
    logged model of its own (with a file) and a trace linked to it."""
    run = store.create_run(experiment_id, "tester", 1000, [RunTag("team", "a")], None)
    run_id = run.info.run_id
    metrics = [Metric(k, float(s), 1000 + s, s) for k in KEYS for s in range(STEPS)]
    store.log_batch(run_id, metrics, [Param("lr", "0.1")], [RunTag("stage", "x")])
    dataset = Dataset(f"data-{run_id[-6:]}", run_id[:8], "local", "/tmp/data.csv")
    store.log_inputs(run_id, [DatasetInput(dataset, (InputTag("mlflow.data.context", "train"),))])
    repository = artifact_repository(run.info.artifact_uri)
    for i in range(files):
        local = tmp / f"{run_id}-{i}.txt"
        local.write_bytes(os.urandom(100 + 37 * i))
        repository.log_artifact(str(local), "outputs" if i % 2 else None)
    if model:
        logged = store.create_logged_model(experiment_id, "m", source_run_id=run_id)
        store.log_outputs(run_id, [LoggedModelOutput(logged.model_id, 1)])
        store.log_model_metrics(logged.model_id, [LoggedModelMetric("auc", 0.9, 1, 1, run_id)])
        weights = tmp / f"{logged.model_id}.bin"
        weights.write_bytes(os.urandom(64))
        artifact_repository(logged.artifact_uri).log_artifact(str(weights))
    if trace:
        trace_id = f"tr-{uuid.uuid4().hex}"
        store.traces.start_trace(TraceInfo(trace_id, experiment_id, 1000, tags={"t": "1"}))
        store.traces.link_traces_to_run([trace_id], run_id)
    return run_id


def model_of(store: SqlTrackingStore, run_id: str) -> str:
    with store.engine.connect() as conn:
        found = conn.execute(
            sa.text("SELECT model_id FROM logged_models WHERE source_run_id = :r"), {"r": run_id}
        ).scalar()
    assert found is not None
    return str(found)


def rows_naming(store: SqlTrackingStore, ident: str) -> dict[str, int]:
    """Rows that name `ident` (a run, model or experiment id), in every table of the
    database, found by reflection (so a table added later is checked too)."""
    found: dict[str, int] = {}
    text_columns = (
        "run_uuid",
        "run_id",
        "source_run_id",
        "model_id",
        "destination_id",
        "source_id",
        "value",
    )
    with store.engine.connect() as conn:
        inspector = sa.inspect(conn)
        for table in inspector.get_table_names():
            if table in ("alembic_version", "model_versions"):
                continue
            columns = {c["name"]: c["type"] for c in inspector.get_columns(table)}
            texts = {n for n, kind in columns.items() if isinstance(kind, sa.String)}
            wanted = [c for c in text_columns if c in texts]
            if ident.isdigit():
                wanted = [c for c in ("experiment_id",) if c in columns]
            if not wanted:
                continue
            where = " OR ".join(f"{c} = :ident" for c in wanted)
            count = conn.execute(
                sa.text(f"SELECT count(*) FROM {table} WHERE {where}"), {"ident": ident}
            ).scalar()
            if count:
                found[table] = int(count)
    return found


def trace_count(store: SqlTrackingStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM trace_info")).scalar() or 0)


def disk_usage(root: Path) -> tuple[int, int]:
    """(files, bytes) under `root`, each inode's bytes counted once (what the disk holds)."""
    files = 0
    seen: dict[tuple[int, int], int] = {}
    for folder, _dirs, names in os.walk(root):
        for name in names:
            info = os.lstat(os.path.join(folder, name))
            files += 1
            seen[(info.st_dev, info.st_ino)] = info.st_size
    return files, sum(seen.values())


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every file under `root`: (mtime in ns, sha256), to prove nothing was touched."""
    found = {}
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            found[str(path.relative_to(root))] = (
                path.stat().st_mtime_ns,
                hashlib.sha256(path.read_bytes()).hexdigest(),
            )
    return found


def run_folder(store: SqlTrackingStore, run_id: str) -> Path:
    uri = store.get_run(run_id).info.artifact_uri
    return Path(uri).parent
