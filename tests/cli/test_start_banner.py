"""`cairn ui`, `cairn server` and `cairn models serve` say where they listen and what they
serve once they are ready; `cairn --version` and `/version` say both versions."""

from __future__ import annotations

import http.client
import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cairn.cli.server import _start_banner
from cairn.version import MLFLOW_COMPATIBLE_VERSION, __version__
from local_processes import CLI, answers_health, free_port

STARTUP_SECONDS = 60


class Started:
    """A command running in the background, its stdout read line by line as it comes."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        command = [sys.executable, "-c", CLI, *args]
        self.process = subprocess.Popen(
            command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def lines(self, count: int) -> list[str]:
        """The first `count` lines it prints, waiting for them until a deadline."""
        deadline = time.monotonic() + STARTUP_SECONDS
        read: list[str] = []
        while len(read) < count:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no start line within {STARTUP_SECONDS}s; got {read}")
            if line is None:
                pytest.fail(f"exited ({self.process.wait()}) after {read}: {self._stderr()}")
            read.append(line)
        return read

    def _stderr(self) -> str:
        assert self.process.stderr is not None
        return self.process.stderr.read()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=30)  # it stops at the end of the output
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@contextmanager
def _started(args: list[str], cwd: Path) -> Iterator[Started]:
    started = Started(args, cwd)
    try:
        yield started
    finally:
        started.stop()


def _get_body(port: int, path: str) -> tuple[http.client.HTTPResponse, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


def test_ui_says_where_to_open_it_once_it_listens_even_on_port_0(tmp_path: Path) -> None:
    # Port 0: only a line printed after the socket is bound can know the port.
    with _started(["ui", "--port", "0"], tmp_path) as started:
        first, second = started.lines(2)
        prefix, suffix = "Cairn UI ready: open http://127.0.0.1:", " in a browser"
        assert first.startswith(prefix) and first.endswith(suffix), first
        port = int(first[len(prefix) : -len(suffix)])
        assert answers_health(port)
        data = tmp_path / "cairn-data"
        assert second == f"Store: sqlite:///{data / 'cairn.db'}  Artifacts: {data / 'artifacts'}"


def test_server_says_its_url_store_and_artifacts(tmp_path: Path) -> None:
    port = free_port()
    store = f"sqlite:///{tmp_path / 'tracking.db'}"
    artifacts = tmp_path / "files"
    args = ["server", "--port", str(port), "--backend-store-uri", store]
    with _started([*args, "--artifacts-destination", str(artifacts)], tmp_path) as started:
        assert started.lines(2) == [
            f"Cairn server listening on http://127.0.0.1:{port}",
            f"Store: {store}  Artifacts: {artifacts}",
        ]
        assert answers_health(port)
        _check_versions(port)


def _check_versions(port: int) -> None:
    """/version keeps MLflow's plain body for MLflow clients; Cairn's rides beside it."""
    response, body = _get_body(port, "/version")
    assert body.decode() == MLFLOW_COMPATIBLE_VERSION
    assert response.getheader("X-Cairn-Version") == __version__
    response, body = _get_body(port, "/version?format=json")
    assert response.getheader("Content-Type") == "application/json"
    assert json.loads(body) == {"cairn": __version__, "mlflow_api": MLFLOW_COMPATIBLE_VERSION}


def test_models_serve_says_the_model_and_its_invocations_url(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    import cairn.sklearn

    model_dir = tmp_path / "model"
    cairn.sklearn.save_model(LinearRegression().fit([[0.0], [1.0]], [0.0, 2.0]), str(model_dir))
    port = free_port()
    args = ["models", "serve", "-m", str(model_dir), "--port", str(port)]
    with _started(args, tmp_path) as started:
        assert started.lines(1) == [
            f"Serving model {model_dir} at http://127.0.0.1:{port}/invocations"
        ]
        response, body = _get_body(port, "/ping")
        assert (response.status, body) == (200, b"\n")
        response, body = _get_body(port, "/version")
        assert body.decode() == response.getheader("X-Cairn-Version") == __version__


def test_the_banner_masks_the_store_password(capsys: pytest.CaptureFixture[str]) -> None:
    settings = {
        "backend_store_uri": "postgresql://cairn:s3cret@db.internal:5432/cairn",
        "artifacts_destination": "s3://bucket/artifacts",
    }
    _start_banner(settings, False)("http://0.0.0.0:5000")
    _start_banner(settings, True)("http://0.0.0.0:5000")
    assert capsys.readouterr().out.splitlines() == [
        "Cairn server listening on http://0.0.0.0:5000",
        "Store: postgresql://cairn:***@db.internal:5432/cairn  Artifacts: s3://bucket/artifacts",
        "Cairn UI ready: open http://127.0.0.1:5000 in a browser",
        "Store: postgresql://cairn:***@db.internal:5432/cairn  Artifacts: s3://bucket/artifacts",
    ]


def test_version_names_cairn_and_the_mlflow_api() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CLI, "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"cairn {__version__} (MLflow API {MLFLOW_COMPATIBLE_VERSION})\n"
