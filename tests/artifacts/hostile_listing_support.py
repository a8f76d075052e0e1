"""A hostile artifact proxy on 127.0.0.1: MLflow's listing JSON, turned against the client.

`serve(listing)` runs a real HTTP server answering `GET /api/2.0/mlflow-artifacts/artifacts
?path=<p>` with `{"files": listing(p)}` (paths relative to the root `root`), a file's bytes
for `GET …/artifacts/root/<file>`, and MLflow's 400 for a folder. Listings:

- `nests_itself`: every folder holds a folder `loop` (and a file), without end;
- `lists_twice`: the root lists the same name twice;
- `wide(n)`: the root holds n files;
- `LEGITIMATE`: a small nested tree, to show honest listings still download.

Plain Python, no pytest, so a benchmark can count it (`run_corpus()`), with
`sys.path.insert(0, "tests/artifacts")`.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cairn.artifact_store.http import PROXY_PATH, HttpArtifactRepository
from cairn.exceptions import InvalidParameterValueError

ROOT = "root"
MAX_FILES = "CAIRN_ARTIFACT_DOWNLOAD_MAX_FILES"
Listing = Callable[[str], list[dict[str, Any]]]


def _folder(name: str) -> dict[str, Any]:
    return {"path": name, "is_dir": True}


def _file(name: str) -> dict[str, Any]:
    return {"path": name, "is_dir": False, "file_size": 1}


def nests_itself(path: str) -> list[dict[str, Any]]:
    return [_folder("loop"), _file("f.txt")]


def lists_twice(path: str) -> list[dict[str, Any]]:
    return [_file("a.txt"), _file("a.txt")] if not path else []


def wide(count: int) -> Listing:
    def listing(path: str) -> list[dict[str, Any]]:
        return [_file(f"f{i}.txt") for i in range(count)] if not path else []

    return listing


_TREE = {"": ["a/", "top.txt"], "a": ["b/", "mid.txt"], "a/b": ["deep.txt"]}


def legitimate(path: str) -> list[dict[str, Any]]:
    names = _TREE.get(path, [])
    return [_folder(n[:-1]) if n.endswith("/") else _file(n) for n in names]


@dataclass
class HostileServer:
    url: str  # the artifact root, as an http(s) artifact URI
    requests: list[str] = field(default_factory=list)

    @property
    def listings(self) -> int:
        return sum(1 for r in self.requests if r.startswith("list "))


def _handler(listing: Listing, server: HostileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == PROXY_PATH:
                asked = parse_qs(parts.query).get("path", [""])[0]
                relative = asked[len(ROOT) :].lstrip("/") if asked.startswith(ROOT) else None
                server.requests.append(f"list {asked}")
                files = listing(relative) if relative is not None else []
                self._answer(200, json.dumps({"files": files}).encode())
                return
            relative = unquote(parts.path[len(PROXY_PATH) + len(ROOT) + 2 :])
            server.requests.append(f"get {relative}")
            parent, _, name = relative.rpartition("/")
            entry = next((e for e in listing(parent) if e["path"] == name), None)
            if entry is None:
                self._answer(404, b'{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no"}')
            elif entry["is_dir"]:
                self._answer(400, b'{"error_code": "INVALID_PARAMETER_VALUE", "message": "dir"}')
            else:
                self._answer(200, b"x")

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests read `server.requests` instead."""

    return Handler


@contextlib.contextmanager
def serve(listing: Listing) -> Iterator[HostileServer]:
    """A server answering with `listing` on a free loopback port, for the block's length."""
    state = HostileServer("")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(listing, state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}{PROXY_PATH}/{ROOT}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@dataclass(frozen=True)
class Outcome:
    case: str
    hostile: bool
    error: BaseException | None
    listings: int  # listing requests the client made before it stopped

    @property
    def refused(self) -> bool:
        return self.hostile and isinstance(self.error, InvalidParameterValueError)


def try_listing(name: str, listing: Listing, hostile: bool) -> Outcome:
    """Download the whole root from a server answering `listing`."""
    with serve(listing) as server, tempfile.TemporaryDirectory() as scratch:
        error: BaseException | None = None
        try:
            HttpArtifactRepository(server.url).download_artifacts("", scratch)
        except Exception as raised:
            error = raised
        written = sum(len(files) for _, _, files in os.walk(scratch))
        if hostile and written:
            error = AssertionError(f"{written} files written before the refusal")
        return Outcome(name, hostile, error, server.listings)


@contextlib.contextmanager
def _max_files(count: int) -> Iterator[None]:
    saved = os.environ.get(MAX_FILES)
    os.environ[MAX_FILES] = str(count)
    try:
        yield
    finally:
        if saved is None:
            del os.environ[MAX_FILES]
        else:
            os.environ[MAX_FILES] = saved


def run_corpus() -> list[Outcome]:
    """The hostile listings (the default bounds, but for the count: 100 instead of
    100,000, to stay quick) and the legitimate one."""
    outcomes = [
        try_listing("nests-itself", nests_itself, hostile=True),
        try_listing("lists-a-path-twice", lists_twice, hostile=True),
        try_listing("legitimate-tree", legitimate, hostile=False),
    ]
    with _max_files(100):
        outcomes.append(try_listing("lists-too-many-files", wide(101), hostile=True))
    return outcomes
