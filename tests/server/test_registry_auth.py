"""`cairn server --auth` on the model registry: per-registered-model READ < EDIT < MANAGE,
the creator's MANAGE, filtered searches, grants (endpoint and `cairn users grant-model`),
and registering only what the caller can read, against a real server on 127.0.0.1."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from live_server import LiveServer, start_server
from test_auth import ADMIN, PREFIXES, basic, call, create_user, users_cli

USERS = ("reader", "editor", "manager", "outsider", "creator")
GRANT = "/registered-models/permissions/create"


@dataclass
class Setup:
    server: LiveServer
    database: Path
    shared: str  # an experiment: EDIT for creator and editor, READ for reader and manager
    run: str  # a run in `shared`
    secret: str  # an experiment only the admin may see
    secret_run: str


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    folder = tmp_path_factory.mktemp("registry-auth")
    server = start_server(folder, "--auth")
    try:
        create_user(server.database, "admin", "--admin")
        for name in USERS:
            create_user(server.database, name)
        experiments, runs = [], []
        for name in ("shared", "secret"):
            made = call(server, "POST", "/experiments/create", {"name": name}, ADMIN)
            experiments.append(made.json()["experiment_id"])
            run = call(server, "POST", "/runs/create", {"experiment_id": experiments[-1]}, ADMIN)
            runs.append(run.json()["run"]["info"]["run_id"])
        for user, permission in (
            ("creator", "EDIT"),
            ("editor", "EDIT"),
            ("reader", "READ"),
            ("manager", "READ"),
        ):
            done = users_cli(server.database, "grant", user, experiments[0], permission)
            assert done.returncode == 0, done.stderr
        yield Setup(server, server.database, experiments[0], runs[0], experiments[1], runs[1])
    finally:
        server.stop()


def _source(run: str) -> dict[str, str]:
    return {"source": f"runs:/{run}/model", "run_id": run}


def _model(setup: Setup, grants: dict[str, str]) -> str:
    """A model made by the admin, with one version from the shared run, and `grants`."""
    name = f"model-{uuid.uuid4().hex[:8]}"
    server = setup.server
    assert call(server, "POST", "/registered-models/create", {"name": name}, ADMIN).status == 200
    version = {"name": name, **_source(setup.run)}
    assert call(server, "POST", "/model-versions/create", version, ADMIN).status == 200
    for user, permission in grants.items():
        grant = {"name": name, "username": user, "permission": permission}
        reply = call(server, "POST", GRANT, grant, ADMIN)
        assert reply.status == 200, reply.body
    return name


def _reads(name: str) -> list[tuple[str, str, dict[str, Any]]]:
    one = {"name": name, "version": "1"}
    return [
        ("GET", "/registered-models/get", {"name": name}),
        ("POST", "/registered-models/get-latest-versions", {"name": name}),
        ("GET", "/registered-models/get-latest-versions", {"name": name, "stages": "None"}),
        ("GET", "/model-versions/get", one),
        ("GET", "/model-versions/get-download-uri", one),
        ("GET", "/model-versions/history", one),
        ("GET", "/registered-models/alias", {"name": name, "alias": "latest"}),
    ]


def _edits(name: str, run: str) -> list[tuple[str, str, dict[str, Any]]]:
    one = {"name": name, "version": "1"}
    return [
        ("PATCH", "/registered-models/update", {"name": name, "description": "d"}),
        ("POST", "/registered-models/set-tag", {"name": name, "key": "k", "value": "v"}),
        ("DELETE", "/registered-models/delete-tag", {"name": name, "key": "k"}),
        ("POST", "/registered-models/alias", {**one, "alias": "champion"}),
        ("DELETE", "/registered-models/alias", {"name": name, "alias": "champion"}),
        ("PATCH", "/model-versions/update", {**one, "description": "d"}),
        ("POST", "/model-versions/set-tag", {**one, "key": "k", "value": "v"}),
        ("DELETE", "/model-versions/delete-tag", {**one, "key": "k"}),
        ("POST", "/model-versions/transition-stage", {**one, "stage": "Staging"}),
        ("POST", "/model-versions/create", {"name": name, **_source(run)}),
        ("DELETE", "/model-versions/delete", {"name": name, "version": "2"}),
    ]


def _statuses(
    setup: Setup, user: str, calls: list[tuple[str, str, dict[str, Any]]]
) -> dict[str, int]:
    out = {}
    for method, endpoint, payload in calls:
        reply = call(setup.server, method, endpoint, payload, basic(user))
        if reply.status == 403:
            assert reply.json()["error_code"] == "PERMISSION_DENIED"
        out[f"{method} {endpoint}"] = reply.status
    return out


def test_registry_routes_need_credentials(setup: Setup) -> None:
    name = _model(setup, {})
    for prefix in PREFIXES:
        for method, endpoint, payload in _reads(name) + _edits(name, setup.run):
            reply = call(setup.server, method, endpoint, payload, prefix=prefix)
            assert reply.status == 401, (prefix, endpoint)


def test_each_permission_allows_its_calls_and_no_more(setup: Setup) -> None:
    for user, permission, allowed in (
        ("outsider", None, 0),
        ("reader", "READ", 1),
        ("editor", "EDIT", 2),
        ("manager", "MANAGE", 3),
    ):
        name = _model(setup, {user: permission} if permission else {})
        manages = [
            ("POST", GRANT, {"name": name, "username": "creator", "permission": "READ"}),
            ("POST", "/registered-models/rename", {"name": name, "new_name": name + "-r"}),
            ("DELETE", "/registered-models/delete", {"name": name + "-r"}),
        ]
        for level, calls in enumerate((_reads(name), _edits(name, setup.run), manages), 1):
            statuses = _statuses(setup, user, calls)
            expected = 200 if level <= allowed else 403
            assert set(statuses.values()) == {expected}, (user, statuses)


def test_creator_manages_their_model_and_is_recorded(setup: Setup) -> None:
    server, user = setup.server, basic("creator")
    name = f"own-{uuid.uuid4().hex[:8]}"
    created = call(server, "POST", "/registered-models/create", {"name": name}, user)
    assert created.status == 200, created.body
    assert created.json()["registered_model"]["user_id"] == "creator"
    # The server records who authenticated, not who the request says it is.
    version = {"name": name, **_source(setup.run), "user_id": "somebody-else"}
    made = call(server, "POST", "/model-versions/create", version, user)
    assert made.status == 200, made.body
    assert made.json()["model_version"]["user_id"] == "creator"
    moved = {"name": name, "version": "1", "stage": "Production"}
    assert call(server, "POST", "/model-versions/transition-stage", moved, user).status == 200
    history = call(server, "GET", "/model-versions/history", {"name": name, "version": "1"}, user)
    assert {e["user_id"] for e in history.json()["events"]} == {"creator"}

    reader = call(server, "GET", "/registered-models/get", {"name": name}, basic("reader"))
    assert reader.status == 403
    renamed = {"name": name, "new_name": name + "-v2"}
    assert call(server, "POST", "/registered-models/rename", renamed, user).status == 200
    got = call(server, "GET", "/registered-models/get", {"name": name + "-v2"}, user)
    assert got.status == 200  # the grant moved with the name
    delete = {"name": name + "-v2"}
    assert call(server, "DELETE", "/registered-models/delete", delete, user).status == 200


def test_grants_end_with_their_model(setup: Setup) -> None:
    name = _model(setup, {"reader": "READ"})
    server = setup.server
    got = call(server, "GET", "/registered-models/get", {"name": name}, basic("reader"))
    assert got.status == 200
    renamed = {"name": name, "new_name": name + "-b"}
    assert call(server, "POST", "/registered-models/rename", renamed, ADMIN).status == 200
    got = call(server, "GET", "/registered-models/get", {"name": name + "-b"}, basic("reader"))
    assert got.status == 200
    delete = {"name": name + "-b"}
    assert call(server, "DELETE", "/registered-models/delete", delete, ADMIN).status == 200
    # A new model of the same name starts with no grant but its creator's.
    assert call(server, "POST", "/registered-models/create", delete, ADMIN).status == 200
    again = call(server, "GET", "/registered-models/get", delete, basic("reader"))
    assert again.status == 403


def test_searches_answer_only_readable_models(setup: Setup) -> None:
    mine = _model(setup, {"reader": "READ"})
    hidden = _model(setup, {})
    for endpoint, field in (
        ("/registered-models/search", "registered_models"),
        ("/model-versions/search", "model_versions"),
    ):
        query = {"filter": "name LIKE 'model-%'", "max_results": 1000}
        seen = call(setup.server, "GET", endpoint, query, basic("reader")).json().get(field, [])
        names = {item["name"] for item in seen}
        assert mine in names and hidden not in names, endpoint
        everything = call(setup.server, "GET", endpoint, query, ADMIN).json()[field]
        assert {mine, hidden} <= {item["name"] for item in everything}
        assert call(setup.server, "GET", endpoint, query, basic("outsider")).json() == {}


def test_registering_needs_read_on_what_the_version_comes_from(setup: Setup) -> None:
    name = _model(setup, {"editor": "EDIT"})
    server, user = setup.server, basic("editor")
    secret = setup.secret_run
    for version in (
        {"source": f"runs:/{secret}/model", "run_id": secret},
        {"source": f"runs:/{secret}/model"},
        {"source": f"mlflow-artifacts:/{setup.secret}/{secret}/artifacts/model"},
        {"source": f"runs:/{setup.run}/model", "run_id": secret},
        {"source": "file:///etc"},
        {"source": "/etc"},
    ):
        reply = call(server, "POST", "/model-versions/create", {"name": name, **version}, user)
        assert reply.status == 403, (version, reply.body)
    other = _model(setup, {})
    from_other = {"name": name, "source": f"models:/{other}/1"}
    assert call(server, "POST", "/model-versions/create", from_other, user).status == 403
    # The admin may name anything; the store still refuses unsafe sources (MLflow's 400).
    etc = call(server, "POST", "/model-versions/create", {"name": name, "source": "/etc"}, ADMIN)
    assert (etc.status, etc.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    ok = call(server, "POST", "/model-versions/create", {"name": name, **_source(setup.run)}, user)
    assert ok.status == 200, ok.body


def test_grant_endpoint_and_cli(setup: Setup) -> None:
    name = _model(setup, {"manager": "MANAGE", "editor": "EDIT"})
    server = setup.server
    grant = {"name": name, "username": "outsider", "permission": "READ"}
    assert call(server, "POST", GRANT, grant, basic("editor")).status == 403
    got = call(server, "GET", "/registered-models/get", {"name": name}, basic("outsider"))
    assert got.status == 403
    assert call(server, "POST", GRANT, grant, basic("manager")).status == 200
    got = call(server, "GET", "/registered-models/get", {"name": name}, basic("outsider"))
    assert got.status == 200
    bad = call(server, "POST", GRANT, {**grant, "permission": "OWN"}, basic("manager"))
    assert (bad.status, bad.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    unknown = call(server, "POST", GRANT, {**grant, "name": name + "-nope"}, ADMIN)
    assert (unknown.status, unknown.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")

    done = users_cli(setup.database, "grant-model", "outsider", name, "edit")
    assert done.returncode == 0, done.stderr
    tag = {"name": name, "key": "by", "value": "outsider"}
    assert call(server, "POST", "/registered-models/set-tag", tag, basic("outsider")).status == 200
    missing = users_cli(setup.database, "grant-model", "outsider", name + "-nope", "READ")
    assert missing.returncode != 0 and "not found" in missing.stderr


def test_a_versions_model_files_need_read_on_the_model(setup: Setup) -> None:
    """The UI's version page reads the MLmodel and its files by version: READ on the model."""
    name = _model(setup, {"reader": "READ"})
    run = call(setup.server, "GET", "/runs/get", {"run_id": setup.run}, ADMIN).json()["run"]
    root = run["info"]["artifact_uri"].removeprefix("mlflow-artifacts:").strip("/")
    upload = f"/api/2.0/mlflow-artifacts/artifacts/{root}/model/MLmodel"
    body = b"flavors:\n  python_function: {}\n"
    assert setup.server.request("PUT", upload, body=body, headers=ADMIN).status == 200
    ui = "/ajax-api/2.0/cairn"
    for endpoint, params in (
        ("/model-versions/mlmodel", {"name": name, "version": "1"}),
        ("/model-versions/artifact", {"name": name, "version": "1", "path": "MLmodel"}),
    ):
        assert call(setup.server, "GET", endpoint, params, prefix=ui).status == 401
        assert call(setup.server, "GET", endpoint, params, basic("reader"), ui).status == 200
        denied = call(setup.server, "GET", endpoint, params, basic("outsider"), ui)
        assert denied.status == 403 and denied.json()["error_code"] == "PERMISSION_DENIED"
