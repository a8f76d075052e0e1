"""`cairn server --auth`: who is calling (HTTP Basic or a Bearer API token) and whether
they may (per-experiment READ < EDIT < MANAGE; admins may do anything).

`AuthMiddleware` wraps the whole application except `/health` and `/version`:

* Authentication: `Authorization: Basic base64(user:password)` (what MLflow's client sends
  for MLFLOW_TRACKING_USERNAME/PASSWORD) or `Authorization: Bearer <token>`
  (MLFLOW_TRACKING_TOKEN). Anything else: 401 UNAUTHENTICATED with
  `WWW-Authenticate: Basic realm="cairn"`. argon2 takes tens of milliseconds, so a
  successful Basic check is remembered for `BASIC_CACHE_SECONDS`, keyed by
  sha256(user:password); the user row is still read on every request, so a deleted user
  is refused at once. Failed password checks are counted per user name and per address
  (cairn.server.login_limits): past the limit the answer is 429 REQUEST_LIMIT_EXCEEDED
  with `Retry-After`. Each failure is logged (logger `cairn.auth`: the name and the
  address, never the password); an unknown name costs an argon2 check like a wrong
  password (cairn.server.auth_store), so neither timing nor answer tells names apart.
* Authorisation: every endpoint declares the `Access` it needs (cairn.server.access): a
  permission and where its experiment comes from (`experiment_id`, a run's experiment,
  an experiment name, a list of `experiment_ids`, the logged model in the path…). The
  middleware matches the request against the application's routes as the router will
  (cairn.server.routes.resolve) and checks what the matched endpoint declares. JSON bodies
  (capped as the app caps them) are read here and replayed to the application. Artifact
  proxy calls name their experiment in the first path segment
  (`<experiment_id>/<run_id>/artifacts/...`, ASCII digits, an experiment that exists);
  their bodies are never buffered. A call that no endpoint serves is for admins only.
* Every further id a call names (a metric's logged model, a run's outputs, a new model's
  source run, a parent run, a trace's run) is checked as its endpoint declares
  (`Access.refers`, cairn.server.references): EDIT where the call writes, READ where it
  only names.
* `experiments/create` makes its caller MANAGE the new experiment; `experiments/search`
  answers only the experiments the caller can read (each page is filtered, so a page may
  come back shorter than `max_results`); `runs/search` refuses experiments the caller
  cannot read. The UI's run counts need READ on each listed experiment and answer only
  readable ones.
* `POST …/experiments/permissions/create` (experiment_id, username, permission) grants a
  permission, for callers who MANAGE the experiment.
* Registered models have permissions of their own (see cairn.server.registry_auth), and
  the UI asks for the caller's own on a model. The authenticated user is what the registry
  records as who acted (`context.acting_as`).
* Traces have their experiment's permissions (cairn.server.trace_auth). `POST /v1/traces`
  (OTLP ingest) is checked by its `x-mlflow-experiment-id` header; its body is not read here.
* With OpenID Connect (`--oidc-issuer`, cairn.server.oidc_login), browsers log in at the
  provider and hold a signed session cookie (cairn.server.oidc_session), which
  authenticates a call that has no `Authorization` header. A page load without
  credentials is sent to `/auth/login` instead of the Basic prompt, and a 401 to the UI
  (which sends `X-Requested-With`) carries `X-Cairn-Login` instead of
  `WWW-Authenticate`, so the browser shows no password dialog. A state-changing call
  authenticated by the cookie must carry `X-Requested-With` (CSRF: another site's form
  cannot set it, and a script of another origin cannot send it without a CORS preflight
  this server refuses to grant credentials). Basic and Bearer work as before.
* Tokens and the caller's own account: cairn.server.tokens_api.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cairn.exceptions import (
    CairnError,
    InvalidParameterValueError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from cairn.server import errors, ui_api
from cairn.server.access import ADMIN, EDIT, MANAGE, READ, Access, Effect, Source
from cairn.server.artifacts_api import PROXY_PREFIXES, experiment_folder, raw_artifact_path
from cairn.server.auth_store import AuthStore, User, permission_allows
from cairn.server.context import acting_as
from cairn.server.login_limits import FailedLogins, LoginLimits, TooManyFailedLoginsError
from cairn.server.messages import Message as ApiMessage
from cairn.server.multipart_api import MULTIPART_PREFIXES
from cairn.server.oidc_config import LOGIN_PATH
from cairn.server.oidc_config import PATHS as OIDC_PATHS
from cairn.server.otlp import experiment_header
from cairn.server.references import ReferenceGuard
from cairn.server.registry_auth import MODEL_GRANT_PATH, RegistryGuard
from cairn.server.responses import json_response
from cairn.server.routes import API_PREFIXES, resolve
from cairn.server.security import STATE_CHANGING_METHODS
from cairn.server.tokens_api import TokensApi
from cairn.server.trace_auth import TRACE_SOURCES, TraceGuard
from cairn.store.base import RegistryStore, TrackingStore
from cairn.store.traces import TraceStore
from cairn.wire.scalars import ascii_digits

if TYPE_CHECKING:
    from cairn.server.oidc_login import OidcLogin

OPEN_PATHS = frozenset({"/health", "/version"})
REALM_HEADER = 'Basic realm="cairn"'
CSRF_HEADER = "x-requested-with"
LOGIN_HEADER = "X-Cairn-Login"
BASIC_CACHE_SECONDS = 60.0
_BASIC_CACHE_MAX = 10_000
GRANT_PATH = "/experiments/permissions/create"

_ADMINS_ONLY = Access(ADMIN)  # what a call that no endpoint serves needs
_RESOLVED_MAX = 4096  # remembered (method, path) -> access answers
_MODEL_SOURCES = frozenset({Source.REGISTERED_MODEL, Source.NEW_VERSION})
_OPEN_TO_USERS = frozenset({"/api/3.0/mlflow/server-info"})
_PROXY_PERMISSION = {"GET": READ, "HEAD": READ, "PUT": EDIT, "DELETE": EDIT, "POST": EDIT}
_log = logging.getLogger("cairn.auth")


def _unauthenticated(message: str) -> Response:
    response = errors.error_response(UnauthenticatedError(message))
    response.headers["WWW-Authenticate"] = REALM_HEADER
    return response


class Authenticator:
    """Credentials to a user, with successful Basic checks remembered briefly and failed
    ones counted (`failures`)."""

    def __init__(
        self,
        store: AuthStore,
        cache_seconds: float = BASIC_CACHE_SECONDS,
        limits: LoginLimits | None = None,
    ) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        self._basic: dict[bytes, tuple[int, float]] = {}
        self.failures = FailedLogins(limits if limits is not None else LoginLimits())

    def authenticate(self, authorization: str | None, address: str = "unknown") -> User | None:
        """The user the `Authorization` header proves, or None; TooManyFailedLoginsError
        when `address` or the named user failed too often lately (blocking: call it off
        the event loop)."""
        if not authorization:
            return None
        scheme, _, credentials = authorization.strip().partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "bearer" and credentials:
            # A token is 256 random bits: nothing to guess, so failures are logged, not counted.
            user = self.store.user_for_token(credentials)
            if user is None:
                _log.warning("Failed login with an unknown API token from %s", address)
            return user
        if scheme.lower() != "basic" or not credentials:
            return None
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, colon, password = decoded.partition(":")
        if not colon or not username:
            return None
        key = hashlib.sha256(decoded.encode("utf-8")).digest()
        now = time.monotonic()
        entry = self._basic.get(key)
        if entry is not None and entry[1] > now:
            user = self.store.user_by_id(entry[0])
            if user is not None and hmac.compare_digest(user.username, username):
                return user
        # Credentials that succeeded before (the key is a hash of all of them) are no guess:
        # they are checked again without counting, so a user's jobs outlast a lock on the
        # name that someone else's guesses caused.
        attempt = None if entry is not None else self.failures.begin(username, address)
        user = self.store.verify_password(username, password)
        if user is None:
            self._basic.pop(key, None)
            _log.warning("Failed login for user %r from %s", username, address)
            return None
        if attempt is not None:
            self.failures.succeeded(attempt)
        if len(self._basic) >= _BASIC_CACHE_MAX:
            self._basic.clear()
        self._basic[key] = (user.id, now + self.cache_seconds)
        return user


class _Replay:
    """`receive` for the application after the middleware has read the whole body."""

    def __init__(self, body: bytes, receive: Receive) -> None:
        self.body: bytes | None = body
        self.receive = receive

    async def __call__(self) -> Message:
        if self.body is not None:
            body, self.body = self.body, None
            return {"type": "http.request", "body": body, "more_body": False}
        return await self.receive()


class AuthMiddleware:
    """Authenticates every call, and authorises it by what the endpoint among `routes` that
    will serve it declares (`routes`: the application's, in the router's order)."""

    def __init__(
        self,
        app: ASGIApp,
        store: AuthStore,
        tracking: TrackingStore,
        registry: RegistryStore,
        routes: Sequence[BaseRoute],
        traces: TraceStore | None = None,
        login_limits: LoginLimits | None = None,
        oidc: OidcLogin | None = None,
    ) -> None:
        self.app = app
        self.store = store
        self.oidc = oidc
        self.tokens_api = TokensApi(store)
        self.tracking = tracking
        self.routes = tuple(routes)
        self._resolved: dict[tuple[str, str], tuple[Access, dict[str, Any]]] = {}
        limits = login_limits if login_limits is not None else LoginLimits.from_environment()
        self.authenticator = Authenticator(store, limits=limits)
        self.models = RegistryGuard(store, tracking, registry)
        self.traces = TraceGuard(traces, tracking, self._require)
        self.references = ReferenceGuard(tracking, self._require)
        # Calls answered here, not by the application: grants on an experiment or a model.
        grants: dict[str, Callable[[User, ApiMessage], None]] = {
            GRANT_PATH: self._grant,
            MODEL_GRANT_PATH: self.models.grant,
        }
        self._grants = {prefix + p: grant for prefix in API_PREFIXES for p, grant in grants.items()}

    def access(self, scope: Scope) -> tuple[Access, dict[str, Any]]:
        """What a call to an API endpoint needs, and the fields in its path; `Access(ADMIN)`
        when no endpoint serves it."""
        # Matching walks the routes as the router does (20-60 µs); a path's answer never
        # changes, so it is remembered (a bounded table: logged-model paths are many).
        key = (scope["method"], scope["path"])
        found = self._resolved.get(key)
        if found is None:
            resolved = resolve(self.routes, scope)
            found = (
                (_ADMINS_ONLY, {}) if resolved is None else (resolved.access, resolved.path_params)
            )
            if len(self._resolved) >= _RESOLVED_MAX:
                self._resolved.clear()
            self._resolved[key] = found
        access, path_params = found
        return access, dict(path_params)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        if self.oidc is not None and scope["path"] in OIDC_PATHS:
            await self.oidc(scope, receive, send)
            return
        headers = Headers(scope=scope)
        client = scope.get("client")
        address = str(client[0]) if client else "unknown"
        try:
            user = await run_in_threadpool(
                self.authenticator.authenticate, headers.get("authorization"), address
            )
        except TooManyFailedLoginsError as refused:
            response = errors.error_response(refused)
            response.headers["Retry-After"] = str(refused.retry_after)
            await response(scope, receive, send)
            return
        except CairnError as error:
            await errors.error_response(error)(scope, receive, send)
            return
        by_cookie = user is None and "authorization" not in headers and self.oidc is not None
        if by_cookie:
            user = await run_in_threadpool(self._session_user, scope)
        if user is None:
            await self._refuse_unauthenticated(scope, headers, receive, send)
            return
        if by_cookie and scope["method"] in STATE_CHANGING_METHODS and not headers.get(CSRF_HEADER):
            _log.warning(
                "Refused a cookie-authenticated %s without %s", scope["method"], CSRF_HEADER
            )
            refusal = PermissionDeniedError(
                "A call authenticated by the session cookie needs the X-Requested-With header."
            )
            await errors.error_response(refusal)(scope, receive, send)
            return
        interactive = not headers.get("authorization", "").lstrip().lower().startswith("bearer")
        try:
            with acting_as(user.username):
                await self._authorise(user, interactive, scope, receive, send)
        except CairnError as error:
            await errors.error_response(error)(scope, receive, send)

    def _session_user(self, scope: Scope) -> User | None:
        """The user of a live session cookie (blocking)."""
        assert self.oidc is not None
        session = self.oidc.cookies.session(Request(scope))
        if session is None:
            return None
        user = self.store.user_by_id(session.user_id)
        if user is None or (
            user.sessions_after is not None and session.began <= user.sessions_after
        ):
            return None
        return user

    async def _refuse_unauthenticated(
        self, scope: Scope, headers: Headers, receive: Receive, send: Send
    ) -> None:
        if self.oidc is not None and _is_page_load(scope, headers):
            path = scope["path"] + (
                "?" + scope["query_string"].decode("latin-1") if scope["query_string"] else ""
            )
            target = f"{LOGIN_PATH}?{urlencode({'next': path})}"
            await RedirectResponse(target, status_code=302)(scope, receive, send)
            return
        reason = (
            "Invalid credentials."
            if "authorization" in headers
            else "Authentication required: log in, or give a username and password or an API token."
        )
        if self.oidc is not None and headers.get(CSRF_HEADER):
            # The UI: no WWW-Authenticate, which would make the browser ask for a password.
            response = errors.error_response(UnauthenticatedError(reason))
            response.headers[LOGIN_HEADER] = LOGIN_PATH
        else:
            response = _unauthenticated(reason)
        await response(scope, receive, send)

    async def _authorise(
        self, user: User, interactive: bool, scope: Scope, receive: Receive, send: Send
    ) -> None:
        path: str = scope["path"]
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        if path in _OPEN_TO_USERS or method == "GET" and _is_ui_file(path):
            await self.app(scope, receive, send)
            return
        if self.tokens_api.serves(method, path):
            await self.tokens_api(user, interactive, scope, receive, send)
            return
        for prefix in PROXY_PREFIXES + MULTIPART_PREFIXES:
            if path == prefix or path.startswith(prefix + "/"):
                await self._proxy(user, scope, receive, send, method, path == prefix)
                return
        grant = self._grants.get(path) if method == "POST" else None
        if grant is not None:
            message, _replay = await _read_message(scope, receive, {})
            await run_in_threadpool(grant, user, message)
            await json_response({})(scope, receive, send)
            return
        access, path_params = self.access(scope)
        if access.permission == ADMIN:
            if not user.is_admin:
                raise PermissionDeniedError("Only administrators may use this endpoint.")
            await self.app(scope, receive, send)
            return
        if access.source is Source.EXPERIMENT_HEADER:
            # OTLP ingest: protobuf bodies, large ones; the experiment is in a header, and
            # the body streams on to the application unread.
            if not user.is_admin:
                experiment_id = experiment_header(Headers(scope=scope))
                await run_in_threadpool(self._require, user, experiment_id, access.permission)
            await self.app(scope, receive, send)
            return
        message, replay = await _read_message(scope, receive, path_params)
        if not user.is_admin:
            await run_in_threadpool(self._check, user, access, message)
        answer = await self._answer(user, access.effect, message, send)
        await self.app(scope, replay, answer)

    async def _answer(
        self, user: User, effect: Effect | None, message: ApiMessage, send: Send
    ) -> Send:
        """`send`, or a hook that does what the endpoint's effect asks with its answer."""
        if effect is Effect.CREATOR_MANAGES_EXPERIMENT:
            if not user.is_admin and message.get("artifact_location"):
                raise PermissionDeniedError(
                    "Only administrators may choose an experiment's artifact location."
                )
            return _ResponseHook(send, self._on_created(user))
        if effect is Effect.READABLE_EXPERIMENTS:
            if user.is_admin:
                return send
            readable = await run_in_threadpool(self.store.readable_experiments, user.id)
            return _ResponseHook(send, _only_readable(readable))
        change = self.models.change(user, effect, message)
        return send if change is None else _ResponseHook(send, change)

    def _check(self, user: User, access: Access, message: ApiMessage) -> None:
        """Raise PermissionDeniedError unless `user` may make the call: on its object, then
        on every further id it names (blocking)."""
        self._check_source(user, access, message)
        self.references.check(user, access.refers, message)

    def _check_source(self, user: User, access: Access, message: ApiMessage) -> None:
        source, permission = access.source, access.permission
        if source is None:  # any authenticated user
            return
        if source is Source.EXPERIMENT_IDS:
            for experiment_id in message.repeated("experiment_ids"):
                self._require(user, str(experiment_id), permission)
            return
        if source is Source.EXPERIMENT:
            experiment_id = message.get("experiment_id")
            if experiment_id is None or experiment_id == "":
                raise InvalidParameterValueError(
                    "Missing value for required parameter 'experiment_id'."
                )
            self._require(user, str(experiment_id), permission)
            return
        if source is Source.EXPERIMENT_NAME:
            name = message.string("experiment_name", required=True) or ""
            experiment = self.tracking.get_experiment_by_name(name)
            if experiment is not None:  # else the application answers 404
                self._require(user, experiment.experiment_id, permission)
            return
        if source is Source.COUNTED_EXPERIMENTS:
            for experiment_id in ui_api.experiment_ids_of(message):
                self._require(user, experiment_id, permission)
            return
        if source is Source.RUN_IDS:
            for run_id in ui_api.run_ids_of(message):
                run = self.tracking.get_run(run_id)
                self._require(user, run.info.experiment_id, permission)
            return
        if source in _MODEL_SOURCES:
            self.models.check(user, source, permission, message)
            return
        if source in TRACE_SOURCES:
            self.traces.check(user, source, permission, message)
            return
        if source is Source.LOGGED_MODEL:
            model = self.tracking.get_logged_model(str(message.get("model_id")))
            self._require(user, model.experiment_id, permission)
            return
        run = self.tracking.get_run(message.run_id())  # Source.RUN
        self._require(user, run.info.experiment_id, permission)

    def _require(self, user: User, experiment_id: str, permission: str) -> None:
        if user.is_admin:
            return
        held = self.store.permission(user.id, experiment_id)
        if not permission_allows(held, permission):
            raise PermissionDeniedError(
                f"User {user.username!r} needs {permission} permission on experiment "
                f"{experiment_id!r}."
            )

    async def _proxy(
        self, user: User, scope: Scope, receive: Receive, send: Send, method: str, listing: bool
    ) -> None:
        permission = _PROXY_PERMISSION.get(method)
        if not user.is_admin:
            if permission is None:
                raise PermissionDeniedError("Only administrators may use this endpoint.")
            request = Request(scope, receive)
            if listing:
                from cairn.artifact_paths import safe_relative

                values = request.query_params.getlist("path")
                relative = experiment_folder(safe_relative(values[0] if len(values) == 1 else None))
            else:
                relative = raw_artifact_path(request)
            experiment_id = relative.split("/", 1)[0]
            if not ascii_digits(experiment_id):
                raise PermissionDeniedError(
                    "Only administrators may reach artifacts outside an experiment's folder."
                )
            await run_in_threadpool(self._require_experiment, user, experiment_id, permission)
        await self.app(scope, receive, send)

    def _require_experiment(self, user: User, experiment_id: str, permission: str) -> None:
        """`_require`, for an experiment that must exist (404 RESOURCE_DOES_NOT_EXIST)."""
        self.tracking.get_experiment(experiment_id)
        self._require(user, experiment_id, permission)

    def _grant(self, user: User, message: ApiMessage) -> None:
        """`experiments/permissions/create`, for callers who MANAGE the experiment
        (blocking)."""
        experiment_id = str(message.required("experiment_id"))
        username = message.string("username", required=True) or ""
        permission = message.string("permission", required=True) or ""
        self._require(user, experiment_id, MANAGE)
        self.store.grant(username, experiment_id, permission)

    def _on_created(self, user: User) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]:
        async def make_manager(payload: dict[str, Any]) -> dict[str, Any]:
            experiment_id = payload.get("experiment_id")
            if isinstance(experiment_id, str):
                await run_in_threadpool(self.store.grant_to, user.id, experiment_id, MANAGE)
            return payload

        return make_manager


def _is_page_load(scope: Scope, headers: Headers) -> bool:
    """A browser asking for a page (not an API call, not a script or stylesheet)."""
    return (
        scope["method"] in ("GET", "HEAD")
        and "text/html" in headers.get("accept", "")
        and not scope["path"].startswith(("/api/", "/ajax-api/", "/static/"))
    )


def _is_ui_file(path: str) -> bool:
    """The web UI's page and static files (cairn.server.ui): the same for every user, so
    any authenticated user gets them; the data comes through the checked API."""
    return path in ("/", "/favicon.ico") or path.startswith("/static/")


def _only_readable(
    readable: set[str],
) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]:
    async def keep(payload: dict[str, Any]) -> dict[str, Any]:
        counts = payload.get("counts")
        if isinstance(counts, dict):
            payload["counts"] = {e: c for e, c in counts.items() if e in readable}
        found = payload.get("experiments")
        if isinstance(found, list):
            kept = [e for e in found if str(e.get("experiment_id")) in readable]
            if kept:
                payload["experiments"] = kept
            else:
                payload.pop("experiments")
        return payload

    return keep


class _ResponseHook:
    """`send` that holds a successful JSON response back, lets `change` rewrite its
    payload, and sends the result (error responses pass through as they are)."""

    def __init__(
        self, send: Send, change: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
    ) -> None:
        self.send = send
        self.change = change
        self.start: Message | None = None
        self.chunks: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            if message["status"] != 200:
                self.change = _unchanged
                await self.send(message)
                return
            self.start = message
            return
        if self.start is None or message["type"] != "http.response.body":
            await self.send(message)
            return
        self.chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(self.chunks)
        payload = orjson.loads(body) if body else {}
        payload = await self.change(payload)
        body = orjson.dumps(payload)
        headers = [
            (name, value)
            for name, value in self.start.get("headers", [])
            if name.lower() != b"content-length"
        ]
        headers.append((b"content-length", str(len(body)).encode()))
        await self.send({**self.start, "headers": headers})
        await self.send({"type": "http.response.body", "body": body, "more_body": False})


async def _unchanged(payload: dict[str, Any]) -> dict[str, Any]:
    return payload


async def _read_message(
    scope: Scope, receive: Receive, path_params: dict[str, Any]
) -> tuple[ApiMessage, Receive]:
    """The call's fields (those in its path included), and the `receive` that gives the
    application the body again."""
    if scope["method"] in ("GET", "HEAD"):
        request = Request({**scope, "path_params": path_params}, receive)
        return await ApiMessage.read(request), receive
    body = await _read_body(scope, receive)
    request = Request({**scope, "path_params": path_params}, _Replay(body, receive))
    return await ApiMessage.read(request), _Replay(body, receive)


async def _read_body(scope: Scope, receive: Receive) -> bytes:
    from cairn.server.messages import MAX_BODY_BYTES, BadRequestError

    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BadRequestError(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
