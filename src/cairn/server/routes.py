"""The REST surface as one table: (method, path, handler, access), mirroring MLflow's
service protos.

Each path is served under every API prefix (`/api/2.0/mlflow`, `/ajax-api/2.0/mlflow`);
the trace calls also under 3.0, where MLflow 3's client sends them (`TRACE_PREFIXES`:
only there, since the router tries routes one by one and each prefix adds every path).
A handler takes the server's `Context` and the call's `Message` and returns the response
payload (a dict, MLflow's `{}` when empty); it runs in a worker thread, since stores block.
Every endpoint declares its `Access` (cairn.server.access), which its route carries, so the
auth middleware finds what a request needs by matching it as the router will.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

from cairn.server.access import Access
from cairn.server.context import Context
from cairn.server.messages import Message
from cairn.server.responses import json_response

Handler = Callable[[Context, Message], dict[str, Any]]
API_PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
TRACE_PREFIXES = (*API_PREFIXES, "/api/3.0/mlflow", "/ajax-api/3.0/mlflow")


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    _: KW_ONLY
    access: Access  # no default: `Access(ADMIN)` is a choice, not an omission


class EndpointRoute(Route):
    """A route that knows the `Access` each of its methods needs."""

    def __init__(
        self, path: str, endpoint: Callable[..., Any], accesses: Mapping[str, Access]
    ) -> None:
        super().__init__(path, endpoint, methods=list(accesses))
        self.accesses = dict(accesses)


@dataclass(frozen=True)
class Resolved:
    """The endpoint route that serves a request, what it needs and the path's fields."""

    route: EndpointRoute
    access: Access
    path_params: dict[str, Any]


def build_routes(
    endpoints: Sequence[Endpoint], context: Context, prefixes: Sequence[str] = API_PREFIXES
) -> list[Route]:
    """Starlette routes for every endpoint under every prefix; one path may take several methods."""
    by_path: dict[str, dict[str, Endpoint]] = {}
    for endpoint in endpoints:
        by_path.setdefault(endpoint.path, {})[endpoint.method] = endpoint
    routes: list[Route] = []
    for path, by_method in by_path.items():
        handlers = {method: e.handler for method, e in by_method.items()}
        accesses = {method: e.access for method, e in by_method.items()}
        endpoint_function = _dispatcher(handlers, context)
        for prefix in prefixes:
            routes.append(EndpointRoute(prefix + path, endpoint_function, accesses))
    return routes


def resolve(routes: Sequence[BaseRoute], scope: Scope) -> Resolved | None:
    """The endpoint route the router will give `scope` to (the first full match), with the
    access its method needs; None when that is no endpoint route, or the method is not one
    the path takes (a HEAD is its GET)."""
    for route in routes:
        match, child = route.matches(scope)
        if match is not Match.FULL:
            continue
        if not isinstance(route, EndpointRoute):
            return None
        access = route.accesses.get(_as_get(scope["method"]))
        if access is None:
            return None
        return Resolved(route, access, dict(child.get("path_params", {})))
    return None


def _dispatcher(handlers: dict[str, Handler], context: Context) -> Callable[[Request], Any]:
    async def serve(request: Request) -> Response:
        # Starlette routes a HEAD to any path that takes GET: it is answered as that GET.
        handler = handlers[_as_get(request.method)]
        message = await Message.read(request)
        payload = await run_in_threadpool(handler, context, message)
        return json_response(payload)

    return serve


def _as_get(method: str) -> str:
    return "GET" if method == "HEAD" else method
