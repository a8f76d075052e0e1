"""Hostile values in every field of every endpoint never answer 500: each field the server's
OpenAPI description declares (cairn.server.openapi) is sent, with the others, as values of
the wrong type, out of range, in other scripts' digits, with NULs and lone surrogates; and
bodies that are not JSON objects. A bad request is a 4xx with MLflow's error JSON.

Deterministic (the same values every run): the schemathesis test beside this one explores
at random. In process: the application is called as an ASGI app, over a real SQLite store.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from asgi_support import Answer, call
from starlette.applications import Starlette

from cairn.server.app import create_app
from cairn.server.openapi import REQUEST_FIELDS, api_path
from cairn.server.routes import EndpointRoute
from cairn.store.sql.tracking import SqlTrackingStore

# The values of the fuzzing (issue 19) that answered 500, and their neighbours.
HOSTILE: list[Any] = [
    "¹",
    "٢",
    "０",
    "-1",
    "1e400",
    "NaN",
    "9" * 40,
    2**63,
    -(2**63) - 1,
    1e308,
    -0.5,
    True,
    None,
    "",
    "a\x00b",
    "\ud800",
    "../../etc/passwd",
    "%2e%2e/",
    "x" * 100_000,
    [],
    ["¹", None, {}],
    {},
    {"key": None, "value": ["x"]},
    # Items of repeated fields whose own fields are hostile (tags, datasets, metrics...).
    [{"tags": 1, "dataset": {"name": "n", "digest": "d", "source_type": "s", "source": "x"}}],
    [{"key": {}, "value": [], "timestamp": "¹", "step": None, "model_id": 1, "dataset": []}],
]
# Whole bodies that are not a JSON object of fields (nor one as a JSON string, which
# legacy clients send).
BODIES = [b"[]", b'"[1]"', b"null", b"1", b"{", b"\xff\xfe", b"[" * 5000, b'{"a":' * 5000]


@pytest.fixture
def app(sqlite_store: SqlTrackingStore, tmp_path: Path) -> Iterator[Starlette]:
    yield create_app(sqlite_store, str(tmp_path / "artifacts"), allowed_hosts=["*"])


def _operations(app: Starlette) -> list[tuple[str, str, list[str]]]:
    """Each endpoint once (under its first prefix): method, concrete path, field names."""
    seen: set[str] = set()
    found = []
    for route in app.routes:
        if not isinstance(route, EndpointRoute):
            continue
        for method in route.accesses:
            key = f"{method} {api_path(route.path)}"
            fields = REQUEST_FIELDS[key]
            if key in seen or fields is None:
                continue
            seen.add(key)
            names = [token.rstrip("!").partition(":")[0] for token in fields.split()]
            found.append((method, re.sub(r"\{[^}]+\}", "1", route.path), names))
    return found


def _send(app: Starlette, method: str, path: str, fields: dict[str, Any]) -> Answer:
    if method in ("GET", "HEAD"):
        query = {k: v if isinstance(v, list) else [v] for k, v in fields.items()}
        text = {k: ["" if x is None else str(x) for x in v] for k, v in query.items()}
        return call(app, method, f"{path}?{urlencode(text, doseq=True, errors='surrogatepass')}")
    body = json.dumps(fields).encode("utf-8", "surrogatepass")
    return call(app, method, path, body)


def _server_errors(app: Starlette, method: str, path: str, fields: dict[str, Any]) -> list[str]:
    answer = _send(app, method, path, fields)
    return [f"{method} {path} {list(fields)} -> 500"] if answer.status >= 500 else []


def _valid_fields(app: Starlette) -> dict[str, Any]:
    """Values that name things that exist, so each hostile value gets past the others."""
    answer = _send(app, "POST", "/api/2.0/mlflow/runs/create", {"experiment_id": "0"})
    run_id = json.loads(answer.body)["run"]["info"]["run_id"]
    _send(app, "POST", "/api/2.0/mlflow/registered-models/create", {"name": "m"})
    return {"run_id": run_id, "experiment_id": "0", "name": "m", "key": "k", "version": "1"}


def test_hostile_values_in_every_field_answer_4xx_never_500(app: Starlette) -> None:
    operations = _operations(app)
    assert len(operations) > 90
    valid = _valid_fields(app)
    server_errors: list[str] = []
    refused = 0
    for method, path, names in operations:
        others = {name: valid[name] for name in names if name in valid}
        for value in HOSTILE:
            server_errors += _server_errors(app, method, path, dict.fromkeys(names, value))
            for name in names:
                answer = _send(app, method, path, {**others, name: value})
                refused += 400 <= answer.status < 500
                if answer.status >= 500:
                    server_errors.append(f"{method} {path} {name}={value!r:.40} -> 500")
    assert server_errors == []
    assert refused > 1000  # the values are refused, not silently taken


def test_bodies_that_are_not_an_object_of_fields_are_bad_requests(app: Starlette) -> None:
    for method, path, _names in _operations(app):
        if method == "GET":
            continue
        for body in BODIES:
            answer = call(app, method, path, body)
            assert 400 <= answer.status < 500, (method, path, body[:10], answer.status)
            assert set(json.loads(answer.body)) == {"error_code", "message"}
