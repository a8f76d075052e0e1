"""Running an ASGI app factory under uvicorn, as `cairn server` and `cairn models serve` do.

With several workers uvicorn needs an import string ("module:factory") rather than an app
object: each worker process imports the factory and builds its own app, so settings travel
to the workers in environment variables, which the caller sets first. One process can be
given an app built already (`run_app`).

Every connection gets TCP_NODELAY (see `_set_no_delay`), whatever the worker count.

`ready` is called with the server's base URL once it listens: with one worker, after the
socket is bound (so a port of 0 is reported as the one the system picked); with several,
just before uvicorn binds it and starts them, as there is no hook in between.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from typing import Any

# uvicorn imports this class by name in each worker (see `__getattr__` below).
HTTP_PROTOCOL = f"{__name__}:NoDelayHttpProtocol"
# uvicorn's exit status when the server could not start (the port taken, say).
_STARTUP_FAILURE = 3

Ready = Callable[[str], None]
"""Told the base URL (`http://127.0.0.1:5000`) once the server listens."""


def run_factory(
    factory: str, host: str, port: int, workers: int, ready: Ready | None = None
) -> None:
    """Serve the app that `factory` ("module:function") builds in each worker, until
    interrupted."""
    _run(factory, host, port, workers=workers, factory=True, ready=ready)


def run_app(app: object, host: str, port: int, ready: Ready | None = None) -> None:
    """Serve an app built in this process, in this process, until interrupted."""
    _run(app, host, port, workers=1, factory=False, ready=ready)


def base_url(host: str, port: int) -> str:
    """`http://host:port`, with an IPv6 address in brackets."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _run(
    target: Any, host: str, port: int, *, workers: int, factory: bool, ready: Ready | None
) -> None:
    import uvicorn

    options: dict[str, Any] = {"host": host, "port": port, "workers": workers}
    options.update(factory=factory, http=HTTP_PROTOCOL, log_level="warning")
    if workers > 1:
        if ready is not None:
            ready(base_url(host, port))
        uvicorn.run(target, **options)
        return
    server = _server_class()(uvicorn.Config(target, **options), ready)
    try:
        server.run()
    except KeyboardInterrupt:  # as uvicorn.run: Ctrl-C is the ordinary way to stop
        pass
    if not server.started:
        sys.exit(_STARTUP_FAILURE)


def _server_class() -> type:
    """uvicorn's Server, telling `ready` once its socket is bound (built on first use, as
    importing uvicorn at import time would slow down every `cairn` command)."""
    import uvicorn

    class AnnouncingServer(uvicorn.Server):
        def __init__(self, config: uvicorn.Config, ready: Ready | None) -> None:
            super().__init__(config)
            self._ready = ready

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started and self._ready is not None:
                self._ready(base_url(self.config.host, _bound_port(self) or self.config.port))

    return AnnouncingServer


def _bound_port(server: Any) -> int | None:
    """The port the server's first listening socket has (the system's pick for port 0)."""
    for listener in getattr(server, "servers", []):
        for sock in listener.sockets or ():
            name = sock.getsockname()
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                return int(name[1])
    return None


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
