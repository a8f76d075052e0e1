"""A real `cairn server` process per backend (SQLite, PostgreSQL), shared by the server suites.

The server runs as a subprocess on 127.0.0.1, started exactly as a user starts it (the
`cairn server` command), and is polled over HTTP until `/health` answers. The PostgreSQL
variant gets a fresh database of its own on the server that tests/conftest.py uses
(CAIRN_TEST_POSTGRES_URI), dropped at the end of the session by that conftest's
`server_store_uris` fixture. An unreachable PostgreSQL skips those tests, or fails them
under CAIRN_REQUIRE_DATABASES=1, as everywhere in the suite.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from live_server import LiveServer, start_moto, start_server

import cairn
import moto_server
from local_processes import answers_health, cairn_server_command, free_port
from moto_server import S3_ENV

SERVER_BACKENDS = ["sqlite", "postgresql"]
START_SECONDS = 60.0
STOP_SECONDS = 15.0
POSTGRES_URI = os.environ.get(
    "CAIRN_TEST_POSTGRES_URI", "postgresql://postgres@127.0.0.1:5432/test"
)


@dataclass(frozen=True)
class TrackingServer:
    """A running server: where it listens and which database it serves."""

    backend: str
    url: str
    backend_uri: str
    workdir: Path

    @property
    def api(self) -> str:
        return f"{self.url}/api/2.0/mlflow"


def _start(workdir: Path, backend_uri: str) -> tuple[subprocess.Popen[bytes], int]:
    """Start `cairn server` on a free port and poll /health until it answers (bounded)."""
    log_path = workdir / "server.log"
    for _attempt in range(3):  # another process may take the port between probe and bind
        port = free_port()
        command = cairn_server_command(port, backend_uri, str(workdir / "artifacts"))
        with open(log_path, "ab") as log:
            process = subprocess.Popen(command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if answers_health(port):
                return process, port
            try:
                process.wait(0.05)
            except subprocess.TimeoutExpired:
                continue
            break  # the process ended (a taken port, most likely): try another port
        else:
            _stop(process)
            pytest.fail(f"cairn server did not answer in {START_SECONDS}s:\n{_tail(log_path)}")
    pytest.fail(f"cairn server did not start:\n{_tail(log_path)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_SECONDS)


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:] if path.exists() else "(no log)"


@pytest.fixture(scope="session", params=SERVER_BACKENDS)
def tracking_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    new_server_database: Callable[[str, str], str],
) -> Iterator[TrackingServer]:
    """A running `cairn server` over a fresh database, once per backend."""
    backend = request.param
    workdir = tmp_path_factory.mktemp(f"server-{backend}")
    if backend == "sqlite":
        backend_uri = f"sqlite:///{workdir / 'srv.db'}"
    else:
        # A key of its own: the `store` fixtures wipe the "postgresql" database between tests.
        backend_uri = new_server_database("postgresql", "postgresql-server")
    process, port = _start(workdir, backend_uri)
    try:
        yield TrackingServer(backend, f"http://127.0.0.1:{port}", backend_uri, workdir)
    finally:
        _stop(process)


@pytest.fixture
def mlflow(tracking_server: TrackingServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The mlflow module, pointed at the live server; fluent state is cleaned up after."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server.url)
    # No retries: an unexpected 5xx should fail the test now, not after minutes of backoff.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    # set_experiment writes MLFLOW_EXPERIMENT_ID; monkeypatch removes it again afterwards.
    for name in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    import mlflow

    assert mlflow.get_tracking_uri() == tracking_server.url
    yield mlflow
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture
def client(mlflow: Any) -> Any:
    return mlflow.MlflowClient()


@pytest.fixture
def cairn_client(tracking_server: TrackingServer) -> cairn.Client:
    """Cairn's own client on the server's database: what MLflow wrote, read by Cairn."""
    return cairn.Client(tracking_server.backend_uri)


# -- a server whose artifact destination is S3 (a real moto server) -------------------------


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Any]]:
    import boto3

    folder = tmp_path_factory.mktemp("proxy-s3")
    moto, endpoint = start_moto(folder)
    try:
        client = boto3.session.Session(
            aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
            region_name=S3_ENV["AWS_DEFAULT_REGION"],
        ).client("s3", endpoint_url=endpoint)
        client.create_bucket(Bucket="proxied")
        live = start_server(
            folder,
            destination_uri="s3://proxied/store",
            env={
                **S3_ENV,
                "CAIRN_S3_ENDPOINT_URL": endpoint,
                # No AWS configuration of this machine's user may leak in.
                "AWS_CONFIG_FILE": str(folder / "absent"),
                "AWS_SHARED_CREDENTIALS_FILE": str(folder / "absent"),
            },
        )
        try:
            yield live, client
        finally:
            live.stop()
    finally:
        moto_server.stop(moto)
