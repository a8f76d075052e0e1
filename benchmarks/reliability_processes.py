"""The processes of benchmarks/reliability.py: servers that are killed and started again on
the same port and database, and training processes that are told when to stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from processes import free_port, wait_until_answers

CLI = "from cairn.cli import cli; cli()"
TRAINING = str(Path(__file__).with_name("reliability_training.py"))
START_TIMEOUT = 60.0


def quiet_environment(**extra: str) -> dict[str, str]:
    """The environment of every process here: no source or environment capture (they would
    add artifact uploads to each run), no MLflow telemetry, nothing inherited that points
    the fluent API elsewhere."""
    environment = {
        **os.environ,
        "CAIRN_CAPTURE_SOURCE": "false",
        "CAIRN_CAPTURE_ENVIRONMENT": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        # mlflow prints two lines a run to stdout, a pipe read only at the end: after about
        # 384 runs it fills (64 KiB) and the training process blocks in end_run.
        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
        **extra,
    }
    for name in ("CAIRN_TRACKING_URI", "CAIRN_JOURNAL_DIR", "MLFLOW_TRACKING_URI"):
        if name not in extra:
            environment.pop(name, None)
    return environment


class Server:
    """`cairn server` (or `cairn relay`) on a fixed loopback port, started again on the same
    port and database after a `kill -9`."""

    def __init__(self, folder: Path, arguments: list[str], name: str = "server") -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.arguments = arguments
        self.port = free_port()
        self.log = folder / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @classmethod
    def tracking(cls, folder: Path) -> Server:
        database = folder / "cairn.db"
        return cls(
            folder,
            [
                "server",
                "--backend-store-uri",
                f"sqlite:///{database}",
                "--artifacts-destination",
                str(folder / "artifacts"),
            ],
        )

    @classmethod
    def on(cls, folder: Path, backend_uri: str, *extra: str) -> Server:
        """`cairn server` over any tracking store URI, with more options (`--auth`)."""
        destination = str(folder / "artifacts")
        arguments = ["server", "--backend-store-uri", backend_uri]
        return cls(folder, [*arguments, "--artifacts-destination", destination, *extra])

    @classmethod
    def relay(cls, folder: Path, central: Server) -> Server:
        arguments = ["relay", "--to", central.url, "--data", str(folder / "relay-data")]
        return cls(folder, arguments, "relay")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database(self) -> Path:
        if self.arguments[0] == "relay":
            return self.folder / "relay-data" / "cairn.db"
        return self.folder / "cairn.db"

    def start(self) -> float:
        """Start (again) and wait until it answers /health; the seconds that took."""
        begin = time.monotonic()
        command = [sys.executable, "-c", CLI, *self.arguments]
        command += ["--host", "127.0.0.1", "--port", str(self.port)]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.folder,
                env=quiet_environment(),
                start_new_session=True,
            )
        if not wait_until_answers(self.process, self.port, "/health", START_TIMEOUT, 0.05):
            self.stop()
            raise RuntimeError(f"{self.arguments[0]} did not start:\n{self.log.read_text()}")
        return time.monotonic() - begin

    def kill(self) -> None:
        """`kill -9`, as a crash or a pulled plug: no goodbye to anyone."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(15)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(15)


class Trainer:
    """A reliability_training.py process: its first line says it is training; a line on
    its stdin stops it (a second lets a `--hold` process exit); its figures come back as
    JSON."""

    def __init__(
        self,
        folder: Path,
        mode: str,
        uri: str,
        *options: str,
        name: str = "training",
        environment: dict[str, str] | None = None,
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.result = folder / f"{name}.json"
        self.stderr = folder / f"{name}.err"
        with open(self.stderr, "wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, TRAINING, mode, uri, str(self.result), *options],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                cwd=folder,
                env=environment or quiet_environment(),
            )
        self.first_line = ""

    def started(self) -> str:
        """Wait for the first line (a run id, or "ready"); fail with stderr if it died."""
        assert self.process.stdout is not None
        self.first_line = self.process.stdout.readline().decode().strip()
        if not self.first_line:
            self.process.wait(30)
            raise RuntimeError(f"training exited with {self.process.returncode}:\n{self.errors()}")
        return self.first_line

    def say(self, line: str = "stop") -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        self.process.stdin.flush()

    def wait_done(self, timeout: float) -> dict[str, Any]:
        """Wait for "done" (the figures are written; a `--hold` process is still alive)."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if line.strip() == b"done":
                return self.figures()
            if not line:
                break
        raise RuntimeError(f"training did not finish ({self.process.poll()}):\n{self.errors()}")

    def finish(self, timeout: float) -> dict[str, Any]:
        figures = self.wait_done(timeout)
        self.process.wait(timeout)
        return figures

    def figures(self) -> dict[str, Any]:
        figures: dict[str, Any] = json.loads(self.result.read_text())
        return figures

    def errors(self) -> str:
        return self.stderr.read_text(errors="replace")[-4000:]


def hold(seconds: float, *watched: subprocess.Popen[bytes]) -> None:
    """Let `seconds` pass while the scenario goes on, failing at once if a watched process
    exits meanwhile (each wait is on the first process, so a crash ends it early)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        for process in watched:
            if process.poll() is not None:
                raise RuntimeError(f"process {process.pid} exited with {process.returncode}")
        try:
            watched[0].wait(min(left, 0.25))
        except subprocess.TimeoutExpired:
            continue
