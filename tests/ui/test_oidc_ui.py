"""The web UI under `cairn server --auth --oidc-issuer …`: Chromium is sent to the provider
(tests/server/oidc_provider.py, a real process), comes back logged in, sees the experiments
its groups may read with the user's name in the header, issues a token on the Tokens page
(shown once), revokes it, and logs out."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from playwright.sync_api import expect
from ui_support import require_browser, screenshot, start_server

import cairn
from local_processes import free_port

MAPPING = "experiments:\n  churn: {ml-team: READ}\n"


def _provider_module() -> ModuleType:
    """tests/server/oidc_provider.py, loaded by path (tests/server is not on sys.path here)."""
    if "oidc_provider" in sys.modules:  # tests/server's suite imported it already
        return sys.modules["oidc_provider"]
    path = Path(__file__).resolve().parents[1] / "server" / "oidc_provider.py"
    spec = importlib.util.spec_from_file_location("oidc_provider", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sso(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    require_browser()
    oidc = _provider_module()
    folder = tmp_path_factory.mktemp("ui-oidc")
    provider = oidc.start_provider(folder / "provider.log", free_port())
    (folder / "groups.yaml").write_text(MAPPING)
    options = ("--auth", "--oidc-issuer", provider.issuer, "--oidc-client-id", oidc.CLIENT_ID)
    try:
        with pytest.MonkeyPatch.context() as env:  # the server process inherits it
            env.setenv("CAIRN_OIDC_CLIENT_SECRET", oidc.CLIENT_SECRET)
            process, url = start_server(
                folder, *options, "--oidc-group-mapping", str(folder / "groups.yaml")
            )
        try:
            database = f"sqlite:///{folder / 'cairn.db'}"
            client = cairn.Client(database, database)
            client.create_experiment("churn")
            client.create_experiment("secret-project")
            provider.next_user("alice", ["ml-team"])
            yield url, provider
        finally:
            process.terminate()
            process.wait(15)
    finally:
        provider.stop()


def test_a_browser_logs_in_through_the_provider_and_manages_tokens(
    page: Any, sso: tuple[str, Any]
) -> None:
    url, _provider = sso
    page.goto(url + "/")  # → /auth/login → the provider → /auth/callback → /
    expect(page.locator("#current-user")).to_have_text("alice")
    assert page.url.startswith(url)
    expect(page.locator("#experiments")).to_contain_text("churn")
    expect(page.locator("#experiments")).not_to_contain_text("secret-project")
    screenshot(page, "oidc-experiments")

    page.locator("#account").get_by_text("Tokens").click()
    page.locator("#token-name").fill("laptop")
    page.locator("#token-expiry").select_option("90d")
    page.locator("#token-create").click()
    secret = page.locator("#token-secret")
    expect(secret).not_to_be_empty()
    assert len(secret.inner_text()) >= 40
    row = page.locator("#tokens tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator(".token-state")).to_have_text("ACTIVE")
    expect(row).to_contain_text("laptop")
    screenshot(page, "oidc-tokens")
    row.locator("button.revoke").click()
    expect(row.locator(".token-state")).to_have_text("REVOKED")

    page.locator("#logout").click()
    expect(page.locator("#login-again")).to_be_visible()
    answer = page.request.get(url + "/ajax-api/2.0/cairn/users/current")
    assert answer.status == 401
    assert not page.errors and not page.dialogs
