"""One request through a whole Cairn application in process, as an ASGI server would send it
(no HTTP client library needed), for the suites that walk every route or act as a user."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from starlette.types import ASGIApp

PASSWORD = "correct-horse-battery"


@dataclass(frozen=True)
class Answer:
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


def call(
    app: ASGIApp,
    method: str,
    target: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    address: str = "127.0.0.1",
) -> Answer:
    """`method target` (percent-encoded, with its query) with `body`, from `address`; JSON
    content type unless `headers` says otherwise."""
    parts = urlsplit(target)
    sent_headers = {"host": "127.0.0.1", "content-type": "application/json", **(headers or {})}
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "http",
        "method": method,
        "path": unquote(parts.path),
        "raw_path": parts.path.encode(),
        "root_path": "",
        "query_string": parts.query.encode(),
        "headers": [(k.encode(), v.encode("latin-1")) for k, v in sent_headers.items()],
        "server": ("127.0.0.1", 80),
        "client": (address, 50000),
    }
    sent: list[dict[str, Any]] = []
    pending = [body]

    async def receive() -> dict[str, Any]:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        await asyncio.Event().wait()  # the client stays connected until the answer is sent
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    try:
        asyncio.run(app(scope, receive, send))
    except Exception:  # Starlette re-raises what it answered 500 to, for the server to log
        if not sent:
            raise
    start = next(m for m in sent if m["type"] == "http.response.start")
    answer_headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start["headers"]}
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Answer(start["status"], answer_headers, content)


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
) -> Answer:
    """A user's call: `payload` goes in the query of a GET, as the JSON body otherwise
    (`body` is sent as it is); `path` is the decoded path."""
    target = quote(path, safe="/:@!$&'()*+,;=-._~")
    if method == "GET" and payload:
        target += "?" + urlencode(payload, doseq=True)
    elif body is None and payload is not None:
        body = json.dumps(payload).encode()
    headers = basic(user, password) if user is not None else None
    return call(app, method, target, body or b"", headers, address)
