"""Every route of `create_app` says who may call it: an endpoint declares its `Access`
(cairn.server.access) and cannot be declared without one, and the auth middleware finds it
by matching the request as the router does, under every prefix. A route that declared
nothing would silently be for administrators only under `--auth`.

In process: the application is called as an ASGI app, without a server.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from cairn.server import ui_api
from cairn.server.access import ADMIN, ANY_USER, EDIT, READ, Access, Reference, Refers, Source
from cairn.server.app import create_app
from cairn.server.artifacts_api import PROXY_PREFIXES
from cairn.server.auth import AuthMiddleware
from cairn.server.auth_store import AuthStore
from cairn.server.multipart_api import MULTIPART_PREFIXES
from cairn.server.routes import API_PREFIXES, TRACE_PREFIXES, Endpoint, EndpointRoute
from cairn.server.tracking_api import get_run
from cairn.store.sql.tracking import SqlTrackingStore

PASSWORD = "correct-horse-battery"
ADMINS_ONLY = "Only administrators may use this endpoint."
# The routes that are not endpoints, each guarded its own way by the middleware: no
# credentials, any authenticated user (the UI's files are the same for everyone), or the
# artifact proxy's check on the experiment in the artifact path.
OPEN = {"/health", "/version"}
ANY_AUTHENTICATED = {"/api/3.0/mlflow/server-info", "/", "/favicon.ico", "/static/{name:path}"}
_LINKS_RUN = (Refers(EDIT, Reference.TRACE_RUN),)  # a new trace's run, in its metadata
PROXIED = {
    *PROXY_PREFIXES,
    *(prefix + "/{path:path}" for prefix in PROXY_PREFIXES),
    *(prefix + "/{folder:path}" for prefix in MULTIPART_PREFIXES),
}


@pytest.fixture
def app(sqlite_store: SqlTrackingStore, tmp_path: Path) -> Iterator[Starlette]:
    auth = AuthStore(sqlite_store.engine)
    auth.create_user("admin", PASSWORD, is_admin=True)
    auth.create_user("plain", PASSWORD)
    yield create_app(sqlite_store, str(tmp_path / "artifacts"), auth=auth, allowed_hosts=["*"])


def _middleware(app: Starlette) -> AuthMiddleware:
    layer: Any = app.build_middleware_stack()
    while not isinstance(layer, AuthMiddleware):
        layer = layer.app
    return layer


def _sample(path: str) -> str:
    """A concrete path the template matches: each `{name}` or `{name:path}` a value."""
    return re.sub(r"\{[^}]+\}", "m-1", path)


def _scope(method: str, path: str, user: str | None = None) -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")]
    if user is not None:
        encoded = base64.b64encode(f"{user}:{PASSWORD}".encode())
        headers.append((b"authorization", b"Basic " + encoded))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 50000),
    }


def _call(app: Starlette, method: str, path: str, user: str) -> tuple[int, bytes]:
    """One request through the whole application, with an empty JSON body."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(_scope(method, path, user), receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


def _endpoint_routes(app: Starlette) -> list[EndpointRoute]:
    return [r for r in app.routes if isinstance(r, EndpointRoute)]


def test_every_route_is_an_endpoint_with_access_or_guarded_apart(app: Starlette) -> None:
    undeclared = []
    for route in app.routes:
        assert isinstance(route, Route), route
        if isinstance(route, EndpointRoute):
            methods = (route.methods or set()) - {"HEAD"}
            assert methods and methods == set(route.accesses), route.path
            assert all(isinstance(a, Access) for a in route.accesses.values())
        elif route.path not in OPEN | ANY_AUTHENTICATED | PROXIED:
            undeclared.append(route.path)
    assert undeclared == [], "routes that declare no access (admins only under --auth)"
    # The rest are endpoints: the MLflow API, the registry and the UI's calls.
    assert len(_endpoint_routes(app)) > 100


def test_the_middleware_finds_each_endpoints_access_under_every_prefix(app: Starlette) -> None:
    middleware = _middleware(app)
    unresolved = []
    for route in _endpoint_routes(app):
        for method, declared in route.accesses.items():
            access, path_params = middleware.access(_scope(method, _sample(route.path)))
            if access != declared:
                unresolved.append((method, route.path, access))
            if "{model_id}" in route.path:
                assert path_params["model_id"] == "m-1"
    assert unresolved == []
    paths = {r.path for r in _endpoint_routes(app)}
    for api, prefixes in (("/runs/get", API_PREFIXES), ("/metrics/export", ui_api.PREFIXES)):
        assert {prefix + api for prefix in prefixes} <= paths
        assert {re.sub(r"/[0-9.]+/.*", "", p) for p in prefixes} == {"/api", "/ajax-api"}
    for prefix in API_PREFIXES:
        tagged = f"{prefix}/logged-models/m-7/tags/a/b"
        access, path_params = middleware.access(_scope("DELETE", tagged))
        assert access == Access("EDIT", Source.LOGGED_MODEL)
        assert path_params == {"model_id": "m-7", "tag_key": "a/b"}


def test_trace_routes_with_a_fixed_segment_are_not_read_as_trace_ids(app: Starlette) -> None:
    middleware = _middleware(app)
    assert "/api/3.0/mlflow/runs/get" not in {r.path for r in _endpoint_routes(app)}
    for prefix in TRACE_PREFIXES:
        for method, path, access in (
            ("GET", "/traces/get", Access(READ, Source.TRACE)),
            ("GET", "/traces/batchGet", Access(READ, Source.TRACE_IDS)),
            ("POST", "/traces/search", Access(READ, Source.TRACE_LOCATIONS)),
            ("POST", "/traces/delete-traces", Access(EDIT, Source.EXPERIMENT)),
            ("POST", "/traces/link-to-run", Access(EDIT, Source.RUN_AND_TRACES)),
            ("POST", "/traces", Access(EDIT, Source.NEW_TRACE, refers=_LINKS_RUN)),
        ):
            assert middleware.access(_scope(method, prefix + path)) == (access, {}), path
        assert middleware.access(_scope("GET", f"{prefix}/traces/tr-1")) == (
            Access(READ, Source.TRACE),
            {"trace_id": "tr-1"},
        )
    otlp = middleware.access(_scope("POST", "/v1/traces"))
    assert otlp == (Access(EDIT, Source.EXPERIMENT_HEADER), {})


def test_no_endpoint_is_admin_only_and_unknown_calls_are(app: Starlette) -> None:
    """A user without grants may reach every endpoint's own check (and fails it, or the call
    itself fails); only calls that no endpoint serves are refused as admin-only."""
    refused = []
    for route in _endpoint_routes(app):
        for method, access in route.accesses.items():
            status, body = _call(app, method, _sample(route.path), "plain")
            if access.permission != ADMIN and ADMINS_ONLY.encode() in body:
                refused.append((method, route.path, status))
    assert refused == []
    for prefix in (*API_PREFIXES, *ui_api.PREFIXES):
        for method, path in (("GET", "/no-such-call"), ("PUT", "/runs/get")):
            status, body = _call(app, method, prefix + path, "plain")
            assert status == 403, (method, prefix + path, body)
            assert json.loads(body) == {"error_code": "PERMISSION_DENIED", "message": ADMINS_ONLY}
    assert _call(app, "GET", API_PREFIXES[0] + "/no-such-call", "admin")[0] == 404


def test_an_endpoint_cannot_be_declared_without_its_access() -> None:
    with pytest.raises(TypeError):
        Endpoint("GET", "/runs/get", get_run)  # type: ignore[call-arg]
    with pytest.raises(TypeError):  # positionally neither: the declaration names it
        Endpoint("GET", "/runs/get", get_run, Access(READ, Source.RUN))  # type: ignore[misc]
    admins = Endpoint("GET", "/runs/get", get_run, access=Access(ADMIN))
    assert admins.access.permission == ADMIN


@pytest.mark.parametrize(
    "permission, source",
    [(READ, None), (ANY_USER, Source.RUN), (ADMIN, Source.EXPERIMENT), ("WRITE", Source.RUN)],
)
def test_an_access_says_where_its_object_is_exactly_when_it_has_one(
    permission: str, source: Source | None
) -> None:
    with pytest.raises(ValueError):
        Access(permission, source)
