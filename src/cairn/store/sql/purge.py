"""The SQL half of garbage collection (cairn.maintenance.gc): what is deleted and what
points at it, read in one snapshot, and the removal of rows, set-based, per batch.

A batch of runs goes in ONE transaction, children first (metrics has no foreign key, so
its rows would otherwise outlive the run): there is never a run without its history nor a
history without its run, whenever the process stops. Every removal re-checks, inside its
transaction, that what it removes is still deleted and that no registered model version
has come to point at it since the plan was made.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, delete, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from cairn.entities import LifecycleStage
from cairn.entities.trace import SOURCE_RUN_METADATA
from cairn.store.sql.schema import (
    datasets,
    experiment_permissions,
    experiment_tags,
    experiments,
    input_tags,
    inputs,
    latest_metrics,
    logged_model_metrics,
    logged_model_params,
    logged_model_tags,
    logged_models,
    metric_rollup_state,
    metric_rollups,
    metrics,
    model_versions,
    params,
    run_outputs,
    runs,
    tags,
    trace_assessments,
    trace_info,
    trace_metadata,
    trace_spans,
    trace_tags,
)

DELETED = LifecycleStage.DELETED
# Ids per IN list: under every driver's limit on bound parameters.
_CHUNK = 500
# The tables keyed by run_uuid, besides runs itself and metrics (counted apart).
_RUN_CHILDREN = (latest_metrics, metric_rollups, metric_rollup_state, params, tags, run_outputs)
_TRACE_CHILDREN = (trace_assessments, trace_spans, trace_metadata, trace_tags)
_MODEL_CHILDREN = (logged_model_tags, logged_model_params, logged_model_metrics, run_outputs)


@dataclass(frozen=True)
class RunRow:
    run_id: str
    experiment_id: int
    artifact_uri: str
    lifecycle_stage: str
    deleted_time: int | None


@dataclass(frozen=True)
class ModelRow:
    model_id: str
    experiment_id: int
    artifact_location: str
    lifecycle_stage: str
    source_run_id: str | None
    last_updated: int


@dataclass(frozen=True)
class ExperimentRow:
    experiment_id: int
    name: str
    artifact_location: str
    lifecycle_stage: str
    last_update_time: int | None


@dataclass(frozen=True)
class VersionRow:
    """A registered model version: what it may point to."""

    name: str
    version: int
    run_id: str | None
    model_id: str | None
    source: str


@dataclass(frozen=True)
class RowsRemoved:
    """What one removal took: the ids actually removed, metric points and traces."""

    ids: list[str]
    metric_points: int = 0
    traces: int = 0


def chunks(items: Sequence[str], size: int = _CHUNK) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


# -- reading: the plan's snapshot -------------------------------------------------------------

_RUN_COLUMNS = (
    runs.c.run_uuid,
    runs.c.experiment_id,
    runs.c.artifact_uri,
    runs.c.lifecycle_stage,
    runs.c.deleted_time,
)


def _run_rows(conn: Connection, stmt: Select[Any]) -> list[RunRow]:
    return [
        RunRow(str(r), int(e), str(a or ""), str(s), None if d is None else int(d))
        for r, e, a, s, d in conn.execute(stmt)
    ]


def runs_by_id(conn: Connection, run_ids: Sequence[str]) -> list[RunRow]:
    found: list[RunRow] = []
    for chunk in chunks(sorted(set(run_ids))):
        found += _run_rows(conn, select(*_RUN_COLUMNS).where(runs.c.run_uuid.in_(chunk)))
    return found


def deleted_runs(
    conn: Connection, cutoff_ms: int | None, experiment_ids: Sequence[int] | None
) -> list[RunRow]:
    """Runs deleted at or before `cutoff_ms` (None: whenever), oldest first; only in
    `experiment_ids` unless None. A run deleted before deletion times were recorded (NULL)
    counts only when there is no cutoff, as in MLflow."""
    stmt = select(*_RUN_COLUMNS).where(runs.c.lifecycle_stage == DELETED)
    if cutoff_ms is not None:
        stmt = stmt.where(runs.c.deleted_time <= cutoff_ms)
    if experiment_ids is not None:
        if not experiment_ids:
            return []
        stmt = stmt.where(runs.c.experiment_id.in_(sorted(set(experiment_ids))))
    return _run_rows(conn, stmt.order_by(runs.c.deleted_time, runs.c.run_uuid))


def runs_of_experiments(conn: Connection, experiment_ids: Sequence[int]) -> list[RunRow]:
    """Every run of these experiments, whatever its stage."""
    if not experiment_ids:
        return []
    stmt = select(*_RUN_COLUMNS).where(runs.c.experiment_id.in_(sorted(set(experiment_ids))))
    return _run_rows(conn, stmt.order_by(runs.c.deleted_time, runs.c.run_uuid))


def run_locations(conn: Connection) -> Iterator[tuple[str, str]]:
    """(run id, artifact location) of every run, streamed: the survivors' side of the plan."""
    result = conn.execution_options(yield_per=5000).execute(
        select(runs.c.run_uuid, runs.c.artifact_uri).where(runs.c.artifact_uri.is_not(None))
    )
    for run_id, location in result:
        yield str(run_id), str(location)


def all_experiments(conn: Connection) -> list[ExperimentRow]:
    e = experiments.c
    stmt = select(
        e.experiment_id, e.name, e.artifact_location, e.lifecycle_stage, e.last_update_time
    )
    return [
        ExperimentRow(int(i), str(n), str(a or ""), str(s), None if t is None else int(t))
        for i, n, a, s, t in conn.execute(stmt)
    ]


def all_logged_models(conn: Connection) -> list[ModelRow]:
    m = logged_models.c
    stmt = select(
        m.model_id,
        m.experiment_id,
        m.artifact_location,
        m.lifecycle_stage,
        m.source_run_id,
        m.last_updated_timestamp_ms,
    )
    return [
        ModelRow(str(i), int(e), str(a or ""), str(s), None if r is None else str(r), int(t))
        for i, e, a, s, r, t in conn.execute(stmt)
    ]


def registered_versions(conn: Connection) -> list[VersionRow]:
    v = model_versions.c
    stmt = select(v.name, v.version, v.run_id, v.model_id, v.source)
    return [
        VersionRow(str(n), int(ver), r or None, m or None, str(s or ""))
        for n, ver, r, m, s in conn.execute(stmt)
    ]


def model_users(conn: Connection, model_ids: Sequence[str]) -> dict[str, set[str]]:
    """model id → the runs that list it as an output or logged metrics of it."""
    users: dict[str, set[str]] = {}
    for chunk in chunks(sorted(set(model_ids))):
        o, lm = run_outputs.c, logged_model_metrics.c
        pairs = list(conn.execute(select(o.model_id, o.run_uuid).where(o.model_id.in_(chunk))))
        pairs += conn.execute(
            select(lm.model_id, lm.run_uuid)
            .where(lm.model_id.in_(chunk), lm.run_uuid != "")
            .distinct()
        )
        for model_id, run_id in pairs:
            users.setdefault(str(model_id), set()).add(str(run_id))
    return users


def count_run_rows(conn: Connection, run_ids: Sequence[str]) -> tuple[int, set[str]]:
    """(metric points, trace ids) that removing these runs would remove (a dry run's)."""
    _by_index(conn)
    points = 0
    traces: set[str] = set()
    for chunk in chunks(run_ids):
        points += int(
            conn.execute(select(func.count()).where(metrics.c.run_uuid.in_(chunk))).scalar() or 0
        )
        traces.update(_traces_of_runs(conn, chunk))
    return points, traces


def experiment_traces(conn: Connection, experiment_id: int) -> set[str]:
    """The ids of the experiment's traces (a dry run's figures)."""
    stmt = select(trace_info.c.trace_id).where(trace_info.c.experiment_id == experiment_id)
    return {str(t) for t in conn.execute(stmt).scalars()}


def _traces_of_runs(conn: Connection, run_ids: Sequence[str]) -> list[str]:
    """The traces linked to `run_ids` in each run's own experiment: a trace that another
    experiment keeps and links to the run is that experiment's to delete, not the run's."""
    t, i, r = trace_metadata.c, trace_info.c, runs.c
    stmt = (
        select(t.trace_id)
        .join(trace_info, i.trace_id == t.trace_id)
        .join(runs, r.run_uuid == t.value)
        .where(
            t.key == SOURCE_RUN_METADATA,
            t.value.in_(run_ids),
            i.experiment_id == r.experiment_id,
        )
    )
    return [str(i) for i in conn.execute(stmt).scalars()]


# -- removing ------------------------------------------------------------------------------


def _still_deleted_runs(conn: Connection, run_ids: Sequence[str]) -> list[str]:
    """The runs among `run_ids` that are still deleted and that no registered version
    names by run_id, locked for this transaction where the database can lock rows."""
    r, v = runs.c, model_versions.c
    found: list[str] = []
    for chunk in chunks(run_ids):
        rows = conn.execute(
            select(r.run_uuid)
            .where(r.run_uuid.in_(chunk), r.lifecycle_stage == DELETED)
            .with_for_update()
        ).scalars()
        registered = set(conn.execute(select(v.run_id).where(v.run_id.in_(chunk))).scalars())
        found += [str(i) for i in rows if i not in registered]
    return found


def _by_index(conn: Connection) -> None:
    """Make PostgreSQL read a batch's histories through their index for the rest of the
    transaction. An IN list of 100 runs is estimated, without fresh statistics of the
    metric history (search never reads it, so nothing analyses it), at half the table:
    a full scan for every batch, 2x slower on a small store and ruinous on a large one."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")


def delete_runs(conn: Connection, run_ids: Sequence[str]) -> RowsRemoved:
    """Remove these runs and every row of theirs, in the caller's transaction; runs restored
    (or registered) meanwhile are left alone. Call with a batch (~100 runs)."""
    _by_index(conn)
    ids = _still_deleted_runs(conn, run_ids)
    if not ids:
        return RowsRemoved([])
    traces = _delete_traces(conn, _traces_of_runs(conn, ids))
    points = int(conn.execute(delete(metrics).where(metrics.c.run_uuid.in_(ids))).rowcount or 0)
    for table in _RUN_CHILDREN:
        conn.execute(delete(table).where(table.c.run_uuid.in_(ids)))
    conn.execute(delete(logged_model_metrics).where(logged_model_metrics.c.run_uuid.in_(ids)))
    i = inputs.c
    _delete_inputs(
        conn,
        or_(
            and_(i.destination_type == "RUN", i.destination_id.in_(ids)),
            and_(i.source_type == "RUN", i.source_id.in_(ids)),
        ),
    )
    # Tables added later that hang off runs go by their ON DELETE CASCADE.
    conn.execute(delete(runs).where(runs.c.run_uuid.in_(ids)))
    return RowsRemoved(ids, points, traces)


def _delete_inputs(conn: Connection, where: ColumnElement[bool]) -> None:
    found = [str(i) for i in conn.execute(select(inputs.c.input_uuid).where(where)).scalars()]
    for chunk in chunks(found):
        conn.execute(delete(input_tags).where(input_tags.c.input_uuid.in_(chunk)))
        conn.execute(delete(inputs).where(inputs.c.input_uuid.in_(chunk)))


def _delete_traces(conn: Connection, trace_ids: Sequence[str]) -> int:
    ids = sorted(set(trace_ids))
    for chunk in chunks(ids):
        for table in _TRACE_CHILDREN:
            conn.execute(delete(table).where(table.c.trace_id.in_(chunk)))
        conn.execute(delete(trace_info).where(trace_info.c.trace_id.in_(chunk)))
    return len(ids)


def delete_logged_models(conn: Connection, model_ids: Sequence[str]) -> RowsRemoved:
    """Remove these logged models and their rows, except any a registered version has come
    to name by model_id since the plan was made."""
    v = model_versions.c
    ids: list[str] = []
    for chunk in chunks(model_ids):
        present = set(
            conn.execute(
                select(logged_models.c.model_id)
                .where(logged_models.c.model_id.in_(chunk))
                .with_for_update()
            ).scalars()
        )
        present -= set(conn.execute(select(v.model_id).where(v.model_id.in_(chunk))).scalars())
        ids += sorted(str(i) for i in present)
    for chunk in chunks(ids):
        for table in _MODEL_CHILDREN:
            conn.execute(delete(table).where(table.c.model_id.in_(chunk)))
        conn.execute(delete(logged_models).where(logged_models.c.model_id.in_(chunk)))
    return RowsRemoved(ids)


def delete_experiment(conn: Connection, experiment_id: int) -> RowsRemoved:
    """Remove a deleted experiment that has no runs and no logged models left, with its
    traces, datasets, tags and permissions, so its name is free again. Nothing is removed
    (empty ids) when it was restored or something of it remains."""
    e = experiments.c
    stage = conn.execute(
        select(e.lifecycle_stage).where(e.experiment_id == experiment_id).with_for_update()
    ).scalar()
    if stage != DELETED or experiment_id == 0:
        return RowsRemoved([])
    for table in (runs, logged_models):
        left = select(table.c.experiment_id).where(table.c.experiment_id == experiment_id)
        if conn.execute(left.limit(1)).first():
            return RowsRemoved([])
    trace_ids = conn.execute(
        select(trace_info.c.trace_id).where(trace_info.c.experiment_id == experiment_id)
    ).scalars()
    traces = _delete_traces(conn, [str(t) for t in trace_ids])
    dataset_ids = select(datasets.c.dataset_uuid).where(datasets.c.experiment_id == experiment_id)
    i = inputs.c
    _delete_inputs(
        conn,
        or_(
            and_(i.source_type == "DATASET", i.source_id.in_(dataset_ids)),
            and_(i.destination_type == "DATASET", i.destination_id.in_(dataset_ids)),
        ),
    )
    for table in (datasets, experiment_tags, experiment_permissions):
        conn.execute(delete(table).where(table.c.experiment_id == experiment_id))
    conn.execute(delete(experiments).where(e.experiment_id == experiment_id))
    return RowsRemoved([str(experiment_id)], 0, traces)
