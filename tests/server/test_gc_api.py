"""Garbage collection through a live `cairn server` (cairn.server.maintenance_api): runs logged
by the real mlflow client, their artifacts through the proxy into a folder or a bucket
(moto), deleted, then collected by `cairn gc --tracking-uri http://…` and by
cairn.store.rest.maintenance; purging one run; who may do either under `--auth`; and
malformed calls answered 400, never 500."""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from live_server import LiveServer, Reply, start_server

from cairn.entities.gc import GcReport, GcRequest
from cairn.exceptions import (
    InvalidParameterValueError,
    NotImplementedByServerError,
    PermissionDeniedError,
    ResourceDoesNotExistError,
)
from cairn.server import maintenance_api
from cairn.server.context import Context
from cairn.server.messages import Message
from cairn.store.rest.maintenance import collect_remotely, purge_run_remotely
from cairn.store.rest.tracking import RestTrackingStore
from local_processes import CLI

API = "/api/2.0/cairn"
AJAX = "/ajax-api/2.0/cairn"
PASSWORD = "correct-horse-battery"
WEIGHTS = b"\x00weights\xff" * 100


# -- helpers -------------------------------------------------------------------------------


def post(
    server: LiveServer,
    endpoint: str,
    payload: Any,
    user: str | None = None,
    prefix: str = API,
) -> Reply:
    headers = {"Content-Type": "application/json"}
    if user is not None:
        pair = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
        headers["Authorization"] = f"Basic {pair}"
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return server.request("POST", prefix + endpoint, body=body, headers=headers)


def url_of(server: LiveServer, user: str | None = None) -> str:
    credentials = f"{user}:{PASSWORD}@" if user else ""
    return f"http://{credentials}127.0.0.1:{server.port}"


def rows(database: Path, table: str, run_id: str) -> int:
    with sqlite3.connect(database) as connection:
        (count,) = connection.execute(
            f"SELECT COUNT(*) FROM {table} WHERE run_uuid = ?", (run_id,)
        ).fetchone()
    return int(count)


def has_run(database: Path, run_id: str) -> bool:
    return rows(database, "runs", run_id) == 1


@pytest.fixture
def mlflow_at(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """mlflow, pointed at a server by `point(url)`; no global tracking URI is left set."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    for name in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    import mlflow

    def point(url: str) -> Any:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        assert mlflow.get_tracking_uri() == url
        return mlflow

    yield point
    while mlflow.active_run() is not None:
        mlflow.end_run()


@dataclass
class Logged:
    experiment_id: str
    run_id: str


def log_run(mlflow: Any, tmp_path: Path, experiment: str, name: str) -> Logged:
    """A finished run with a param, a metric history and one artifact through the proxy."""
    client = mlflow.MlflowClient()
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    weights = tmp_path / f"{name}.bin"
    weights.write_bytes(WEIGHTS)
    with mlflow.start_run(experiment_id=experiment_id, run_name=name) as run:
        mlflow.log_param("lr", 0.1)
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_artifact(str(weights), "model")
    return Logged(experiment_id, run.info.run_id)


def artifact_folder(server: LiveServer, run: Logged) -> Path:
    return server.destination / run.experiment_id / run.run_id / "artifacts"


def gc_cli(url: str, *options: str) -> subprocess.CompletedProcess[str]:
    """The real `cairn gc` against a server, in its own process."""
    return subprocess.run(
        [sys.executable, "-c", CLI, "gc", "--tracking-uri", url, "--yes", *options],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )


# -- a server without --auth, its artifacts in a folder -----------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("gc-open"))
    try:
        yield live
    finally:
        live.stop()


def test_cairn_gc_through_the_server_removes_rows_and_proxied_files(
    server: LiveServer, mlflow_at: Any, tmp_path: Path
) -> None:
    mlflow = mlflow_at(url_of(server))
    gone = log_run(mlflow, tmp_path, "gc-cli", "gone")
    kept = log_run(mlflow, tmp_path, "gc-cli", "kept")
    assert (artifact_folder(server, gone) / "model" / "gone.bin").read_bytes() == WEIGHTS
    mlflow.MlflowClient().delete_run(gone.run_id)

    done = gc_cli(url_of(server), "--experiment", "gc-cli")
    assert done.returncode == 0, done.stderr
    assert "Removed for good: 1 run," in done.stdout

    assert not has_run(server.database, gone.run_id)
    for table in ("metrics", "params", "latest_metrics", "tags"):
        assert rows(server.database, table, gone.run_id) == 0, table
    assert not (server.destination / gone.experiment_id / gone.run_id).exists()
    # What was not deleted stays, rows and files.
    assert has_run(server.database, kept.run_id)
    assert rows(server.database, "metrics", kept.run_id) == 5
    assert (artifact_folder(server, kept) / "model" / "kept.bin").read_bytes() == WEIGHTS


def test_collect_remotely_in_batches_until_done(
    server: LiveServer, mlflow_at: Any, tmp_path: Path
) -> None:
    mlflow = mlflow_at(url_of(server))
    runs = [log_run(mlflow, tmp_path, "gc-batches", f"run-{i}") for i in range(3)]
    for run in runs:
        mlflow.MlflowClient().delete_run(run.run_id)
    store = RestTrackingStore(url_of(server))
    request = GcRequest(run_ids=tuple(r.run_id for r in runs))
    batches: list[GcReport] = []

    report = collect_remotely(store, request, on_batch=batches.append, batch_runs=1)

    assert sorted(report.runs) == sorted(r.run_id for r in runs)
    assert report.done and not report.dry_run
    assert len(batches) >= 3 and all(len(b.runs) <= 1 for b in batches)
    assert [b.done for b in batches][-1] is True
    assert report.files >= 3 and report.bytes >= 3 * len(WEIGHTS)
    for run in runs:
        assert not has_run(server.database, run.run_id)
        assert not (server.destination / run.experiment_id / run.run_id).exists()


def test_a_dry_run_lists_and_deletes_nothing(
    server: LiveServer, mlflow_at: Any, tmp_path: Path
) -> None:
    mlflow = mlflow_at(url_of(server))
    run = log_run(mlflow, tmp_path, "gc-dry", "dry")
    mlflow.MlflowClient().delete_run(run.run_id)
    store = RestTrackingStore(url_of(server))
    batches: list[GcReport] = []

    report = collect_remotely(
        store, GcRequest(run_ids=(run.run_id,), dry_run=True), on_batch=batches.append
    )

    assert report.dry_run and report.runs == [run.run_id] and len(batches) == 1
    assert has_run(server.database, run.run_id)
    assert rows(server.database, "metrics", run.run_id) == 5
    assert (artifact_folder(server, run) / "model" / "dry.bin").read_bytes() == WEIGHTS
    # The CLI's dry run lists it, and leaves it too.
    listed = gc_cli(url_of(server), "--dry-run", "--run", run.run_id)
    assert listed.returncode == 0, listed.stderr
    assert "Would remove: 1 run," in listed.stdout and f"run {run.run_id}" in listed.stdout
    assert has_run(server.database, run.run_id)
    # The same request as JSON over the UI's prefix, straight: one answer, done.
    reply = post(server, "/gc", {"run_ids": [run.run_id], "dry_run": True}, prefix=AJAX)
    assert reply.status == 200, reply.body
    assert reply.json()["runs"] == [run.run_id] and reply.json()["done"] is True
    assert has_run(server.database, run.run_id)


def test_purge_removes_one_run_for_good_and_leaves_its_neighbour(
    server: LiveServer, mlflow_at: Any, tmp_path: Path
) -> None:
    mlflow = mlflow_at(url_of(server))
    active = log_run(mlflow, tmp_path, "purge-open", "active")
    neighbour = log_run(mlflow, tmp_path, "purge-open", "neighbour")

    report = purge_run_remotely(RestTrackingStore(url_of(server)), active.run_id)

    assert report.runs == [active.run_id] and report.files >= 1
    assert not has_run(server.database, active.run_id)
    assert rows(server.database, "metrics", active.run_id) == 0
    assert not (server.destination / active.experiment_id / active.run_id).exists()
    assert has_run(server.database, neighbour.run_id)
    assert (artifact_folder(server, neighbour) / "model" / "neighbour.bin").exists()
    # Gone now: a second purge says so.
    with pytest.raises(ResourceDoesNotExistError):
        purge_run_remotely(RestTrackingStore(url_of(server)), active.run_id)


def test_a_run_a_model_version_points_to_is_kept_with_the_reason(
    server: LiveServer, mlflow_at: Any, tmp_path: Path
) -> None:
    mlflow = mlflow_at(url_of(server))
    run = log_run(mlflow, tmp_path, "purge-protected", "registered")
    client = mlflow.MlflowClient()
    client.create_registered_model("gc-api-protected")
    client.create_model_version("gc-api-protected", f"runs:/{run.run_id}/model", run_id=run.run_id)

    reply = post(server, "/runs/purge", {"run_id": run.run_id}, prefix=AJAX)

    assert reply.status == 400, reply.body
    assert reply.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "gc-api-protected" in reply.json()["message"]
    assert has_run(server.database, run.run_id)
    assert (artifact_folder(server, run) / "model" / "registered.bin").read_bytes() == WEIGHTS
    with pytest.raises(InvalidParameterValueError):
        purge_run_remotely(RestTrackingStore(url_of(server)), run.run_id)


GC_BODIES = [
    b"not json",
    b"[1, 2]",
    {"older_than_ms": "soon"},
    {"older_than_ms": -1},
    {"older_than_ms": 1.5},
    {"run_ids": "abc"},
    {"run_ids": [1, 2]},
    {"run_ids": ["../../etc"]},
    {"experiment_ids": ["x"]},
    {"experiment_ids": "1"},
    {"dry_run": "yes"},
    {"apply_retention": 1},
    {"max_runs": 0},
    {"max_runs": -5},
    {"max_runs": "many"},
    {"older_than_ms": 10**30},
    {"run_ids": ["a" * 300]},
]


@pytest.mark.parametrize("body", GC_BODIES, ids=[str(b) for b in GC_BODIES])
def test_a_malformed_gc_call_is_400(server: LiveServer, body: Any) -> None:
    reply = post(server, "/gc", body)
    assert reply.status == 400, reply.body
    assert reply.json()["error_code"] in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST")


PURGE_BODIES: list[tuple[Any, int, str]] = [
    ({}, 400, "INVALID_PARAMETER_VALUE"),
    ({"run_id": 5}, 400, "INVALID_PARAMETER_VALUE"),
    ({"run_id": ["a"]}, 400, "INVALID_PARAMETER_VALUE"),
    ({"run_id": "../../etc/passwd"}, 400, "INVALID_PARAMETER_VALUE"),
    ({"run_id": "f" * 32}, 404, "RESOURCE_DOES_NOT_EXIST"),
    (b"{", 400, "BAD_REQUEST"),
]


@pytest.mark.parametrize(("body", "status", "code"), PURGE_BODIES)
def test_a_malformed_purge_call_is_refused_not_500(
    server: LiveServer, body: Any, status: int, code: str
) -> None:
    reply = post(server, "/runs/purge", body)
    assert (reply.status, reply.json()["error_code"]) == (status, code), reply.body


def test_a_max_runs_above_the_cap_is_capped_not_refused(server: LiveServer) -> None:
    made = post(server, "/experiments/create", {"name": "gc-cap"}, prefix="/api/2.0/mlflow")
    experiment_id = made.json()["experiment_id"]
    reply = post(server, "/gc", {"experiment_ids": [experiment_id], "max_runs": 10**6})
    assert reply.status == 200, reply.body
    assert reply.json()["runs"] == [] and reply.json()["done"] is True


def test_unknown_or_active_runs_named_to_gc_are_refused(
    server: LiveServer, mlflow_at: Any, tmp_path: Path
) -> None:
    unknown = post(server, "/gc", {"run_ids": ["e" * 32]})
    assert (unknown.status, unknown.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    active = log_run(mlflow_at(url_of(server)), tmp_path, "gc-active", "active")
    reply = post(server, "/gc", {"run_ids": [active.run_id]})
    assert (reply.status, reply.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert has_run(server.database, active.run_id)
    assert (artifact_folder(server, active) / "model" / "active.bin").exists()


def test_a_server_whose_store_is_not_sql_answers_not_implemented() -> None:
    context = Context(RestTrackingStore("http://127.0.0.1:9"), "/nowhere")
    with pytest.raises(NotImplementedByServerError):
        maintenance_api.collect(context, Message({}, from_query=False))
    with pytest.raises(NotImplementedByServerError):
        maintenance_api.purge(context, Message({"run_id": "f" * 32}, from_query=False))


# -- the artifact destination on S3 (moto) ------------------------------------------------


def _keys(s3: Any, prefix: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket="proxied", Prefix=prefix)
    return [o["Key"] for o in listed.get("Contents", [])]


def test_gc_removes_a_deleted_runs_objects_from_an_s3_destination(
    s3_server: tuple[LiveServer, Any], mlflow_at: Any, tmp_path: Path
) -> None:
    live, s3 = s3_server
    mlflow = mlflow_at(url_of(live))
    gone = log_run(mlflow, tmp_path, "gc-s3", "gone")
    kept = log_run(mlflow, tmp_path, "gc-s3", "kept")
    gone_prefix = f"store/{gone.experiment_id}/{gone.run_id}/"
    kept_prefix = f"store/{kept.experiment_id}/{kept.run_id}/"
    assert _keys(s3, gone_prefix) == [f"{gone_prefix}artifacts/model/gone.bin"]
    mlflow.MlflowClient().delete_run(gone.run_id)

    done = gc_cli(url_of(live), "--run", gone.run_id)

    assert done.returncode == 0, done.stderr
    assert _keys(s3, gone_prefix) == []
    assert not has_run(live.database, gone.run_id)
    assert _keys(s3, kept_prefix) == [f"{kept_prefix}artifacts/model/kept.bin"]
    assert has_run(live.database, kept.run_id)


# -- under --auth ---------------------------------------------------------------------------


def users_cli(database: Path, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CLI, "users", *args, "--backend-store-uri", f"sqlite:///{database}"],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


@dataclass
class AuthSetup:
    server: LiveServer
    experiment_id: str  # reader READs, editor EDITs, manager MANAGEs; outsider nothing


USERS = {"reader": "READ", "editor": "EDIT", "manager": "MANAGE", "outsider": None}


@pytest.fixture(scope="module")
def auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthSetup]:
    live = start_server(tmp_path_factory.mktemp("gc-auth"), "--auth")
    try:
        users_cli(live.database, "create", "admin", "--password-stdin", "--admin")
        for user in USERS:
            users_cli(live.database, "create", user, "--password-stdin")
        reply = post(live, "/experiments/create", {"name": "team"}, "admin", "/api/2.0/mlflow")
        assert reply.status == 200, reply.body
        experiment_id = reply.json()["experiment_id"]
        for user, permission in USERS.items():
            if permission:
                users_cli(live.database, "grant", user, experiment_id, permission)
        yield AuthSetup(live, experiment_id)
    finally:
        live.stop()


def _run_with_file(setup: AuthSetup) -> str:
    """A run in the team's experiment, made by the admin, with a file behind the proxy."""
    server = setup.server
    made = post(
        server, "/runs/create", {"experiment_id": setup.experiment_id}, "admin", "/api/2.0/mlflow"
    )
    assert made.status == 200, made.body
    run_id = str(made.json()["run"]["info"]["run_id"])
    target = f"/api/2.0/mlflow-artifacts/artifacts/{setup.experiment_id}/{run_id}/artifacts/f.txt"
    pair = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    put = server.request("PUT", target, body=b"data", headers={"Authorization": f"Basic {pair}"})
    assert put.status == 200, put.body
    return run_id


def test_only_administrators_may_collect(auth: AuthSetup) -> None:
    server = auth.server
    run_id = _run_with_file(auth)
    deleted = post(server, "/runs/delete", {"run_id": run_id}, "admin", "/api/2.0/mlflow")
    assert deleted.status == 200, deleted.body
    for user in USERS:
        for prefix in (API, AJAX):
            reply = post(server, "/gc", {"run_ids": [run_id]}, user, prefix)
            assert (reply.status, reply.json()["error_code"]) == (403, "PERMISSION_DENIED"), user
    assert post(server, "/gc", {"run_ids": [run_id]}).status == 401
    with pytest.raises(PermissionDeniedError):
        collect_remotely(RestTrackingStore(url_of(server, "manager")), GcRequest())
    refused = gc_cli(url_of(server, "manager"), "--run", run_id)
    assert refused.returncode == 1, refused.stderr
    assert "Only administrators may use this endpoint." in refused.stderr
    assert has_run(server.database, run_id)

    report = collect_remotely(
        RestTrackingStore(url_of(server, "admin")), GcRequest(run_ids=(run_id,))
    )

    assert report.runs == [run_id]
    assert not has_run(server.database, run_id)
    assert not (server.destination / auth.experiment_id / run_id).exists()


def test_purging_a_run_needs_manage_on_its_experiment(auth: AuthSetup) -> None:
    server = auth.server
    run_id = _run_with_file(auth)
    for user in ("reader", "editor", "outsider"):
        for prefix in (API, AJAX):
            reply = post(server, "/runs/purge", {"run_id": run_id}, user, prefix)
            assert (reply.status, reply.json()["error_code"]) == (403, "PERMISSION_DENIED"), user
    with pytest.raises(PermissionDeniedError):
        purge_run_remotely(RestTrackingStore(url_of(server, "editor")), run_id)
    assert has_run(server.database, run_id)
    assert (server.destination / auth.experiment_id / run_id / "artifacts" / "f.txt").exists()

    reply = post(server, "/runs/purge", {"run_id": run_id}, "manager", AJAX)

    assert reply.status == 200, reply.body
    assert reply.json()["runs"] == [run_id]
    assert not has_run(server.database, run_id)
    assert not (server.destination / auth.experiment_id / run_id).exists()
    # An unknown run: 404 for whoever asks, not a permission answer that leaks nothing more.
    assert post(server, "/runs/purge", {"run_id": run_id}, "manager").status == 404


def test_an_administrator_may_purge_any_run(auth: AuthSetup) -> None:
    run_id = _run_with_file(auth)
    report = purge_run_remotely(RestTrackingStore(url_of(auth.server, "admin")), run_id)
    assert report.runs == [run_id]
    assert not has_run(auth.server.database, run_id)
