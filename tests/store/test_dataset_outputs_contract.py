"""Datasets a run produced (its predictions): Cairn's addition to the TrackingStore contract,
on SQLite, PostgreSQL and MariaDB, and over REST (tests/rest/test_rest_contract.py)."""

from __future__ import annotations

import pytest

from cairn.entities import Dataset, DatasetInput, InputTag
from cairn.exceptions import ResourceDoesNotExistError
from cairn.store.base import TrackingStore

PREDICTIONS = Dataset("preds", "abc123", "artifact", '{"uri": "runs:/r/predictions/p.parquet"}')
TRAINING = Dataset("train", "def456", "local", '{"uri": "file:///data/train.csv"}')


def _tagged(dataset: Dataset, context: str) -> DatasetInput:
    return DatasetInput(dataset, (InputTag("mlflow.data.context", context),))


def test_outputs_are_kept_apart_from_inputs(store: TrackingStore) -> None:
    experiment_id = store.create_experiment("outputs")
    run_id = store.create_run(experiment_id, "tester", 1_000, [], None).info.run_id
    store.log_inputs(run_id, [_tagged(TRAINING, "training")])
    store.log_dataset_outputs(run_id, [_tagged(PREDICTIONS, "predictions")])
    store.log_dataset_outputs(run_id, [_tagged(PREDICTIONS, "predictions")])  # stored once
    run = store.get_run(run_id)
    assert [d.dataset for d in run.outputs.dataset_outputs] == [PREDICTIONS]
    assert run.outputs.dataset_outputs[0].tags == (InputTag("mlflow.data.context", "predictions"),)
    assert [d.dataset for d in run.inputs.dataset_inputs] == [TRAINING]
    # `datasets.` search keys mean what a run read, as in MLflow.
    assert [
        r.info.run_id for r in store.search_runs([experiment_id], "datasets.digest = 'def456'")
    ] == [run_id]
    assert list(store.search_runs([experiment_id], "datasets.digest = 'abc123'")) == []


def test_outputs_need_an_existing_run(store: TrackingStore) -> None:
    with pytest.raises(ResourceDoesNotExistError):
        store.log_dataset_outputs("0123456789abcdef0123456789abcdef", [_tagged(PREDICTIONS, "p")])
