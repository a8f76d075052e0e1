"""A real scikit-learn model saved with `cairn.sklearn.save_model`, and `cairn models serve`
processes on 127.0.0.1 serving it.

The server is started as a user starts it (the `cairn models serve` command) on a free port
and polled on `/ping` in a bounded loop that waits on the process itself, so a server that
dies at start-up fails at once, with its log.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from local_processes import CLI, free_port

START_SECONDS = 60.0
STOP_SECONDS = 15.0
FEATURES = ["f0", "f1", "f2", "f3"]


@dataclass(frozen=True)
class Trained:
    """An estimator, the frame it scores, and its own predictions for that frame."""

    estimator: Any
    frame: pd.DataFrame
    expected: list[int]


@dataclass
class Reply:
    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class ScoringServer:
    """A running `cairn models serve`: its process and port."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str | None = None
    ) -> Reply:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            headers = {"Content-Type": content_type} if content_type else {}
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return Reply(response.status, response.getheader("content-type", ""), response.read())
        finally:
            connection.close()

    def invoke(self, body: bytes, content_type: str = "application/json") -> Reply:
        return self.request("POST", "/invocations", body, content_type)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_SECONDS)


@pytest.fixture(scope="session")
def trained() -> Trained:
    from sklearn.linear_model import LogisticRegression

    generator = np.random.default_rng(3)
    frame = pd.DataFrame(generator.normal(size=(40, len(FEATURES))), columns=FEATURES)
    labels = (frame["f0"] + frame["f1"] > 0).astype(int) + (frame["f2"] > 0.8).astype(int)
    estimator = LogisticRegression(max_iter=500).fit(frame, labels)
    return Trained(estimator, frame, estimator.predict(frame).tolist())


@pytest.fixture(scope="session")
def sklearn_model_dir(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import cairn.sklearn

    path = tmp_path_factory.mktemp("models") / "classifier"
    cairn.sklearn.save_model(trained.estimator, path, input_example=trained.frame.head(3))
    return path


def start_scoring_server(model_dir: Path, folder: Path, *options: str) -> ScoringServer:
    """`cairn models serve -m model_dir` on a free port, once `/ping` answers."""
    for _attempt in range(3):  # another process may take the free port before the server
        port = free_port()
        log = folder / f"serve-{port}.log"
        command = [sys.executable, "-c", CLI, "models", "serve", "-m", str(model_dir)]
        command += ["--host", "127.0.0.1", "--port", str(port), *options]
        with open(log, "wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=folder)
        server = ScoringServer(process, port, log)
        if _wait_until_pinged(server):
            return server
        server.stop()
        if b"address already in use" not in log.read_bytes().lower():
            break
    pytest.fail(f"cairn models serve did not start:\n{server.log.read_text(errors='replace')}")


def _wait_until_pinged(server: ScoringServer) -> bool:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        try:
            if server.request("GET", "/ping").status == 200:
                return True
        except OSError:
            pass
        try:
            server.process.wait(0.05)  # not a sleep: returns at once if the server died
            return False
        except subprocess.TimeoutExpired:
            continue
    return False


@pytest.fixture(scope="session")
def scoring_server(
    sklearn_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ScoringServer]:
    """One `cairn models serve` (one worker) for the live tests of the session."""
    server = start_scoring_server(sklearn_model_dir, tmp_path_factory.mktemp("serve"))
    yield server
    server.stop()
