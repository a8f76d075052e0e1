"""What a server stored, read from its SQLite file, against what the training logged.

"lost" is logged − stored distinct points, run by run; "duplicated" is stored rows −
distinct (run, key, step, timestamp, value). The metrics table's primary key spans all of
those columns, so an exact repeat cannot become a row; a replay that stored a point again
with a new timestamp could, so repeated (run, key, step) are counted too (every step is
logged once per run here).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DISTINCT_POINTS = """
SELECT run_uuid, COUNT(*) FROM (SELECT DISTINCT run_uuid, key, step, timestamp, value
FROM metrics) GROUP BY run_uuid
"""
DISTINCT_STEPS = """
SELECT run_uuid, COUNT(*) FROM (SELECT DISTINCT run_uuid, key, step FROM metrics)
GROUP BY run_uuid
"""


@dataclass
class Stored:
    """Per run: rows, distinct points, distinct steps, the last point's time; the runs."""

    rows: dict[str, int] = field(default_factory=dict)
    distinct: dict[str, int] = field(default_factory=dict)
    steps: dict[str, int] = field(default_factory=dict)
    last_point: dict[str, int] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    params: dict[str, dict[str, str]] = field(default_factory=dict)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)


def read(database: Path) -> Stored:
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        stored = Stored()
        for run_id, rows, last in connection.execute(
            "SELECT run_uuid, COUNT(*), MAX(timestamp) FROM metrics GROUP BY run_uuid"
        ):
            stored.rows[run_id], stored.last_point[run_id] = rows, last
        stored.distinct = dict(connection.execute(DISTINCT_POINTS).fetchall())
        stored.steps = dict(connection.execute(DISTINCT_STEPS).fetchall())
        for run_id, name, status, start, end in connection.execute(
            "SELECT run_uuid, name, status, start_time, end_time FROM runs"
        ):
            stored.runs[run_id] = {"name": name, "status": status, "start": start, "end": end}
        for table, into in (("params", stored.params), ("tags", stored.tags)):
            for run_id, key, value in connection.execute(
                f"SELECT run_uuid, key, value FROM {table}"
            ):
                into.setdefault(run_id, {})[key] = value
        return stored
    finally:
        connection.close()


def tally(
    stored: Stored, logged: dict[str, int], keys: Iterable[tuple[str, str]] = ()
) -> dict[str, Any]:
    """Points and runs: logged, stored, lost, duplicated; runs that ended FINISHED; runs
    missing a (`table`, `key`) in `keys` (`table` is "params" or "tags")."""
    lost = sum(max(0, count - stored.distinct.get(run_id, 0)) for run_id, count in logged.items())
    extra = sum(max(0, stored.distinct.get(run_id, 0) - count) for run_id, count in logged.items())
    rows = sum(stored.rows.get(run_id, 0) for run_id in logged)
    distinct = sum(stored.distinct.get(run_id, 0) for run_id in logged)
    steps = sum(stored.steps.get(run_id, 0) for run_id in logged)
    runs = [stored.runs[run_id] for run_id in logged if run_id in stored.runs]
    missing = {
        f"{table}.{key}": sum(
            1 for run_id in logged if key not in getattr(stored, table).get(run_id, {})
        )
        for table, key in keys
    }
    return {
        "points_logged": sum(logged.values()),
        "points_stored": distinct,
        "points_lost": lost,
        "points_unexpected": extra,
        "duplicated_rows": rows - distinct,
        "duplicated_steps": rows - steps,
        "runs_created": len(logged),
        "runs_stored": len(runs),
        "runs_finished": sum(1 for run in runs if run["status"] == "FINISHED"),
        "runs_missing": missing,
    }
