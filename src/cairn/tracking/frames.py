"""Search results as a pandas DataFrame, in the column layout of `mlflow.search_runs`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cairn.entities.run_columns import RunColumns

if TYPE_CHECKING:
    import pandas


def to_frame(table: RunColumns) -> pandas.DataFrame:
    """One row per run: run_id, experiment_id, status, artifact_uri, start_time, end_time,
    then `metrics.*`, `params.*`, `tags.*` columns in key order (missing: NaN / None)."""
    import pandas

    columns: dict[str, Any] = {
        "run_id": table.run_ids,
        "experiment_id": table.experiment_ids,
        "status": table.statuses,
        "artifact_uri": table.artifact_uris,
        "start_time": pandas.to_datetime(table.start_times, unit="ms", utc=True),
        "end_time": pandas.to_datetime(table.end_times, unit="ms", utc=True),
    }
    for prefix, group in (
        ("metrics", table.metrics),
        ("params", table.params),
        ("tags", table.tags),
    ):
        for key in sorted(group):
            columns[f"{prefix}.{key}"] = group[key]
    return pandas.DataFrame(columns)
