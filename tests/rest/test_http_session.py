"""The HTTP session against a real HTTP server started in-process, scripted to fail
(scripted_server.py): attempts counted, headers and bodies read as the server got them."""

from __future__ import annotations

import base64
import json
import math
import socket
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from scripted_server import Scripted, running

from cairn.exceptions import (
    CairnError,
    InvalidParameterValueError,
    InvalidStateError,
    PermissionDeniedError,
    ResourceAlreadyExistsError,
    ResourceDoesNotExistError,
    TemporarilyUnavailableError,
)
from cairn.store.rest.http import (
    HttpSession,
    RetryPolicy,
    ServerUnavailableError,
    query_string,
)
from cairn.wire import encode_double, parse_double

# A deadline of 0: exactly `max_retries` retries (the floor), then the error.
FAST = RetryPolicy(max_retries=4, backoff_factor=0.001, backoff_max=0.002, deadline=0.0)
AUTH_VARIABLES = (
    "CAIRN_TRACKING_TOKEN",
    "MLFLOW_TRACKING_TOKEN",
    "CAIRN_TRACKING_USERNAME",
    "MLFLOW_TRACKING_USERNAME",
    "CAIRN_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_PASSWORD",
)


@pytest.fixture
def server() -> Iterator[Scripted]:
    with running(Scripted()) as scripted:
        yield scripted


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in AUTH_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def session(url: str, retry: RetryPolicy = FAST, timeout: float = 10.0) -> HttpSession:
    return HttpSession(url, retry=retry, timeout=timeout)


# -- retries -------------------------------------------------------------------------------


def test_a_get_is_retried_through_two_503s(server: Scripted) -> None:
    server.answer(503, b"busy", **{"Content-Type": "text/plain"})
    server.answer(503, {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "deadlock"})
    server.answer(200, {"experiment": {"experiment_id": "7"}})
    answer = session(server.url).call("GET", "/api/2.0/mlflow/experiments/get", {"x": "1"})
    assert answer == {"experiment": {"experiment_id": "7"}}
    assert len(server.received) == 3
    assert all(r.query == {"x": ["1"]} for r in server.received)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 504])
def test_every_transient_status_is_retried_for_an_idempotent_post(
    server: Scripted, status: int
) -> None:
    server.answer(status)
    answer = session(server.url).call("POST", "/api/2.0/mlflow/runs/log-batch", idempotent=True)
    assert answer == {}
    assert [r.method for r in server.received] == ["POST", "POST"]
    assert server.received[0].body == server.received[1].body == b"{}"


def test_past_the_deadline_max_retries_are_still_made(server: Scripted) -> None:
    for _ in range(10):
        server.answer(503, {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "still busy"})
    with pytest.raises(TemporarilyUnavailableError, match="still busy"):
        session(server.url).call("GET", "/x")
    assert len(server.received) == FAST.max_retries + 1


def test_retries_go_on_past_max_retries_until_the_deadline(server: Scripted) -> None:
    for _ in range(50):
        server.answer(500)
    policy = RetryPolicy(max_retries=1, backoff_factor=0.02, backoff_max=0.02, deadline=0.2)
    with pytest.raises(CairnError) as info:
        session(server.url, policy).call("GET", "/x")
    assert info.value.error_code == "INTERNAL_ERROR"
    # Each wait is 10–20 ms and no retry starts past 200 ms: more than the one retry
    # max_retries names, and at most ~20 attempts.
    assert 4 <= len(server.received) <= 22


def test_max_retries_0_turns_retries_off(server: Scripted) -> None:
    server.answer(503)
    policy = RetryPolicy(max_retries=0, backoff_factor=0.001, deadline=60)
    with pytest.raises(TemporarilyUnavailableError):
        session(server.url, policy).call("GET", "/x")
    assert len(server.received) == 1


def test_a_non_idempotent_post_is_not_retried_on_5xx(server: Scripted) -> None:
    server.answer(503)
    server.answer(200, {"run": {}})
    with pytest.raises(TemporarilyUnavailableError):
        session(server.url).call("POST", "/api/2.0/mlflow/runs/create", {"experiment_id": "0"})
    assert len(server.received) == 1
    server.script.clear()
    server.answer(502)
    with pytest.raises(CairnError) as info:
        session(server.url).call("DELETE", "/y", {})
    assert info.value.error_code == "INTERNAL_ERROR"
    assert len(server.received) == 2


def test_a_429_is_retried_even_for_a_non_idempotent_call(server: Scripted) -> None:
    """429 means the server did nothing: sending again cannot apply the call twice."""
    server.answer(429, b"slow down", **{"Retry-After": "0"})
    server.answer(200, {"run": {"info": {}}})
    answer = session(server.url).call("POST", "/api/2.0/mlflow/runs/create", {"a": 1})
    assert answer == {"run": {"info": {}}}
    assert len(server.received) == 2


def test_an_unreachable_server_is_retried_then_reported_as_a_connection_error() -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    calls: list[int] = []

    class Counting(RetryPolicy):
        def wait(self, retry_number: int, retry_after: float | None) -> float:
            calls.append(retry_number)
            return 0.0

    policy = Counting(max_retries=3, backoff_factor=0, backoff_max=0, deadline=0)
    with pytest.raises(ServerUnavailableError) as info:
        session(f"http://127.0.0.1:{port}", policy).call("POST", "/api/2.0/mlflow/runs/create")
    assert calls == [0, 1, 2]  # a refused connection never carried the call: retried anyway
    assert isinstance(info.value, ConnectionError) and not isinstance(info.value, CairnError)


def test_a_server_that_comes_back_is_reached(server: Scripted) -> None:
    """The first connection is refused; the server starts during the backoff."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    late = Scripted()
    late.answer(200, {"ok": True})
    with ExitStack() as stack:

        class StartingServer(RetryPolicy):
            def wait(self, retry_number: int, retry_after: float | None) -> float:
                if not late.url:
                    stack.enter_context(running(late, port))
                return 0.0

        policy = StartingServer(max_retries=2, backoff_factor=0, backoff_max=0, deadline=30)
        answer = session(f"http://127.0.0.1:{port}", policy).call("GET", "/health-ish")
    assert answer == {"ok": True}
    assert len(late.received) == 1


def test_a_timed_out_read_is_retried_only_when_idempotent(server: Scripted) -> None:
    server.hang()
    with pytest.raises(ServerUnavailableError, match="may or may not have been applied"):
        session(server.url, timeout=0.3).call("POST", "/api/2.0/mlflow/runs/create", {})
    assert len(server.received) == 1
    server.hang()
    server.answer(200, {"runs": []})
    answer = session(server.url, timeout=0.3).call(
        "POST", "/api/2.0/mlflow/runs/search", {}, idempotent=True
    )
    assert answer == {"runs": []}
    assert len(server.received) == 3


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("INVALID_PARAMETER_VALUE", 400, InvalidParameterValueError),
        ("RESOURCE_DOES_NOT_EXIST", 404, ResourceDoesNotExistError),
        ("RESOURCE_ALREADY_EXISTS", 400, ResourceAlreadyExistsError),
        ("INVALID_STATE", 500, InvalidStateError),
        ("PERMISSION_DENIED", 403, PermissionDeniedError),
        ("TEMPORARILY_UNAVAILABLE", 503, TemporarilyUnavailableError),
    ],
)
def test_error_json_keeps_its_type(
    server: Scripted, code: str, status: int, expected: type[CairnError]
) -> None:
    server.answer(status, {"error_code": code, "message": f"the {code} message"})
    with pytest.raises(expected) as info:
        session(server.url).call("POST", "/api/2.0/mlflow/experiments/create", {"name": "x"})
    assert type(info.value) is expected
    assert info.value.error_code == code
    assert info.value.message == f"the {code} message"


def test_an_unknown_error_code_is_a_cairn_error_that_keeps_the_code(server: Scripted) -> None:
    server.answer(409, {"error_code": "RESOURCE_CONFLICT", "message": "busy elsewhere"})
    with pytest.raises(CairnError) as info:
        session(server.url).call("POST", "/x", {})
    assert type(info.value) is CairnError
    assert (info.value.error_code, info.value.message) == ("RESOURCE_CONFLICT", "busy elsewhere")


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "BAD_REQUEST", CairnError),
        (401, "UNAUTHENTICATED", CairnError),
        (403, "PERMISSION_DENIED", PermissionDeniedError),
        (404, "ENDPOINT_NOT_FOUND", CairnError),
        (405, "INTERNAL_ERROR", CairnError),
        (500, "INTERNAL_ERROR", CairnError),
    ],
)
def test_a_non_json_error_maps_by_status(
    server: Scripted, status: int, code: str, cls: type[CairnError]
) -> None:
    server.answer(status, b"<html>Not what you wanted</html>", **{"Content-Type": "text/html"})
    with pytest.raises(cls) as info:
        session(server.url).call("POST", "/api/2.0/mlflow/nowhere", {})
    assert info.value.error_code == code
    assert f"HTTP {status}" in info.value.message
    assert "Not what you wanted" in info.value.message


def test_a_success_that_is_not_json_is_an_error(server: Scripted) -> None:
    server.answer(200, b"<html>a login page</html>", **{"Content-Type": "text/html"})
    with pytest.raises(CairnError, match="not JSON"):
        session(server.url).call("GET", "/api/2.0/mlflow/experiments/get")


def test_a_redirect_is_not_followed(server: Scripted) -> None:
    """Following it would resend credentials (and turn a POST into a GET) elsewhere."""
    server.answer(302, b"", Location="http://elsewhere.invalid/steal")
    with pytest.raises(CairnError, match="HTTP 302"):
        session(server.url).call("POST", "/api/2.0/mlflow/runs/create", {})
    assert len(server.received) == 1


# -- what is sent --------------------------------------------------------------------------


def test_get_fields_go_in_the_query_and_post_fields_in_a_json_body(server: Scripted) -> None:
    http = session(server.url)
    http.call("GET", "/g", {"run_ids": ["a", "b"], "flag": True, "n": 3, "skip": None})
    http.call("POST", "/p", {"name": "é 🚀", "value": encode_double(math.nan)})
    get, post = server.received
    assert get.method == "GET" and get.body == b""
    assert get.query == {"run_ids": ["a", "b"], "flag": ["true"], "n": ["3"]}
    assert post.headers["content-type"] == "application/json"
    assert json.loads(post.body) == {"name": "é 🚀", "value": "NaN"}


def test_calls_reuse_one_kept_alive_connection(server: Scripted) -> None:
    http = session(server.url)
    for _ in range(5):
        http.call("GET", "/a")
        http.call("POST", "/b", {"x": 1})
    assert len(server.received) == 10
    assert len({r.client_port for r in server.received}) == 1


def test_no_credentials_no_authorization_header(server: Scripted) -> None:
    session(server.url).call("GET", "/x")
    assert "authorization" not in server.received[0].headers
    assert server.received[0].headers["user-agent"].startswith("cairn/")


@pytest.mark.parametrize("prefix", ["CAIRN", "MLFLOW"])
def test_a_token_is_sent_as_bearer(
    server: Scripted, monkeypatch: pytest.MonkeyPatch, prefix: str
) -> None:
    monkeypatch.setenv(f"{prefix}_TRACKING_TOKEN", "s3cr3t-token")
    session(server.url).call("POST", "/x", {})
    assert server.received[0].headers["authorization"] == "Bearer s3cr3t-token"


@pytest.mark.parametrize("prefix", ["CAIRN", "MLFLOW"])
def test_username_and_password_are_sent_as_basic(
    server: Scripted, monkeypatch: pytest.MonkeyPatch, prefix: str
) -> None:
    monkeypatch.setenv(f"{prefix}_TRACKING_USERNAME", "ada")
    monkeypatch.setenv(f"{prefix}_TRACKING_PASSWORD", "pa:ss")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "ignored when basic credentials are set")
    session(server.url).call("GET", "/x")
    expected = base64.b64encode(b"ada:pa:ss").decode()
    assert server.received[0].headers["authorization"] == f"Basic {expected}"


def test_credentials_in_the_url_are_sent_as_basic_and_kept_out_of_it(server: Scripted) -> None:
    host = server.url.removeprefix("http://")
    http = session(f"http://bob:p%40ss@{host}/prefix/")
    assert http.base_url == f"http://{host}/prefix"
    http.call("GET", "/x")
    assert server.received[0].path == "/prefix/x"
    assert (
        server.received[0].headers["authorization"]
        == "Basic " + base64.b64encode(b"bob:p@ss").decode()
    )


def test_a_changed_token_is_used_at_the_next_call(
    server: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    http = session(server.url)
    monkeypatch.setenv("CAIRN_TRACKING_TOKEN", "first")
    http.call("GET", "/x")
    monkeypatch.setenv("CAIRN_TRACKING_TOKEN", "second")
    http.call("GET", "/x")
    assert [r.headers["authorization"] for r in server.received] == [
        "Bearer first",
        "Bearer second",
    ]


# -- small pieces --------------------------------------------------------------------------


def test_doubles_round_trip_through_their_json_spellings() -> None:
    assert encode_double(math.nan) == "NaN"
    assert encode_double(math.inf) == "Infinity"
    assert encode_double(-math.inf) == "-Infinity"
    assert encode_double(0.25) == 0.25
    assert math.isnan(parse_double("value", "NaN"))
    assert (
        parse_double("value", "Infinity") == math.inf
        and parse_double("value", "-Infinity") == -math.inf
    )
    assert parse_double("value", 3) == 3.0 and parse_double("value", "1.5") == 1.5


def test_query_strings_repeat_list_keys() -> None:
    assert query_string({"a": ["x", "y"], "b": False, "c": None, "d": "é"}) == (
        "a=x&a=y&b=false&d=%C3%A9"
    )


def test_waits_grow_are_capped_and_honour_retry_after() -> None:
    policy = RetryPolicy(max_retries=9, backoff_factor=1.0, backoff_max=8.0, deadline=60)
    for number, ceiling in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (6, 8.0)]:
        assert ceiling / 2 <= policy.wait(number, None) <= ceiling
    assert policy.wait(0, 5.0) == 5.0
    assert policy.wait(0, 500.0) == 8.0  # a server's Retry-After is capped too


def test_the_environment_configures_retries_and_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    monkeypatch.setenv("CAIRN_HTTP_REQUEST_BACKOFF_FACTOR", "0.25")
    monkeypatch.setenv("CAIRN_HTTP_REQUEST_TIMEOUT", "7.5")
    http = HttpSession("http://127.0.0.1:1")
    assert (http.retry.max_retries, http.retry.backoff_factor, http.timeout) == (2, 0.25, 7.5)


def test_only_http_urls_make_a_session() -> None:
    for bad in ("ftp://host", "sqlite:///x.db", "http://", "not a url"):
        with pytest.raises(InvalidParameterValueError):
            HttpSession(bad)
