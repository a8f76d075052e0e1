"""`GET /openapi.json`: the OpenAPI 3 description generated from the route tables. Every
endpoint is in it, under each of its prefixes, with the fields it reads; every declaration
belongs to an endpoint; schemathesis reads it without a schema error; under `--auth` any
authenticated user may read it.

In process: the application is called as an ASGI app, over a real SQLite store.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from asgi_support import call
from starlette.applications import Starlette

from cairn.server.app import create_app
from cairn.server.auth_store import AuthStore
from cairn.server.openapi import REQUEST_FIELDS, api_path
from cairn.server.routes import EndpointRoute
from cairn.store.sql.tracking import SqlTrackingStore

PASSWORD = "correct-horse-battery"


@pytest.fixture
def app(sqlite_store: SqlTrackingStore, tmp_path: Path) -> Iterator[Starlette]:
    yield create_app(sqlite_store, str(tmp_path / "artifacts"), allowed_hosts=["*"])


def _document(app: Starlette) -> dict[str, Any]:
    answer = call(app, "GET", "/openapi.json")
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    document: dict[str, Any] = json.loads(answer.body)
    return document


def test_every_endpoint_is_described_under_every_prefix(app: Starlette) -> None:
    paths = _document(app)["paths"]
    missing, used = [], set()
    for route in app.routes:
        if not isinstance(route, EndpointRoute):
            continue
        described = paths.get(route.path.replace(":path}", "}"), {})
        for method in route.accesses:
            key = f"{method} {api_path(route.path)}"
            used.add(key)
            if REQUEST_FIELDS[key] is not None and method.lower() not in described:
                missing.append((method, route.path))
    assert missing == []
    assert set(REQUEST_FIELDS) - used == set(), "declarations of no endpoint"
    assert len(paths) > 150  # the MLflow API under both prefixes, traces under four


def test_fields_follow_mlflows_protos(app: Starlette) -> None:
    paths = _document(app)["paths"]
    log_metric = paths["/api/2.0/mlflow/runs/log-metric"]["post"]["requestBody"]
    body = log_metric["content"]["application/json"]["schema"]
    assert body["required"] == ["run_id", "key", "value", "timestamp"]
    assert body["properties"]["step"] == {"type": "integer", "format": "int64"}
    get_run = paths["/ajax-api/2.0/mlflow/experiments/get"]["get"]["parameters"]
    assert get_run == [
        {
            "name": "experiment_id",
            "in": "query",
            "required": True,
            "schema": {"type": "string", "pattern": "^[0-9]{1,10}$"},
        }
    ]
    search = paths["/api/2.0/mlflow/runs/search"]["post"]["requestBody"]
    ids = search["content"]["application/json"]["schema"]["properties"]["experiment_ids"]
    assert ids["type"] == "array"
    tag = paths["/api/2.0/mlflow/logged-models/{model_id}/tags/{tag_key}"]["delete"]
    assert [p["name"] for p in tag["parameters"]] == ["model_id", "tag_key"]
    errors = paths["/api/2.0/mlflow/runs/get"]["get"]["responses"]["default"]
    assert errors["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_schemathesis_reads_every_operation(app: Starlette) -> None:
    schema = schemathesis.openapi.from_dict(_document(app))
    results = list(schema.get_all_operations())
    assert [r.err() for r in results if not hasattr(r, "ok")] == []  # no schema error
    assert len(results) > 200


def test_under_auth_any_authenticated_user_reads_it(
    sqlite_store: SqlTrackingStore, tmp_path: Path
) -> None:
    auth = AuthStore(sqlite_store.engine)
    auth.create_user("plain", PASSWORD)
    app = create_app(sqlite_store, str(tmp_path / "artifacts"), auth=auth, allowed_hosts=["*"])
    assert call(app, "GET", "/openapi.json").status == 401
    credentials = base64.b64encode(f"plain:{PASSWORD}".encode()).decode()
    answer = call(app, "GET", "/openapi.json", headers={"authorization": f"Basic {credentials}"})
    assert answer.status == 200
    assert json.loads(answer.body)["openapi"].startswith("3.")
