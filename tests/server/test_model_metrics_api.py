"""`runs/log-metric` with `model_id`, `dataset_name` and `dataset_digest` (MLflow 3): the
point reaches the logged model as well as the run, through the real mlflow client and
Cairn's REST store against a live `cairn server`; and under `--auth` a point can only be
written into a model of another experiment by a user who may edit that experiment."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from live_server import LiveServer, start_server
from test_auth import basic, call, create_user, users_cli

import cairn
from cairn.store.rest.tracking import RestTrackingStore


def test_mlflow_log_metric_with_model_id_reaches_the_model(mlflow: Any, client: Any) -> None:
    mlflow.set_experiment("log-metric-model-id")
    with mlflow.start_run() as run:
        model = mlflow.create_external_model(name="scored")
        mlflow.log_metric("rmse", 0.12, model_id=model.model_id)
        mlflow.log_metric("other", 5.0)
    experiment = run.info.experiment_id
    found = mlflow.search_logged_models(
        experiment_ids=[experiment], filter_string="metrics.rmse < 1", output_format="list"
    )
    assert [m.model_id for m in found] == [model.model_id]
    assert (
        mlflow.search_logged_models(
            experiment_ids=[experiment], filter_string="metrics.rmse > 1", output_format="list"
        )
        == []
    )
    metrics = client.get_logged_model(model.model_id).metrics
    assert [(m.key, m.value, m.run_id) for m in metrics] == [("rmse", 0.12, run.info.run_id)]
    assert client.get_run(run.info.run_id).data.metrics == {"rmse": 0.12, "other": 5.0}


# MLflow's pandas digest calls DataFrame.all positionally, which pandas warns about (the
# suite turns warnings into failures); that is MLflow's code, not ours.
@pytest.mark.filterwarnings(
    "ignore:Starting with pandas version 4.0 all arguments of all:pandas.errors.Pandas4Warning"
)
def test_mlflow_log_metric_with_a_dataset(mlflow: Any, client: Any) -> None:
    import pandas

    mlflow.set_experiment("log-metric-dataset")
    dataset = mlflow.data.from_pandas(pandas.DataFrame({"x": [1, 2, 3]}), name="holdout")
    with mlflow.start_run() as run:
        model = mlflow.create_external_model(name="scored")
        mlflow.log_metric("acc", 0.9, step=2, model_id=model.model_id, dataset=dataset)
    (point,) = client.get_logged_model(model.model_id).metrics
    assert (point.key, point.value, point.step, point.run_id) == (
        "acc",
        0.9,
        2,
        run.info.run_id,
    )
    assert (point.dataset_name, point.dataset_digest) == ("holdout", dataset.digest)


def test_log_metric_naming_a_missing_model_writes_nothing(mlflow: Any, client: Any) -> None:
    with mlflow.start_run() as run:
        with pytest.raises(mlflow.exceptions.MlflowException) as raised:
            client.log_metric(run.info.run_id, "rmse", 0.1, model_id="m-" + "0" * 32)
    assert raised.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert client.get_run(run.info.run_id).data.metrics == {}


def test_cairn_client_over_rest_links_the_point(tracking_server: Any, mlflow: Any) -> None:
    client = cairn.Client(tracking_server.url)
    assert isinstance(client.store, RestTrackingStore)
    experiment = client.create_experiment("cairn-over-rest-model-metric")
    run = client.create_run(experiment)
    model = client.create_logged_model(experiment, name="scored")
    client.log_metric(
        run.info.run_id,
        "loss",
        0.25,
        step=1,
        dataset_name="eval",
        dataset_digest="d1",
        model_id=model.model_id,
    )
    found = mlflow.search_logged_models(
        experiment_ids=[experiment], filter_string="metrics.loss < 1", output_format="list"
    )
    assert [m.model_id for m in found] == [model.model_id]
    (point,) = found[0].metrics
    assert (point.step, point.dataset_name, point.dataset_digest) == (1, "eval", "d1")


# -- under --auth ---------------------------------------------------------------------------

ADMIN = basic("admin")


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Experiments A (admin only) and B (EDIT for `editor`), a run in B, a model in each."""
    server = start_server(tmp_path_factory.mktemp("model-metric-auth"), "--auth")
    try:
        create_user(server.database, "admin", "--admin")
        create_user(server.database, "editor")
        ids = {}
        for name in ("A", "B"):
            reply = call(server, "POST", "/experiments/create", {"name": name}, ADMIN)
            assert reply.status == 200, reply.body
            ids[name] = reply.json()["experiment_id"]
        done = users_cli(server.database, "grant", "editor", ids["B"], "EDIT")
        assert done.returncode == 0, done.stderr
        run = call(server, "POST", "/runs/create", {"experiment_id": ids["B"]}, basic("editor"))
        assert run.status == 200, run.body
        models = {}
        for name in ("A", "B"):
            made = call(
                server, "POST", "/logged-models", {"experiment_id": ids[name], "name": name}, ADMIN
            )
            assert made.status == 200, made.body
            models[name] = made.json()["model"]["info"]["model_id"]
        yield {
            "server": server,
            "experiments": ids,
            "run": run.json()["run"]["info"]["run_id"],
            "models": models,
        }
    finally:
        server.stop()


def _point(run: str, model_id: str, key: str) -> dict[str, Any]:
    return {"run_id": run, "key": key, "value": 1.5, "timestamp": 1, "model_id": model_id}


def _model_metrics(server: LiveServer, model_id: str) -> list[str]:
    reply = call(server, "GET", f"/logged-models/{model_id}", None, ADMIN)
    assert reply.status == 200, reply.body
    return [m["key"] for m in reply.json()["model"]["data"].get("metrics", [])]


def test_auth_refuses_points_into_a_model_of_an_experiment_not_editable(
    auth_server: dict[str, Any],
) -> None:
    server, run, models = auth_server["server"], auth_server["run"], auth_server["models"]
    editor = basic("editor")
    single = call(server, "POST", "/runs/log-metric", _point(run, models["A"], "x"), editor)
    assert single.status == 403, single.body
    assert single.json()["error_code"] == "PERMISSION_DENIED"
    batch = {"run_id": run, "metrics": [_point(run, models["A"], "y")]}
    refused = call(server, "POST", "/runs/log-batch", batch, editor)
    assert refused.status == 403 and refused.json()["error_code"] == "PERMISSION_DENIED"
    assert _model_metrics(server, models["A"]) == []
    # Nothing reached the run either: the check comes before any write.
    got = call(server, "GET", "/runs/get", {"run_id": run}, editor).json()
    assert got["run"]["data"].get("metrics", []) == []


def test_auth_allows_the_runs_own_experiment_and_granted_ones(
    auth_server: dict[str, Any],
) -> None:
    server, run, models = auth_server["server"], auth_server["run"], auth_server["models"]
    editor = basic("editor")
    own = call(server, "POST", "/runs/log-metric", _point(run, models["B"], "b"), editor)
    assert own.status == 200, own.body
    assert _model_metrics(server, models["B"]) == ["b"]
    # An admin may link anything; so may the editor once granted EDIT on A.
    by_admin = call(server, "POST", "/runs/log-metric", _point(run, models["A"], "a1"), ADMIN)
    assert by_admin.status == 200, by_admin.body
    experiment_a = auth_server["experiments"]["A"]
    done = users_cli(server.database, "grant", "editor", experiment_a, "READ")
    assert done.returncode == 0, done.stderr
    read_only = call(server, "POST", "/runs/log-metric", _point(run, models["A"], "a2"), editor)
    assert read_only.status == 403
    done = users_cli(server.database, "grant", "editor", experiment_a, "EDIT")
    assert done.returncode == 0, done.stderr
    granted = call(server, "POST", "/runs/log-metric", _point(run, models["A"], "a2"), editor)
    assert granted.status == 200, granted.body
    assert sorted(_model_metrics(server, models["A"])) == ["a1", "a2"]
