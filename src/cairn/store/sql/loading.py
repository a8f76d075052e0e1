"""Rows to entities, in bulk: a page of runs costs seven queries, not seven per run."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.engine import Connection

from cairn.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    InputTag,
    Metric,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
)
from cairn.entities.run_columns import RunColumns
from cairn.store.sql.logged_models import model_outputs
from cairn.store.sql.schema import (
    datasets,
    experiment_tags,
    experiments,
    input_tags,
    inputs,
    latest_metrics,
    params,
    runs,
    tags,
)

_CHUNK = 2000
_NAN = float("nan")
RUN_COLUMNS = (
    runs.c.run_uuid,
    runs.c.experiment_id,
    runs.c.name,
    runs.c.user_id,
    runs.c.status,
    runs.c.start_time,
    runs.c.end_time,
    runs.c.artifact_uri,
    runs.c.lifecycle_stage,
)


def load_runs(conn: Connection, run_ids: Sequence[str]) -> list[Run]:
    """The runs with these ids, in the order given (unknown ids are skipped)."""
    found: dict[str, Run] = {}
    for start in range(0, len(run_ids), _CHUNK):
        found.update(_load_chunk(conn, run_ids[start : start + _CHUNK]))
    return [found[r] for r in run_ids if r in found]


def _fetch_for_runs(
    conn: Connection, table: Table, columns: Sequence[str], ids: Sequence[str]
) -> list[Any]:
    """Rows of `table` whose run_uuid is in `ids`, via the driver's cursor.

    Loading a page of 10,000 runs reads ~150,000 rows; SQLAlchemy's row objects would
    cost ten times what the driver's tuples do."""
    quote = conn.dialect.identifier_preparer.quote
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    column_sql = ", ".join(quote(c) for c in columns)
    sql = (
        f"SELECT {column_sql} FROM {quote(table.name)} "
        f"WHERE run_uuid IN ({', '.join([mark] * len(ids))})"
    )
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(sql, list(ids))
    rows = cursor.fetchall()
    cursor.close()
    return list(rows)


_RUN_COLUMN_NAMES = [c.name for c in RUN_COLUMNS]
_LATEST_COLUMNS = ["run_uuid", "key", "value", "timestamp", "step", "is_nan"]
_KEY_VALUE_COLUMNS = ["run_uuid", "key", "value"]


def _load_chunk(conn: Connection, ids: Sequence[str]) -> dict[str, Run]:
    ids = list(ids)
    infos = _fetch_for_runs(conn, runs, _RUN_COLUMN_NAMES, ids)
    if not infos:
        return {}
    metrics_by_run: dict[str, list[Metric]] = defaultdict(list)
    for run_id, key, value, timestamp, step, is_nan in _fetch_for_runs(
        conn, latest_metrics, _LATEST_COLUMNS, ids
    ):
        metrics_by_run[run_id].append(Metric(key, _NAN if is_nan else value, timestamp, step))
    params_by_run = _key_values(conn, params, ids)
    tags_by_run = _key_values(conn, tags, ids)
    inputs_by_run = _dataset_inputs(conn, ids)
    outputs_by_run = model_outputs(conn, ids)
    written_by_run = _dataset_inputs(conn, ids, outputs=True)
    result = {}
    for row in infos:
        run_id = row[0]
        info = run_info(row)
        data = RunData(
            tuple(metrics_by_run.get(run_id, ())),
            params_by_run.get(run_id) or {},
            tags_by_run.get(run_id) or {},
        )
        result[run_id] = Run(
            info,
            data,
            RunInputs(tuple(inputs_by_run.get(run_id, ()))),
            RunOutputs(
                tuple(outputs_by_run.get(run_id, ())), tuple(written_by_run.get(run_id, ()))
            ),
        )
    return result


def run_info(row: Any) -> RunInfo:
    """A RunInfo from a row of RUN_COLUMNS."""
    return RunInfo(
        run_id=row[0],
        experiment_id=str(row[1]),
        run_name=row[2] or "",
        user_id=row[3] or "",
        status=row[4],
        start_time=row[5],
        end_time=row[6],
        artifact_uri=row[7] or "",
        lifecycle_stage=row[8],
    )


def _key_values(conn: Connection, table: Table, ids: list[str]) -> dict[str, dict[str, str]]:
    grouped: dict[str, dict[str, str]] = defaultdict(dict)
    for run_id, key, value in _fetch_for_runs(conn, table, _KEY_VALUE_COLUMNS, ids):
        grouped[run_id][key] = value
    return grouped


def _dataset_inputs(
    conn: Connection, ids: list[str], outputs: bool = False
) -> dict[str, list[DatasetInput]]:
    """The datasets each run read, or (`outputs`) wrote; see inputs.link_row."""
    i, d = inputs.c, datasets.c
    run, stored = (i.source_id, i.destination_id) if outputs else (i.destination_id, i.source_id)
    side = i.source_type if outputs else i.destination_type
    rows = conn.execute(
        select(
            run,
            i.input_uuid,
            d.name,
            d.digest,
            d.dataset_source_type,
            d.dataset_source,
            d.dataset_schema,
            d.dataset_profile,
        )
        .join(datasets, d.dataset_uuid == stored)
        .where(side == "RUN", run.in_(ids))
        .order_by(d.name, d.digest)
    ).all()
    if not rows:
        return {}
    tag_rows = conn.execute(
        select(input_tags.c.input_uuid, input_tags.c.name, input_tags.c.value).where(
            input_tags.c.input_uuid.in_([r[1] for r in rows])
        )
    ).all()
    tags_by_input: dict[str, list[InputTag]] = defaultdict(list)
    for input_uuid, name, value in tag_rows:
        tags_by_input[input_uuid].append(InputTag(name, value))
    result: dict[str, list[DatasetInput]] = defaultdict(list)
    for run_id, input_uuid, *fields in rows:
        dataset = Dataset(*fields)
        result[run_id].append(DatasetInput(dataset, tuple(tags_by_input.get(input_uuid, ()))))
    return result


def load_experiments(conn: Connection, experiment_ids: Sequence[int]) -> list[Experiment]:
    """The experiments with these ids, with their tags, in the order given."""
    ids = list(experiment_ids)
    e = experiments.c
    rows = conn.execute(
        select(
            e.experiment_id,
            e.name,
            e.artifact_location,
            e.lifecycle_stage,
            e.creation_time,
            e.last_update_time,
        ).where(e.experiment_id.in_(ids))
    ).all()
    tag_map: dict[int, dict[str, str]] = defaultdict(dict)
    t = experiment_tags.c
    for experiment_id, key, value in conn.execute(
        select(t.experiment_id, t.key, t.value).where(t.experiment_id.in_(ids))
    ):
        tag_map[experiment_id][key] = value
    by_id = {
        row[0]: Experiment(
            experiment_id=str(row[0]),
            name=row[1],
            artifact_location=row[2] or "",
            lifecycle_stage=row[3],
            tags=tag_map.get(row[0], {}),
            creation_time=row[4],
            last_update_time=row[5],
        )
        for row in rows
    }
    return [by_id[i] for i in ids if i in by_id]


def load_columns(conn: Connection, run_ids: Sequence[str]) -> RunColumns:
    """The runs with these ids as columns, rows in the order given."""
    n = len(run_ids)
    row_of = {run_id: row for row, run_id in enumerate(run_ids)}
    table = RunColumns(
        run_ids=list(run_ids),
        experiment_ids=[""] * n,
        statuses=[""] * n,
        artifact_uris=[""] * n,
        start_times=[None] * n,
        end_times=[None] * n,
    )
    nan = _NAN
    for start in range(0, n, _CHUNK):
        ids = run_ids[start : start + _CHUNK]
        for run_id, experiment_id, status, uri, started, ended in _fetch_for_runs(
            conn, runs, _RUN_TABLE_COLUMNS, ids
        ):
            row = row_of[run_id]
            table.experiment_ids[row] = str(experiment_id)
            table.statuses[row] = status
            table.artifact_uris[row] = uri or ""
            table.start_times[row] = started
            table.end_times[row] = ended
        metric_column = table.metric_column
        for run_id, key, value, is_nan in _fetch_for_runs(
            conn, latest_metrics, _LATEST_VALUE_COLUMNS, ids
        ):
            metric_column(key)[row_of[run_id]] = nan if is_nan else value
        for group, source in ((table.params, params), (table.tags, tags)):
            for run_id, key, value in _fetch_for_runs(conn, source, _KEY_VALUE_COLUMNS, ids):
                column = group.get(key) or table.text_column(group, key)
                column[row_of[run_id]] = value
    return table


_RUN_TABLE_COLUMNS = [
    "run_uuid",
    "experiment_id",
    "status",
    "artifact_uri",
    "start_time",
    "end_time",
]
_LATEST_VALUE_COLUMNS = ["run_uuid", "key", "value", "is_nan"]
