"""`cairn server --auth`: authentication on every route, per-experiment permissions, and the
`cairn users` commands, against a real server process on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from live_server import LiveServer, Reply, start_server

from local_processes import CLI

PASSWORD = "correct-horse-battery"
USERS = ("reader", "editor", "manager", "outsider", "grantee")
PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
PROXY = "/api/2.0/mlflow-artifacts/artifacts"


def users_cli(
    database: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI, "users", *args, "--backend-store-uri", f"sqlite:///{database}"],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def create_user(database: Path, name: str, *options: str) -> None:
    done = users_cli(database, "create", name, "--password-stdin", *options, stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr


def basic(user: str, password: str = PASSWORD) -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def call(
    server: LiveServer,
    method: str,
    endpoint: str,
    payload: dict[str, Any] | None = None,
    auth: dict[str, str] | None = None,
    prefix: str = PREFIXES[0],
) -> Reply:
    headers = dict(auth or {})
    if method == "GET":
        from urllib.parse import urlencode

        query = f"?{urlencode(payload, doseq=True)}" if payload else ""
        return server.request("GET", f"{prefix}{endpoint}{query}", headers=headers)
    headers["Content-Type"] = "application/json"
    body = json.dumps(payload or {}).encode()
    return server.request(method, f"{prefix}{endpoint}", body=body, headers=headers)


@dataclass
class Setup:
    server: LiveServer
    database: Path
    shared: str  # READ for reader, EDIT for editor, MANAGE for manager
    secret: str  # nobody but the admin
    run: str  # a run in `shared`
    secret_run: str

    def artifact(self, name: str, run: str | None = None, experiment: str | None = None) -> str:
        return f"{PROXY}/{experiment or self.shared}/{run or self.run}/artifacts/{name}"


ADMIN = basic("admin")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    folder = tmp_path_factory.mktemp("auth")
    server = start_server(folder, "--auth")
    try:
        database = server.database
        create_user(database, "admin", "--admin")
        for name in USERS:
            create_user(database, name)
        ids = []
        for name in ("shared", "secret"):
            reply = call(server, "POST", "/experiments/create", {"name": name}, ADMIN)
            assert reply.status == 200, reply.body
            ids.append(reply.json()["experiment_id"])
        runs = []
        for experiment_id in ids:
            reply = call(server, "POST", "/runs/create", {"experiment_id": experiment_id}, ADMIN)
            assert reply.status == 200, reply.body
            runs.append(reply.json()["run"]["info"]["run_id"])
        for user, permission in (("reader", "READ"), ("editor", "EDIT"), ("manager", "MANAGE")):
            done = users_cli(database, "grant", user, ids[0], permission)
            assert done.returncode == 0, done.stderr
        yield Setup(server, database, ids[0], ids[1], runs[0], runs[1])
    finally:
        server.stop()


# -- authentication -----------------------------------------------------------------------


def _targets(setup: Setup) -> list[tuple[str, str, bytes | None, dict[str, str]]]:
    json_headers = {"Content-Type": "application/json"}
    metric = json.dumps({"run_id": setup.run, "key": "m", "value": 1, "timestamp": 1}).encode()
    targets: list[tuple[str, str, bytes | None, dict[str, str]]] = []
    for prefix in PREFIXES:
        targets += [
            ("GET", f"{prefix}/experiments/get?experiment_id={setup.shared}", None, {}),
            ("GET", f"{prefix}/runs/get?run_id={setup.run}", None, {}),
            ("POST", f"{prefix}/runs/log-metric", metric, json_headers),
            ("POST", f"{prefix}/experiments/create", b'{"name": "x"}', json_headers),
            ("GET", f"{prefix}/artifacts/list?run_id={setup.run}", None, {}),
        ]
    for proxy in (PROXY, PROXY.replace("/api/", "/ajax-api/")):
        path = f"{proxy}/{setup.shared}/{setup.run}/artifacts/unauthenticated.txt"
        targets += [
            ("PUT", path, b"data", {}),
            ("GET", path, None, {}),
            ("DELETE", path, None, {}),
            ("GET", f"{proxy}?path={setup.shared}", None, {}),
        ]
    targets.append(("GET", "/api/3.0/mlflow/server-info", None, {}))
    return targets


def test_every_route_needs_credentials(setup: Setup) -> None:
    for method, target, body, headers in _targets(setup):
        reply = setup.server.request(method, target, body=body, headers=headers)
        assert reply.status == 401, (method, target, reply.body)
        assert reply.headers["WWW-Authenticate"] == 'Basic realm="cairn"'
        assert reply.json()["error_code"] == "UNAUTHENTICATED", target
    run_folder = setup.server.destination / setup.shared / setup.run / "artifacts"
    assert not (run_folder / "unauthenticated.txt").exists()
    listed = call(setup.server, "GET", "/experiments/search", {"max_results": 10}, ADMIN)
    assert "x" not in [e["name"] for e in listed.json()["experiments"]]


def test_health_and_version_are_open(setup: Setup) -> None:
    assert setup.server.request("GET", "/health").status == 200
    version = setup.server.request("GET", "/version")
    assert version.status == 200 and version.body


def test_basic_and_bearer(setup: Setup) -> None:
    server = setup.server
    query = {"experiment_id": setup.shared}
    reply = call(server, "GET", "/experiments/get", query, basic("reader"))
    assert reply.status == 200 and reply.json()["experiment"]["name"] == "shared"
    made = users_cli(setup.database, "token", "reader", "--name", "laptop")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert len(token) >= 40
    assert call(server, "GET", "/experiments/get", query, bearer(token)).status == 200
    for bad in (basic("reader", "wrong-password"), basic("nobody"), bearer(token + "x")):
        reply = call(server, "GET", "/experiments/get", query, bad)
        assert reply.status == 401
        assert reply.json()["error_code"] == "UNAUTHENTICATED"
        assert reply.headers["WWW-Authenticate"] == 'Basic realm="cairn"'
    assert (
        call(server, "GET", "/experiments/get", query, {"Authorization": "Digest x"}).status == 401
    )


def test_a_deleted_users_credentials_stop_working(setup: Setup) -> None:
    create_user(setup.database, "leaver")
    made = users_cli(setup.database, "token", "leaver")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    granted = users_cli(setup.database, "grant", "leaver", setup.shared, "READ")
    assert granted.returncode == 0, granted.stderr
    query = {"experiment_id": setup.shared}
    assert call(setup.server, "GET", "/experiments/get", query, bearer(token)).status == 200
    assert call(setup.server, "GET", "/experiments/get", query, basic("leaver")).status == 200
    deleted = users_cli(setup.database, "delete", "leaver")
    assert deleted.returncode == 0, deleted.stderr
    assert call(setup.server, "GET", "/experiments/get", query, bearer(token)).status == 401
    # The Basic check was cached: the cache must not outlive the user.
    assert call(setup.server, "GET", "/experiments/get", query, basic("leaver")).status == 401


# -- authorisation ------------------------------------------------------------------------


def _metric(run: str) -> dict[str, Any]:
    return {"run_id": run, "key": "loss", "value": 0.5, "timestamp": 1, "step": 0}


def test_reader_reads_but_cannot_write(setup: Setup) -> None:
    server, user = setup.server, basic("reader")
    uploaded = server.request("PUT", setup.artifact("by-admin.txt"), b"hello", ADMIN)
    assert uploaded.status == 200
    for method, endpoint, payload in (
        ("GET", "/experiments/get", {"experiment_id": setup.shared}),
        ("GET", "/experiments/get-by-name", {"experiment_name": "shared"}),
        ("GET", "/runs/get", {"run_id": setup.run}),
        ("GET", "/metrics/get-history", {"run_id": setup.run, "metric_key": "loss"}),
        ("GET", "/artifacts/list", {"run_id": setup.run}),
        ("POST", "/runs/search", {"experiment_ids": [setup.shared]}),
    ):
        reply = call(server, method, endpoint, payload, user)
        assert reply.status == 200, (endpoint, reply.body)
    assert server.request("GET", setup.artifact("by-admin.txt"), headers=user).body == b"hello"
    listing = server.request("GET", f"{PROXY}?path={setup.shared}", headers=user)
    assert listing.status == 200
    for method, endpoint, payload in (
        ("POST", "/runs/log-metric", _metric(setup.run)),
        ("POST", "/runs/set-tag", {"run_id": setup.run, "key": "k", "value": "v"}),
        ("POST", "/runs/create", {"experiment_id": setup.shared}),
        ("POST", "/experiments/update", {"experiment_id": setup.shared, "new_name": "mine"}),
    ):
        reply = call(server, method, endpoint, payload, user)
        assert reply.status == 403, (endpoint, reply.body)
        assert reply.json()["error_code"] == "PERMISSION_DENIED"
    put = server.request("PUT", setup.artifact("by-reader.txt"), b"no", user)
    assert put.status == 403 and put.json()["error_code"] == "PERMISSION_DENIED"
    assert not (server.destination / setup.shared / setup.run / "artifacts/by-reader.txt").exists()
    deleted = server.request("DELETE", setup.artifact("by-admin.txt"), headers=user)
    assert deleted.status == 403
    assert server.request("GET", setup.artifact("by-admin.txt"), headers=ADMIN).body == b"hello"
    history = call(server, "GET", "/metrics/get-history", {"run_id": setup.run, "metric_key": "k"})
    assert history.status == 401


def test_editor_logs_but_cannot_manage(setup: Setup) -> None:
    server, user = setup.server, basic("editor")
    assert call(server, "POST", "/runs/log-metric", _metric(setup.run), user).status == 200
    tag = {"run_id": setup.run, "key": "by", "value": "editor"}
    assert call(server, "POST", "/runs/set-tag", tag, user).status == 200
    assert server.request("PUT", setup.artifact("by-editor.txt"), b"e", user).status == 200
    created = call(server, "POST", "/runs/create", {"experiment_id": setup.shared}, user)
    assert created.status == 200
    rename = {"experiment_id": setup.shared, "new_name": "renamed-by-editor"}
    assert call(server, "POST", "/experiments/update", rename, user).status == 403
    grant = {"experiment_id": setup.shared, "username": "grantee", "permission": "READ"}
    assert call(server, "POST", "/experiments/permissions/create", grant, user).status == 403
    assert call(server, "POST", "/runs/log-metric", _metric(setup.secret_run), user).status == 403
    run = call(server, "GET", "/runs/get", {"run_id": setup.run}, user).json()["run"]
    assert run["data"]["metrics"][0]["key"] == "loss"


def test_manager_renames_and_grants(setup: Setup) -> None:
    server, user = setup.server, basic("manager")
    query = {"experiment_id": setup.shared}
    assert call(server, "GET", "/experiments/get", query, basic("grantee")).status == 403
    grant = {"experiment_id": setup.shared, "username": "grantee", "permission": "READ"}
    granted = call(server, "POST", "/experiments/permissions/create", grant, user)
    assert granted.status == 200, granted.body
    assert call(server, "GET", "/experiments/get", query, basic("grantee")).status == 200
    tag = {"experiment_id": setup.shared, "key": "owner", "value": "manager"}
    assert call(server, "POST", "/experiments/set-experiment-tag", tag, user).status == 200
    secret = {**grant, "experiment_id": setup.secret}
    assert call(server, "POST", "/experiments/permissions/create", secret, user).status == 403
    rename = {"experiment_id": setup.shared, "new_name": "shared-renamed"}
    assert call(server, "POST", "/experiments/update", rename, user).status == 200
    back = {"experiment_id": setup.shared, "new_name": "shared"}
    assert call(server, "POST", "/experiments/update", back, user).status == 200


def test_admin_may_do_anything(setup: Setup) -> None:
    server = setup.server
    assert call(server, "POST", "/runs/log-metric", _metric(setup.secret_run), ADMIN).status == 200
    path = setup.artifact("admin.txt", setup.secret_run, setup.secret)
    assert server.request("PUT", path, b"a", ADMIN).status == 200
    assert server.request("DELETE", path, headers=ADMIN).status == 200
    tag = {"experiment_id": setup.secret, "key": "k", "value": "v"}
    assert call(server, "POST", "/experiments/set-experiment-tag", tag, ADMIN).status == 200
    assert server.request("GET", "/api/3.0/mlflow/server-info", headers=ADMIN).status == 200


def test_creator_manages_and_search_shows_only_readable(setup: Setup) -> None:
    server, user = setup.server, basic("outsider")
    created = call(server, "POST", "/experiments/create", {"name": "outsiders-own"}, user)
    assert created.status == 200, created.body
    own = created.json()["experiment_id"]
    rename = {"experiment_id": own, "new_name": "outsiders-own"}
    assert call(server, "POST", "/experiments/update", rename, user).status == 200
    for method in ("GET", "POST"):
        found = call(server, method, "/experiments/search", {"max_results": 100}, user)
        assert found.status == 200
        assert [e["experiment_id"] for e in found.json()["experiments"]] == [own]
    readable = call(server, "POST", "/experiments/search", {"max_results": 100}, basic("reader"))
    names = {e["name"] for e in readable.json()["experiments"]}
    assert "shared" in names and "secret" not in names and "outsiders-own" not in names
    everything = call(server, "POST", "/experiments/search", {"max_results": 100}, ADMIN)
    assert {"shared", "secret", "outsiders-own"} <= {
        e["name"] for e in everything.json()["experiments"]
    }
    refused = call(server, "POST", "/runs/search", {"experiment_ids": [setup.secret]}, user)
    assert refused.status == 403 and refused.json()["error_code"] == "PERMISSION_DENIED"
    mixed = {"experiment_ids": [own, setup.shared]}
    assert call(server, "POST", "/runs/search", mixed, user).status == 403
    assert call(server, "POST", "/runs/search", {"experiment_ids": [own]}, user).status == 200
    located = {"name": "elsewhere", "artifact_location": str(server.destination / "x")}
    assert call(server, "POST", "/experiments/create", located, user).status == 403


def test_mlflow_client_with_credentials(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "editor")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(f"http://127.0.0.1:{setup.server.port}")
    client.log_metric(setup.run, "from-client", 2.0, step=3)
    history = client.get_metric_history(setup.run, "from-client")
    assert [(m.value, m.step) for m in history] == [(2.0, 3)]
    with pytest.raises(MlflowException) as denied:
        client.log_metric(setup.secret_run, "from-client", 1.0)
    assert "PERMISSION_DENIED" in str(denied.value.error_code)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "not-the-password")
    with pytest.raises(MlflowException) as refused:
        client.get_run(setup.run)
    assert "401" in str(refused.value) or "UNAUTHENTICATED" in str(refused.value)


# -- the CLI and the database -------------------------------------------------------------


def test_cli_refuses_weak_passwords_and_stores_hashes(setup: Setup) -> None:
    for weak in ("", "short", "1234567"):
        done = users_cli(
            setup.database, "create", "weakling", "--password-stdin", stdin=weak + "\n"
        )
        assert done.returncode != 0
        assert "at least 8 characters" in done.stderr
    made = users_cli(setup.database, "token", "reader", "--name", "ci")
    token = made.stdout.strip()
    listed = users_cli(setup.database, "list")
    assert listed.returncode == 0 and "admin *" in listed.stdout.splitlines()
    assert "weakling" not in listed.stdout
    with sqlite3.connect(setup.database) as db:
        hashes = dict(db.execute("SELECT username, password_hash FROM users").fetchall())
        stored = [row[0] for row in db.execute("SELECT token_hash FROM tokens WHERE name = 'ci'")]
        grants = db.execute(
            "SELECT p.permission FROM experiment_permissions p JOIN users u ON u.id = p.user_id "
            "WHERE u.username = 'editor' AND p.experiment_id = ?",
            (int(setup.shared),),
        ).fetchall()
    assert set(USERS) <= set(hashes) and "weakling" not in hashes
    assert all(h.startswith("$argon2") and PASSWORD not in h for h in hashes.values())
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]
    assert grants == [("EDIT",)]
    bad = users_cli(setup.database, "grant", "reader", "999999", "READ")
    assert bad.returncode != 0 and "No experiment" in bad.stderr
    missing = users_cli(setup.database, "token", "nobody")
    assert missing.returncode != 0 and "No user" in missing.stderr
    # Granting to a user not created yet says how to create one (and which store it read).
    ungranted = users_cli(setup.database, "grant", "bob", setup.shared, "EDIT")
    assert ungranted.returncode != 0
    assert "No user 'bob'. Create users with `cairn users create NAME`" in ungranted.stderr
    assert bad.stderr.count("cairn users create") == 0  # a missing experiment is not a user


def test_basic_verifications_are_cached(tmp_path: Path) -> None:
    from cairn.server.auth import Authenticator
    from cairn.server.auth_store import AuthStore
    from cairn.store.sql import engine, migrate

    database = engine.create(f"sqlite:///{tmp_path / 'auth.db'}")
    try:
        migrate.ensure_schema(database)
        store = AuthStore(database)
        store.create_user("trainer", PASSWORD)
        authenticator = Authenticator(store)
        header = basic("trainer")["Authorization"]
        first = authenticator.authenticate(header)
        assert first is not None and first.username == "trainer"
        assert store.password_verifications == 1
        for _ in range(20):
            again = authenticator.authenticate(header)
            assert again is not None and again.username == "trainer"
        assert store.password_verifications == 1
        wrong = basic("trainer", "wrong-password")["Authorization"]
        assert authenticator.authenticate(wrong) is None
        assert authenticator.authenticate(wrong) is None
        assert store.password_verifications == 3  # failures are never cached
        store.delete_user("trainer")
        assert authenticator.authenticate(header) is None
    finally:
        database.dispose()


def test_logged_model_routes_follow_the_experiments_permissions(setup: Setup) -> None:
    server = setup.server
    create = {"experiment_id": setup.shared, "name": "by-editor"}
    refused = call(server, "POST", "/logged-models", create, basic("reader"))
    assert refused.status == 403 and refused.json()["error_code"] == "PERMISSION_DENIED"
    made = call(server, "POST", "/logged-models", create, basic("editor"))
    assert made.status == 200, made.body
    model_id = made.json()["model"]["info"]["model_id"]
    path = f"/logged-models/{model_id}"
    assert call(server, "GET", path, None, basic("reader")).status == 200
    assert call(server, "GET", path, None, basic("outsider")).status == 403
    ready = {"model_id": model_id, "status": "LOGGED_MODEL_READY"}
    assert call(server, "PATCH", path, ready, basic("reader")).status == 403
    assert call(server, "PATCH", path, ready, basic("editor")).status == 200
    tags = {"tags": [{"key": "k", "value": "v"}]}
    assert call(server, "PATCH", path + "/tags", tags, basic("reader")).status == 403
    assert call(server, "PATCH", path + "/tags", tags, basic("editor")).status == 200
    assert call(server, "DELETE", path + "/tags/k", None, basic("outsider")).status == 403
    assert call(server, "DELETE", path + "/tags/k", None, basic("editor")).status == 200
    outputs = {"run_id": setup.run, "models": [{"model_id": model_id, "step": 0}]}
    assert call(server, "POST", "/runs/outputs", outputs, basic("reader")).status == 403
    assert call(server, "POST", "/runs/outputs", outputs, basic("editor")).status == 200
    search = {"experiment_ids": [setup.secret]}
    assert call(server, "POST", "/logged-models/search", search, basic("editor")).status == 403
    assert call(server, "DELETE", path, None, basic("reader")).status == 403
    assert call(server, "GET", path, None, ADMIN).json()["model"]["info"]["status"] == (
        "LOGGED_MODEL_READY"
    )


def test_multipart_uploads_need_edit_permission(setup: Setup) -> None:
    path = f"/api/2.0/mlflow-artifacts/mpu/create/{setup.shared}/{setup.run}/artifacts"
    body = json.dumps({"path": "big.bin", "num_parts": 2}).encode()
    for user, status in (("reader", 403), ("outsider", 403), ("editor", 501)):
        headers = {**basic(user), "Content-Type": "application/json"}
        reply = setup.server.request("POST", path, body=body, headers=headers)
        assert reply.status == status, (user, reply.body)
    # 501: this server's destination is a local folder, which cannot presign part uploads.
