"""A real `cairn server` process on 127.0.0.1 for the artifact-proxy and security suites.

`start_server` launches the CLI in a subprocess (a free port, its own SQLite file and
artifact folder), polls `/health` in a bounded loop that waits on the process itself (so a
server that dies at start-up fails at once, with its stderr), and `LiveServer.request`
sends requests with `http.client`, which puts the target on the wire exactly as given: no
normalisation of `..`, `%2e`, `;`, `#` or `//`.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import moto_server
from local_processes import cairn_server_command, free_port

START_TIMEOUT = 60.0


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class LiveServer:
    process: subprocess.Popen[bytes]
    port: int
    destination: Path
    database: Path
    log: Path
    _connection: http.client.HTTPConnection | None = field(default=None, repr=False)

    @property
    def host_header(self) -> str:
        return f"127.0.0.1:{self.port}"

    def connect(self, timeout: float = 60.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """One request on a fresh connection, `target` sent verbatim."""
        connection = self.connect()
        try:
            connection.request(method, target, body=body, headers=dict(headers or {}))
            response = connection.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            connection.close()

    def call(self, method: str, endpoint: str, payload: dict[str, Any] | None = None) -> Reply:
        """A JSON API call under /api/2.0/mlflow (GET: `payload` as the query string)."""
        if method == "GET":
            from urllib.parse import urlencode

            query = f"?{urlencode(payload, doseq=True)}" if payload else ""
            return self.request("GET", f"/api/2.0/mlflow{endpoint}{query}")
        return self.request(
            method,
            f"/api/2.0/mlflow{endpoint}",
            body=json.dumps(payload or {}).encode(),
            headers={"Content-Type": "application/json"},
        )

    def peak_rss(self) -> int:
        """The server process's peak resident memory so far (VmHWM), in bytes."""
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmHWM in /proc/<pid>/status")

    def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Poll `condition` until it holds (True) or `timeout` passes (False), pacing the
        loop by waiting on the server process, which also stops it early if that dies."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                return False
            try:
                self.process.wait(0.05)
                return condition()  # the server exited
            except subprocess.TimeoutExpired:
                continue
        return True

    def kill(self) -> None:
        """`kill -9`: the server goes away without a word, as in a crash."""
        self.process.kill()
        self.process.wait(timeout=15)

    def start_again(self) -> None:
        """A new server process on the same port, database and artifact folder."""
        with open(self.log, "ab") as log_file:
            self.process = subprocess.Popen(
                cairn_server_command(
                    self.port, f"sqlite:///{self.database}", str(self.destination)
                ),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self.database.parent,
            )
        if not _wait_until_healthy(self):
            raise RuntimeError(f"cairn server did not start again:\n{self.log.read_text()}")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def start_server(
    folder: Path,
    *options: str,
    workers: int = 1,
    destination_uri: str | None = None,
    env: Mapping[str, str] | None = None,
) -> LiveServer:
    """`cairn server` over `folder`/cairn.db with artifacts in `folder`/destination (or at
    `destination_uri`, e.g. s3://…), with `env` added to its environment."""
    folder.mkdir(parents=True, exist_ok=True)
    destination = folder / "destination"
    database = folder / "cairn.db"
    for _attempt in range(3):  # another process may take the free port before the server
        port = free_port()
        log = folder / f"server-{port}.log"
        with open(log, "wb") as log_file:
            process = subprocess.Popen(
                cairn_server_command(
                    port,
                    f"sqlite:///{database}",
                    destination_uri or str(destination),
                    "--workers",
                    str(workers),
                    *options,
                ),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=folder,
                env={**os.environ, **(env or {})},
            )
        server = LiveServer(process, port, destination, database, log)
        if _wait_until_healthy(server):
            return server
        server.stop()
        if b"address already in use" not in log.read_bytes().lower():
            break
    raise RuntimeError(f"cairn server did not start:\n{server.log.read_text()}")


def _wait_until_healthy(server: LiveServer) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if server.request("GET", "/health").status == 200:
                return True
        except OSError:
            pass
        try:
            server.process.wait(0.05)  # waits on the process: returns only if it died
            return False
        except subprocess.TimeoutExpired:
            continue
    return False


def start_moto(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A moto S3 server process on 127.0.0.1; returns it and its endpoint URL."""
    return moto_server.start_moto(folder / "moto.log")
