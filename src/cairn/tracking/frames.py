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
        "end_time": pandas.to_datetime(
            [r.info.end_time for r in runs], unit="ms", utc=True
        ),
    }
    metrics: dict[str, list[float]] = {}
    params: dict[str, list[str | None]] = {}
    tags: dict[str, list[str | None]] = {}
    nan = float("nan")
    for i, run in enumerate(runs):
        for metric in run.data.latest_metrics:
            metrics.setdefault(metric.key, [nan] * n)[i] = metric.value
        for key, value in run.data.params.items():
            params.setdefault(key, [None] * n)[i] = value
        for key, value in run.data.tags.items():
            tags.setdefault(key, [None] * n)[i] = value
    for prefix, group in (("metrics", metrics), ("params", params), ("tags", tags)):
        for key in sorted(group):
            columns[f"{prefix}.{key}"] = group[key]
    return pandas.DataFrame(columns)
