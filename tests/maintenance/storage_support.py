"""A live `cairn server` for the storage tests (a plain module: this folder has no conftest),
over a SQLite file and an artifact folder of its own, with plain HTTP helpers."""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from local_processes import CLI, answers_health, cairn_server_command, free_port

START_SECONDS = 60.0
PASSWORD = "correct-horse-battery"
PROXY = "/api/2.0/mlflow-artifacts/artifacts"
STORAGE = "/ajax-api/2.0/cairn/storage"


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    folder: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database(self) -> Path:
        return self.folder / "cairn.db"

    @property
    def destination(self) -> Path:
        return self.folder / "artifacts"

    def request(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """(status, JSON body or None) of one request on a fresh connection."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, target, body=body, headers=headers or {})
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        return response.status, json.loads(data) if data.strip() else None

    def database_connection(self) -> contextlib.closing[sqlite3.Connection]:
        """The server's SQLite file, opened beside it (a transaction per `with` block is the
        caller's: sqlite3 commits when the connection's own context ends)."""
        return contextlib.closing(sqlite3.connect(self.database, isolation_level=None))

    def storage(self, headers: dict[str, str] | None = None, **query: str) -> tuple[int, Any]:
        return self.request("GET", f"{STORAGE}?{urlencode(query)}", headers=headers)

    def post(
        self, endpoint: str, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> Any:
        """A JSON call under /api/2.0/mlflow that must succeed; its answer."""
        status, body = self.request(
            "POST",
            f"/api/2.0/mlflow{endpoint}",
            json.dumps(payload).encode(),
            {**(headers or {}), "Content-Type": "application/json"},
        )
        assert status == 200, body
        return body

    def put(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> int:
        return self.request("PUT", f"{PROXY}/{path}", body, headers)[0]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(15)


def start_server(folder: Path, *extra: str, destination: str | None = None) -> Server:
    """`cairn server` over folder/cairn.db and folder/artifacts (or `destination`), polled
    until it answers; it inherits this process's environment (S3 settings included)."""
    port = free_port()
    command = cairn_server_command(
        port, f"sqlite:///{folder / 'cairn.db'}", destination or str(folder / "artifacts"), *extra
    )
    with open(folder / "server.log", "ab") as log:
        process = subprocess.Popen(command, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(int(START_SECONDS / 0.05)):
        if answers_health(port):
            return Server(process, port, folder)
        try:
            process.wait(0.05)  # not a sleep: returns at once if the server died
            break
        except subprocess.TimeoutExpired:
            continue
    process.kill()
    process.wait(15)
    raise RuntimeError((folder / "server.log").read_text(errors="replace")[-4000:])


def users_cli(database: Path, *args: str, stdin: str | None = None) -> None:
    """`cairn users …` on the server's database; fails the test when it fails."""
    done = subprocess.run(
        [sys.executable, "-c", CLI, "users", *args, "--backend-store-uri", f"sqlite:///{database}"],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def create_user(database: Path, name: str, *options: str) -> None:
    users_cli(database, "create", name, "--password-stdin", *options, stdin=PASSWORD + "\n")


def basic(user: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def files_under(folder: Path) -> tuple[int, int]:
    """Bytes and files under a folder, as a recount would find them."""
    sizes = [p.stat().st_size for p in folder.rglob("*") if p.is_file()]
    return sum(sizes), len(sizes)
