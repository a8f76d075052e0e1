"""`runs:/<run_id>/<name>` of a logged model through a live `cairn server`: the mlflow
client's `mlflow.artifacts.download_artifacts` / `list_artifacts` resolve it to the model
logged from that run (its files live under the LoggedModel, not the run), and so do
Cairn's own helpers over REST, for models logged with mlflow and with cairn."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sklearn.linear_model import LogisticRegression

import cairn

# mlflow.pyfunc warns about its own type hints when first imported; that is not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:.*Any type hint is inferred:UserWarning")

# What every sklearn model directory holds (the pickle's name depends on the serialization).
MODEL_FILES = {"MLmodel", "requirements.txt", "python_env.yaml"}


def _classifier() -> LogisticRegression:
    return LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])


@pytest.fixture
def cairn_remote(tracking_server: Any, workdir: Path) -> Iterator[None]:
    """Cairn's fluent API pointed at the live server."""
    cairn.set_tracking_uri(tracking_server.url)
    cairn.set_experiment(f"run-uris-{uuid.uuid4().hex[:12]}")
    yield


def _check_download(mlflow: Any, run_id: str, tmp_path: Path) -> None:
    uri = f"runs:/{run_id}/model"
    local = mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path / "mlflow"))
    assert MODEL_FILES <= set(os.listdir(local))
    listed = {f.path for f in mlflow.artifacts.list_artifacts(uri)}
    assert {f"model/{name}" for name in MODEL_FILES} <= listed
    mine = cairn.artifacts.download_artifacts(uri, dst_path=str(tmp_path / "cairn"))
    assert MODEL_FILES <= set(os.listdir(mine))
    assert {f.path for f in cairn.artifacts.list_artifacts(uri)} >= {"model/MLmodel"}
    one = cairn.artifacts.download_artifacts(f"{uri}/MLmodel")
    assert "flavors" in Path(one).read_text()


def test_a_model_logged_with_mlflow(mlflow: Any, cairn_remote: None, tmp_path: Path) -> None:
    mlflow.set_experiment(f"run-uris-mlflow-{uuid.uuid4().hex[:12]}")
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(_classifier(), name="model")
    _check_download(mlflow, run.info.run_id, tmp_path)


def test_a_model_logged_with_cairn(mlflow: Any, cairn_remote: None, tmp_path: Path) -> None:
    with cairn.start_run() as run:
        cairn.sklearn.log_model(_classifier(), name="model")
    _check_download(mlflow, run.info.run_id, tmp_path)
    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    assert model.predict([[3.0]]).tolist() == [1]
