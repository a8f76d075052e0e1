"""The UI's `GET …/cairn/registered-models/permission?name=…`: the caller's own permission
on a registered model, which the registry page follows. Without `--auth` everyone may do
everything; with it the answer is the caller's grant, and agrees with what the server then
allows. Against real servers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from live_server import LiveServer, start_server
from test_auth import ADMIN, basic, call, create_user, users_cli

from cairn.server import access, ui_api
from cairn.server.registry_auth import MODEL_GRANT_PATH

PATH = "/registered-models/permission"
MODEL = "permission-model"
ALL = {"permission": "MANAGE", "can_read": True, "can_update": True, "can_manage": True}
GRANTS = {"reader": "READ", "editor": "EDIT", "manager": "MANAGE"}


def _ask(
    server: LiveServer, name: str, auth_header: dict[str, str] | None = None, prefix: str = ""
) -> Any:
    return call(server, "GET", PATH, {"name": name}, auth_header, prefix or ui_api.PREFIXES[1])


def _make_model(server: LiveServer, name: str, auth_header: dict[str, str] | None) -> None:
    made = call(server, "POST", "/registered-models/create", {"name": name}, auth_header)
    assert made.status == 200, made.body


def test_every_ui_route_has_an_auth_rule() -> None:
    """A UI route without a rule would be for admins only under --auth."""
    declared = [*ui_api.ENDPOINTS, *ui_api.DOWNLOADS]
    paths = [e.path for e in declared]
    assert PATH in paths
    assert [e.path for e in declared if e.access.permission == access.ADMIN] == []


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("ui-permissions-open"))
    try:
        _make_model(server, MODEL, None)
        yield server
    finally:
        server.stop()


def test_without_auth_everyone_may_do_everything(open_server: LiveServer) -> None:
    for prefix in ui_api.PREFIXES:
        reply = _ask(open_server, MODEL, prefix=prefix)
        assert reply.status == 200, reply.body
        assert reply.json() == ALL
    unknown = _ask(open_server, "no-such-model")
    assert unknown.status == 404 and unknown.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    missing = call(open_server, "GET", PATH, {}, prefix=ui_api.PREFIXES[0])
    assert missing.status == 400 and missing.json()["error_code"] == "INVALID_PARAMETER_VALUE"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """An --auth server: MODEL made by the admin, with GRANTS; "outsider" has nothing on it
    and makes a model of their own."""
    server = start_server(tmp_path_factory.mktemp("ui-permissions-auth"), "--auth")
    try:
        database: Path = server.database
        create_user(database, "admin", "--admin")
        for name in [*GRANTS, "outsider"]:
            create_user(database, name)
        _make_model(server, MODEL, ADMIN)
        for user, permission in GRANTS.items():
            done = users_cli(database, "grant-model", user, MODEL, permission)
            assert done.returncode == 0, done.stderr
        yield server
    finally:
        server.stop()


def test_each_user_is_told_their_own_permission(guarded: LiveServer) -> None:
    for user, permission in GRANTS.items():
        for prefix in ui_api.PREFIXES:
            reply = _ask(guarded, MODEL, basic(user), prefix)
            assert reply.status == 200, (user, reply.body)
            assert reply.json() == {
                "permission": permission,
                "can_read": True,
                "can_update": permission != "READ",
                "can_manage": permission == "MANAGE",
            }
    assert _ask(guarded, MODEL, ADMIN).json() == ALL


def test_the_answer_agrees_with_what_the_server_allows(guarded: LiveServer) -> None:
    """can_update: an EDIT call succeeds; can_manage: a MANAGE call (granting oneself what
    one holds, which changes nothing) does."""
    for user, permission in GRANTS.items():
        told = _ask(guarded, MODEL, basic(user)).json()
        tag = {"name": MODEL, "key": f"checked-by-{user}", "value": "yes"}
        edited = call(guarded, "POST", "/registered-models/set-tag", tag, basic(user))
        assert (edited.status == 200) == told["can_update"], (user, edited.body)
        grant = {"name": MODEL, "username": user, "permission": permission}
        granted = call(guarded, "POST", MODEL_GRANT_PATH, grant, basic(user))
        assert (granted.status == 200) == told["can_manage"], (user, granted.body)
        assert _ask(guarded, MODEL, basic(user)).json() == told


def test_without_read_the_call_is_refused_as_the_other_model_calls(guarded: LiveServer) -> None:
    assert _ask(guarded, MODEL).status == 401
    for name in (MODEL, "no-such-model"):
        refused = _ask(guarded, name, basic("outsider"))
        assert refused.status == 403 and refused.json()["error_code"] == "PERMISSION_DENIED"
        got = call(guarded, "GET", "/registered-models/get", {"name": name}, basic("outsider"))
        assert got.status == 403  # as the registry's own read
    unknown = _ask(guarded, "no-such-model", ADMIN)
    assert unknown.status == 404 and unknown.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_a_models_creator_manages_it(guarded: LiveServer) -> None:
    _make_model(guarded, "outsiders-own", basic("outsider"))
    assert _ask(guarded, "outsiders-own", basic("outsider")).json() == ALL
    assert _ask(guarded, "outsiders-own", basic("reader")).status == 403
