"""Under `--auth` a run records who authenticated, not who the client says it is: `user_id`
and the `mlflow.user` tag are the authenticated user, and a different claim is kept in the
`cairn.client_user_id` tag. Without auth the client's word stands, as in MLflow. Through a
real `cairn server`, with the real mlflow client and Cairn's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from live_server import LiveServer, start_server
from test_auth import PASSWORD, basic, call, create_user

import cairn

CLIENT_TAG = "cairn.client_user_id"
LAPTOP_USER = "laptop-user"  # the operating-system user the clients report


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("run-user"), "--auth")
    try:
        create_user(live.database, "trainer")
        yield live
    finally:
        live.stop()


def _run(server: LiveServer, run_id: str) -> dict[str, Any]:
    reply = call(server, "GET", "/runs/get", {"run_id": run_id}, basic("trainer"))
    assert reply.status == 200, reply.body
    run: dict[str, Any] = reply.json()["run"]
    return run


def _tags(run: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


def test_a_run_created_over_rest_records_the_authenticated_user(server: LiveServer) -> None:
    made = call(server, "POST", "/experiments/create", {"name": "rest"}, basic("trainer"))
    experiment = made.json()["experiment_id"]
    claims = {
        "experiment_id": experiment,
        "user_id": "somebody-else",
        "tags": [{"key": "mlflow.user", "value": "somebody-else"}],
    }
    created = call(server, "POST", "/runs/create", claims, basic("trainer"))
    assert created.status == 200, created.body
    run = _run(server, created.json()["run"]["info"]["run_id"])
    assert run["info"]["user_id"] == "trainer"
    assert _tags(run)["mlflow.user"] == "trainer"
    assert _tags(run)[CLIENT_TAG] == "somebody-else"
    honest = {"experiment_id": experiment, "user_id": "trainer"}
    created = call(server, "POST", "/runs/create", honest, basic("trainer"))
    run = _run(server, created.json()["run"]["info"]["run_id"])
    assert run["info"]["user_id"] == "trainer" and CLIENT_TAG not in _tags(run)
    forged = {**honest, "tags": [{"key": CLIENT_TAG, "value": "forged"}]}
    created = call(server, "POST", "/runs/create", forged, basic("trainer"))
    assert CLIENT_TAG not in _tags(_run(server, created.json()["run"]["info"]["run_id"]))


def test_the_mlflow_client(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{server.port}")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "trainer")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    for name in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    import mlflow

    client = mlflow.MlflowClient()
    experiment = client.create_experiment("by-mlflow")
    # MLflow 3.17 reports MLFLOW_TRACKING_USERNAME as the user when it is set: no conflict.
    with mlflow.start_run(experiment_id=experiment) as plain:
        mlflow.log_metric("loss", 0.5)
    run = client.get_run(plain.info.run_id)
    assert run.info.user_id == "trainer" and CLIENT_TAG not in run.data.tags
    # A claim of its own (the tag MLflow's client derives `user_id` from) is not believed.
    with mlflow.start_run(experiment_id=experiment, tags={"mlflow.user": LAPTOP_USER}) as own:
        mlflow.log_metric("loss", 0.5)
    run = client.get_run(own.info.run_id)
    assert run.info.user_id == "trainer"
    assert run.data.tags["mlflow.user"] == "trainer"
    assert run.data.tags[CLIENT_TAG] == LAPTOP_USER


def test_cairns_client(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAIRN_TRACKING_USERNAME", "trainer")
    monkeypatch.setenv("CAIRN_TRACKING_PASSWORD", PASSWORD)
    client = cairn.Client(f"http://127.0.0.1:{server.port}")
    experiment = client.create_experiment("by-cairn")
    own = client.create_run(experiment)
    assert own.info.user_id == "trainer" and CLIENT_TAG not in own.data.tags
    claimed = client.create_run(experiment, tags={"mlflow.user": LAPTOP_USER})
    run = client.get_run(claimed.info.run_id)
    assert run.info.user_id == "trainer"
    assert run.data.tags["mlflow.user"] == "trainer"
    assert run.data.tags[CLIENT_TAG] == LAPTOP_USER


def test_without_auth_the_clients_word_stands(tmp_path: Path) -> None:
    live = start_server(tmp_path / "open")
    try:
        made = live.call("POST", "/experiments/create", {"name": "open"})
        experiment = made.json()["experiment_id"]
        claims = {"experiment_id": experiment, "user_id": LAPTOP_USER}
        created = live.call("POST", "/runs/create", claims)
        assert created.status == 200, created.body
        info = created.json()["run"]["info"]
        assert info["user_id"] == LAPTOP_USER
        tags = live.call("GET", "/runs/get", {"run_id": info["run_id"]}).json()["run"]["data"]
        assert CLIENT_TAG not in {t["key"] for t in tags.get("tags", [])}
    finally:
        live.stop()
