"""One HTTP exchange with an ASGI app, in process: what starlette.testclient does, without
the httpx dependency it needs (not installed here)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message


@dataclass
class Exchange:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    app: ASGIApp, method: str, path: str, body: bytes = b"", content_type: str | None = None
) -> Exchange:
    """Send one request to `app` and collect its whole reply."""
    return asyncio.run(_call(app, method, path, body, content_type))


async def _call(
    app: ASGIApp, method: str, path: str, body: bytes, content_type: str | None
) -> Exchange:
    headers = [(b"host", b"127.0.0.1"), (b"content-length", str(len(body)).encode())]
    if content_type is not None:
        headers.append((b"content-type", content_type.encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 5001),
    }
    requests = [{"type": "http.request", "body": body, "more_body": False}]
    replies: list[Message] = []

    async def receive() -> Message:
        return requests.pop(0) if requests else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        replies.append(message)

    await app(scope, receive, send)
    start = next(m for m in replies if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in replies if m["type"] == "http.response.body")
    names = {k.decode().lower(): v.decode() for k, v in start.get("headers", [])}
    return Exchange(start["status"], names, content)
