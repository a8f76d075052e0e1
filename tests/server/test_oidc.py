"""Single sign-on under `cairn server --auth --oidc-issuer …`, against a real provider process
(oidc_provider.py) and a real `cairn server` process: the redirect flow with PKCE, ID-token
validation, group mapping, the session cookie and its CSRF check, logout, and personal API
tokens used by the real mlflow client."""

from __future__ import annotations

import base64
import sqlite3
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import mlflow
import pytest
from live_server import LiveServer, start_server
from mlflow.exceptions import MlflowException
from oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, start_provider

from cairn.server.auth_store import AuthStore
from cairn.store.sql.engine import create
from local_processes import free_port

PASSWORD = "correct-horse-battery"
CSRF = {"X-Requested-With": "cairn-tests"}
MAPPING = """
admins: [ml-platform]
experiments:
  churn: {ml-team: EDIT}
models:
  churn-model: {ml-team: READ}
"""


@dataclass
class Sso:
    server: LiveServer
    provider: Provider
    url: str
    churn: str
    other: str
    clients: ExitStack

    def browser(self, **options: Any) -> httpx.Client:
        """A client with a cookie jar, closed with the module's server."""
        return self.clients.enter_context(httpx.Client(base_url=self.url, **options))

    def admin(self) -> httpx.Client:
        return self.browser(auth=("admin", PASSWORD))

    def login(self, username: str, groups: list[str]) -> httpx.Client:
        """A browser-like client that went through the whole redirect flow."""
        self.provider.next_user(username, groups)
        client = self.browser(follow_redirects=True)
        landed = client.get("/auth/login", params={"next": "/"})
        assert landed.status_code == 200, landed.text
        assert landed.url.path == "/" and landed.url.port == self.server.port
        return client

    def log(self) -> str:
        return self.server.log.read_text()


@pytest.fixture(scope="module")
def sso(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sso]:
    folder = tmp_path_factory.mktemp("sso")
    provider = start_provider(folder / "provider.log", free_port())
    mapping = folder / "groups.yaml"
    mapping.write_text(MAPPING)
    server = start_server(
        folder / "server",
        "--auth",
        "--oidc-issuer",
        provider.issuer,
        "--oidc-client-id",
        CLIENT_ID,
        "--oidc-group-mapping",
        str(mapping),
        env={"CAIRN_OIDC_CLIENT_SECRET": CLIENT_SECRET},
    )
    clients = ExitStack()
    try:
        engine = create(f"sqlite:///{server.database}")
        AuthStore(engine).create_user("admin", PASSWORD, is_admin=True)
        engine.dispose()
        url = f"http://127.0.0.1:{server.port}"
        with httpx.Client(base_url=url, auth=("admin", PASSWORD)) as admin:
            ids = [
                admin.post("/api/2.0/mlflow/experiments/create", json={"name": n}).json()[
                    "experiment_id"
                ]
                for n in ("churn", "other")
            ]
        yield Sso(server, provider, url, *ids, clients)
    finally:
        clients.close()
        server.stop()
        provider.stop()


def _create_run(client: httpx.Client, experiment_id: str, **headers: str) -> httpx.Response:
    return client.post(
        "/api/2.0/mlflow/runs/create",
        json={"experiment_id": experiment_id},
        headers={**CSRF, **headers},
    )


def test_the_redirect_flow_logs_in_with_pkce_and_sets_a_session_cookie(sso: Sso) -> None:
    sso.provider.next_user("carol", [])
    browser = sso.browser()
    page = browser.get("/", headers={"Accept": "text/html"})
    assert page.status_code == 302 and page.headers["location"] == "/auth/login?next=%2F"
    to_provider = browser.get(page.headers["location"])
    assert to_provider.status_code == 302
    asked = parse_qs(urlsplit(to_provider.headers["location"]).query)
    assert asked["code_challenge_method"] == ["S256"] and len(asked["code_challenge"][0]) == 43
    assert asked["redirect_uri"] == [f"{sso.url}/auth/callback"] and asked["nonce"][0]
    assert "openid" in asked["scope"][0].split()
    back = httpx.get(to_provider.headers["location"])  # the provider approves at once
    callback = browser.get(back.headers["location"])
    assert callback.status_code == 302 and callback.headers["location"] == "/"
    cookie = next(c for c in callback.headers.get_list("set-cookie") if "cairn_session=" in c)
    attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")}
    assert {"httponly", "max-age", "path"} <= attributes and "secure" not in attributes
    assert "samesite=lax" in cookie.lower()
    me = browser.get("/api/2.0/cairn/users/current").json()["user"]
    assert me == {"username": "carol", "is_admin": False, "kind": "oidc"}
    assert browser.get("/", headers={"Accept": "text/html"}).status_code == 200


def test_api_clients_still_get_basic_and_the_ui_no_password_prompt(sso: Sso) -> None:
    bare = httpx.get(f"{sso.url}/api/2.0/mlflow/experiments/search", params={"max_results": 5})
    assert bare.status_code == 401 and bare.headers["www-authenticate"].startswith("Basic")
    assert bare.json()["error_code"] == "UNAUTHENTICATED"
    from_ui = httpx.get(f"{sso.url}/ajax-api/2.0/cairn/users/current", headers=CSRF)
    assert from_ui.status_code == 401 and "www-authenticate" not in from_ui.headers
    assert from_ui.headers["x-cairn-login"] == "/auth/login"
    admin = sso.admin()
    assert admin.get("/api/2.0/cairn/users/current").json()["user"]["is_admin"] is True


def test_the_provider_refuses_a_wrong_pkce_verifier(sso: Sso) -> None:
    sso.provider.next_user("dave", [])
    browser = sso.browser()
    to_provider = browser.get("/auth/login")
    back = httpx.get(to_provider.headers["location"])
    code = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
    exchanged = httpx.post(
        f"{sso.provider.issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": f"{sso.url}/auth/callback",
            "code_verifier": "a" * 64,
        },
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert exchanged.status_code == 400 and "PKCE" in exchanged.json()["error_description"]
    # The code is spent: the server's own exchange of it fails too, and no session is made.
    callback = browser.get(back.headers["location"])
    assert callback.status_code == 401 and "cairn_session" not in callback.headers.get(
        "set-cookie", ""
    )


def test_a_group_edit_grant_allows_runs_in_that_experiment_only(sso: Sso) -> None:
    alice = sso.login("alice", ["ml-team"])
    made = _create_run(alice, sso.churn)
    assert made.status_code == 200, made.text
    refused = _create_run(alice, sso.other)
    assert refused.status_code == 403 and refused.json()["error_code"] == "PERMISSION_DENIED"


def test_group_grants_follow_the_groups_and_hand_grants_stay(sso: Sso) -> None:
    erin = sso.login("erin", ["ml-team"])
    assert _create_run(erin, sso.churn).status_code == 200
    admin = sso.admin()
    granted = admin.post(
        "/api/2.0/mlflow/experiments/permissions/create",
        json={"experiment_id": sso.other, "username": "erin", "permission": "READ"},
    )
    assert granted.status_code == 200, granted.text
    erin = sso.login("erin", [])  # the provider dropped her from ml-team
    assert _create_run(erin, sso.churn).json()["error_code"] == "PERMISSION_DENIED"
    seen = erin.get("/api/2.0/mlflow/experiments/get", params={"experiment_id": sso.other})
    assert seen.status_code == 200 and seen.json()["experiment"]["name"] == "other"
    with sqlite3.connect(sso.server.database) as db:
        from_groups = db.execute(
            "SELECT COUNT(*) FROM experiment_group_permissions g JOIN users u "
            "ON u.id = g.user_id WHERE u.username = 'erin'"
        ).fetchone()[0]
    assert from_groups == 0


def test_an_admin_group_makes_an_admin_while_it_lasts(sso: Sso) -> None:
    frank = sso.login("frank", ["ml-platform"])
    assert frank.get("/api/2.0/cairn/users/current").json()["user"]["is_admin"] is True
    made = frank.post(
        "/api/2.0/cairn/service-accounts/create", json={"username": "nightly"}, headers=CSRF
    )
    assert made.status_code == 200 and made.json()["user"]["kind"] == "service"
    assert _create_run(frank, sso.other).status_code == 200
    frank = sso.login("frank", ["ml-team"])
    assert frank.get("/api/2.0/cairn/users/current").json()["user"]["is_admin"] is False
    assert _create_run(frank, sso.other).status_code == 403


def test_the_session_cookie_needs_the_csrf_header_for_changes(sso: Sso) -> None:
    alice = sso.login("alice", ["ml-team"])
    body = {"experiment_id": sso.churn}
    bare = alice.post("/api/2.0/mlflow/runs/create", json=body)
    assert bare.status_code == 403 and bare.json()["error_code"] == "PERMISSION_DENIED"
    assert "X-Requested-With" in bare.json()["message"]
    assert alice.post("/api/2.0/mlflow/runs/create", json=body, headers=CSRF).status_code == 200
    assert alice.get("/api/2.0/mlflow/experiments/get", params=body).status_code == 200


def test_logout_ends_the_session_everywhere(sso: Sso) -> None:
    grace = sso.login("grace", [])
    cookie = grace.cookies["cairn_session"]
    assert grace.get("/api/2.0/cairn/users/current").status_code == 200
    out = grace.post("/auth/logout")
    assert out.status_code == 200 and "logged out" in out.text
    again = httpx.get(f"{sso.url}/api/2.0/cairn/users/current", cookies={"cairn_session": cookie})
    assert again.status_code == 401


@pytest.mark.parametrize("kind", ["forged", "expired"])
def test_a_forged_or_expired_id_token_is_refused_at_the_callback(sso: Sso, kind: str) -> None:
    sso.provider.next_user("mallory", ["ml-platform"])
    sso.provider.next_id_token(kind)
    browser = sso.browser(follow_redirects=True)
    refused = browser.get("/auth/login")
    assert refused.status_code == 401 and refused.url.path == "/auth/callback"
    assert refused.json()["error_code"] == "UNAUTHENTICATED"
    assert "cairn_session" not in browser.cookies
    assert browser.get("/api/2.0/cairn/users/current").status_code == 401
    assert sso.server.wait_for(lambda: "Refused an ID token" in sso.log())
    with sqlite3.connect(sso.server.database) as db:
        assert db.execute("SELECT 1 FROM users WHERE username = 'mallory'").fetchone() is None


def test_a_callback_whose_state_does_not_match_is_refused(sso: Sso) -> None:
    sso.provider.next_user("heidi", [])
    browser = sso.browser()
    to_provider = browser.get("/auth/login")
    back = httpx.get(to_provider.headers["location"])
    query = parse_qs(urlsplit(back.headers["location"]).query)
    forged = browser.get("/auth/callback", params={"code": query["code"][0], "state": "other"})
    assert forged.status_code == 401 and forged.json()["error_code"] == "UNAUTHENTICATED"
    assert "state" in forged.json()["message"]
    without_cookie = httpx.get(back.headers["location"])  # the right state, another browser
    assert without_cookie.status_code == 401


def _mlflow(url: str, token: str, monkeypatch: pytest.MonkeyPatch) -> mlflow.MlflowClient:
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    return mlflow.MlflowClient(tracking_uri=url)


def test_a_personal_token_works_for_mlflow_until_revoked(
    sso: Sso, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = sso.login("alice", ["ml-team"])
    made = alice.post(
        "/api/2.0/cairn/tokens/create", json={"name": "laptop", "expires_in": "90d"}, headers=CSRF
    )
    assert made.status_code == 200, made.text
    secret, token = made.json()["secret"], made.json()["token"]
    assert token["state"] == "ACTIVE" and token["expires_at"] > time.time() * 1000 + 89 * 86400e3
    client = _mlflow(sso.url, secret, monkeypatch)
    run = client.create_run(sso.churn)
    client.log_metric(run.info.run_id, "auc", 0.91)
    assert client.get_run(run.info.run_id).data.metrics == {"auc": 0.91}
    assert run.info.user_id == "alice"
    with pytest.raises(MlflowException) as refused:
        client.create_run(sso.other)
    assert refused.value.error_code == "PERMISSION_DENIED"
    listed = alice.get("/api/2.0/cairn/tokens/list").json()["tokens"]
    mine = next(t for t in listed if t["token_id"] == token["token_id"])
    assert mine["last_used"] is not None and "secret" not in mine
    minted = httpx.post(
        f"{sso.url}/api/2.0/cairn/tokens/create",
        json={"name": "copy"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert minted.status_code == 403  # a token cannot mint tokens
    revoked = alice.post(
        "/api/2.0/cairn/tokens/revoke", json={"token_id": token["token_id"]}, headers=CSRF
    )
    assert revoked.json()["token"]["state"] == "REVOKED"
    with pytest.raises(MlflowException) as after:
        client.get_run(run.info.run_id)
    assert after.value.error_code == "UNAUTHENTICATED"


def test_an_expired_token_is_refused(sso: Sso) -> None:
    alice = sso.login("alice", ["ml-team"])
    made = alice.post("/api/2.0/cairn/tokens/create", json={"expires_in": "1d"}, headers=CSRF)
    secret, token_id = made.json()["secret"], made.json()["token"]["token_id"]
    bearer = {"Authorization": f"Bearer {secret}"}
    search = f"{sso.url}/api/2.0/mlflow/experiments/get?experiment_id={sso.churn}"
    assert httpx.get(search, headers=bearer).status_code == 200
    with sqlite3.connect(sso.server.database) as db:  # a day passes
        db.execute(
            "UPDATE tokens SET expires_at = ? WHERE token_id = ?",
            (int(time.time() * 1000) - 1000, token_id),
        )
    refused = httpx.get(search, headers=bearer)
    assert refused.status_code == 401 and refused.json()["error_code"] == "UNAUTHENTICATED"
    listed = alice.get("/api/2.0/cairn/tokens/list").json()["tokens"]
    assert next(t for t in listed if t["token_id"] == token_id)["state"] == "EXPIRED"


def test_token_calls_check_their_input_and_owner(sso: Sso) -> None:
    alice = sso.login("alice", ["ml-team"])
    bad = alice.post("/api/2.0/cairn/tokens/create", json={"expires_in": "soon"}, headers=CSRF)
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    other = alice.get("/api/2.0/cairn/tokens/list", params={"username": "admin"})
    assert other.status_code == 403 and other.json()["error_code"] == "PERMISSION_DENIED"
    missing = alice.post("/api/2.0/cairn/tokens/revoke", json={"token_id": "nope"}, headers=CSRF)
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    admin = sso.admin()
    service = admin.post("/api/2.0/cairn/service-accounts/create", json={"username": "ci"})
    assert service.status_code == 200
    issued = admin.post("/api/2.0/cairn/tokens/create", json={"username": "ci", "name": "pipeline"})
    assert issued.status_code == 200 and issued.json()["token"]["username"] == "ci"
    for_person = admin.post("/api/2.0/cairn/tokens/create", json={"username": "alice"})
    assert for_person.status_code == 403
    ci = {"Authorization": f"Bearer {issued.json()['secret']}"}
    me = httpx.get(f"{sso.url}/api/2.0/cairn/users/current", headers=ci).json()["user"]
    assert me == {"username": "ci", "is_admin": False, "kind": "service"}
    basic = "Basic " + base64.b64encode(b"ci:" + PASSWORD.encode()).decode()
    no_password = httpx.get(
        f"{sso.url}/api/2.0/cairn/users/current", headers={"Authorization": basic}
    )
    assert no_password.status_code == 401
