"""`create_app`: the ASGI application, built from injected stores (no module-global state)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from cairn.exceptions import CairnError
from cairn.server import (
    artifacts_api,
    errors,
    imports,
    logged_models_api,
    maintenance_api,
    openapi,
    otlp,
    registry_api,
    security,
    storage_api,
    traces_api,
    tracking_api,
    ui,
    ui_api,
)
from cairn.server.auth import AuthMiddleware
from cairn.server.auth_store import AuthStore
from cairn.server.context import DEFAULT_MAX_ARTIFACT_UPLOAD_BYTES, Context
from cairn.server.messages import Message
from cairn.server.multipart_api import MultipartRoutes
from cairn.server.oidc_config import OidcSettings
from cairn.server.responses import HeadWithoutBody, json_response
from cairn.server.routes import TRACE_PREFIXES, Endpoint, Handler, build_routes
from cairn.store.base import RegistryStore, TrackingStore
from cairn.store.traces import TraceStore

# Calls that set where artifacts will be written: their location must lie in an allowed root.
_ARTIFACT_LOCATION_FIELDS = {("POST", "/experiments/create"): "artifact_location"}


def create_app(
    tracking: TrackingStore,
    artifacts_destination: str,
    allowed_artifact_roots: Sequence[str] = (),
    *,
    allowed_hosts: Sequence[str] | None = None,
    cors_allowed_origins: Sequence[str] | None = None,
    max_artifact_upload_bytes: int | None = DEFAULT_MAX_ARTIFACT_UPLOAD_BYTES,
    auth: AuthStore | None = None,
    registry: RegistryStore | None = None,
    traces: TraceStore | None = None,
    oidc: OidcSettings | None = None,
) -> Starlette:
    """The server over `tracking`, proxying artifacts to `artifacts_destination`.

    `allowed_hosts` / `cors_allowed_origins`: the Host and Origin allow-lists (None: local
    and private addresses, local origins; `["*"]`: anything). Experiment artifact
    locations must lie under the destination (`mlflow-artifacts:/…`) or one of
    `allowed_artifact_roots`. With `auth`, every call but /health and /version needs a
    user's credentials and permission (see cairn.server.auth). `registry` is the model
    registry; by default a SQL one on the tracking store's database. `traces`: MLflow 3's
    traces; by default the SQL trace store on that database too. `oidc` (with `auth`):
    browsers log in through that OpenID Connect provider (cairn.server.oidc_login)."""
    registry = registry if registry is not None else _registry_beside(tracking)
    traces = traces if traces is not None else _traces_beside(tracking)
    context = Context(
        tracking,
        artifacts_destination,
        tuple(allowed_artifact_roots),
        max_artifact_upload_bytes,
        registry,
        traces=traces,
    )
    endpoints = [
        *(_guard_artifact_location(e) for e in tracking_api.ENDPOINTS),
        *artifacts_api.TRACKING_ENDPOINTS,
        *logged_models_api.ENDPOINTS,
        *registry_api.ENDPOINTS,
    ]
    proxy = artifacts_api.ArtifactProxy(context)
    multipart = MultipartRoutes(proxy.repository)
    routes: list[BaseRoute] = [
        Route("/health", _health, methods=["GET"]),
        Route("/version", _version, methods=["GET"]),
        Route("/api/3.0/mlflow/server-info", _server_info(multipart.enabled), methods=["GET"]),
        *otlp.routes(context),
        *build_routes(endpoints, context),
        *build_routes(traces_api.ENDPOINTS, context, TRACE_PREFIXES),
        *ui_api.routes(context),
        *build_routes(storage_api.ENDPOINTS, context, ui_api.PREFIXES),
        *imports.routes(context),
        *maintenance_api.routes(context),
        *proxy.routes(),
        *multipart.routes(),
        *ui.routes(),
    ]
    routes.append(openapi.route(routes))
    middleware = [
        Middleware(HeadWithoutBody),
        Middleware(
            security.SecurityMiddleware,
            allowed_hosts=allowed_hosts,
            cors_allowed_origins=cors_allowed_origins,
        ),
    ]
    if auth is not None:
        # Inside the security middleware: CORS preflights and Host checks come first.
        # It finds what each call needs by matching it against `routes`, as the router will.
        middleware.append(
            Middleware(
                AuthMiddleware,
                store=auth,
                tracking=tracking,
                registry=registry,
                routes=routes,
                traces=traces,
                oidc=None if oidc is None else _oidc_login(oidc, auth, tracking),
            )
        )
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            CairnError: errors.on_cairn_error,
            HTTPException: errors.on_http_error,
            Exception: errors.on_unexpected_error,
        },
    )


def _oidc_login(settings: OidcSettings, auth: AuthStore, tracking: TrackingStore) -> Any:
    """The /auth/ routes of an OpenID Connect login (authlib, httpx and itsdangerous are
    imported only when a provider is configured)."""
    from cairn.server.oidc_accounts import OidcAccounts
    from cairn.server.oidc_groups import GroupMapping
    from cairn.server.oidc_login import OidcLogin

    accounts = OidcAccounts(auth, tracking, GroupMapping.load(settings.group_mapping))
    return OidcLogin(settings, auth, accounts)


def _registry_beside(tracking: TrackingStore) -> RegistryStore:
    """A SQL registry on the tracking store's database (callers from before the registry
    pass only the tracking store)."""
    db_uri = getattr(tracking, "db_uri", None)
    if not isinstance(db_uri, str):
        raise TypeError("create_app needs `registry` unless `tracking` is a SQL store.")
    from cairn.store.sql.registry import SqlRegistryStore

    registry: RegistryStore = SqlRegistryStore(db_uri)
    return registry


def _traces_beside(tracking: TrackingStore) -> TraceStore:
    """The trace store on the tracking store's database (the SQL store's own, when it has
    one)."""
    own = getattr(tracking, "traces", None)
    if isinstance(own, TraceStore):
        return own
    db_uri = getattr(tracking, "db_uri", None)
    if not isinstance(db_uri, str):
        raise TypeError("create_app needs `traces` unless `tracking` is a SQL store.")
    from cairn.store.sql.traces import SqlTraceStore

    store: TraceStore = SqlTraceStore(db_uri)
    return store


def _guard_artifact_location(endpoint: Endpoint) -> Endpoint:
    """The endpoint, with its artifact location checked against the roots before it runs
    (composed around tracking_api's handler, which stays unaware of the rule)."""
    field = _ARTIFACT_LOCATION_FIELDS.get((endpoint.method, endpoint.path))
    if field is None:
        return endpoint
    handler = endpoint.handler

    def checked(context: Context, message: Message) -> dict[str, Any]:
        security.check_artifact_location(message.string(field), context)
        return handler(context, message)

    guarded: Handler = checked
    return replace(endpoint, handler=guarded)


async def _health(_request: Request) -> Response:
    return PlainTextResponse("OK")


async def _version(request: Request) -> Response:
    """The MLflow version whose API this server speaks, as plain text: MLflow clients
    compare it with their own, so the body stays exactly that. Cairn's own version rides
    in `X-Cairn-Version`, and `?format=json` answers both by name."""
    from cairn.version import MLFLOW_COMPATIBLE_VERSION, __version__

    headers = {"X-Cairn-Version": __version__}
    if request.query_params.get("format") == "json":
        reply = json_response({"cairn": __version__, "mlflow_api": MLFLOW_COMPATIBLE_VERSION})
        reply.headers.update(headers)
        return reply
    return PlainTextResponse(MLFLOW_COMPATIBLE_VERSION, headers=headers)


def _server_info(multipart_uploads: bool) -> Callable[[Request], Awaitable[Response]]:
    info = {
        "store_type": "SqlStore",
        "workspaces_enabled": False,
        "artifact_serving_enabled": True,
        "multipart_uploads_enabled": multipart_uploads,
        "multipart_downloads_enabled": False,
        "artifacts_presigned_only": False,
    }

    async def answer(_request: Request) -> Response:
        return json_response(info)

    return answer
