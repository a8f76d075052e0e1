"""`log_predictions`: the table lands in the run's artifacts, is recorded as the run's
dataset output with its row count and digest, and names the model version behind it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import cairn
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError
from cairn.tracking.predictions import record_predictions


@pytest.fixture
def features() -> pd.DataFrame:
    return pd.DataFrame({"age": [31, 45, 22, 60], "spend": [1.5, 0.2, 3.3, 0.9]})


def test_the_table_is_stored_and_recorded(workdir: Path, features: pd.DataFrame) -> None:
    predicted = np.array([1, 0, 1, 0])
    truth = pd.Series([1, 0, 0, 0], name="churned")
    with cairn.start_run() as run:
        recorded = cairn.Client().log_predictions(
            run.info.run_id, features, predicted, truth, name="test"
        )
    stored = cairn.Client().download_artifacts(run.info.run_id, "predictions/test.parquet")
    table = pd.read_parquet(stored)
    assert list(table.columns) == ["age", "spend", "prediction", "churned"]
    assert table["prediction"].tolist() == [1, 0, 1, 0]
    outputs = cairn.get_run(run.info.run_id).outputs.dataset_outputs
    assert [o.dataset for o in outputs] == [recorded]
    assert json.loads(recorded.profile or "{}")["num_rows"] == 4
    assert json.loads(recorded.source)["uri"] == f"runs:/{run.info.run_id}/predictions/test.parquet"
    assert {t.key: t.value for t in outputs[0].tags} == {"mlflow.data.context": "predictions"}
    assert cairn.get_run(run.info.run_id).inputs.dataset_inputs == ()


def test_predictions_name_the_registered_version(workdir: Path, features: pd.DataFrame) -> None:
    model = LogisticRegression().fit(features, [1, 0, 1, 0])
    with cairn.start_run():
        info = cairn.sklearn.log_model(model, "clf", registered_model_name="churn")
    cairn.Client().set_registered_model_alias("churn", "champion", 1)
    with cairn.start_run() as scoring:
        recorded = cairn.log_predictions(
            features, model.predict(features), model_uri="models:/churn@champion"
        )
        again = cairn.log_predictions(
            features, model.predict(features), model_uri="models:/churn@champion"
        )
    assert again.digest == recorded.digest
    (output,) = cairn.get_run(scoring.info.run_id).outputs.dataset_outputs  # stored once
    assert {t.key: t.value for t in output.tags} == {
        "mlflow.data.context": "predictions",
        "cairn.model.name": "churn",
        "cairn.model.version": "1",
        "cairn.model.id": info.model_id,
    }


def test_a_changed_prediction_changes_the_digest(workdir: Path, features: pd.DataFrame) -> None:
    with cairn.start_run():
        first = cairn.log_predictions(features, [1, 0, 1, 0], name="a")
        second = cairn.log_predictions(features, [1, 0, 1, 1], name="b")
    assert first.digest != second.digest


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"predictions": [1, 0]}, InvalidParameterValueError),
        ({"name": "../escape"}, InvalidParameterValueError),
        ({"model_uri": "runs:/abc/model"}, InvalidParameterValueError),
        ({"model_uri": "models:/nobody/1"}, ResourceDoesNotExistError),
    ],
)
def test_bad_calls_log_nothing(
    workdir: Path, features: pd.DataFrame, kwargs: dict[str, object], error: type[Exception]
) -> None:
    arguments: dict[str, object] = {"predictions": [1, 0, 1, 0], "name": "p", **kwargs}
    client = cairn.Client()
    with cairn.start_run() as run:
        with pytest.raises(error):
            record_predictions(client, run.info.run_id, features, **arguments)  # type: ignore[arg-type]
    assert client.list_artifacts(run.info.run_id, "predictions") == []
    assert cairn.get_run(run.info.run_id).outputs.dataset_outputs == ()
