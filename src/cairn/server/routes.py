"""The REST surface as one table: (method, path, handler), mirroring MLflow's service protos.

Each path is served under every API prefix (`/api/2.0/mlflow`, `/ajax-api/2.0/mlflow`).
A handler takes the server's `Context` and the call's `Message` and returns the response
payload (a dict, MLflow's `{}` when empty); it runs in a worker thread, since stores block.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cairn.server.context import Context
from cairn.server.messages import Message
from cairn.server.wire import json_response

Handler = Callable[[Context, Message], dict[str, Any]]
API_PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler


def build_routes(
    endpoints: Sequence[Endpoint], context: Context, prefixes: Sequence[str] = API_PREFIXES
) -> list[Route]:
    """Starlette routes for every endpoint under every prefix; one path may take several methods."""
    by_path: dict[str, dict[str, Handler]] = {}
    for endpoint in endpoints:
        by_path.setdefault(endpoint.path, {})[endpoint.method] = endpoint.handler
    routes = []
    for path, handlers in by_path.items():
        endpoint_function = _dispatcher(handlers, context)
        for prefix in prefixes:
            routes.append(Route(prefix + path, endpoint_function, methods=list(handlers)))
    return routes


def _dispatcher(handlers: dict[str, Handler], context: Context) -> Callable[[Request], Any]:
    async def serve(request: Request) -> Response:
        handler = handlers[request.method]
        message = await Message.read(request)
        payload = await run_in_threadpool(handler, context, message)
        return json_response(payload)

    return serve
