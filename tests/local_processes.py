"""What every test that starts a real process on loopback needs: a free port, and a way to
ask a Cairn server whether it is up yet."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys

# `cairn` run from this interpreter, whatever is on PATH.
CLI = "from cairn.cli import cli; cli()"


def free_port() -> int:
    """A port nothing listens on now (another process may still take it before we bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def answers_health(port: int) -> bool:
    """Whether a Cairn server on 127.0.0.1:`port` answers `GET /health` with OK."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/health")
        response = connection.getresponse()
        return response.status == 200 and response.read() == b"OK"
    except OSError:
        return False
    finally:
        connection.close()


def cairn_server_command(port: int, backend_uri: str, destination: str, *extra: str) -> list[str]:
    """The `cairn server` command line every suite starts, as a user would type it."""
    return [
        sys.executable,
        "-c",
        CLI,
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        backend_uri,
        "--artifacts-destination",
        destination,
        *extra,
    ]


def stop_process(process: subprocess.Popen[bytes], seconds: float = 15.0) -> None:
    """Terminate a process the tests started, killing it if it has not gone in `seconds`."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=seconds)
