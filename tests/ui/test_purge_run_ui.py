"""The run page's "Delete permanently", on the README's own path: the quickstart logs to the
default local store (./cairn-data), `cairn ui` serves it, and a run removed from the page
is gone from the database and from its artifact folder; Cancel keeps it; a run a registered
model version points to stays, with the server's reason shown as text."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from ui_support import XSS_NAME, local_cairn_ui, require_browser, run_quickstart, screenshot

import cairn
from cairn.exceptions import ResourceDoesNotExistError


@dataclass
class LocalUi:
    url: str
    client: cairn.Client
    experiment_id: str

    def run_id(self, name: str) -> str:
        runs = self.client.search_runs([self.experiment_id], f"attributes.run_name = '{name}'")
        assert len(runs) == 1, name
        return runs[0].info.run_id

    def artifacts(self, run_id: str) -> Path:
        return Path(self.client.get_run(run_id).info.artifact_uri.removeprefix("file://"))


@pytest.fixture(scope="module")
def local_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalUi]:
    require_browser()
    folder = tmp_path_factory.mktemp("purge-ui")
    run_quickstart(folder)
    with local_cairn_ui(folder) as url:
        database = f"sqlite:///{folder / 'cairn-data' / 'cairn.db'}"
        client = cairn.Client(tracking_uri=database, registry_uri=database)
        experiment = client.get_experiment_by_name("churn")
        assert experiment is not None
        yield LocalUi(url, client, experiment.experiment_id)


def _open_dialog(page: Any, ui: LocalUi, run_id: str, name: str) -> Any:
    page.goto(f"{ui.url}/#/runs/{run_id}")
    expect(page.locator("#run-name")).to_have_text(name)
    page.click("#purge-run")
    dialog = page.locator("#purge-dialog")
    expect(dialog).to_be_visible()
    return dialog


def test_delete_permanently_removes_the_run_and_its_files(page: Any, local_ui: LocalUi) -> None:
    ui = local_ui
    name = "depth8-lr0.1"
    run_id = ui.run_id(name)
    files = ui.artifacts(run_id)
    assert (files / "config.yaml").exists()

    dialog = _open_dialog(page, ui, run_id, name)
    expect(dialog).to_contain_text(name)
    expect(dialog).to_contain_text("cannot be undone")
    confirm = page.locator("#purge-confirm")
    expect(confirm).to_be_disabled()
    page.fill("#purge-confirm-name", name[:-1])  # not quite the name
    expect(confirm).to_be_disabled()
    page.fill("#purge-confirm-name", name)
    expect(confirm).to_be_enabled()
    screenshot(page, "purge-run-dialog")
    confirm.click()

    expect(page).to_have_url(f"{ui.url}/#/experiments/{ui.experiment_id}")
    expect(page.locator("#notice")).to_contain_text(f'Run "{name}" was deleted permanently.')
    expect(page.locator("#runs-table")).to_contain_text("depth8-lr0.05")
    expect(page.locator("#runs-table")).not_to_contain_text(name)
    screenshot(page, "purge-run-notice")
    page.click("#runs-table >> text=depth8-lr0.05")  # the next page: the notice is done
    expect(page.locator("#run-name")).to_have_text("depth8-lr0.05")
    expect(page.locator("#notice")).to_have_count(0)
    with pytest.raises(ResourceDoesNotExistError):
        ui.client.get_run(run_id)
    assert not files.exists()
    assert not page.errors


def test_cancel_keeps_the_run(page: Any, local_ui: LocalUi) -> None:
    ui = local_ui
    name = "depth3-lr0.05"
    run_id = ui.run_id(name)

    _open_dialog(page, ui, run_id, name)
    page.fill("#purge-confirm-name", name)
    page.click("#purge-cancel")
    expect(page.locator("#purge-dialog")).to_have_count(0)
    page.click("#purge-run")  # and again, closed with Escape
    page.fill("#purge-confirm-name", name)
    page.keyboard.press("Escape")
    expect(page.locator("#purge-dialog")).to_have_count(0)

    expect(page.locator("#run-name")).to_have_text(name)
    assert ui.client.get_run(run_id).info.lifecycle_stage == "active"
    assert (ui.artifacts(run_id) / "config.yaml").exists()
    assert not page.errors


def test_a_registered_run_is_kept_with_the_servers_reason(page: Any, local_ui: LocalUi) -> None:
    ui = local_ui
    name = "depth5-lr0.05"
    run_id = ui.run_id(name)
    ui.client.create_registered_model("churn-model")
    ui.client.create_model_version("churn-model", f"runs:/{run_id}/model", run_id=run_id)

    _open_dialog(page, ui, run_id, name)
    page.fill("#purge-confirm-name", name)
    page.click("#purge-confirm")

    problem = page.locator("#purge-error")
    expect(problem).to_contain_text("INVALID_PARAMETER_VALUE")
    expect(problem).to_contain_text("churn-model")
    expect(page.locator("#purge-dialog")).to_be_visible()
    expect(page.locator("#purge-confirm")).to_be_enabled()
    screenshot(page, "purge-run-kept")
    assert ui.client.get_run(run_id).info.run_id == run_id
    assert (ui.artifacts(run_id) / "config.yaml").exists()


def test_a_deleted_run_with_a_hostile_name_is_named_as_text(page: Any, local_ui: LocalUi) -> None:
    ui = local_ui
    run = ui.client.create_run(ui.experiment_id, run_name=XSS_NAME)
    run_id = run.info.run_id
    ui.client.log_text(run_id, "x", "note.txt")
    ui.client.delete_run(run_id)
    files = ui.artifacts(run_id)
    assert (files / "note.txt").exists()

    dialog = _open_dialog(page, ui, run_id, XSS_NAME)
    expect(page.locator("#run-deleted")).to_have_text("Deleted")
    expect(dialog.locator("#purge-warning")).to_contain_text(XSS_NAME)
    expect(page.locator("img[src=x]")).to_have_count(0)
    page.fill("#purge-confirm-name", XSS_NAME)
    page.click("#purge-confirm")

    expect(page).to_have_url(f"{ui.url}/#/experiments/{ui.experiment_id}")
    expect(page.locator("#notice")).to_contain_text(XSS_NAME)
    with pytest.raises(ResourceDoesNotExistError):
        ui.client.get_run(run_id)
    assert not files.exists()
    assert not page.dialogs and not page.errors
