"""`cairn server` and `cairn ui`: serve a store over MLflow's REST API."""

from __future__ import annotations

import os

import click

ARTIFACT_SCHEME_ROOT = "mlflow-artifacts:"


def build_app(backend_store_uri: str | None, artifacts_destination: str) -> object:
    """The application for a store URI (default: ./cairn-data/) and an artifact folder."""
    from cairn.server.app import create_app
    from cairn.store.sql.tracking import SqlTrackingStore
    from cairn.store.uri import default_tracking_uri

    # Experiments created through the server keep their artifacts behind its proxy.
    store = SqlTrackingStore(backend_store_uri or default_tracking_uri(), ARTIFACT_SCHEME_ROOT)
    return create_app(store, artifacts_destination)


def _serve(host: str, port: int, backend: str | None, destination: str, workers: int) -> None:
    import uvicorn

    os.environ["CAIRN_SERVER_BACKEND_STORE_URI"] = backend or ""
    os.environ["CAIRN_SERVER_ARTIFACTS_DESTINATION"] = destination
    uvicorn.run(
        "cairn.cli.server:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )


def app_from_environment() -> object:
    """The app for each uvicorn worker process, configured by `cairn server`'s options."""
    return build_app(
        os.environ.get("CAIRN_SERVER_BACKEND_STORE_URI") or None,
        os.environ["CAIRN_SERVER_ARTIFACTS_DESTINATION"],
    )


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--backend-store-uri",
    default=None,
    help="Tracking store URI (default: SQLite in ./cairn-data/).",
)
@click.option(
    "--artifacts-destination",
    default=os.path.join("cairn-data", "artifacts"),
    show_default=True,
    help="Where the artifact proxy stores files.",
)
@click.option("--workers", default=1, show_default=True, type=int, help="Worker processes.")
def server(
    host: str, port: int, backend_store_uri: str | None, artifacts_destination: str, workers: int
) -> None:
    """Serve a tracking store over MLflow's REST API (mlflow clients work unchanged)."""
    _serve(host, port, backend_store_uri, os.path.abspath(artifacts_destination), workers)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
def ui(host: str, port: int) -> None:
    """Serve the default store (./cairn-data/) with the web UI."""
    _serve(host, port, None, os.path.abspath(os.path.join("cairn-data", "artifacts")), 1)
