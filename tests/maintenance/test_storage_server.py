"""Storage figures through a live `cairn server`: the real mlflow client logs points and
files through the artifact proxy, the server keeps the figures (the client records
nothing: no double count), `GET …/cairn/storage` and `cairn storage` show them, a recount
of the server's database and destination agrees; under `--auth` each experiment asked
about needs READ."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression
from storage_support import (
    PROXY,
    Server,
    basic,
    create_user,
    files_under,
    start_server,
    users_cli,
)

from local_processes import CLI

# mlflow.pyfunc warns about its own type hints when first imported; that is not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:.*Any type hint is inferred:UserWarning")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("storage-server"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def mlflow(server: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    for name in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    import mlflow

    yield mlflow
    while mlflow.active_run() is not None:
        mlflow.end_run()


def _cairn(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI, *args], capture_output=True, text=True, timeout=120
    )


def _figures(server: Server, experiment_id: str, **query: str) -> dict[str, Any]:
    status, body = server.storage(experiment_ids=experiment_id, **query)
    assert status == 200, body
    return dict(body)


def test_the_mlflow_client_through_the_proxy(server: Server, mlflow: Any, tmp_path: Path) -> None:
    experiment_id = mlflow.create_experiment("through-the-proxy")
    (tmp_path / "weights.bin").write_bytes(b"w" * 3000)
    (tmp_path / "tree" / "deep").mkdir(parents=True)
    (tmp_path / "tree" / "a.txt").write_text("a" * 10)
    (tmp_path / "tree" / "deep" / "b.txt").write_text("b" * 20)
    with mlflow.start_run(experiment_id=experiment_id) as run:
        for step in range(25):
            mlflow.log_metric("loss", 1 / (step + 1), step=step)
        mlflow.log_metrics({"accuracy": 0.9, "f1": 0.8})
        mlflow.log_artifact(str(tmp_path / "weights.bin"), "model")
        (tmp_path / "weights.bin").write_bytes(b"w" * 1000)
        mlflow.log_artifact(str(tmp_path / "weights.bin"), "model")  # replaced: smaller
        mlflow.log_artifacts(str(tmp_path / "tree"), "tree")
        mlflow.log_text("notes", "notes.md")
        fitted = LinearRegression().fit(np.array([[0.0], [1.0]]), np.array([0.0, 1.0]))
        info = mlflow.sklearn.log_model(fitted, name="regressor")
    run_id = run.info.run_id
    run_bytes, run_files = files_under(server.destination / experiment_id / run_id / "artifacts")
    model_folder = server.destination / experiment_id / "models" / info.model_id / "artifacts"
    model_bytes, model_files = files_under(model_folder)
    assert (run_bytes, run_files) == (1035, 4)

    answer = _figures(server, experiment_id, run_ids=run_id)
    kept = answer["experiments"][experiment_id]
    # Points as logged: MLflow 3's log_model sends the run's latest points again (linked to
    # the model), exact repeats the store keeps once; a recount counts what is stored.
    sent = kept.pop("metric_points")
    assert sent >= 27
    assert kept == {
        "runs": 1,
        "deleted_runs": 0,
        "logged_models": 1,
        "artifact_bytes": run_bytes + model_bytes,
        "artifact_files": run_files + model_files,
        "model_artifact_bytes": model_bytes,
    }
    assert answer["runs"] == {
        run_id: {
            "experiment_id": experiment_id,
            "metric_points": sent,
            "artifact_bytes": run_bytes,
            "artifact_files": run_files,
        }
    }

    # `cairn storage` against the server, and a recount of its database and destination.
    remote = _cairn(
        "storage", "--tracking-uri", server.url, "--experiment", experiment_id, "--json"
    )
    assert remote.returncode == 0, remote.stderr
    shown = json.loads(remote.stdout)["experiments"][experiment_id]
    assert shown == {**kept, "metric_points": sent, "name": "through-the-proxy"}
    database = f"sqlite:///{server.database}"
    recounted = _cairn(
        "storage",
        "--tracking-uri",
        database,
        "--experiment",
        experiment_id,
        "--recount",
        "--artifacts-destination",
        str(server.destination),
        "--json",
    )
    assert recounted.returncode == 0, recounted.stderr
    exact = {**kept, "metric_points": 27, "name": "through-the-proxy"}
    assert json.loads(recounted.stdout)["experiments"][experiment_id] == exact
    assert _figures(server, experiment_id)["experiments"][experiment_id]["metric_points"] == 27
    with server.database_connection() as conn:  # files of the destination are left alone
        conn.execute("UPDATE run_storage SET artifact_bytes = 1")
    blind = _cairn(
        "storage", "--tracking-uri", database, "--experiment", experiment_id, "--recount"
    )
    assert blind.returncode == 0, blind.stderr
    assert f"files not counted: run {run_id}" in blind.stderr
    assert _figures(server, experiment_id, run_ids=run_id)["runs"][run_id]["artifact_bytes"] == 1


def test_proxy_paths_count_for_their_run_only(server: Server, mlflow: Any) -> None:
    first = mlflow.create_experiment("owners-a")
    second = mlflow.create_experiment("owners-b")
    run_id = mlflow.MlflowClient().create_run(first).info.run_id
    other = mlflow.MlflowClient().create_run(second).info.run_id
    assert server.put(f"{first}/{run_id}/artifacts/a/x.bin", b"x" * 100) == 200
    assert server.put(f"{first}/{run_id}/artifacts/a/y.bin", b"y" * 50) == 200
    # Paths that name no run, or a run whose root is elsewhere, count for nobody.
    assert server.put(f"{first}/{'0' * 32}/artifacts/z.bin", b"z" * 70) == 200
    assert server.put(f"{first}/{other}/artifacts/z.bin", b"z" * 70) == 200
    assert server.put(f"{first}/loose.bin", b"z" * 70) == 200
    figures = _figures(server, f"{first},{second}", run_ids=f"{run_id},{other}")
    assert figures["runs"][run_id]["artifact_bytes"] == 150
    assert figures["runs"][run_id]["artifact_files"] == 2
    assert figures["experiments"][second]["artifact_bytes"] == 0

    status, _ = server.request(
        "DELETE", f"/api/2.0/mlflow-artifacts/artifacts/{first}/{run_id}/artifacts/a/x.bin"
    )
    assert status == 200
    assert _figures(server, first)["experiments"][first]["artifact_bytes"] == 50
    status, _ = server.request(
        "DELETE", f"/api/2.0/mlflow-artifacts/artifacts/{first}/{run_id}/artifacts"
    )
    assert status == 200
    assert _figures(server, first)["experiments"][first]["artifact_files"] == 0

    # Runs of other experiments than those asked about are not answered.
    narrowed = _figures(server, second, run_ids=f"{run_id},{other}")
    assert list(narrowed["runs"]) == [other]


def test_bad_requests_are_refused(server: Server) -> None:
    status, body = server.storage()
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    status, body = server.storage(experiment_ids="x")
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    status, body = server.storage(
        experiment_ids="0", run_ids=",".join(["a" * 32] * 2 + [f"{i:032x}" for i in range(1001)])
    )
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    status, body = server.storage(experiment_ids="424242")
    assert status == 200 and body["experiments"]["424242"]["runs"] == 0


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str, str]]:
    """An --auth server with experiments "open" (reader may READ) and "closed"."""
    running = start_server(tmp_path_factory.mktemp("storage-auth"), "--auth")
    try:
        create_user(running.database, "admin", "--admin")
        create_user(running.database, "reader")
        ids = []
        for name in ("open", "closed"):
            made = running.post("/experiments/create", {"name": name}, basic("admin"))
            ids.append(made["experiment_id"])
        users_cli(running.database, "grant", "reader", ids[0], "READ")
        yield running, ids[0], ids[1]
    finally:
        running.stop()


def test_under_auth_each_experiment_needs_read(guarded: tuple[Server, str, str]) -> None:
    server, readable, closed = guarded
    status, body = server.storage(basic("reader"), experiment_ids=readable)
    assert status == 200 and list(body["experiments"]) == [readable]
    for asked in (closed, f"{readable},{closed}"):
        status, body = server.storage(basic("reader"), experiment_ids=asked)
        assert (status, body["error_code"]) == (403, "PERMISSION_DENIED")
    status, _ = server.storage(experiment_ids=readable)  # no credentials
    assert status == 401
    status, body = server.storage(basic("admin"), experiment_ids=f"{readable},{closed}")
    assert status == 200 and set(body["experiments"]) == {readable, closed}


def test_a_proxy_over_s3_counts_what_it_stores(
    tmp_path: Path, moto_endpoint: str, s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = f"proxied-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=bucket)
    monkeypatch.setenv("CAIRN_S3_ENDPOINT_URL", moto_endpoint)
    running = start_server(tmp_path, destination=f"s3://{bucket}/store")
    try:
        experiment_id = running.post("/experiments/create", {"name": "s3"})["experiment_id"]
        created = running.post("/runs/create", {"experiment_id": experiment_id})
        run_id = created["run"]["info"]["run_id"]
        root = f"{experiment_id}/{run_id}/artifacts"
        assert running.put(f"{root}/a.bin", b"a" * 1234) == 200
        assert running.put(f"{root}/d/b.bin", b"b" * 66) == 200
        listed = s3_client.list_objects_v2(Bucket=bucket, Prefix=f"store/{root}/")["Contents"]
        assert sum(o["Size"] for o in listed) == 1300
        status, body = running.storage(experiment_ids=experiment_id, run_ids=run_id)
        assert status == 200, body
        assert body["runs"][run_id]["artifact_bytes"] == 1300
        assert body["runs"][run_id]["artifact_files"] == 2
        status, _ = running.request("DELETE", f"{PROXY}/{root}/d")
        assert status == 200
        status, body = running.storage(experiment_ids=experiment_id, run_ids=run_id)
        assert (body["runs"][run_id]["artifact_bytes"], body["runs"][run_id]["artifact_files"]) == (
            1234,
            1,
        )
    finally:
        running.stop()
