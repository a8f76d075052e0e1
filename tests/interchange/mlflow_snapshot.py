"""What the real mlflow client sees of a store, as plain data: the yardstick of the import
tests. Two stores that give equal snapshots look the same to an MLflow user: experiments,
every run's record, params, tags, every history point, datasets, artifact bytes, and the
registry's versions, stages, aliases, tags and descriptions.

Where things live (artifact URIs, version sources) is left out: an import moves them.
Run as `python mlflow_snapshot.py URI` (in a subprocess: the mlflow client keeps state and
warns from inside SQLAlchemy when it opens a database itself); it prints JSON.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import ViewType


def snapshot(tracking_uri: str, artifacts: bool = True) -> dict[str, Any]:
    client = MlflowClient(tracking_uri)
    experiments = client.search_experiments(view_type=ViewType.ALL, max_results=1000)
    shot: dict[str, Any] = {"experiments": {}, "runs": {}, "registry": {}}
    for experiment in experiments:
        shot["experiments"][experiment.name] = {
            "id": experiment.experiment_id,
            "lifecycle_stage": experiment.lifecycle_stage,
            "tags": dict(experiment.tags),
            "creation_time": experiment.creation_time,
        }
        runs = client.search_runs(
            [experiment.experiment_id], run_view_type=ViewType.ALL, max_results=1000
        )
        for run in runs:
            shot["runs"][run.info.run_id] = _run(client, run, artifacts)
    for model in client.search_registered_models():
        versions = client.search_model_versions(f"name = '{model.name}'")
        shot["registry"][model.name] = {
            "description": model.description or "",
            "tags": dict(model.tags),
            "aliases": {k: str(v) for k, v in model.aliases.items()},
            "creation_timestamp": model.creation_timestamp,
            "versions": {
                v.version: {
                    "stage": v.current_stage,
                    "run_id": v.run_id,
                    "description": v.description or "",
                    "tags": dict(v.tags),
                    "creation_timestamp": v.creation_timestamp,
                }
                for v in versions
            },
        }
    return shot


def _run(client: MlflowClient, run: Any, artifacts: bool) -> dict[str, Any]:
    info = run.info
    histories = {
        key: [
            (m.step, m.timestamp, _value(m.value))
            for m in sorted(
                client.get_metric_history(info.run_id, key), key=lambda m: (m.step, m.timestamp)
            )
        ]
        for key in run.data.metrics
    }
    return {
        "experiment_id": info.experiment_id,
        "name": info.run_name,
        "user_id": info.user_id,
        "status": info.status,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "lifecycle_stage": info.lifecycle_stage,
        "params": dict(run.data.params),
        "tags": dict(run.data.tags),
        "histories": histories,
        "datasets": sorted(
            (d.dataset.name, d.dataset.digest, tuple(sorted((t.key, t.value) for t in d.tags)))
            for d in run.inputs.dataset_inputs
        ),
        "files": _files(client, info.run_id) if artifacts else None,
    }


def _value(value: float) -> object:
    return "nan" if math.isnan(value) else value


def _files(client: MlflowClient, run_id: str) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as scratch:
        try:
            root = client.download_artifacts(run_id, "", scratch)
        except Exception:  # a run with no files at all
            return {}
        found = {}
        for folder, _, names in os.walk(root):
            for name in names:
                path = os.path.join(folder, name)
                with open(path, "rb") as stream:
                    digest = hashlib.sha256(stream.read()).hexdigest()
                found[os.path.relpath(path, root)] = digest
        return found


if __name__ == "__main__":
    import json
    import sys

    json.dump(snapshot(sys.argv[1], artifacts="--no-files" not in sys.argv), sys.stdout)
