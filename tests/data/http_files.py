"""A tiny HTTP file server on 127.0.0.1 for `from_uri` tests: the standard library's, which
sends Last-Modified and Content-Length, plus an ETag under /etag/ and nothing under /bare/."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

FOLDERS = ("plain", "etag", "bare")


@dataclass(frozen=True)
class HttpFiles:
    root: Path
    url: str


class _FileHandler(http.server.SimpleHTTPRequestHandler):
    """The standard library's file server (Last-Modified, Content-Length), plus a strong
    ETag of the file's bytes for paths under /etag/, and no headers at all under /bare/."""

    def end_headers(self) -> None:
        path = Path(self.translate_path(self.path))
        if self.path.startswith("/etag/") and path.is_file():
            self.send_header("ETag", '"' + hashlib.sha256(path.read_bytes()).hexdigest() + '"')
        super().end_headers()

    def send_header(self, keyword: str, value: str) -> None:
        if self.path.startswith("/bare/") and keyword in ("Last-Modified", "Content-Length"):
            return
        super().send_header(keyword, value)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the test output clean


@contextlib.contextmanager
def serve_files(root: Path) -> Iterator[HttpFiles]:
    """Serve `root` (with its three folders created) until the block ends."""
    for folder in FOLDERS:
        (root / folder).mkdir(parents=True)
    handler = partial(_FileHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield HttpFiles(root, f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=15)
