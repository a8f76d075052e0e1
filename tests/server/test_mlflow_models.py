"""MLflow 3's model logging through a live `cairn server`, with the real mlflow client:
`mlflow.sklearn.log_model` creates a LoggedModel, uploads its files through the artifact
proxy and finalises it; `mlflow.pyfunc.load_model` reads it back by `models:/<id>` and by
`runs:/<run>/<name>`. Cairn's own client then reads what MLflow wrote."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import cairn
from cairn.entities import LoggedModelStatus

# mlflow.pyfunc warns about its own type hints when first imported; that is not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:.*Any type hint is inferred:UserWarning")


def _trained() -> tuple[LogisticRegression, np.ndarray]:
    rng = np.random.default_rng(7)
    features = rng.normal(size=(60, 4))
    labels = (features[:, 0] + features[:, 1] > 0).astype(int)
    return LogisticRegression().fit(features, labels), features


def _experiment(mlflow: Any) -> str:
    return str(mlflow.set_experiment(f"models-{uuid.uuid4().hex[:12]}").experiment_id)


def test_sklearn_model_logged_and_loaded_through_the_server(
    mlflow: Any, cairn_client: cairn.Client
) -> None:
    model, features = _trained()
    experiment_id = _experiment(mlflow)
    with mlflow.start_run() as run:
        mlflow.log_metric("accuracy", 0.93)
        info = mlflow.sklearn.log_model(model, name="classifier", input_example=features[:3])
    expected = model.predict(features)

    by_id = mlflow.pyfunc.load_model(info.model_uri)
    assert np.array_equal(by_id.predict(features), expected)
    by_run = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/classifier")
    assert np.array_equal(by_run.predict(features), expected)

    stored = cairn_client.get_logged_model(info.model_id)
    assert stored.status is LoggedModelStatus.READY
    assert (stored.name, stored.source_run_id, stored.experiment_id) == (
        "classifier",
        run.info.run_id,
        experiment_id,
    )
    assert stored.artifact_uri.endswith(f"/models/{info.model_id}/artifacts")
    assert {m.key: m.value for m in stored.metrics} == {"accuracy": 0.93}
    outputs = cairn_client.get_run(run.info.run_id).outputs.model_outputs
    assert [o.model_id for o in outputs] == [info.model_id]


def test_logged_models_are_searched_tagged_and_deleted(mlflow: Any, client: Any) -> None:
    model, features = _trained()
    experiment_id = _experiment(mlflow)
    ids = []
    for accuracy in (0.7, 0.9):
        with mlflow.start_run():
            mlflow.log_metric("accuracy", accuracy)
            ids.append(mlflow.sklearn.log_model(model, name=f"m{accuracy}").model_id)

    best = client.search_logged_models(
        experiment_ids=[experiment_id],
        filter_string="metrics.accuracy > 0.8",
        order_by=[{"field_name": "metrics.accuracy", "ascending": False}],
    )
    assert [m.model_id for m in best] == [ids[1]]

    client.set_logged_model_tags(ids[0], {"reviewed": "yes"})
    client.log_model_params(ids[0], {"C": "1.0"})
    got = client.get_logged_model(ids[0])
    assert got.tags.get("reviewed") == "yes" and got.params == {"C": "1.0"}
    client.delete_logged_model_tag(ids[0], "reviewed")
    assert "reviewed" not in client.get_logged_model(ids[0]).tags

    client.delete_logged_model(ids[0])
    with pytest.raises(mlflow.exceptions.MlflowException) as raised:
        client.get_logged_model(ids[0])
    assert raised.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    remaining = client.search_logged_models(experiment_ids=[experiment_id])
    assert [m.model_id for m in remaining] == [ids[1]]


def test_bad_logged_model_calls_get_mlflow_error_codes(mlflow: Any, client: Any) -> None:
    experiment_id = _experiment(mlflow)
    with pytest.raises(mlflow.exceptions.MlflowException) as unknown:
        client.get_logged_model("m-" + "0" * 32)
    assert unknown.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(mlflow.exceptions.MlflowException) as bad_filter:
        client.search_logged_models(experiment_ids=[experiment_id], filter_string="metrics.x >")
    assert bad_filter.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(mlflow.exceptions.MlflowException) as no_experiment:
        client.create_logged_model(experiment_id="987654321")
    assert no_experiment.value.error_code == "RESOURCE_DOES_NOT_EXIST"
