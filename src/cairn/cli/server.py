"""`cairn server` and `cairn ui`: serve a store over MLflow's REST API."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import Any

import click

from cairn.cli.asgi import run_factory
from cairn.server.context import DEFAULT_MAX_ARTIFACT_UPLOAD_BYTES as DEFAULT_MAX_UPLOAD
from cairn.store.model_source import ALLOWED_SOURCES_OPTION

ARTIFACT_SCHEME_ROOT = "mlflow-artifacts:"
_SETTINGS_ENV = "CAIRN_SERVER_SETTINGS"


def build_app(
    backend_store_uri: str | None,
    artifacts_destination: str,
    *,
    allowed_artifact_roots: Sequence[str] = (),
    allowed_hosts: Sequence[str] | None = None,
    cors_allowed_origins: Sequence[str] | None = None,
    max_artifact_upload_bytes: int | None = DEFAULT_MAX_UPLOAD,
    auth: bool = False,
    allowed_model_sources: Sequence[str] = (),
    oidc: dict[str, Any] | None = None,
) -> object:
    """The application for a store URI (default: ./cairn-data/) and an artifact folder;
    with `auth`, users must authenticate (users and permissions live in the same store).
    `allowed_model_sources`: object-store prefixes model versions may be registered from."""
    from cairn.server.app import create_app
    from cairn.store.sql.registry import SqlRegistryStore
    from cairn.store.sql.tracking import SqlTrackingStore
    from cairn.store.uri import default_tracking_uri

    uri = backend_store_uri or default_tracking_uri()
    # Experiments created through the server keep their artifacts behind its proxy.
    store = SqlTrackingStore(uri, ARTIFACT_SCHEME_ROOT)
    auth_store = None
    if auth:
        from cairn.server.auth_store import AuthStore, check_argon2_available

        check_argon2_available()
        auth_store = AuthStore(store.engine)
    return create_app(
        store,
        artifacts_destination,
        allowed_artifact_roots,
        allowed_hosts=allowed_hosts,
        cors_allowed_origins=cors_allowed_origins,
        max_artifact_upload_bytes=max_artifact_upload_bytes,
        auth=auth_store,
        registry=SqlRegistryStore(uri, allowed_model_sources=allowed_model_sources),
        oidc=_oidc_settings(oidc) if auth and oidc else None,
    )


def _oidc_settings(options: dict[str, Any]) -> Any:
    """`--oidc-*` options with the secrets from the environment (cairn.server.oidc_config)."""
    from cairn.server.oidc_config import OidcSettings

    return OidcSettings.from_options(options)


def _oidc_options(
    auth: bool,
    issuer: str | None,
    client_id: str | None,
    scopes: str | None,
    groups_claim: str,
    redirect_url: str | None,
    group_mapping: str | None,
) -> dict[str, Any] | None:
    """The `--oidc-*` options for the workers, checked now: a bad one stops the start."""
    if issuer is None:
        if client_id or group_mapping or redirect_url:
            raise click.BadParameter("needs --oidc-issuer", param_hint="--oidc-*")
        return None
    if not auth:
        raise click.BadParameter("needs --auth", param_hint="--oidc-issuer")
    from cairn.exceptions import CairnError
    from cairn.server.oidc_groups import GroupMapping

    mapping = os.path.abspath(group_mapping) if group_mapping else None
    options = {
        "issuer": issuer,
        "client_id": client_id,
        "scopes": scopes,
        "groups_claim": groups_claim,
        "redirect_url": redirect_url,
        "group_mapping": mapping,
    }
    try:
        _oidc_settings(options)
        GroupMapping.load(mapping)
    except CairnError as error:
        raise click.ClickException(error.message) from None
    return options


def _serve(
    host: str, port: int, settings: dict[str, Any], workers: int, *, for_browser: bool = False
) -> None:
    from cairn.maintenance.dead_runs import Sweeper
    from cairn.store.uri import default_tracking_uri

    os.environ[_SETTINGS_ENV] = json.dumps(settings)
    # One sweep for all workers: runs whose process is gone end KILLED.
    Sweeper(settings["backend_store_uri"] or default_tracking_uri()).start()
    ready = _start_banner(settings, for_browser)
    run_factory(f"{__name__}:app_from_environment", host, port, workers, ready)


def _start_banner(settings: dict[str, Any], for_browser: bool) -> Callable[[str], None]:
    """What to print once the server listens: its URL (for `cairn ui`, as an invitation to
    open it), then where the data lives, the store URI's password masked."""
    from sqlalchemy.engine import make_url

    from cairn.store.uri import default_tracking_uri

    store_uri = settings["backend_store_uri"] or default_tracking_uri()
    store = make_url(store_uri).render_as_string(hide_password=True)
    artifacts = settings["artifacts_destination"]

    def ready(url: str) -> None:
        if for_browser:
            click.echo(f"Cairn UI ready: open {_browsable(url)} in a browser")
        else:
            click.echo(f"Cairn server listening on {url}")
        click.echo(f"Store: {store}  Artifacts: {artifacts}")

    return ready


def _browsable(url: str) -> str:
    """The URL a browser on this machine opens for a server on every interface."""
    for anywhere in ("://0.0.0.0:", "://[::]:"):
        url = url.replace(anywhere, "://127.0.0.1:" if "." in anywhere else "://[::1]:")
    return url


def app_from_environment() -> object:
    """The app for each uvicorn worker process, configured by `cairn server`'s options."""
    settings = json.loads(os.environ[_SETTINGS_ENV])
    app = build_app(
        settings["backend_store_uri"],
        settings["artifacts_destination"],
        allowed_artifact_roots=settings["allowed_artifact_roots"],
        allowed_hosts=settings["allowed_hosts"],
        cors_allowed_origins=settings["cors_allowed_origins"],
        max_artifact_upload_bytes=settings["max_artifact_upload_bytes"],
        auth=settings.get("auth", False),
        allowed_model_sources=settings.get("allowed_model_sources", ()),
        oidc=settings.get("oidc"),
    )
    if not settings.get("access_log", False):
        return app
    from cairn.server.access_log import AccessLogMiddleware, log_to_stderr

    log_to_stderr()
    return AccessLogMiddleware(app)  # type: ignore[arg-type]


def _destination(value: str) -> str:
    """A local destination as an absolute folder (created now); other URIs (s3://) as given."""
    from cairn.artifact_paths import local_path_of
    from cairn.artifact_store.uri import scheme_of

    if scheme_of(value) != "file":
        return value
    folder = os.path.abspath(local_path_of(value))
    os.makedirs(folder, exist_ok=True)
    return folder


def _settings(
    backend_store_uri: str | None,
    artifacts_destination: str,
    allowed_artifact_roots: str | None,
    allowed_hosts: str | None,
    cors_allowed_origins: str | None,
    max_artifact_upload_bytes: int,
    auth: bool = False,
    allowed_model_sources: Sequence[str] = (),
    access_log: bool = True,
) -> dict[str, Any]:
    """The options, checked now (a typo fails the command, not each worker)."""
    from cairn.artifact_store.uri import artifact_repository
    from cairn.exceptions import CairnError
    from cairn.extras import MissingExtraError
    from cairn.server.security import SecurityMiddleware, split_list
    from cairn.store.sql.engine import require_driver
    from cairn.store.uri import default_tracking_uri

    try:  # a missing database driver stops the start with the extra to install
        require_driver(backend_store_uri or default_tracking_uri())
    except MissingExtraError as missing:
        raise click.ClickException(str(missing)) from None
    destination = _destination(artifacts_destination)
    try:
        artifact_repository(destination)
    except CairnError as error:
        raise click.BadParameter(error.message, param_hint="--artifacts-destination") from None
    hosts, origins = split_list(allowed_hosts), split_list(cors_allowed_origins)
    try:
        SecurityMiddleware(app=_no_app, allowed_hosts=hosts, cors_allowed_origins=origins)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    if max_artifact_upload_bytes < 0:
        raise click.BadParameter("must be 0 (no limit) or more", param_hint="--max-upload-bytes")
    if auth:
        from cairn.extras import require
        from cairn.server.login_limits import LoginLimits

        try:
            require("argon2", extra="auth", needed_for="cairn server --auth")
        except MissingExtraError as missing:
            raise click.ClickException(str(missing)) from None
        try:
            LoginLimits.from_environment()  # a bad setting stops the start, not each request
        except CairnError as error:
            raise click.ClickException(error.message) from None
    return {
        "backend_store_uri": backend_store_uri,
        "artifacts_destination": destination,
        "allowed_artifact_roots": split_list(allowed_artifact_roots) or [],
        "allowed_hosts": hosts,
        "cors_allowed_origins": origins,
        "max_artifact_upload_bytes": max_artifact_upload_bytes or None,
        "auth": auth,
        "allowed_model_sources": _model_sources(destination, allowed_model_sources),
        "access_log": access_log,
    }


def _model_sources(destination: str, listed: Sequence[str]) -> list[str]:
    """The object-store prefixes model versions may come from: the destination's bucket
    (when it is one) and those listed (each option may hold several, comma-separated)."""
    from cairn.server.security import split_list
    from cairn.store.model_source import allowed_prefix, default_allowed_prefixes

    prefixes = list(default_allowed_prefixes(destination))
    for value in listed:
        for entry in split_list(value) or []:
            try:
                prefix = allowed_prefix(entry)
            except ValueError as error:
                raise click.BadParameter(str(error), param_hint=ALLOWED_SOURCES_OPTION) from None
            if prefix not in prefixes:
                prefixes.append(prefix)
    return prefixes


async def _no_app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover
    raise RuntimeError("only used to check the allow-lists")


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
    help="Where the artifact proxy stores files: a folder or s3://bucket/prefix.",
)
@click.option(
    "--allowed-artifact-roots",
    default=None,
    help="Comma-separated folders or URIs (s3://bucket/prefix) where experiments may keep "
    "artifacts besides the artifact proxy's destination (mlflow-artifacts:/...).",
)
@click.option(
    "--allowed-hosts",
    default=None,
    help="Comma-separated Host header values to accept: names (any port), name:port, "
    "*.example.com, networks such as 10.0.0.0/8, or '*' for any. Default: localhost and "
    "private addresses. Others get 403 (DNS rebinding protection).",
)
@click.option(
    "--cors-allowed-origins",
    default=None,
    help="Comma-separated browser origins (scheme://host[:port], port may be '*') allowed "
    "to make changes; '*' for any. Default: the server's own origin and localhost.",
)
@click.option(
    "--max-upload-bytes",
    "max_artifact_upload_bytes",
    default=DEFAULT_MAX_UPLOAD,
    show_default=True,
    type=int,
    help="Largest artifact the proxy accepts in one upload (0: no limit).",
)
@click.option(
    ALLOWED_SOURCES_OPTION,
    "allowed_model_sources",
    multiple=True,
    help="Object-store prefixes (s3://bucket/path, gs://, wasbs://, dbfs:/) model versions "
    "may be registered from without the server reading them; repeat the option or separate "
    "with commas. Default: the artifact destination's bucket when it is an object store. "
    "Local paths are only accepted inside a run's or logged model's artifacts.",
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="Log one line per request (method, path, status, milliseconds, user) to stderr.",
)
@click.option("--workers", default=1, show_default=True, type=int, help="Worker processes.")
@click.option(
    "--auth",
    is_flag=True,
    default=False,
    help="Require HTTP Basic credentials or an API token on every call but /health and "
    "/version, and per-experiment permissions (manage users with `cairn users`).",
)
@click.option(
    "--oidc-issuer",
    default=None,
    help="With --auth: browsers log in through this OpenID Connect provider (its issuer "
    "URL). The client secret is read from CAIRN_OIDC_CLIENT_SECRET.",
)
@click.option("--oidc-client-id", default=None, help="The client id registered at the provider.")
@click.option(
    "--oidc-scopes", default=None, help="Scopes to ask for (default: 'openid profile email')."
)
@click.option(
    "--oidc-groups-claim",
    default="groups",
    show_default=True,
    help="The ID token claim that lists the user's groups.",
)
@click.option(
    "--oidc-redirect-url",
    default=None,
    help="The callback URL registered at the provider (default: /auth/callback on the "
    "address the browser used).",
)
@click.option(
    "--oidc-group-mapping",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="A YAML or JSON file mapping provider groups to the admin flag and to experiment "
    "and registered-model permissions, applied at each login.",
)
def server(
    host: str,
    port: int,
    backend_store_uri: str | None,
    artifacts_destination: str,
    allowed_artifact_roots: str | None,
    allowed_hosts: str | None,
    cors_allowed_origins: str | None,
    max_artifact_upload_bytes: int,
    workers: int,
    auth: bool,
    allowed_model_sources: tuple[str, ...],
    access_log: bool,
    oidc_issuer: str | None,
    oidc_client_id: str | None,
    oidc_scopes: str | None,
    oidc_groups_claim: str,
    oidc_redirect_url: str | None,
    oidc_group_mapping: str | None,
) -> None:
    """Serve a tracking store over MLflow's REST API (mlflow clients work unchanged)."""
    settings = _settings(
        backend_store_uri,
        artifacts_destination,
        allowed_artifact_roots,
        allowed_hosts,
        cors_allowed_origins,
        max_artifact_upload_bytes,
        auth,
        allowed_model_sources,
        access_log,
    )
    settings["oidc"] = _oidc_options(
        auth,
        oidc_issuer,
        oidc_client_id,
        oidc_scopes,
        oidc_groups_claim,
        oidc_redirect_url,
        oidc_group_mapping,
    )
    if host in ("0.0.0.0", "::") and allowed_hosts is None:
        click.echo(
            "Listening on all interfaces: requests must name this server by a local or "
            "private address (Host header); add its public names with --allowed-hosts.",
            err=True,
        )
    _serve(host, port, settings, workers)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--access-log/--no-access-log",
    default=False,
    show_default=True,
    help="Log one line per request to stderr (off by default: the UI polls while open).",
)
def ui(host: str, port: int, access_log: bool) -> None:
    """Serve the default store (./cairn-data/) with the web UI."""
    settings = _settings(
        None,
        os.path.join("cairn-data", "artifacts"),
        None,
        None,
        None,
        DEFAULT_MAX_UPLOAD,
        access_log=access_log,
    )
    _serve(host, port, settings, 1, for_browser=True)
