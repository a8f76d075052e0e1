"""The README's own flow first: the quickstart logs to the default local store (no server),
then `cairn ui` in the same folder shows it, and every artifact kind previews and downloads.

Runs logged this way keep a folder path as their artifact URI, not a proxy URI; the UI once
turned that path into a proxy URL, and every preview and download was a 404.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from ui_support import local_cairn_ui, require_browser, run_quickstart, screenshot

import cairn


@dataclass
class LocalUi:
    url: str
    folder: Path
    client: cairn.Client
    experiment_id: str
    run_id: str  # the quickstart's depth5-lr0.1 run


@pytest.fixture(scope="module")
def local_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalUi]:
    require_browser()
    folder = tmp_path_factory.mktemp("readme")
    run_quickstart(folder)
    with local_cairn_ui(folder) as url:
        client = cairn.Client(tracking_uri=f"sqlite:///{folder / 'cairn-data' / 'cairn.db'}")
        experiment = client.get_experiment_by_name("churn")
        assert experiment is not None
        experiment_id = experiment.experiment_id
        runs = client.search_runs([experiment_id], "attributes.run_name = 'depth5-lr0.1'")
        yield LocalUi(url, folder, client, experiment_id, runs[0].info.run_id)


def _artifact_file(ui: LocalUi, path: str) -> bytes:
    root = ui.client.get_run(ui.run_id).info.artifact_uri.removeprefix("file://")
    return (Path(root) / path).read_bytes()


def _open_run_artifacts(page: Any, ui: LocalUi) -> None:
    page.goto(f"{ui.url}/#/")
    page.click("#experiments >> text=churn")
    page.click("#runs-table >> text=depth5-lr0.1")
    expect(page.locator("#run-name")).to_have_text("depth5-lr0.1")
    tab = page.locator('[role="tab"][data-tab="artifacts"]')
    if tab.count():
        tab.click()
    expect(page.locator("#artifact-tree")).to_contain_text("config.yaml")


def test_quickstart_artifacts_preview_and_download(page: Any, local_ui: LocalUi) -> None:
    ui = local_ui
    assert not ui.client.get_run(ui.run_id).info.artifact_uri.startswith("mlflow-artifacts:")
    _open_run_artifacts(page, ui)
    preview = page.locator("#artifact-preview")

    page.click("#artifact-tree >> text=config.yaml")  # YAML: text
    expect(preview.locator("pre")).to_contain_text("max_depth: 5")
    page.click("#artifact-tree >> text=notes.md")  # Markdown: text
    expect(preview.locator("pre")).to_have_text("depth 5, lr 0.1\n")
    page.click("#artifact-tree >> text=eval/")  # log_table's JSON: a table
    page.click("#artifact-tree >> text=scores.json")
    expect(preview.locator("table.json-table")).to_contain_text("accuracy")

    page.click("#artifact-tree >> text=images/")  # log_image: the picture itself
    page.click("#artifact-tree >> text=error_map/")
    first_image = page.locator("#artifact-tree li a", has_text="step_0000000000").first
    first_image.click()
    image = preview.locator("img")
    expect(image).to_have_count(1)
    page.wait_for_function(
        "() => document.querySelector('#artifact-preview img')?.complete"
        " && document.querySelector('#artifact-preview img').naturalWidth > 0"
    )
    assert image.evaluate("(i) => [i.naturalWidth, i.naturalHeight]") == [32, 32]
    screenshot(page, "readme-flow-image")

    # Download gives the bytes on disk, for a picture and for a text file.
    name = first_image.inner_text()
    with page.expect_download() as download:
        preview.locator("a", has_text="Download").click()
    image_bytes = _artifact_file(ui, f"images/error_map/{name}")
    assert Path(download.value.path()).read_bytes() == image_bytes
    page.click("#artifact-tree >> text=config.yaml")
    expect(preview.locator("pre")).to_contain_text("max_depth")
    with page.expect_download() as download:
        preview.locator("a", has_text="Download").click()
    assert Path(download.value.path()).read_bytes() == _artifact_file(ui, "config.yaml")
    assert not page.errors


def test_the_link_mlflow_prints_after_a_run_opens_the_run(page: Any, local_ui: LocalUi) -> None:
    ui = local_ui
    page.goto(f"{ui.url}/#/experiments/{ui.experiment_id}/runs/{ui.run_id}")
    expect(page.locator("#run-name")).to_have_text("depth5-lr0.1")
    assert page.url.endswith(f"#/runs/{ui.run_id}")
    page.go_back()  # the MLflow-shaped address was replaced, not stacked
    assert f"/runs/{ui.run_id}" not in page.url


def test_mlflow_url_shapes_open_the_matching_pages(page: Any, local_ui: LocalUi) -> None:
    ui = local_ui
    others = ui.client.search_runs([ui.experiment_id], "attributes.run_name = 'depth3-lr0.05'")
    pair = [ui.run_id, others[0].info.run_id]
    page.goto(f"{ui.url}/#/experiments/{ui.experiment_id}")
    expect(page.locator("#runs-table .vt-row[data-run-id]")).to_have_count(6)
    page.goto(f"{ui.url}/#/experiments/{ui.experiment_id}/runs")
    expect(page.locator("#runs-table .vt-row[data-run-id]")).to_have_count(6)
    runs_json = "[" + ",".join(f'"{r}"' for r in pair) + "]"
    page.goto(f'{ui.url}/#/compare-runs?runs={runs_json}&experiments=["{ui.experiment_id}"]')
    expect(page.locator("h1")).to_contain_text("Compare 2 runs")
    page.goto(
        f'{ui.url}/#/metric?runs={runs_json}&metric="loss"&experiments=["{ui.experiment_id}"]'
    )
    expect(page.locator("#chart-status, .chart-status").first).to_contain_text("series")
    page.goto(f"{ui.url}/#/experiments/{ui.experiment_id}/runs/{ui.run_id}/artifacts/config.yaml")
    expect(page.locator("#run-name")).to_have_text("depth5-lr0.1")
    page.goto(f"{ui.url}/#/models")
    expect(page.locator("h1")).to_have_text("Registered models")
    assert not page.errors


def test_favicon_is_served(local_ui: LocalUi, page: Any) -> None:
    answer = page.request.get(f"{local_ui.url}/favicon.ico")
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in answer.body()
    page.goto(f"{local_ui.url}/#/")
    icon = page.locator('link[rel="icon"]').get_attribute("href")
    assert icon and page.request.get(f"{local_ui.url}{icon}").status == 200
