"""HEAD on every GET route is answered as that GET without a body: same status, same
headers (Content-Length included), never a 500. The routes are read from the application
itself, so a route added later is covered without touching this file.

In process: the application is called as an ASGI app, over a real SQLite store.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from asgi_support import call
from starlette.applications import Starlette
from starlette.routing import Route

from cairn.server.app import create_app
from cairn.store.sql.tracking import SqlTrackingStore

# Headers that legitimately differ between two answers to the same call.
_VOLATILE = {"date", "etag", "last-modified"}


@pytest.fixture
def app(sqlite_store: SqlTrackingStore, tmp_path: Path) -> Iterator[Starlette]:
    yield create_app(sqlite_store, str(tmp_path / "artifacts"), allowed_hosts=["*"])


def _get_paths(app: Starlette) -> list[str]:
    """A concrete path for every route that takes GET (each `{param}` given a value)."""
    paths = [
        re.sub(r"\{[^}]+\}", "1", route.path)
        for route in app.routes
        if isinstance(route, Route) and "GET" in (route.methods or ())
    ]
    assert len(paths) > 80  # the MLflow API under both prefixes, the UI's calls, the proxy
    return paths


def _comparable(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in _VOLATILE}


def test_head_on_every_get_route_answers_as_the_get_without_a_body(app: Starlette) -> None:
    differing = []
    for path in _get_paths(app):
        got, head = call(app, "GET", path), call(app, "HEAD", path)
        if (head.status, _comparable(head.headers)) != (got.status, _comparable(got.headers)):
            differing.append((path, got.status, head.status))
        assert head.body == b"", path
    assert differing == []


def test_head_reads_the_query_as_its_get_does(app: Starlette) -> None:
    target = "/api/2.0/mlflow/experiments/get?experiment_id=0"
    got, head = call(app, "GET", target), call(app, "HEAD", target)
    assert got.status == head.status == 200
    assert int(head.headers["content-length"]) == len(got.body) > 0
    assert head.body == b""
    missing = call(app, "HEAD", "/api/2.0/mlflow/experiments/get?experiment_id=12345")
    assert missing.status == 404


def test_no_route_and_a_method_the_path_refuses_answer_mlflows_error_json(
    app: Starlette,
) -> None:
    missing = call(app, "DELETE", "/api/2.0/mlflow/no-such-call")
    assert missing.status == 404
    assert json.loads(missing.body)["error_code"] == "ENDPOINT_NOT_FOUND"
    assert call(app, "HEAD", "/api/2.0/mlflow/no-such-call").body == b""
    refused = call(app, "PUT", "/api/2.0/mlflow/runs/get")
    assert refused.status == 405
    assert "GET" in refused.headers["allow"]
    assert set(json.loads(refused.body)) == {"error_code", "message"}
