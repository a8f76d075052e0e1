"""A real moto S3 server process on 127.0.0.1, for every suite that needs S3 (artifacts,
datasets, the server's S3 destination): one way to start it and one to stop it."""

from __future__ import annotations

import http.client
import subprocess
import sys
import time
from pathlib import Path

from local_processes import free_port, stop_process

START_SECONDS = 60.0
STOP_SECONDS = 15.0
# What a client or server of the moto server gets: its dummy credentials, and no proxy.
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "cairn-test-key",
    "AWS_SECRET_ACCESS_KEY": "cairn-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "NO_PROXY": "127.0.0.1",
    "no_proxy": "127.0.0.1",
}


def _answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/moto-api/")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def start_moto(log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start `python -m moto.server` on a free port, polled over HTTP until it answers (a
    bounded loop); returns the process and its endpoint URL."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    for _attempt in range(3):  # another process may take the port between probe and bind
        port = free_port()
        with open(log_path, "ab") as log:
            command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if _answers(port):
                return process, f"http://127.0.0.1:{port}"
            try:
                # Not a sleep: returns at once if moto died (then another port is tried).
                process.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                continue
            break
        stop(process)
    raise RuntimeError(f"moto server never answered; its log:\n{log_path.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    stop_process(process, STOP_SECONDS)
