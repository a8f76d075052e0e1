"""A real HTTP server in a thread of the test process, scripted to answer badly on purpose.

It answers each request with the next scripted response (then 200 `{}`) and records what
it received, so tests count attempts, read the headers and bodies the client sent, and see
which connection each request came on. A plain module beside the tests (conftest modules
cannot be imported reliably).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    client_port: int


@dataclass
class Scripted:
    """What the server does: answers popped from `script` (then 200 `{}`), recording each
    request; a `hang` answer holds the request until the test ends."""

    script: list[tuple[int, bytes, dict[str, str]] | str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def answer(self, status: int, body: Any = None, **headers: str) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
        self.script.append((status, data, headers))

    def hang(self) -> None:
        self.script.append("hang")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real server
    scripted: Scripted

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the tests read `received`, not the log

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        self.scripted.received.append(
            Received(
                self.command,
                parts.path,
                parse_qs(parts.query, keep_blank_values=True),
                {k.lower(): v for k, v in self.headers.items()},
                body,
                self.client_address[1],
            )
        )
        step = self.scripted.script.pop(0) if self.scripted.script else (200, b"{}", {})
        if step == "hang":
            self.scripted.release.wait(30)
            self.close_connection = True
            return
        assert not isinstance(step, str)
        status, data, headers = step
        self.send_response(status)
        # A scripted Content-Length may promise more than `data`: a transfer cut short.
        declared = {"Content-Type": "application/json", "Content-Length": str(len(data))}
        for name, value in {**declared, **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        if headers.get("Content-Length", str(len(data))) != str(len(data)):
            self.close_connection = True

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # the client gave up on us: nothing to answer

    do_GET = do_POST = do_PUT = do_DELETE = _serve


def serve_in_thread(httpd: ThreadingHTTPServer) -> threading.Thread:
    # A short poll interval: shutdown() waits for the loop to notice it (0.5 s by default).
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    return thread


@contextmanager
def running(scripted: Scripted, port: int = 0) -> Iterator[Scripted]:
    """Serve `scripted` on 127.0.0.1 (a free port unless given) until the block ends."""
    handler = type("ScriptedHandler", (Handler,), {"scripted": scripted})
    httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
    httpd.daemon_threads = True
    scripted.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = serve_in_thread(httpd)
    try:
        yield scripted
    finally:
        scripted.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)
