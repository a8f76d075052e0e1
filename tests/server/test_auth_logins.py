"""Password guessing under `cairn server --auth`: failed logins are counted per user name
and per address (cairn.server.login_limits); past the limit the answer is 429
REQUEST_LIMIT_EXCEEDED with `Retry-After`, other users and addresses are unaffected, an
unknown name costs an argon2 check like a wrong password, and every failure is logged
without the password. In process over a real SQLite store, and through a real server."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from asgi_support import Answer, asgi_call
from live_server import start_server
from starlette.applications import Starlette
from test_auth import basic, call, create_user

from cairn.exceptions import InvalidParameterValueError
from cairn.server.app import create_app
from cairn.server.auth import Authenticator
from cairn.server.auth_store import AuthStore
from cairn.server.login_limits import (
    MAX_PER_ADDRESS_ENV,
    MAX_PER_USER_ENV,
    WINDOW_ENV,
    FailedLogins,
    LoginLimits,
    TooManyFailedLoginsError,
)
from cairn.store.sql.tracking import SqlTrackingStore

PASSWORD = "correct-horse-battery"
WRONG = "not-the-password-at-all"
GET = "/api/2.0/mlflow/experiments/search"
QUERY = {"max_results": 10}


@pytest.fixture
def auth(sqlite_store: SqlTrackingStore) -> AuthStore:
    store = AuthStore(sqlite_store.engine)
    for name in ("alice", "bob", "carol"):
        store.create_user(name, PASSWORD)
    return store


@pytest.fixture
def app(
    sqlite_store: SqlTrackingStore,
    auth: AuthStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Starlette]:
    monkeypatch.setenv(MAX_PER_USER_ENV, "3")
    monkeypatch.setenv(MAX_PER_ADDRESS_ENV, "5")
    monkeypatch.setenv(WINDOW_ENV, "600")
    yield create_app(sqlite_store, str(tmp_path / "artifacts"), auth=auth, allowed_hosts=["*"])


def _login(
    app: Starlette, user: str, password: str = PASSWORD, address: str = "10.0.0.1"
) -> Answer:
    return asgi_call(app, "GET", GET, QUERY, user=user, password=password, address=address)


def _locked(reply: Answer) -> int:
    """The Retry-After of a 429 REQUEST_LIMIT_EXCEEDED answer."""
    assert reply.status == 429, reply.body
    assert reply.error_code == "REQUEST_LIMIT_EXCEEDED"
    assert "Too many failed logins" in reply.json()["message"]
    wait = int(reply.headers["retry-after"])
    assert 0 < wait <= 600
    return wait


def test_a_guessed_name_is_locked_and_others_are_not(app: Starlette) -> None:
    for _ in range(3):
        reply = _login(app, "alice", WRONG)
        assert reply.status == 401 and reply.error_code == "UNAUTHENTICATED"
    _locked(_login(app, "alice", WRONG))
    _locked(_login(app, "alice", WRONG, address="10.0.0.2"))  # the name, from anywhere
    _locked(_login(app, "alice"))  # even the right password: checking it would be a guess
    assert _login(app, "bob").status == 200  # another user, the same address
    assert _login(app, "bob", address="10.0.0.2").status == 200


def test_a_guessing_address_is_locked_and_others_are_not(app: Starlette) -> None:
    for name in ("u1", "u2", "u3", "u4", "u5"):  # five names, under each name's limit
        assert _login(app, name, WRONG, address="10.0.0.66").status == 401
    _locked(_login(app, "bob", address="10.0.0.66"))
    assert _login(app, "bob", address="10.0.0.7").status == 200
    assert _login(app, "alice", address="10.0.0.7").status == 200


def test_credentials_that_succeeded_before_outlast_a_lock(app: Starlette) -> None:
    """A user's running jobs keep working while someone else's guesses lock their name."""
    assert _login(app, "carol").status == 200
    for _ in range(3):
        assert _login(app, "carol", WRONG, address="10.0.0.99").status == 401
    _locked(_login(app, "carol", WRONG, address="10.0.0.99"))
    assert _login(app, "carol").status == 200


def test_refused_checks_are_not_counted_and_the_lock_ends_with_the_window() -> None:
    now = [1000.0]
    failures = FailedLogins(LoginLimits(2, 100, 60.0), clock=lambda: now[0])
    failures.begin("dana", "a")
    now[0] += 10
    failures.begin("dana", "a")
    for _ in range(5):  # a client retrying on 429
        with pytest.raises(TooManyFailedLoginsError) as refused:
            failures.begin("dana", "a")
    assert refused.value.retry_after == 50  # the first failure leaves the window at 1060
    now[0] = 1060.0
    failures.succeeded(failures.begin("dana", "a"))  # a success is no failure
    failures.begin("dana", "a")
    with pytest.raises(TooManyFailedLoginsError) as again:
        failures.begin("dana", "a")
    assert again.value.retry_after == 10  # the one at 1010 is the oldest of the last two


def test_an_unknown_user_costs_a_password_check(auth: AuthStore) -> None:
    """No timing: the unknown name runs argon2's verification, as a wrong password does."""
    before = auth.password_verifications
    assert auth.verify_password("nobody-by-this-name", WRONG) is None
    assert auth.password_verifications == before + 1
    assert auth.verify_password("alice", WRONG) is None
    assert auth.password_verifications == before + 2


def test_unknown_and_known_names_get_the_same_answer(app: Starlette) -> None:
    unknown = _login(app, "nobody-by-this-name", WRONG)
    known = _login(app, "bob", WRONG)
    assert (unknown.status, unknown.body) == (known.status, known.body)
    assert unknown.headers["www-authenticate"] == known.headers["www-authenticate"]


def test_each_failure_is_logged_without_the_password(
    auth: AuthStore, caplog: pytest.LogCaptureFixture
) -> None:
    authenticator = Authenticator(auth)
    caplog.set_level(logging.WARNING, logger="cairn.auth")
    wrong = basic("alice", WRONG)["Authorization"]
    assert authenticator.authenticate(wrong, "192.0.2.7") is None
    assert authenticator.authenticate(basic("ghost", WRONG)["Authorization"], "192.0.2.8") is None
    assert authenticator.authenticate(basic("bob")["Authorization"], "192.0.2.9") is not None
    lines = [r.getMessage() for r in caplog.records if r.name == "cairn.auth"]
    assert lines == [
        "Failed login for user 'alice' from 192.0.2.7",
        "Failed login for user 'ghost' from 192.0.2.8",
    ]
    assert not any(WRONG in line or PASSWORD in line for line in caplog.text.splitlines())


def test_limits_come_from_the_environment() -> None:
    assert LoginLimits.from_environment({}) == LoginLimits(10, 50, 300.0)
    found = LoginLimits.from_environment(
        {MAX_PER_USER_ENV: "4", MAX_PER_ADDRESS_ENV: "7", WINDOW_ENV: "2.5"}
    )
    assert found == LoginLimits(4, 7, 2.5)
    for bad in ({MAX_PER_USER_ENV: "many"}, {MAX_PER_USER_ENV: "0"}, {WINDOW_ENV: "-1"}):
        with pytest.raises(InvalidParameterValueError):
            LoginLimits.from_environment(bad)


def test_a_real_server_throttles_guesses(tmp_path: Path) -> None:
    settings = {MAX_PER_USER_ENV: "3", WINDOW_ENV: "600"}
    server = start_server(tmp_path / "server", "--auth", env=settings)
    try:
        create_user(server.database, "erin")
        create_user(server.database, "frank")
        wrong = basic("erin", WRONG)
        for _ in range(3):
            assert call(server, "POST", "/experiments/search", QUERY, wrong).status == 401
        locked = call(server, "POST", "/experiments/search", QUERY, wrong)
        assert locked.status == 429, locked.body
        assert locked.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
        assert 0 < int(locked.headers["Retry-After"]) <= 600
        found = call(server, "POST", "/experiments/search", QUERY, basic("frank"))
        assert found.status == 200, found.body
    finally:
        server.stop()
    log = "".join(p.read_text() for p in (tmp_path / "server").glob("server-*.log"))
    assert len(re.findall(r"Failed login for user 'erin' from 127\.0\.0\.1", log)) == 3
    assert WRONG not in log and PASSWORD not in log
