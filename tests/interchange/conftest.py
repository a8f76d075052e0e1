"""What the import and export tests share: writing an MLflow store with the real mlflow
client (in a subprocess: mlflow keeps process-wide state), running `cairn` as a user types
it, and a live `cairn server` over an imported database for the mlflow client to read."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_processes import CLI, answers_health, cairn_server_command, free_port

WRITER = Path(__file__).with_name("mlflow_writer.py")
SNAPSHOT = Path(__file__).with_name("mlflow_snapshot.py")
START_SECONDS = 60.0
MLFLOW_ENV = {
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ALLOW_FILE_STORE": "true",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
}


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any tracker configuration, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAIRN_", "MLFLOW_"))}
    return {**env, **MLFLOW_ENV, **extra}


def write_mlflow(tracking_uri: str, cwd: Path, more: bool = False) -> None:
    """Fill (or, with `more`, add a run to) an MLflow store with the real client."""
    cwd.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(WRITER), tracking_uri, *(["--more"] if more else [])]
    done = subprocess.run(command, cwd=cwd, env=clean_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]


def mlflow_snapshot(tracking_uri: str, files: bool = True) -> dict[str, Any]:
    """What the real mlflow client sees of a store (see mlflow_snapshot.py)."""
    command = [sys.executable, str(SNAPSHOT), tracking_uri, *([] if files else ["--no-files"])]
    # In a scratch folder: reading a file store, mlflow 3 also opens its default store,
    # ./mlflow.db, which must not land in the repository.
    with tempfile.TemporaryDirectory(prefix="mlflow-snapshot-") as scratch:
        done = subprocess.run(command, cwd=scratch, env=clean_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def cairn(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`cairn ARGS` in `cwd`, as a user runs it (no tracker configuration)."""
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
    )


@contextlib.contextmanager
def cairn_server(backend_uri: str, folder: Path) -> Iterator[str]:
    """`cairn server` over `backend_uri`; yields its URL."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = folder / "server.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            cairn_server_command(port, backend_uri, str(folder / "destination")),
            cwd=folder,
            env=clean_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_SECONDS
        while not answers_health(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"cairn server did not start:\n{log.read_text()[-4000:]}")
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(15)
