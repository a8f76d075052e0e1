"""`cairn server`'s access log: one line per request on `cairn.server.access` (method, path,
status, milliseconds, and the user under `--auth`), on by default, off with
`--no-access-log`; never the query string or the Authorization header. Real server
processes; the log is their combined stdout and stderr."""

from __future__ import annotations

import re
from pathlib import Path

from live_server import LiveServer, start_server
from test_auth import basic, bearer, create_user

SECRET = "hunter2-in-the-query"
SEARCH = "/api/2.0/mlflow/experiments/search?max_results=5"


def _log(server: LiveServer) -> str:
    return server.log.read_text(errors="replace")


def _has(server: LiveServer, pattern: str) -> bool:
    return server.wait_for(lambda: re.search(pattern, _log(server)) is not None)


def test_each_request_gets_a_line(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        target = f"/api/2.0/mlflow/experiments/search?max_results=5&token={SECRET}"
        assert server.request("GET", target).status == 200
        assert server.request("GET", "/api/2.0/mlflow/runs/get?run_id=nope").status in (400, 404)
        line = r"cairn\.server\.access GET /api/2\.0/mlflow/experiments/search 200 [0-9.]+ms"
        assert _has(server, line + r" user=-\n")
        assert _has(server, r"GET /api/2\.0/mlflow/runs/get 40[04] [0-9.]+ms")
        # A path cannot forge a second line.
        server.request("GET", "/health%0Aforged%20GET%20/x%20200")
        assert _has(server, r"GET /health\\x0aforged\\x20GET")
    finally:
        server.stop()
    text = _log(server)
    assert SECRET not in text and "token=" not in text
    assert not re.search(r"^forged", text, re.MULTILINE)


def test_the_user_is_logged_under_auth_and_credentials_are_not(tmp_path: Path) -> None:
    server = start_server(tmp_path, "--auth")
    try:
        create_user(server.database, "alice")
        headers = basic("alice")
        reply = server.request("GET", SEARCH, headers=headers)
        assert reply.status == 200
        assert _has(server, r"GET /api/2\.0/mlflow/experiments/search 200 [0-9.]+ms user=alice")
        refused = server.request("GET", SEARCH, headers=bearer("not-a-token"))
        assert refused.status == 401
        assert _has(server, r"experiments/search 401 [0-9.]+ms user=-")
    finally:
        server.stop()
    text = _log(server)
    assert headers["Authorization"].split()[1] not in text and "not-a-token" not in text


def test_no_access_log_turns_it_off(tmp_path: Path) -> None:
    server = start_server(tmp_path, "--no-access-log")
    try:
        assert server.request("GET", SEARCH).status == 200
    finally:
        server.stop()  # the process has ended: everything it would log is in the file
    assert "cairn.server.access" not in _log(server)
    assert "experiments/search" not in _log(server)
