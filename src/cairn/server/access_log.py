"""One log line per HTTP request, on the `cairn.server.access` logger at INFO.

    POST /api/2.0/mlflow/runs/log-metric 200 3.1ms user=alice

The line holds the method, the path (never the query string, which may carry tokens or
search filters, nor any header: `Authorization` stays out), the status, the time to the end
of the response in milliseconds, and under `--auth` the user the request was authenticated
as (`user=-` when none was). Characters that could forge a second line are escaped.

`AccessLogMiddleware` wraps the whole application, outside the auth middleware, so refused
requests are logged too. It learns the user when the response starts: the auth middleware
sends every response from inside `context.acting_as`, so `authenticated_user()` names the
user at that moment.
"""

from __future__ import annotations

import logging
import re
import sys
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cairn.server.context import authenticated_user

LOGGER_NAME = "cairn.server.access"
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\s]")


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp, logger: logging.Logger | None = None) -> None:
        self.app = app
        self.logger = logger if logger is not None else logging.getLogger(LOGGER_NAME)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.logger.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        seen: dict[str, object] = {"status": 500, "user": None}

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                seen["user"] = authenticated_user()
            await send(message)

        try:
            await self.app(scope, receive, logged_send)
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            self.logger.info(
                "%s %s %s %.1fms user=%s",
                _printable(scope["method"]),
                _printable(scope["path"]),
                seen["status"],
                elapsed,
                _printable(str(seen["user"] or "-")),
            )


def _printable(text: str) -> str:
    """`text` with control characters and whitespace escaped, so a path cannot end the
    line and forge another."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def log_to_stderr() -> None:
    """Send the access log to standard error, unless the process configured it already
    (uvicorn's own loggers stay at warning: this is the one request log)."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.INFO)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
