"""Server processes for the benchmarks: a free port, start-up polling and stopping."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

HOST = "127.0.0.1"


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def spawn_in_session(
    command: list[str], folder: Path, log: Path, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    """Run `command` in `folder` as the leader of its own session, stdout and stderr to `log`."""
    output = open(log, "wb")  # kept open for the server
    return subprocess.Popen(
        command, stdout=output, stderr=output, cwd=folder, env=env, start_new_session=True
    )


def wait_until_answers(
    process: subprocess.Popen[bytes], port: int, path: str, timeout: float, interval: float = 0.2
) -> bool:
    """Poll GET `path` until it answers 200 (True); False once `process` exits or `timeout`
    seconds pass. Between polls it waits up to `interval` seconds for the process to exit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=5)
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                connection.close()
                return True
        except OSError:
            pass
        try:
            process.wait(interval)  # returns only if the server died
            return False
        except subprocess.TimeoutExpired:
            continue
    return False


def stop_session(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the session `spawn_in_session` created (its own process group), then wait;
    SIGKILL it if it does not exit within 30 s."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    except ProcessLookupError:  # already gone
        process.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def start_cairn_server(folder: Path, database: Path) -> tuple[subprocess.Popen[bytes], int]:
    """`cairn server` on a free port over a SQLite file, up and answering /health; exits
    with the server's log if it never does."""
    import sys

    port = free_port()
    command = [
        sys.executable,
        "-c",
        "from cairn.cli import cli; cli()",
        "server",
        "--host",
        HOST,
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{database}",
        "--artifacts-destination",
        str(folder / "artifacts"),
    ]
    server = spawn_in_session(command, folder, folder / "server.log", dict(os.environ))
    if not wait_until_answers(server, port, "/health", 60):
        stop_session(server)
        sys.exit((folder / "server.log").read_text())
    return server, port


def session_cpu_seconds(session: int) -> float:
    """CPU time (user + system) used so far by the live processes of `session`."""
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_until_quiet(
    process: subprocess.Popen[bytes], timeout: float, busy: float = 0.05, interval: float = 0.5
) -> float:
    """Wait until the session `spawn_in_session` created uses under `busy` of a core over
    `interval` seconds, so a server's start-up work (MLflow's spawns its job runners after it
    answers) is not timed as its answers; the seconds waited, at most `timeout`."""
    started = time.monotonic()
    used = session_cpu_seconds(process.pid)
    while time.monotonic() - started < timeout:
        time.sleep(interval)
        now = session_cpu_seconds(process.pid)
        if now - used < busy * interval:
            break
        used = now
    return time.monotonic() - started
