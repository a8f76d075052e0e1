"""Storage figures as JSON, for `GET /ajax-api/2.0/cairn/storage` (cairn.server.storage_api)
and the REST client that reads it (`cairn storage` against a server).

    {"experiments": {"1": {"runs", "deleted_runs", "logged_models", "metric_points",
                           "artifact_bytes", "artifact_files", "model_artifact_bytes"}},
     "runs": {"<run id>": {"experiment_id", "metric_points", "artifact_bytes",
                           "artifact_files"}}}

Figures are JSON numbers (a byte count of 2**53 would be 8 PiB).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cairn.entities.storage import ExperimentStorage, RunStorage
from cairn.exceptions import InvalidParameterValueError
from cairn.wire.scalars import parse_int

_EXPERIMENT_FIELDS = (
    "runs",
    "deleted_runs",
    "logged_models",
    "metric_points",
    "artifact_bytes",
    "artifact_files",
    "model_artifact_bytes",
)
_RUN_FIELDS = ("metric_points", "artifact_bytes", "artifact_files")


def storage_to_json(
    experiments: Mapping[str, ExperimentStorage], runs: Mapping[str, RunStorage]
) -> dict[str, Any]:
    return {
        "experiments": {
            e: {name: getattr(s, name) for name in _EXPERIMENT_FIELDS}
            for e, s in experiments.items()
        },
        "runs": {
            r: {"experiment_id": s.experiment_id, **{n: getattr(s, n) for n in _RUN_FIELDS}}
            for r, s in runs.items()
        },
    }


def experiments_from_json(body: Mapping[str, Any]) -> dict[str, ExperimentStorage]:
    return {
        str(e): ExperimentStorage(**_figures(f"experiments.{e}", item, _EXPERIMENT_FIELDS))
        for e, item in _section(body, "experiments").items()
    }


def runs_from_json(body: Mapping[str, Any]) -> dict[str, RunStorage]:
    found = {}
    for run_id, item in _section(body, "runs").items():
        figures = _figures(f"runs.{run_id}", item, _RUN_FIELDS)
        found[str(run_id)] = RunStorage(str(item.get("experiment_id", "")), **figures)
    return found


def _section(body: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name) or {}
    if not isinstance(value, dict):
        raise InvalidParameterValueError(f"Invalid value for '{name}': expected an object.")
    return value


def _figures(path: str, item: Any, names: tuple[str, ...]) -> dict[str, int]:
    if not isinstance(item, dict):
        raise InvalidParameterValueError(f"Invalid value for '{path}': expected an object.")
    return {name: parse_int(f"{path}.{name}", item.get(name, 0)) for name in names}
