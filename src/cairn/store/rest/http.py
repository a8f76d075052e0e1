"""The HTTP session under the REST tracking store and the artifact proxy client.

One pooled, keep-alive urllib3 session per server: a training loop sends thousands of
log-batch calls, and a fresh TCP (or TLS) handshake per call would cost more than the call.
Conventions follow MLflow's client (reference mlflow-compat.md §1.1–1.2):

* GET fields go in the query string, lists as repeated keys; other methods send JSON with
  `Content-Type: application/json`.
* An error answered as `{"error_code", "message"}` is raised as the CairnError subclass named
  by the code (`error_for_code`), so a type survives the round trip; other error bodies are
  mapped from the HTTP status.
* Connection failures, 408, 429 and 5xx are retried with exponential backoff until the
  retry deadline (60 s by default), and at least `max_retries` times, but only for calls
  that are safe to repeat (reads, searches, and
  log-batch, which the server makes idempotent). A call of any kind is retried when the
  request provably never reached the server (the connection could not be opened) or the
  server refused it unprocessed (429).
* A server that cannot be reached after the retries raises `ServerUnavailableError`, a
  ConnectionError and not a CairnError: the metric batcher keeps points across that (the
  server may come back) but drops points the server refused.
"""

from __future__ import annotations

import base64
import os
import random
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import quote, unquote, urlencode, urlsplit

import orjson

try:
    import urllib3
    from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError
except ImportError as missing:  # pragma: no cover - urllib3 comes with boto3 and requests
    raise ImportError(
        "Tracking over HTTP needs urllib3, which is not installed: pip install 'urllib3>=2'."
    ) from missing

from cairn import env
from cairn.exceptions import CairnError, InvalidParameterValueError, error_for_code
from cairn.store import retries as store_retries
from cairn.version import __version__

JSON = "application/json"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Retried for any call: the server answered without doing anything.
UNPROCESSED_STATUSES = frozenset({429})
# Error codes for error bodies that are not MLflow's JSON (a proxy's HTML page, a 405...).
_CODE_BY_STATUS = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "ENDPOINT_NOT_FOUND",
    409: "RESOURCE_CONFLICT",
    429: "REQUEST_LIMIT_EXCEEDED",
    503: "TEMPORARILY_UNAVAILABLE",
}
_ERROR_BODY_LIMIT = 64 * 1024
_LOOPBACK = ("localhost", "127.0.0.1", "::1", "[::1]")

Body = bytes | Callable[[], IO[bytes]] | None


class ServerUnavailableError(ConnectionError):
    """The tracking server could not be reached (or did not answer) after every retry."""


# -- settings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long a failed call is tried again.

    Waits grow as `backoff_factor * 2**n` (n = 0, 1, ...), each at most `backoff_max`, with
    jitter so that many clients do not come back in step. Retries go on until `deadline`
    seconds have passed since the first attempt (no retry starts that would wait past it),
    so a server restarting within the deadline is reached; `max_retries` is a floor: that
    many retries are made even when slow attempts use up the deadline. `max_retries=0`
    turns retries off (as MLflow's MLFLOW_HTTP_REQUEST_MAX_RETRIES=0 does)."""

    max_retries: int = 5
    backoff_factor: float = 0.5
    backoff_max: float = 10.0
    deadline: float = 60.0

    @classmethod
    def from_environment(cls) -> RetryPolicy:
        """CAIRN_HTTP_REQUEST_MAX_RETRIES / _BACKOFF_FACTOR / _RETRY_DEADLINE, else MLflow's
        MLFLOW_HTTP_REQUEST_MAX_RETRIES / _BACKOFF_FACTOR, else the defaults above."""
        return cls(
            max_retries=env.http_max_retries(),
            backoff_factor=env.http_backoff_factor(),
            deadline=env.http_retry_deadline(),
        )

    def wait(self, retry_number: int, retry_after: float | None) -> float:
        delay = min(self.backoff_max, self.backoff_factor * 2.0**retry_number)
        delay *= random.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max))
        return delay


def request_timeout() -> float:
    """CAIRN_HTTP_REQUEST_TIMEOUT, else MLFLOW_HTTP_REQUEST_TIMEOUT, else 120 s: the longest
    wait for a connection or for any one read (not for a whole transfer)."""
    return env.http_request_timeout()


def _dumps(payload: Any) -> bytes:
    try:
        return orjson.dumps(payload)
    except orjson.JSONEncodeError:
        # orjson stops at 64-bit integers; an out-of-range one must reach the server, whose
        # validation answers with the error the caller expects.
        import json

        return json.dumps(payload, allow_nan=False).encode()


def query_string(params: Mapping[str, Any]) -> str:
    """`a=1&b=x&b=y`: lists as repeated keys, booleans as true/false, None left out."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if item is None:
                continue
            pairs.append((key, ("true" if item else "false") if isinstance(item, bool) else item))
    return urlencode(pairs)


# -- the session -----------------------------------------------------------------------------------


class HttpSession:
    """Calls to one server (`base_url` may carry a path prefix and user:password@)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise InvalidParameterValueError(f"Not an http(s) server URL: {base_url!r}.")
        netloc = parts.netloc.rpartition("@")[2]
        self.base_url = f"{parts.scheme.lower()}://{netloc}{parts.path.rstrip('/')}"
        self._url_credentials = (
            (unquote(parts.username), unquote(parts.password or ""))
            if parts.username is not None
            else None
        )
        self.timeout = timeout if timeout is not None else request_timeout()
        self._timeout = urllib3.Timeout(connect=self.timeout, read=self.timeout)
        self.retry = retry if retry is not None else RetryPolicy.from_environment()
        self._host = parts.hostname
        self._scheme = parts.scheme.lower()
        self._lock = threading.Lock()
        self._pool: urllib3.PoolManager | None = None
        self._pool_pid = 0

    # The pool is built on first use and again in a forked child: sockets must not be shared
    # between processes.
    def _manager(self) -> urllib3.PoolManager:
        pool = self._pool
        if pool is not None and self._pool_pid == os.getpid():
            return pool
        with self._lock:
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = self._new_pool()
                self._pool_pid = os.getpid()
            return self._pool

    def _new_pool(self) -> urllib3.PoolManager:
        options: dict[str, Any] = {"maxsize": 10, "block": False, "blocksize": 1 << 20}
        if self._scheme == "https":
            if env.tracking_insecure_tls():
                options["cert_reqs"] = "CERT_NONE"
            ca = env.tracking_server_cert_path()
            if ca:
                options["ca_certs"] = ca
        proxy = self._proxy()
        if proxy:
            return urllib3.ProxyManager(proxy, **options)
        return urllib3.PoolManager(**options)

    def _proxy(self) -> str | None:
        """HTTP(S)_PROXY as requests honours it, NO_PROXY included; never for loopback."""
        if self._host in _LOOPBACK or self._host.startswith("127."):
            return None
        proxy = urllib.request.getproxies().get(self._scheme)
        if not proxy or urllib.request.proxy_bypass(self._host):
            return None
        return proxy

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.clear()
                self._pool = None

    def _headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        """Credentials are read at every call: a token refreshed in the environment counts.
        Basic (username and password) wins over a token, as in MLflow's client."""
        headers = {"User-Agent": f"cairn/{__version__}"}
        username = env.tracking_username()
        password = env.tracking_password()
        token = env.tracking_token()
        if not (username and password) and self._url_credentials is not None:
            username, password = self._url_credentials
        if username and password:
            pair = base64.b64encode(f"{username}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {pair}"
        elif token:
            headers["Authorization"] = f"Bearer {token}"
        if extra:
            headers.update(extra)
        return headers

    def url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        query = query_string(params) if params else ""
        return f"{self.base_url}{path}{'?' + query if query else ''}"

    # -- calls ---------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        idempotent: bool | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One API call; the answer's JSON object ({} for an empty body).

        GET sends `json` (or `params`) as the query string; other methods send `json` as
        the body. `idempotent` (default: GET only) allows retries after 5xx and lost
        connections. `headers` are added to the request's (an `Idempotency-Key`, say)."""
        method = method.upper()
        if method == "GET":
            fields = {**(params or {}), **(json or {})}
            response = self.send(
                method,
                self.url(path, fields),
                headers={**(headers or {}), "Accept": JSON},
                idempotent=idempotent is not False,
            )
        else:
            response = self.send(
                method,
                self.url(path, params),
                body=_dumps(dict(json or {})),
                headers={**(headers or {}), "Accept": JSON, "Content-Type": JSON},
                idempotent=bool(idempotent),
            )
        return _json_object(response, method, path)

    def send(
        self,
        method: str,
        url: str,
        *,
        body: Body = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool,
        stream: bool = False,
    ) -> urllib3.BaseHTTPResponse:
        """Send with retries and return a successful (2xx) response, else raise.

        `body` may be a callable opening a fresh stream, so a streamed upload can be sent
        again. With `stream`, the caller reads the body and must `release_conn()` it."""
        manager = self._manager()
        sent_headers = self._headers(headers)
        started = time.monotonic()
        retries = 0
        while True:
            payload: Any = body() if callable(body) else body
            try:
                response = manager.urlopen(
                    method,
                    url,
                    body=payload,
                    headers=sent_headers,
                    retries=False,
                    redirect=False,
                    preload_content=not stream,
                    timeout=self._timeout,
                )
            except HTTPError as error:
                unsent = isinstance(error, (NewConnectionError, ConnectTimeoutError))
                if (idempotent or unsent) and self._may_retry(retries, started, None):
                    retries += 1
                    continue
                raise _unavailable(method, url, error, unsent or idempotent) from error
            finally:
                if payload is not None and hasattr(payload, "close"):
                    payload.close()
            status = response.status
            if 200 <= status < 300:
                return response
            retryable = status in RETRY_STATUSES and (idempotent or status in UNPROCESSED_STATUSES)
            if retryable and self._may_retry(retries, started, _retry_after(response)):
                _discard(response)
                retries += 1
                continue
            raise _error_from(response, method, url, stream)

    def _may_retry(self, retries: int, started: float, retry_after: float | None) -> bool:
        """Sleep before the next attempt and return True, or return False when the time
        allowed for retries is spent and at least `max_retries` were made (RetryPolicy)."""
        policy = self.retry
        if policy.max_retries <= 0 or not store_retries.allowed():
            return False
        floor_met = retries >= policy.max_retries
        elapsed = time.monotonic() - started
        if floor_met and elapsed >= policy.deadline:
            return False
        delay = policy.wait(retries, retry_after)
        if floor_met and elapsed + delay > policy.deadline:
            return False
        time.sleep(delay)  # backoff between attempts, not synchronisation
        return True


# -- responses -------------------------------------------------------------------------------------


def _retry_after(response: urllib3.BaseHTTPResponse) -> float | None:
    raw = response.headers.get("Retry-After")
    try:
        return max(0.0, float(raw)) if raw else None
    except ValueError:
        return None  # an HTTP date: rare from API servers; the backoff applies


def _discard(response: urllib3.BaseHTTPResponse) -> None:
    """Drain a small body so the connection goes back to the pool, or drop it."""
    try:
        response.read(_ERROR_BODY_LIMIT)
    except HTTPError:
        pass
    response.release_conn()


def _json_object(response: urllib3.BaseHTTPResponse, method: str, path: str) -> dict[str, Any]:
    data = response.data
    if not data.strip():
        return {}
    try:
        answer = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise CairnError(
            f"{method} {path}: the server's answer is not JSON: {_snippet(data)}"
        ) from None
    if not isinstance(answer, dict):
        raise CairnError(f"{method} {path}: the server's answer is not a JSON object.")
    return answer


def _snippet(data: bytes) -> str:
    text = data[:500].decode("utf-8", "replace").strip()
    return text + ("…" if len(data) > 500 else "")


def _error_from(
    response: urllib3.BaseHTTPResponse, method: str, url: str, streamed: bool
) -> CairnError:
    """MLflow's error JSON as its CairnError subclass; any other body by HTTP status."""
    try:
        data = response.read(_ERROR_BODY_LIMIT) if streamed else response.data
    except HTTPError:
        data = b""
    finally:
        response.release_conn()
    try:
        answer = orjson.loads(data) if data else None
    except orjson.JSONDecodeError:
        answer = None
    if isinstance(answer, dict) and isinstance(answer.get("error_code"), str):
        return error_for_code(answer["error_code"], str(answer.get("message", "")))
    status = response.status
    code = _CODE_BY_STATUS.get(status, "INTERNAL_ERROR")
    where = url.split("?", 1)[0]
    detail = f": {_snippet(data)}" if data else ""
    return error_for_code(code, f"{method} {where} answered HTTP {status}{detail}")


def _unavailable(method: str, url: str, error: Exception, safe: bool) -> ServerUnavailableError:
    where = url.split("?", 1)[0]
    note = "" if safe else " The call may or may not have been applied."
    return ServerUnavailableError(f"{method} {where} failed: {error}.{note}")


def quote_path(path: str) -> str:
    """A relative path for a URL: each segment percent-encoded, slashes kept."""
    return "/".join(quote(segment, safe="") for segment in path.split("/"))


_sessions: dict[str, HttpSession] = {}
_sessions_lock = threading.Lock()


def shared_session(base_url: str) -> HttpSession:
    """The process's session for a server: the tracking store and every artifact
    repository on it share one connection pool."""
    with _sessions_lock:
        session = _sessions.get(base_url)
        if session is None:
            session = _sessions[base_url] = HttpSession(base_url)
        return session
