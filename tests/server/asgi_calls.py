"""Calling a `create_app` application in process, as a server would (no HTTP, no client
library): one request, its JSON body or query, credentials and the client's address."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from starlette.types import ASGIApp

PASSWORD = "correct-horse-battery"


@dataclass(frozen=True)
class AsgiReply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_code(self) -> str | None:
        try:
            found = self.json()
        except ValueError:
            return None
        return found.get("error_code") if isinstance(found, dict) else None


def basic(user: str, password: str = PASSWORD) -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {encoded}"}


def asgi_call(
    app: ASGIApp,
    method: str,
    path: str,
    payload: Any = None,
    *,
    user: str | None = None,
    password: str = PASSWORD,
    body: bytes | None = None,
    address: str = "127.0.0.1",
) -> AsgiReply:
    """`payload` goes in the query of a GET, as the JSON body otherwise; `body` is sent as
    it is. `path` is the decoded path; the raw one is its percent-encoding."""
    headers = {"host": "127.0.0.1", "content-type": "application/json"}
    if user is not None:
        headers.update(basic(user, password))
    query = b""
    if method == "GET" and payload:
        query = urlencode(payload, doseq=True).encode()
    elif body is None and payload is not None:
        body = json.dumps(payload).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "http",
        "method": method,
        "path": path,
        "raw_path": quote(path, safe="/:@!$&'()*+,;=-._~").encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "server": ("127.0.0.1", 80),
        "client": (address, 50000),
    }
    sent: list[dict[str, Any]] = []
    pending = [body or b""]

    async def receive() -> dict[str, Any]:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        await asyncio.Event().wait()  # the client stays connected until the answer is sent
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    found = {k.decode().lower(): v.decode() for k, v in start.get("headers", [])}
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return AsgiReply(start["status"], found, content)
