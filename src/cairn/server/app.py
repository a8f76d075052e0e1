"""`create_app`: the ASGI application, built from injected stores (no module-global state)."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from cairn.exceptions import CairnError
from cairn.server import errors, tracking_api
from cairn.server.context import Context
from cairn.server.routes import build_routes
from cairn.server.wire import json_response
from cairn.store.base import TrackingStore

MLFLOW_COMPATIBLE_VERSION = "3.18.0"


def create_app(
    tracking: TrackingStore,
    artifacts_destination: str,
    allowed_artifact_roots: Sequence[str] = (),
) -> Starlette:
    """The server over `tracking`, proxying artifacts to `artifacts_destination`."""
    context = Context(tracking, artifacts_destination, tuple(allowed_artifact_roots))
    routes: list[BaseRoute] = [
        Route("/health", _health, methods=["GET"]),
        Route("/version", _version, methods=["GET"]),
        Route("/api/3.0/mlflow/server-info", _server_info, methods=["GET"]),
        *build_routes(tracking_api.ENDPOINTS, context),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={
            CairnError: errors.on_cairn_error,
            Exception: errors.on_unexpected_error,
        },
    )


async def _health(_request: Request) -> Response:
    return PlainTextResponse("OK")


async def _version(_request: Request) -> Response:
    # MLflow clients compare this with their own version; Cairn speaks 3.18's API.
    return PlainTextResponse(MLFLOW_COMPATIBLE_VERSION)


async def _server_info(_request: Request) -> Response:
    return json_response(
        {
            "store_type": "SqlStore",
            "workspaces_enabled": False,
            "artifact_serving_enabled": True,
            "multipart_uploads_enabled": False,
            "multipart_downloads_enabled": False,
            "artifacts_presigned_only": False,
        }
    )
