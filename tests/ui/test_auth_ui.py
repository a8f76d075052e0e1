"""The web UI under `cairn server --auth`, in a browser sending a non-admin user's Basic
credentials: it sees only what it may read, and the registry page offers a model's stage
and alias controls only to users who may change the model (the server still refuses the
others' calls)."""

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
    model: str  # a registered model the reader may read, not change; the editor may change


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guarded]:
    """Overrides ui_support's: an --auth server; "reader" has READ on "visible" and on the
    model "guarded-model", nothing on "hidden"; "editor" has EDIT on the model."""
    require_browser()
    folder = tmp_path_factory.mktemp("ui-auth")
    process, url = start_server(folder, "--auth")
    try:
        database = folder / "cairn.db"
        for name, options in (("admin", ["--admin"]), ("reader", []), ("editor", [])):
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
        client.set_registered_model_alias("guarded-model", "champion", 1)
        users_cli(database, "grant", "reader", visible, "READ")
        users_cli(database, "grant-model", "reader", "guarded-model", "READ")
        users_cli(database, "grant-model", "editor", "guarded-model", "EDIT")
        yield Guarded(url, client, visible, ids, hidden, "guarded-model")
    finally:
        process.terminate()
        process.wait(15)


def _page_of(browser: Any, username: str) -> Iterator[Any]:
    context = browser.new_context(
        viewport={"width": 1400, "height": 900},
        http_credentials={"username": username, "password": PASSWORD},
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    yield page
    context.close()


@pytest.fixture
def reader(browser: Any) -> Iterator[Any]:
    yield from _page_of(browser, "reader")


@pytest.fixture
def editor(browser: Any) -> Iterator[Any]:
    yield from _page_of(browser, "editor")


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


def _stage(seeded: Guarded) -> str:
    stage = seeded.client.get_model_version(seeded.model, 1).current_stage
    return str(getattr(stage, "value", stage))


def _model_page(page: Any, seeded: Guarded) -> Any:
    """The model's page, reached from the models list; its version 1 row once shown."""
    with page.expect_response(lambda r: "/cairn/registered-models/permission" in r.url) as asked:
        page.goto(f"{seeded.url}/#/models")
        page.locator("#models").get_by_text(seeded.model).click()
    assert asked.value.status == 200
    row = page.locator('#versions tr[data-version="1"]')
    expect(row).to_be_visible()
    return row


def test_a_reader_is_offered_no_registry_changes(reader: Any, seeded: Guarded) -> None:
    before = _stage(seeded)
    row = _model_page(reader, seeded)
    expect(reader.locator("#read-only")).to_be_visible()
    expect(reader.locator("#versions th")).to_have_text(
        ["Version", "Stage", "Aliases", "Run", "Created"]
    )
    for control in ("button", "select", "input"):
        expect(reader.locator(f"#versions {control}")).to_have_count(0)
        expect(
            reader.locator(f"#model-description {control}, #model-tags {control}")
        ).to_have_count(0)
    expect(row.locator("td.stage")).to_have_text(before)
    expect(row.locator('.alias[data-alias="champion"]')).to_have_text("@champion")
    screenshot(reader, "auth-registry-reader")
    # The controls are only spared: the server still refuses the reader's transition.
    body = {"name": seeded.model, "version": "1", "stage": "Archived"}
    refused = reader.request.post(
        seeded.url + "/ajax-api/2.0/mlflow/model-versions/transition-stage", data=body
    )
    assert refused.status == 403 and refused.json()["error_code"] == "PERMISSION_DENIED"
    assert _stage(seeded) == before
    assert not reader.errors


def test_an_editor_is_offered_the_changes_and_makes_one(editor: Any, seeded: Guarded) -> None:
    row = _model_page(editor, seeded)
    expect(editor.locator("#read-only")).to_have_count(0)
    expect(editor.locator("#model-description button.edit-description")).to_be_visible()
    expect(editor.locator("#versions th").last).to_have_text("Alias")
    expect(row.locator('.alias[data-alias="champion"] button.delete-alias')).to_be_visible()
    row.locator("select").select_option("Production")
    with editor.expect_response(lambda r: "transition-stage" in r.url) as answer:
        row.locator("button.transition").click()
    assert answer.value.status == 200
    expect(editor.locator('#versions tr[data-version="1"] td.stage')).to_have_text("Production")
    expect(editor.locator("#history")).to_contain_text("editor")
    assert _stage(seeded) == "Production"
    history = seeded.client.get_model_version_history(seeded.model, 1)
    assert [e.user_id for e in history if e.kind == "stage"] == ["editor"]
    expect(row.locator("button.set-alias")).to_be_visible()
    screenshot(editor, "auth-registry-editor")
    assert not editor.errors
