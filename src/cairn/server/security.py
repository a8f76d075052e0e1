"""The server's defences: Host and Origin checks, and artifact locations confined to roots.

* `SecurityMiddleware` refuses requests whose `Host` header is not on the allow-list (DNS
  rebinding: a page on evil.com whose name is made to resolve to 127.0.0.1 still sends
  `Host: evil.com`) and state-changing requests from a browser page of another origin
  (CSRF), answers CORS preflights, and sets `X-Frame-Options: SAMEORIGIN`. The messages
  and statuses are MLflow 3.18's (plain-text 403s).
* `check_artifact_location` closes the gap MLflow 3.18 still has: an unauthenticated client
  could create an experiment whose `artifact_location` is any server path (`/etc`,
  `file:///…`, `http:///#/../../etc/`). Here a location must lie inside a configured root:
  the artifact proxy's destination (as `mlflow-artifacts:/…`, or the destination itself)
  or one of `Context.allowed_artifact_roots`. `artifact_repository_uri` applies the same
  rule whenever the server is about to open a run's artifact URI.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn
from urllib.parse import unquote

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cairn.artifact_paths import join_inside, safe_relative
from cairn.artifact_store.uri import scheme_of
from cairn.exceptions import InvalidParameterValueError
from cairn.server.context import Context

INVALID_HOST_MESSAGE = "Invalid Host header - possible DNS rebinding attack detected"
CORS_BLOCKED_MESSAGE = "Cross-origin request blocked"
STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
HOST_CHECK_EXEMPT_PATHS = frozenset({"/health", "/version"})
"""Probes (load balancers, orchestrators) may address the server by any name."""

DEFAULT_ALLOWED_HOSTS: tuple[str, ...] = (
    "localhost",
    "127.0.0.0/8",
    "::1",
    # Private networks, as MLflow: a rebinding attack puts the attacker's *name* in the
    # Host header, never a bare private address.
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
)
DEFAULT_CORS_ALLOWED_ORIGINS: tuple[str, ...] = (
    "http://localhost:*",
    "https://localhost:*",
    "http://127.0.0.1:*",
    "https://127.0.0.1:*",
    "http://[::1]:*",
    "https://[::1]:*",
)
_CORS_ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")
_HOST_CHARS = re.compile(r"^[A-Za-z0-9._~%!$&'()*+,;=:\[\]-]+$")
_HOSTNAME = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$")


# -- Host and Origin ----------------------------------------------------------------------


def _split_host_port(value: str) -> tuple[str, int | None] | None:
    """`host[:port]` (IPv6 in brackets) as (lower-case host without brackets, port), or None
    when it is not a well-formed authority (user info, paths, spaces, a bad port)."""
    if not value or not _HOST_CHARS.match(value) or "@" in value:
        return None
    port: str | None = None
    if value.startswith("["):
        host, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None
        port = rest[1:] if rest else None
    elif value.count(":") > 1:  # a bare IPv6 address (allowed in configuration only)
        host = value
    else:
        host, colon, port_text = value.partition(":")
        port = port_text if colon else None
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        return None
    host = host.lower().rstrip(".")
    return (host, int(port) if port is not None else None) if host else None


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


@dataclass(frozen=True)
class _HostRule:
    """One `--allowed-hosts` entry: a name or address (any port unless one is given), a
    wildcard pattern such as `*.example.com`, or a network such as `10.0.0.0/8`."""

    host: str
    port: int | None
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None

    @classmethod
    def parse(cls, entry: str) -> _HostRule:
        text = entry.strip().lower()
        if "/" in text:
            try:
                return cls("", None, ipaddress.ip_network(text, strict=False))
            except ValueError:
                raise ValueError(f"Invalid allowed host network {entry!r}.") from None
        if text.endswith(":*"):  # "localhost:*", "[::1]:*": any port, as no port does
            text = text[:-2]
        if "*" in text:
            host, _, port = text.partition(":") if text.count(":") == 1 else (text, "", "")
            if port and not port.isdigit():
                raise ValueError(f"Invalid allowed host {entry!r}.")
            return cls(host.rstrip("."), int(port) if port else None, None)
        parts = _split_host_port(text)
        if parts is None:
            raise ValueError(f"Invalid allowed host {entry!r}.")
        return cls(parts[0], parts[1], None)

    def matches(self, host: str, port: int | None) -> bool:
        if self.network is not None:
            address = _ip(host)
            return address is not None and address in self.network
        if self.port is not None and port != self.port:
            return False
        if "*" in self.host:
            return fnmatch.fnmatchcase(host, self.host)
        return host == self.host


@dataclass(frozen=True)
class _OriginRule:
    """One `--cors-allowed-origins` entry: `scheme://host[:port]`; `*` may stand for the
    port or for parts of the host (`https://*.example.com`)."""

    scheme: str
    host: str
    port: int | None  # None: any port

    @classmethod
    def parse(cls, entry: str) -> _OriginRule:
        scheme, sep, authority = entry.strip().lower().partition("://")
        authority = authority.rstrip("/")
        if not sep or not _SCHEME.match(scheme) or not authority or "/" in authority:
            raise ValueError(f"Invalid allowed origin {entry!r} (expected scheme://host[:port]).")
        if authority.startswith("["):
            host, bracket, rest = authority[1:].partition("]")
            if not bracket or (rest and not rest.startswith(":")):
                raise ValueError(f"Invalid allowed origin {entry!r}.")
            port_text = rest[1:]
        else:
            host, _, port_text = authority.partition(":")
        port: int | None
        if port_text == "*":
            port = None
        elif port_text == "":
            port = _DEFAULT_PORTS.get(scheme, 0)
        elif port_text.isdigit():
            port = int(port_text)
        else:
            raise ValueError(f"Invalid allowed origin {entry!r}.")
        if not host:
            raise ValueError(f"Invalid allowed origin {entry!r}.")
        return cls(scheme, host.rstrip("."), port)

    def matches(self, scheme: str, host: str, port: int) -> bool:
        if scheme != self.scheme or (self.port is not None and port != self.port):
            return False
        return fnmatch.fnmatchcase(host, self.host) if "*" in self.host else host == self.host


def _parse_origin(origin: str) -> tuple[str, str, int] | None:
    """A browser's `Origin` header as (scheme, host, port); None for `null` or garbage."""
    scheme, sep, authority = origin.strip().lower().partition("://")
    if not sep or not _SCHEME.match(scheme):
        return None
    parts = _split_host_port(authority)
    if parts is None:
        return None
    host, port = parts
    return scheme, host, port if port is not None else _DEFAULT_PORTS.get(scheme, 0)


class SecurityMiddleware:
    """Host allow-list, cross-origin refusal and CORS, and anti-framing, as pure ASGI (so
    streamed uploads and downloads pass through untouched)."""

    def __init__(
        self,
        app: ASGIApp,
        allowed_hosts: Sequence[str] | None = None,
        cors_allowed_origins: Sequence[str] | None = None,
    ) -> None:
        self.app = app
        hosts = DEFAULT_ALLOWED_HOSTS if allowed_hosts is None else tuple(allowed_hosts)
        origins = (
            DEFAULT_CORS_ALLOWED_ORIGINS
            if cors_allowed_origins is None
            else tuple(cors_allowed_origins)
        )
        self.any_host = "*" in hosts
        self.host_rules = [_HostRule.parse(h) for h in hosts if h.strip() and h.strip() != "*"]
        self.any_origin = "*" in origins
        self.origin_rules = [
            _OriginRule.parse(o) for o in origins if o.strip() and o.strip() != "*"
        ]

    def host_allowed(self, host_header: str | None) -> bool:
        if self.any_host:
            return True
        parts = _split_host_port(host_header or "")
        if parts is None:
            return False
        host, port = parts
        if not _HOSTNAME.match(host) and _ip(host) is None:
            return False
        return any(rule.matches(host, port) for rule in self.host_rules)

    def origin_allowed(self, origin: str, host_header: str | None, scheme: str) -> bool:
        parsed = _parse_origin(origin)
        if parsed is None:
            return False
        if self.any_origin:
            return True
        # Same origin: the page was served by this very server under the name it used.
        own = _split_host_port(host_header or "")
        if own is not None:
            own_port = own[1] if own[1] is not None else _DEFAULT_PORTS.get(scheme, 0)
            if parsed == (scheme, own[0], own_port):
                return True
        return any(rule.matches(*parsed) for rule in self.origin_rules)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host")
        if scope["path"] not in HOST_CHECK_EXEMPT_PATHS and not self.host_allowed(host):
            await _refuse(INVALID_HOST_MESSAGE, scope, receive, send)
            return
        method = scope["method"]
        origin = headers.get("origin")
        cors_origin: str | None = None
        if origin is not None:
            allowed = self.origin_allowed(origin, host, scope.get("scheme", "http"))
            if method == "OPTIONS" and "access-control-request-method" in headers:
                if not allowed:
                    await _refuse(CORS_BLOCKED_MESSAGE, scope, receive, send)
                    return
                await _preflight(origin, headers, scope, receive, send)
                return
            if method in STATE_CHANGING_METHODS and not allowed:
                await _refuse(CORS_BLOCKED_MESSAGE, scope, receive, send)
                return
            cors_origin = origin if allowed else None

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = MutableHeaders(scope=message)
                extra.setdefault("X-Frame-Options", "SAMEORIGIN")
                if cors_origin is not None:
                    extra["Access-Control-Allow-Origin"] = cors_origin
                    extra.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _refuse(message: str, scope: Scope, receive: Receive, send: Send) -> None:
    response = PlainTextResponse(message, status_code=403)
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    await response(scope, receive, send)


async def _preflight(
    origin: str, headers: Headers, scope: Scope, receive: Receive, send: Send
) -> None:
    response = Response(status_code=204)
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Allow-Methods"] = _CORS_ALLOW_METHODS
    requested = headers.get("access-control-request-headers")
    response.headers["Access-Control-Allow-Headers"] = requested or "Content-Type, Authorization"
    response.headers["Access-Control-Max-Age"] = "600"
    response.headers["Vary"] = "Origin"
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    await response(scope, receive, send)


def split_list(value: str | None) -> list[str] | None:
    """A comma-separated option (`--allowed-hosts a,b`) as a list; None when not given."""
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


# -- Artifact locations -------------------------------------------------------------------

ARTIFACT_PROXY_SCHEME = "mlflow-artifacts"
HOST_ADDRESSED_SCHEMES = frozenset(
    {"http", "https", "ftp", "sftp", "hdfs", "viewfs", "mlflow-artifacts", "r2", "b2", "abfss"}
)
_MAX_LOCATION_LENGTH = 4096
_MAX_DECODINGS = 10
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_URI_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")


def check_artifact_location(location: str | None, context: Context) -> None:
    """Refuse (InvalidParameterValueError) an experiment artifact location that lies outside
    the server's artifact roots; None or "" (the server's default) is always fine."""
    if location is None or location == "":
        return
    artifact_repository_uri(location, context)


def artifact_repository_uri(uri: str, context: Context) -> str:
    """The URI to open a repository on for `uri` (an experiment's or a run's artifact
    location): `mlflow-artifacts:/x` becomes `<destination>/x`, anything else comes back
    as it is if it lies inside an allowed root. Everything else is refused."""
    if not isinstance(uri, str):
        raise InvalidParameterValueError(f"Invalid artifact location {uri!r}.")
    _refuse_smuggled(uri)
    found = _URI_SCHEME.match(uri)
    scheme = found.group(1).lower() if found else "file"
    if scheme == ARTIFACT_PROXY_SCHEME:
        return _inside_destination(uri, context)
    if scheme in ("runs", "models"):
        _refuse_location(uri, f"a {scheme}:/ URI names other artifacts, not a place to store them")
    roots = (context.artifacts_destination, *context.allowed_artifact_roots)
    if scheme == "file":
        local = _local_path(uri)
        real = os.path.realpath(local)
        for root in roots:
            if scheme_of(root) != "file":
                continue
            root_real = os.path.realpath(os.path.abspath(_local_path(root, configured=True)))
            if real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep):
                return real
        _refuse_location(uri, "it is not inside any of the server's allowed artifact roots")
    rest = uri[len(scheme) + 1 :]
    if not rest.startswith("//"):
        _refuse_location(uri, "it is not of the form scheme://authority/path")
    authority, _, path = rest[2:].partition("/")
    for root in roots:
        if scheme_of(root) != scheme:
            continue
        root_authority, _, root_path = root.split("://", 1)[1].partition("/")
        if authority.lower() == root_authority.lower() and _path_inside(path, root_path):
            return uri
    if scheme in HOST_ADDRESSED_SCHEMES:
        _refuse_location(uri, f"{scheme}:// locations are not served here")
    _refuse_location(uri, "it is not inside any of the server's allowed artifact roots")


def _refuse_smuggled(uri: str) -> None:
    """Refuse what has hidden traversal in past CVEs: in the location or in any of its
    URL-decodings, control characters (NUL included), backslashes, `#` fragments, `;`
    parameters, `?` queries, and `..` anywhere."""
    if len(uri) > _MAX_LOCATION_LENGTH:
        _refuse_location(uri[:64] + "…", "it is too long")
    form = uri
    for _ in range(_MAX_DECODINGS + 1):
        if _CONTROL.search(form):
            _refuse_location(uri, "it contains a control character")
        for mark, what in (("\\", "a backslash"), ("#", "'#'"), (";", "';'"), ("?", "'?'")):
            if mark in form:
                _refuse_location(uri, f"it contains {what}")
        if ".." in form:
            _refuse_location(uri, "it contains '..'")
        decoded = unquote(form)
        if decoded == form:
            return
        form = decoded
    _refuse_location(uri, "it is URL-encoded too many times")


def _inside_destination(uri: str, context: Context) -> str:
    rest = uri[len(ARTIFACT_PROXY_SCHEME) + 1 :]
    if rest.startswith("//"):
        _refuse_location(uri, "mlflow-artifacts:// names another server")
    relative = rest[1:] if rest.startswith("/") else rest
    safe = safe_relative(unquote(relative))
    if safe != unquote(relative).rstrip("/"):
        _refuse_location(uri, "its path is not normalised")
    destination = context.artifacts_destination
    if scheme_of(destination) == "file":
        root = os.path.realpath(os.path.abspath(_local_path(destination, configured=True)))
        return join_inside(root, safe)  # refuses symbolic links that lead outside
    return f"{destination.rstrip('/')}/{safe}" if safe else destination


def _local_path(uri: str, configured: bool = False) -> str:
    """The absolute local path of a plain path or `file:` URI; refused when relative,
    host-addressed (`file://server/x`) or `//`-prefixed (a configured root may be relative:
    it is the operator's own)."""
    if uri.lower().startswith("file:"):
        rest = uri[len("file:") :]
        if rest.startswith("//"):
            authority, slash, path = rest[2:].partition("/")
            if authority.lower() not in ("", "localhost"):
                _refuse_location(uri, "file:// URIs must not name a host")
            rest = slash + path
        path = unquote(rest)
    else:
        path = uri
    if configured:
        return path
    if path.startswith("//"):
        _refuse_location(uri, "it starts with '//'")
    if not os.path.isabs(path):
        _refuse_location(uri, "a local artifact location must be an absolute path")
    return path


def _path_inside(path: str, root_path: str) -> bool:
    """Whether the key `path` is `root_path` or below it, both normalised."""
    path, root_path = path.rstrip("/"), root_path.strip("/")
    if path and posixpath.normpath(path) != path or path.startswith("/"):
        return False  # empty or `.` segments: not a plain key prefix
    if not root_path:
        return True
    return path == root_path or path.startswith(root_path + "/")


def _refuse_location(location: str, why: str) -> NoReturn:
    raise InvalidParameterValueError(f"Invalid artifact location {location!r}: {why}.")
