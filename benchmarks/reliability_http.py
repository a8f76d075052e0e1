"""Raw HTTP for the attack scenarios of benchmarks/reliability.py: one kept-alive connection
to a `cairn server` on loopback, paths sent byte for byte as given (no client normalises or
re-encodes them), and an answer that is never an exception: a dropped connection or a
timeout is status 0, so a scenario can count it."""

from __future__ import annotations

import base64
import http.client
import json
from dataclasses import dataclass
from typing import Any

HOST = "127.0.0.1"
NO_ANSWER = 0


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    seconds: float = 0.0

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class Http:
    """Requests to one server; `headers` go with every request (credentials)."""

    def __init__(self, port: int, headers: dict[str, str] | None = None, timeout: float = 30):
        self.port = port
        self.headers = headers or {}
        self.timeout = timeout
        self.connection: http.client.HTTPConnection | None = None

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> Answer:
        """`body`: bytes as they are, anything else as JSON (None: no body)."""
        import time

        data = body if isinstance(body, bytes | None) else json.dumps(body).encode()
        sent = {**self.headers, **(headers or {})}
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        began = time.monotonic()
        for attempt in range(2):  # a kept-alive connection the server closed: once more
            connection = self._connection(timeout)
            try:
                connection.request(method, path, body=data, headers=sent)
                response = connection.getresponse()
                payload = response.read()
                if response.getheader("connection", "").lower() == "close":
                    self.close()
                return Answer(response.status, payload, time.monotonic() - began)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt:
                    return Answer(NO_ANSWER, b"connection dropped", time.monotonic() - began)
            except (TimeoutError, OSError, http.client.HTTPException) as error:
                self.close()
                return Answer(NO_ANSWER, repr(error).encode(), time.monotonic() - began)
        return Answer(NO_ANSWER, b"", time.monotonic() - began)

    def _connection(self, timeout: float | None) -> http.client.HTTPConnection:
        if self.connection is None:
            self.connection = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
        if timeout is not None:
            self.connection.timeout = timeout
            if self.connection.sock is not None:
                self.connection.sock.settimeout(timeout)
        return self.connection

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        """A setup call that must succeed: its JSON, or an error naming the answer."""
        answer = self.call(method, path, body)
        if not 200 <= answer.status < 300:
            raise RuntimeError(f"{method} {path} → {answer.status}: {answer.body[:300]!r}")
        return answer.json()
