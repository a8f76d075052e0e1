"""The web UI under `cairn server --auth`, in a browser sending a non-admin user's Basic
credentials: it sees only what it may read, and a registry change it may not make shows
the server's PERMISSION_DENIED inline and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import expect
from ui_support import Seeded, require_browser, screenshot, start_server, users_cli

import cairn

PASSWORD = "correct-horse-battery"
ROWS = "#runs-table .vt-row[data-run-id]"


@dataclass
class Guarded(Seeded):
    hidden: str  # an experiment the reader may not read
    model: str  # a registered model the reader may read, not change


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guarded]:
    """Overrides ui_support's: an --auth server; "reader" has READ on "visible" and on the
    model "guarded-model", nothing on "hidden"."""
    require_browser()
    folder = tmp_path_factory.mktemp("ui-auth")
    process, url = start_server(folder, "--auth")
    try:
        database = folder / "cairn.db"
        for name, options in (("admin", ["--admin"]), ("reader", [])):
            users_cli(database, "create", name, "--password-stdin", *options, stdin=PASSWORD)
        # The server's own database, written directly (as the admin could).
        client = cairn.Client(f"sqlite:///{database}", f"sqlite:///{database}")
        visible = client.create_experiment("visible")
        hidden = client.create_experiment("hidden")
        ids = {}
        for experiment_id, prefix in ((visible, "seen"), (hidden, "secret")):
            for i in range(2 if prefix == "seen" else 3):
                run = client.create_run(experiment_id, run_name=f"{prefix}-{i}")
                ids[f"{prefix}-{i}"] = run.info.run_id
        client.create_registered_model("guarded-model")
        run_id = ids["seen-0"]
        client.create_model_version("guarded-model", f"runs:/{run_id}/model", run_id=run_id)
        users_cli(database, "grant", "reader", visible, "READ")
        users_cli(database, "grant-model", "reader", "guarded-model", "READ")
        yield Guarded(url, client, visible, ids, hidden, "guarded-model")
    finally:
        process.terminate()
        process.wait(15)


@pytest.fixture
def reader(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        viewport={"width": 1400, "height": 900},
        http_credentials={"username": "reader", "password": PASSWORD},
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    yield page
    context.close()


def test_without_credentials_the_ui_is_refused(browser: Any, seeded: Guarded) -> None:
    context = browser.new_context()
    try:
        response = context.request.get(seeded.url + "/")
        assert response.status == 401 and "Basic" in response.headers["www-authenticate"]
    finally:
        context.close()


def test_a_reader_sees_only_readable_experiments_and_runs(reader: Any, seeded: Guarded) -> None:
    with reader.expect_response(lambda r: "/cairn/experiments/run-counts" in r.url) as counted:
        reader.goto(seeded.url + "/")
    assert counted.value.status == 200
    assert set(counted.value.json()["counts"]) == {seeded.experiment_id}
    row = reader.locator(f'#experiments tr[data-experiment-id="{seeded.experiment_id}"]')
    expect(row.locator("td.runs")).to_have_text("2")
    expect(reader.locator("#experiments tbody tr")).to_have_count(1)
    expect(reader.locator("#experiments")).not_to_contain_text("hidden")
    screenshot(reader, "auth-experiments")
    row.locator("a").click()
    expect(reader.locator(ROWS)).to_have_count(2)
    expect(reader.locator("#runs-table")).to_contain_text("seen-0")
    expect(reader.locator("#runs-table")).not_to_contain_text("secret")
    screenshot(reader, "auth-runs")
    # The other experiment's runs, asked for by address: the server's refusal, as text.
    reader.goto(f"{seeded.url}/#/experiments/{seeded.hidden}")
    expect(reader.locator("#filter-error .error")).to_contain_text("PERMISSION_DENIED")
    assert reader.locator(ROWS).count() == 0
    reader.goto(f"{seeded.url}/#/runs/{seeded.run_ids['secret-0']}")
    expect(reader.locator("main .error")).to_contain_text("PERMISSION_DENIED")
    assert not reader.errors


def test_a_transition_without_permission_is_refused_inline(reader: Any, seeded: Guarded) -> None:
    reader.goto(f"{seeded.url}/#/models")
    reader.locator("#models").get_by_text(seeded.model).click()
    row = reader.locator('#versions tr[data-version="1"]')
    row.locator("select").select_option("Production")
    with reader.expect_response(lambda r: "transition-stage" in r.url) as answer:
        row.locator("button.transition").click()
    assert answer.value.status == 403
    status = reader.locator("#registry-status .error")
    expect(status).to_contain_text("PERMISSION_DENIED")
    expect(status).to_contain_text("EDIT permission on registered model")
    expect(reader.locator('#versions tr[data-version="1"] td.stage')).to_have_text("None")
    row.locator('input[aria-label="Alias"]').fill("prod")
    row.locator("button.set-alias").click()
    expect(status).to_contain_text("PERMISSION_DENIED")
    screenshot(reader, "auth-registry-denied")
    version = seeded.client.get_model_version(seeded.model, 1)
    assert getattr(version.current_stage, "value", version.current_stage) == "None"
    assert version.aliases == ()
    history = seeded.client.get_model_version_history(seeded.model, 1)
    assert all(e.kind != "stage" for e in history), history
    assert not reader.errors
