"""Running an ASGI app factory under uvicorn, as `cairn server` and `cairn models serve` do.

With several workers uvicorn needs an import string ("module:factory") rather than an app
object: each worker process imports the factory and builds its own app, so settings travel
to the workers in environment variables, which the caller sets first. One process can be
given an app built already (`run_app`).

Every connection gets TCP_NODELAY (see `_set_no_delay`), whatever the worker count.
"""

from __future__ import annotations

import socket
from typing import Any

# uvicorn imports this class by name in each worker (see `__getattr__` below).
HTTP_PROTOCOL = f"{__name__}:NoDelayHttpProtocol"


def run_factory(factory: str, host: str, port: int, workers: int) -> None:
    """Serve the app that `factory` ("module:function") builds in each worker, until
    interrupted."""
    _run(factory, host, port, workers=workers, factory=True)


def run_app(app: object, host: str, port: int) -> None:
    """Serve an app built in this process, in this process, until interrupted."""
    _run(app, host, port, workers=1, factory=False)


def _run(target: Any, host: str, port: int, *, workers: int, factory: bool) -> None:
    import uvicorn

    uvicorn.run(
        target,
        factory=factory,
        host=host,
        port=port,
        workers=workers,
        http=HTTP_PROTOCOL,
        log_level="warning",
    )


def _set_no_delay(transport: Any) -> None:
    """Turn Nagle off on an accepted TCP connection.

    With `--workers` > 1 uvicorn binds the listening socket itself with proto 0, and
    asyncio only sets TCP_NODELAY on sockets whose proto is IPPROTO_TCP; response headers
    and body then leave in two segments and the body waits ~40 ms for the client's delayed
    ACK on every keep-alive request (uvicorn issue #3149; MLflow's default server has it)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # the peer is already gone; nothing to speed up
            pass


def _no_delay_protocol() -> type:
    """uvicorn's HTTP protocol (httptools, a dependency: its C parser costs ~0.2 ms less
    per request than the pure-Python h11, which remains the fallback, as in uvicorn's
    "auto"), setting TCP_NODELAY on each connection it is given."""
    import asyncio

    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        from uvicorn.protocols.http.h11_impl import H11Protocol

        class NoDelayH11Protocol(H11Protocol):
            def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
                _set_no_delay(transport)
                super().connection_made(transport)

        return NoDelayH11Protocol

    class NoDelayHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            _set_no_delay(transport)
            super().connection_made(transport)

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            if b"#" in self.url:
                # httptools drops a `#fragment` from the path and the query (h11 keeps it):
                # `a#/../../x` would reach the app as `a`. Give the app the raw target as h11
                # does, so the artifact path checks see, and refuse, what was sent.
                raw_path, _, query = self.url.partition(b"?")
                self.scope["raw_path"] = self.root_path.encode("ascii") + raw_path
                self.scope["query_string"] = query

    return NoDelayHttpToolsProtocol


def __getattr__(name: str) -> Any:
    """`NoDelayHttpProtocol`, built on first use: importing uvicorn's protocol modules here
    at import time would slow down every `cairn` command."""
    if name == "NoDelayHttpProtocol":
        protocol = _no_delay_protocol()
        globals()[name] = protocol
        return protocol
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
