"""What `cairn sync` promises to carry of a run, read in a form that compares with ==, and
a run filled with all of it.

`snapshot` reads a run's record, params, tags, full metric histories (NaN and infinities
compared by repr), datasets and artifact bytes.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import cairn
from cairn.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from cairn.tracking.sync_diff import dataset_identity


def files_of(client: cairn.Client, run_id: str, folder: str | None = None) -> dict[str, bytes]:
    """Every artifact file of the run: path -> bytes."""
    found: dict[str, bytes] = {}
    for entry in client.list_artifacts(run_id, folder):
        if entry.is_dir:
            found.update(files_of(client, run_id, entry.path))
            continue
        with tempfile.TemporaryDirectory() as scratch:
            local = client.download_artifacts(run_id, entry.path, scratch)
            found[entry.path] = Path(local).read_bytes()
    return found


def snapshot(client: cairn.Client, run_id: str) -> dict[str, Any]:
    """What sync must carry of a run, in a form that compares with ==."""
    run = client.get_run(run_id)
    info = run.info
    experiment = client.get_experiment(info.experiment_id)
    histories = {
        key: [(repr(m.value), m.timestamp, m.step) for m in client.get_metric_history(run_id, key)]
        for key in run.data.metrics
    }
    return {
        "experiment": experiment.name,
        "record": (info.run_id, info.run_name, info.user_id, info.status, info.start_time),
        "end_time": info.end_time,
        "params": run.data.params,
        "tags": run.data.tags,
        "histories": histories,
        "inputs": sorted(dataset_identity(d) for d in run.inputs.dataset_inputs),
        "outputs": sorted(dataset_identity(d) for d in run.outputs.dataset_outputs),
        "files": files_of(client, run_id),
    }


def fill_run(client: cairn.Client, run_id: str, scratch: Path, points: int = 20) -> None:
    """Params, tags, a history with NaN and infinities, a dataset in and out, nested files."""
    metrics = [Metric("loss", 1.0 / (i + 1), 1_700_000_000_000 + i, i) for i in range(points)]
    metrics += [
        Metric("odd", float("nan"), 1_700_000_000_000, 0),
        Metric("odd", float("inf"), 1_700_000_000_001, 1),
        Metric("odd", float("-inf"), 1_700_000_000_002, 2),
        Metric("odd", 0.5, 1_700_000_000_002, 2),  # same millisecond and step, another value
    ]
    params = [Param("lr", "0.01"), Param("layers", "3")]
    tags = [RunTag("team", "ml"), RunTag("stage", "dev")]
    client.log_batch(run_id, metrics, params, tags)
    dataset = Dataset("train", "d1g3st", "local", '{"uri": "train.csv"}', '{"x": "int"}', None)
    client.log_inputs(
        run_id, [DatasetInput(dataset, (InputTag("mlflow.data.context", "training"),))]
    )
    predictions = Dataset("predictions", "pr3d", "local", '{"uri": "p.csv"}')
    client.store.log_dataset_outputs(run_id, [DatasetInput(predictions, ())])
    (scratch / "model").mkdir(parents=True, exist_ok=True)
    (scratch / "model" / "weights.bin").write_bytes(os.urandom(300_000))
    (scratch / "model" / "nested").mkdir(exist_ok=True)
    (scratch / "model" / "nested" / "config.json").write_text('{"depth": 3}')
    client.log_artifacts(run_id, str(scratch / "model"), "model")
    client.log_text(run_id, "hello", "notes.txt")
