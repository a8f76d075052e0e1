"""log_input: a dataset is stored once per experiment, shows up in run.inputs with its
context tag, and search_runs finds the run by dataset name, digest and context."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

import cairn
from cairn import data
from cairn.entities import Dataset as DatasetEntity
from cairn.exceptions import InvalidParameterValueError
from cairn.store.sql.tracking import SqlTrackingStore


def _stored_datasets(store: SqlTrackingStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM datasets")).scalar_one())


@pytest.fixture
def tracked(workdir: Path, sqlite_store: SqlTrackingStore) -> SqlTrackingStore:
    """Fluent calls go to a fresh, migrated SQLite store."""
    cairn.set_tracking_uri(sqlite_store.db_uri)
    return sqlite_store


def test_log_input_stores_the_dataset_once(tracked: SqlTrackingStore, tmp_path: Path) -> None:
    csv = tmp_path / "train.csv"
    csv.write_text("x,y\n1,0\n2,1\n")
    train = data.from_path(csv, targets="y")
    run_ids = []
    for _ in range(2):
        with cairn.start_run() as run:
            cairn.log_input(train, context="training")
            cairn.log_input(data.from_path(csv), context="training")  # rebuilt: same digest
            run_ids.append(run.info.run_id)
    assert _stored_datasets(tracked) == 1

    for run_id in run_ids:
        (logged,) = cairn.get_run(run_id).inputs.dataset_inputs
        assert logged.dataset == train.to_entity()
        assert {t.key: t.value for t in logged.tags} == {"mlflow.data.context": "training"}


def test_context_and_tags_become_input_tags(tracked: SqlTrackingStore) -> None:
    frame = data.from_pandas(pd.DataFrame({"x": [1.0, 2.0]}), name="eval-set")
    with cairn.start_run() as run:
        cairn.log_input(frame, context="eval", tags={"split": "holdout", "version": 3})
    (logged,) = cairn.get_run(run.info.run_id).inputs.dataset_inputs
    assert (logged.dataset.name, logged.dataset.digest) == ("eval-set", frame.digest)
    assert {t.key: t.value for t in logged.tags} == {
        "mlflow.data.context": "eval",
        "split": "holdout",
        "version": "3",
    }


def test_log_input_takes_an_entity_and_starts_a_run(tracked: SqlTrackingStore) -> None:
    entity = DatasetEntity("raw", "0123abcd", "s3", '{"uri": "s3://b/raw"}')
    cairn.log_input(entity)  # no active run: one is started, as MLflow does
    run = cairn.active_run()
    assert run is not None
    (logged,) = cairn.get_run(run.info.run_id).inputs.dataset_inputs
    assert logged.dataset == entity and logged.tags == ()


def test_search_runs_finds_runs_by_dataset(tracked: SqlTrackingStore) -> None:
    train = data.from_pandas(pd.DataFrame({"x": [1.0]}), name="train")
    test = data.from_pandas(pd.DataFrame({"x": [2.0]}), name="test")
    with cairn.start_run() as first:
        cairn.log_input(train, context="training")
    with cairn.start_run() as second:
        cairn.log_input(test, context="testing")

    def found(filter_string: str) -> list[str]:
        runs = cairn.search_runs(filter_string=filter_string, output_format="list")
        return [r.info.run_id for r in runs]  # type: ignore[union-attr]

    assert found("datasets.name = 'train'") == [first.info.run_id]
    assert found(f"datasets.digest = '{test.digest}'") == [second.info.run_id]
    assert found("datasets.context = 'testing'") == [second.info.run_id]
    assert found("dataset.name LIKE 't%'") == [second.info.run_id, first.info.run_id]


def test_the_client_method(sqlite_store: SqlTrackingStore) -> None:
    client = cairn.Client(sqlite_store.db_uri)
    run_id = client.create_run("0").info.run_id
    dataset = data.from_pandas(pd.DataFrame({"x": [1.0]}))
    client.log_input(run_id, dataset, context="training")
    client.log_input(run_id, dataset, context="training")
    (logged,) = client.get_run(run_id).inputs.dataset_inputs
    assert logged.dataset.digest == dataset.digest
    assert _stored_datasets(sqlite_store) == 1
    with pytest.raises(InvalidParameterValueError):  # the store's checks still apply
        client.log_input(run_id, DatasetEntity("x" * 501, "d", "local", "{}"))


def test_log_input_refuses_other_objects(tracked: SqlTrackingStore) -> None:
    with pytest.raises(InvalidParameterValueError, match="cairn.data Dataset"):
        cairn.log_input({"name": "train"})  # type: ignore[arg-type]
