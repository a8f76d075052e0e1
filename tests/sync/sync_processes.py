"""Real processes for the sync and relay tests: a `cairn server` on a port the test chooses
(so it can be killed and started again on the same port and database), `cairn relay`, and
the `cairn` CLI. Waiting is paced by waiting on the process itself, never by sleeping."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from local_processes import CLI, answers_health, cairn_server_command

START_SECONDS = 60.0
# The CLI's REST client retries a dead server with backoff; tests want the answer sooner.
FAST_RETRIES = {"CAIRN_HTTP_REQUEST_MAX_RETRIES": "1", "CAIRN_HTTP_REQUEST_BACKOFF_FACTOR": "0.1"}


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without Cairn's or MLflow's tracking settings."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("CAIRN_", "MLFLOW_"))}
    environment.update(
        {"CAIRN_CAPTURE_SOURCE": "false", "CAIRN_CAPTURE_ENVIRONMENT": "false", **FAST_RETRIES}
    )
    environment.update(extra or {})
    return environment


def eventually(
    condition: Callable[[], bool], process: subprocess.Popen[bytes], timeout: float = 60.0
) -> bool:
    """Poll `condition` until it holds or `timeout` passes, pacing on `process` (a process
    that must stay alive meanwhile: its exit ends the wait)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        try:
            process.wait(0.1)
            return condition()
        except subprocess.TimeoutExpired:
            continue
    return True


def start(command: Sequence[str], port: int, log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    """Start a server-like process and wait until /health answers on `port`."""
    with open(log, "ab") as out:
        process = subprocess.Popen(
            list(command), stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=clean_environment()
        )
    if not eventually(lambda: answers_health(port), process, START_SECONDS) or process.poll():
        stop(process)
        raise RuntimeError(f"{command[3]} did not start:\n{log.read_text()}")
    return process


def start_server(folder: Path, port: int) -> subprocess.Popen[bytes]:
    """`cairn server` over folder/cairn.db (the same database each time) on `port`."""
    folder.mkdir(parents=True, exist_ok=True)
    command = cairn_server_command(
        port, f"sqlite:///{folder / 'cairn.db'}", str(folder / "artifacts")
    )
    return start(command, port, folder / "server.log", folder)


def start_relay(folder: Path, port: int, central_port: int) -> subprocess.Popen[bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-c",
        CLI,
        "relay",
        "--to",
        f"http://127.0.0.1:{central_port}",
        "--port",
        str(port),
        "--data",
        str(folder / "data"),
    ]
    return start(command, port, folder / "relay.log", folder)


def stop(process: subprocess.Popen[bytes], kill: bool = False) -> None:
    if process.poll() is None:
        process.kill() if kill else process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def cairn(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The `cairn` CLI, run to completion in `cwd`."""
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        cwd=cwd,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=240,
    )
