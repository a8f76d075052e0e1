"""How much a run and an experiment hold: metric points, and bytes and files of artifacts.

Kept as things are written (cairn.store.sql.storage), so reading them never walks an
artifact store or counts the metrics table; `cairn storage --recount` corrects any drift.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RunStorage:
    """One run's figures. `metric_points` counts points as they were logged (an exact
    repeat of a stored point, which the store keeps once, counts again until a recount)."""

    experiment_id: str
    metric_points: int = 0
    artifact_bytes: int = 0
    artifact_files: int = 0


@dataclass(frozen=True, slots=True)
class ExperimentStorage:
    """An experiment's totals over every run it holds, deleted ones included (their rows
    and files stay until `cairn gc` removes them), and over its logged models' files:
    `artifact_bytes` and `artifact_files` are the runs' plus the models'."""

    runs: int = 0
    deleted_runs: int = 0
    logged_models: int = 0
    metric_points: int = 0
    artifact_bytes: int = 0
    artifact_files: int = 0
    model_artifact_bytes: int = 0
