"""Runs as a pandas DataFrame, in the column layout of `mlflow.search_runs`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cairn.entities import Run

if TYPE_CHECKING:
    import pandas


def runs_to_frame(runs: Sequence[Run]) -> pandas.DataFrame:
    """One row per run: run_id, experiment_id, status, artifact_uri, start_time, end_time,
    then `metrics.*`, `params.*`, `tags.*` columns (missing values are NaN / None)."""
    import pandas

    n = len(runs)
    columns: dict[str, Any] = {
        "run_id": [r.info.run_id for r in runs],
        "experiment_id": [r.info.experiment_id for r in runs],
        "status": [r.info.status for r in runs],
        "artifact_uri": [r.info.artifact_uri for r in runs],
        "start_time": pandas.to_datetime([r.info.start_time for r in runs], unit="ms", utc=True),
        "end_time": pandas.to_datetime([r.info.end_time for r in runs], unit="ms", utc=True),
    }
    metrics: dict[str, list[float]] = {}
    params: dict[str, list[str | None]] = {}
    tags: dict[str, list[str | None]] = {}
    nan = float("nan")
    for i, run in enumerate(runs):
        for metric in run.data.latest_metrics:
            column = metrics.get(metric.key)
            if column is None:
                column = metrics[metric.key] = [nan] * n
            column[i] = metric.value
        _spread(run.data.params, params, i, n)
        _spread(run.data.tags, tags, i, n)
    for prefix, group in (("metrics", metrics), ("params", params), ("tags", tags)):
        for key in sorted(group):
            columns[f"{prefix}.{key}"] = group[key]
    return pandas.DataFrame(columns)


def _spread(values: dict[str, str], into: dict[str, list[str | None]], row: int, rows: int) -> None:
    """Put one run's values into their columns, making a column the first time a key shows."""
    for key, value in values.items():
        column = into.get(key)
        if column is None:
            column = into[key] = [None] * rows
        column[row] = value
