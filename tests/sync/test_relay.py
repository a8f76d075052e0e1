"""`cairn relay` driven by the real mlflow client: runs reach the central server with their
ids, and logging goes on while the central server is down; once it is back, everything
arrives, exactly once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sync_processes import eventually, start_relay, start_server, stop

import cairn
from cairn.exceptions import ResourceDoesNotExistError
from local_processes import free_port

POINTS = 30


@pytest.fixture
def mlflow(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    for name in (
        "MLFLOW_TRACKING_URI",
        "MLFLOW_EXPERIMENT_ID",
        "MLFLOW_EXPERIMENT_NAME",
        "MLFLOW_RUN_ID",
    ):
        monkeypatch.delenv(name, raising=False)
    import mlflow

    yield mlflow
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


def _train(mlflow: Any, scratch: Path, name: str) -> str:
    """One run through the mlflow client: params, a history, a file."""
    scratch.mkdir(parents=True, exist_ok=True)
    artifact = scratch / f"{name}.txt"
    artifact.write_text(f"artifact of {name}")
    with mlflow.start_run(run_name=name) as run:
        mlflow.log_param("lr", 0.01)
        for step in range(POINTS):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_artifact(str(artifact))
    return str(run.info.run_id)


def _arrived(central: cairn.Client, run_id: str, name: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            run = central.get_run(run_id)
        except (ResourceDoesNotExistError, ConnectionError):
            return False
        if run.info.status != "FINISHED":
            return False
        if len(central.get_metric_history(run_id, "loss")) < POINTS:
            return False
        return any(f.path == f"{name}.txt" for f in central.list_artifacts(run_id))

    return check


def _check_copy(central: cairn.Client, run_id: str, name: str, scratch: Path) -> None:
    run = central.get_run(run_id)
    assert run.info.run_name == name and run.data.params == {"lr": "0.01"}
    history = central.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == list(range(POINTS))  # each point exactly once
    local = central.download_artifacts(run_id, f"{name}.txt", str(scratch / "download" / name))
    assert Path(local).read_text() == f"artifact of {name}"


def test_the_relay_forwards_and_outlives_the_central_server(mlflow: Any, tmp_path: Path) -> None:
    central_port, relay_port = free_port(), free_port()
    server = start_server(tmp_path / "central", central_port)
    relay = start_relay(tmp_path / "relay", relay_port, central_port)
    central = cairn.Client(f"http://127.0.0.1:{central_port}")
    log = tmp_path / "relay" / "relay.log"
    try:
        mlflow.set_tracking_uri(f"http://127.0.0.1:{relay_port}")
        mlflow.set_experiment("relayed")  # not an experiment id an earlier test left set
        first = _train(mlflow, tmp_path / "scratch", "before")
        assert eventually(_arrived(central, first, "before"), relay)
        _check_copy(central, first, "before", tmp_path)

        # A run under way when the central server dies: half its points reach it first.
        run = mlflow.start_run(run_name="during")
        second = run.info.run_id
        mlflow.log_param("lr", 0.01)
        for step in range(POINTS // 2):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        assert eventually(lambda: _points(central, second) == POINTS // 2, relay)
        stop(server, kill=True)
        for step in range(POINTS // 2, POINTS):  # training goes on against the relay
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        artifact = tmp_path / "scratch" / "during.txt"
        artifact.write_text("artifact of during")
        mlflow.log_artifact(str(artifact))
        mlflow.end_run()
        assert eventually(lambda: "cannot forward" in log.read_text(), relay)  # it tried

        server = start_server(tmp_path / "central", central_port)  # same port, same database
        assert eventually(_arrived(central, second, "during"), relay)
        _check_copy(central, second, "during", tmp_path)
        _check_copy(central, first, "before", tmp_path)
        assert relay.poll() is None
    finally:
        stop(relay)
        stop(server)
    printed = log.read_text()
    assert f"Relay listening on http://127.0.0.1:{relay_port}" in printed
    assert f"Forwarding to http://127.0.0.1:{central_port}" in printed
    assert "is reachable again" in printed and "Traceback" not in printed


def _points(central: cairn.Client, run_id: str) -> int:
    try:
        return len(central.get_metric_history(run_id, "loss"))
    except (ResourceDoesNotExistError, ConnectionError):
        return 0
