"""The HTTP protocol `cairn models serve` and `cairn server` run under uvicorn: httptools'
parser (a dependency), with TCP_NODELAY set on every accepted connection. The end-to-end
check, two workers and a kept-alive connection, is in test_models_cli.py."""

from __future__ import annotations

import socket
from typing import Any

from cairn.cli import asgi


class _Transport:
    def __init__(self, sock: socket.socket | None) -> None:
        self.sock = sock

    def get_extra_info(self, name: str) -> Any:
        return self.sock if name == "socket" else None


def test_the_protocol_is_httptools() -> None:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    assert issubclass(asgi.NoDelayHttpProtocol, HttpToolsProtocol)


def test_no_delay_is_set_on_an_accepted_connection() -> None:
    # proto 0, as uvicorn binds with several workers (asyncio then leaves Nagle on)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, 0) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()):
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
                asgi._set_no_delay(_Transport(accepted))
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_a_connection_without_a_socket_is_left_alone() -> None:
    asgi._set_no_delay(_Transport(None))
