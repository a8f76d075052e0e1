"""Cairn's own API on the embedded default store (`workdir`: no configuration, ./cairn-data):

* `cairn.log_metric(..., model_id=…, dataset=…)` makes the point a metric of the logged
  model as well as of the run (MLflow 3), so `search_logged_models` filters on it;
* `runs:/<run_id>/<name>` reaches the model logged from the run under that name, in
  `cairn.artifacts.download_artifacts` / `list_artifacts` and the Client's, while a real
  run folder of that name still wins (MLflow's runs_artifact_repo order).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sklearn.linear_model import LogisticRegression

import cairn
from cairn.exceptions import ResourceDoesNotExistError


def _classifier() -> LogisticRegression:
    return LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])


def _client() -> cairn.Client:
    return cairn.Client(cairn.get_tracking_uri())


def test_log_metric_with_model_id_reaches_the_logged_model(workdir: Path) -> None:
    with cairn.start_run() as run:
        info = cairn.sklearn.log_model(_classifier(), name="model")
        cairn.log_metric("rmse", 0.12, model_id=info.model_id)
        cairn.log_metric("plain", 1.0)
    experiment = run.info.experiment_id
    found = _client().search_logged_models([experiment], filter_string="metrics.rmse < 1")
    assert [m.model_id for m in found] == [info.model_id]
    assert _client().search_logged_models([experiment], filter_string="metrics.rmse > 1") == []
    model = _client().get_logged_model(info.model_id)
    assert [(m.key, m.value, m.run_id) for m in model.metrics] == [("rmse", 0.12, run.info.run_id)]
    # The run has the point as well, and the plain metric reached the run only.
    assert _client().get_run(run.info.run_id).data.metrics == {"rmse": 0.12, "plain": 1.0}


def test_log_metric_with_dataset_records_it_on_the_model_and_the_run(workdir: Path) -> None:
    import pandas

    dataset = cairn.data.from_pandas(pandas.DataFrame({"x": [1, 2]}), name="eval")
    with cairn.start_run() as run:
        info = cairn.sklearn.log_model(_classifier(), name="model")
        cairn.log_metrics({"acc": 0.9, "f1": 0.8}, model_id=info.model_id, dataset=dataset)
        cairn.log_metric("acc", 0.95, step=1, model_id=info.model_id, dataset=dataset)
    model = _client().get_logged_model(info.model_id)
    assert sorted((m.key, m.step, m.dataset_name) for m in model.metrics) == [
        ("acc", 0, "eval"),
        ("acc", 1, "eval"),
        ("f1", 0, "eval"),
    ]
    assert {m.dataset_digest for m in model.metrics} == {dataset.digest}
    inputs = _client().get_run(run.info.run_id).inputs.dataset_inputs
    assert [(i.dataset.name, i.dataset.digest) for i in inputs] == [("eval", dataset.digest)]


def test_log_metric_with_an_unknown_model_id_is_refused(workdir: Path) -> None:
    with cairn.start_run():
        with pytest.raises(ResourceDoesNotExistError):
            cairn.log_metric("rmse", 0.1, model_id="m-" + "0" * 32)


def test_client_log_metric_takes_mlflows_model_fields(workdir: Path) -> None:
    client = _client()
    with cairn.start_run() as run:
        info = cairn.sklearn.log_model(_classifier(), name="model")
    client.log_metric(
        run.info.run_id,
        "loss",
        0.5,
        step=3,
        dataset_name="d",
        dataset_digest="abc",
        model_id=info.model_id,
    )
    (point,) = client.get_logged_model(info.model_id).metrics
    assert (point.key, point.value, point.step, point.dataset_name, point.dataset_digest) == (
        "loss",
        0.5,
        3,
        "d",
        "abc",
    )


# -- runs:/<run_id>/<name> of a logged model -----------------------------------------------


def test_runs_uri_of_a_logged_model_downloads_and_lists_it(workdir: Path, tmp_path: Path) -> None:
    with cairn.start_run() as run:
        cairn.sklearn.log_model(_classifier(), name="model")
    uri = f"runs:/{run.info.run_id}/model"
    local = cairn.artifacts.download_artifacts(uri, dst_path=str(tmp_path / "out"))
    assert local == str(tmp_path / "out" / "model")
    files = set(os.listdir(local))
    assert {"MLmodel", "model.pkl", "requirements.txt"} <= files
    listed = {f.path for f in cairn.artifacts.list_artifacts(uri)}
    assert {"model/MLmodel", "model/model.pkl", "model/requirements.txt"} <= listed
    # One file inside the model, by URI and by run id + path (the Client's own methods).
    one = cairn.artifacts.download_artifacts(f"{uri}/MLmodel")
    assert os.path.basename(one) == "MLmodel" and "flavors" in Path(one).read_text()
    client = _client()
    assert os.path.isfile(
        os.path.join(client.download_artifacts(run.info.run_id, "model"), "MLmodel")
    )
    assert {f.path for f in client.list_artifacts(run.info.run_id, "model")} == listed
    assert cairn.pyfunc.load_model(uri).predict([[3.0]]).tolist() == [1]


def test_a_run_folder_of_the_same_name_wins(workdir: Path, tmp_path: Path) -> None:
    note = tmp_path / "note.txt"
    note.write_text("the run's own")
    with cairn.start_run() as run:
        cairn.sklearn.log_model(_classifier(), name="model")
        cairn.log_artifact(str(note), "model")
    uri = f"runs:/{run.info.run_id}/model"
    assert [f.path for f in cairn.artifacts.list_artifacts(uri)] == ["model/note.txt"]
    local = cairn.artifacts.download_artifacts(uri)
    assert os.listdir(local) == ["note.txt"]


def test_a_missing_name_is_still_not_found(workdir: Path) -> None:
    with cairn.start_run() as run:
        cairn.sklearn.log_model(_classifier(), name="model")
    with pytest.raises(ResourceDoesNotExistError):
        cairn.artifacts.download_artifacts(f"runs:/{run.info.run_id}/other")
    assert cairn.artifacts.list_artifacts(f"runs:/{run.info.run_id}/other") == []
    # A model of that name logged from another run is not this run's.
    with cairn.start_run() as second:
        pass
    with pytest.raises(ResourceDoesNotExistError):
        cairn.artifacts.download_artifacts(f"runs:/{second.info.run_id}/model")
