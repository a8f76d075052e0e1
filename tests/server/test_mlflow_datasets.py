"""Datasets across the wire: MLflow's own `mlflow.data` + `mlflow.log_input` against a live
`cairn server` (read back through Cairn), and Cairn's datasets read by MLflow's client."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import cairn
from cairn import data

# mlflow 3.17.2's pandas digest calls `DataFrame.all(0)`, which pandas 3 warns about
# (filterwarnings=error turns that into a failure); it is MLflow's code, not ours.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Starting with pandas version 4.0 all arguments of all:pandas.errors.Pandas4Warning"
)


def test_mlflow_log_input_shows_up_in_cairn(
    mlflow: Any, client: Any, cairn_client: cairn.Client
) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "label": [0, 1, 0]})
    dataset = mlflow.data.from_pandas(frame)  # MLflow's defaults: code source, its digest
    mlflow.set_experiment(f"datasets-{uuid.uuid4().hex[:12]}")
    with mlflow.start_run() as run:
        mlflow.log_input(dataset, context="training")
        mlflow.log_input(dataset, context="training")

    (stored,) = cairn_client.get_run(run.info.run_id).inputs.dataset_inputs
    expected = dataset.to_dict()
    assert stored.dataset.name == expected["name"] == "dataset"
    assert stored.dataset.digest == expected["digest"]
    assert stored.dataset.source_type == "code"
    assert (stored.dataset.source, stored.dataset.schema, stored.dataset.profile) == (
        expected["source"],
        expected["schema"],
        expected["profile"],
    )
    assert {t.key: t.value for t in stored.tags} == {"mlflow.data.context": "training"}
    found = cairn_client.search_runs(
        [run.info.experiment_id], filter_string="datasets.context = 'training'"
    )
    assert [r.info.run_id for r in found] == [run.info.run_id]


def test_cairn_datasets_read_by_mlflow(
    mlflow: Any, client: Any, cairn_client: cairn.Client, tmp_path: Path
) -> None:
    """Cairn's source JSON is MLflow's: `mlflow.data.get_source` resolves it."""
    path = tmp_path / "train.csv"
    path.write_text("x,label\n1.0,0\n2.0,1\n")
    dataset = data.from_path(path, targets="label")
    experiment_id = cairn_client.create_experiment(f"cairn-datasets-{uuid.uuid4().hex[:12]}")
    run_id = cairn_client.create_run(experiment_id).info.run_id
    cairn_client.log_input(run_id, dataset, context="training")

    (logged,) = client.get_run(run_id).inputs.dataset_inputs
    assert (logged.dataset.name, logged.dataset.digest) == ("train.csv", dataset.digest)
    assert {t.key: t.value for t in logged.tags} == {"mlflow.data.context": "training"}
    source = mlflow.data.get_source(logged)
    assert source.uri == path.resolve().as_uri()
    found = client.search_runs(
        [experiment_id], filter_string=f"dataset.digest = '{dataset.digest}'"
    )
    assert [r.info.run_id for r in found] == [run_id]
