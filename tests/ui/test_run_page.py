"""The run page: tabs kept in the address, the description, search over params and metrics,
system metrics in their own tab, image series with a step slider, models and lineage."""

from __future__ import annotations

import http.client
import io
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import numpy
import pytest
from PIL import Image
from playwright.sync_api import expect
from ui_support import Seeded, screenshot

NOTE = "mlflow.note.content"
TABS = ["overview", "metrics", "system", "artifacts", "models", "datasets", "traces"]
WIDTHS = [8, 16, 24]  # one width per step of the image series: what is shown can be told apart


@dataclass
class RunPage:
    url: str
    experiment_id: str
    run_id: str  # described, with params, metrics, system metrics, images and a model
    bare_id: str  # no description, nothing logged
    failed_id: str  # a child of run_id, FAILED
    model: str


def _put(url: str, path: str, body: bytes) -> None:
    """An artifact through the server's proxy, as a tracking client uploads one."""
    connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=30)
    try:
        connection.request("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{quote(path)}", body=body)
        assert connection.getresponse().status == 200
    finally:
        connection.close()


def _png(width: int) -> Any:
    """A 12-pixel-high gradient, `width` wide, its colour set by the width."""
    ramp = numpy.linspace(0, 255, width, dtype=numpy.uint8)
    image = numpy.zeros((12, width, 3), dtype=numpy.uint8)
    image[:, :, 0] = ramp
    image[:, :, 1] = (40 * width) % 256
    image[:, :, 2] = ramp[::-1]
    return image


@pytest.fixture(scope="module")
def data(seeded: Seeded) -> RunPage:
    client = seeded.client
    experiment_id = client.create_experiment("run-page")
    run_id = client.create_run(experiment_id, run_name="described").info.run_id
    client.set_tag(run_id, NOTE, "Baseline with <b>dropout</b>.\nSecond line.")
    for key, value in {"optimizer": "adam", "lr": "0.01", "batch_size": "64"}.items():
        client.log_param(run_id, key, value)
    for step in range(20):
        client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
        client.log_metric(run_id, "val_accuracy", 0.5 + step / 50, step=step)
        client.log_metric(run_id, "system/cpu_utilization_percentage", 30 + step % 7, step=step)
        client.log_metric(run_id, "system/gpu_0_memory_usage_megabytes", 1000 + step, step=step)
    for step, width in enumerate(WIDTHS):
        client.log_image(run_id, _png(width), key="samples", step=step)
    root = client.get_run(run_id).info.artifact_uri.removeprefix("mlflow-artifacts:").strip("/")
    _put(seeded.url, f"{root}/notes/deep/readme.txt", b"read me first\n")
    # MLflow's layouts of a keyed image: before 3.x ("#" for "/", "%" between the parts, a real
    # timestamp making "%17…") and 3.17's ("~" for "/", "+"), with its compressed preview.
    mlflow_name = "images/val_maps%step%5%timestamp%1765000000000%c0ffee.png"
    _put(seeded.url, f"{root}/{mlflow_name}", (_png_bytes(20)))
    for step, width in ((2, 24), (3, 28)):
        plus_name = f"images/test~maps+step+{step}+timestamp+1765000000000+beef{step}"
        _put(seeded.url, f"{root}/{plus_name}.png", _png_bytes(width))
        _put(seeded.url, f"{root}/{plus_name}+compressed.webp", _png_bytes(8))
    client.create_registered_model("run-page-model")
    client.create_model_version("run-page-model", f"runs:/{run_id}/model", run_id=run_id)
    failed = client.create_run(
        experiment_id, run_name="crashed", tags={"mlflow.parentRunId": run_id}
    )
    client.set_terminated(failed.info.run_id, status="FAILED")
    client.set_terminated(run_id)
    bare = client.create_run(experiment_id, run_name="bare").info.run_id
    return RunPage(seeded.url, experiment_id, run_id, bare, failed.info.run_id, "run-page-model")


def _png_bytes(width: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(_png(width)).save(out, format="PNG")
    return out.getvalue()


def _open(page: Any, data: RunPage, run_id: str | None = None, query: str = "") -> None:
    page.goto(f"{data.url}/#/runs/{run_id or data.run_id}{query}")
    expect(page.locator("#run-name")).to_be_visible()


def _tab(page: Any, name: str) -> Any:
    return page.locator(f'[role="tab"][data-tab="{name}"]')


def test_tabs_switch_lazily_and_survive_reload(page: Any, data: RunPage) -> None:
    histories: list[str] = []
    page.on(
        "request",
        lambda r: histories.append(r.url) if "/metrics/" in r.url else None,
    )
    _open(page, data)
    crumbs = page.locator("nav.crumbs")
    expect(crumbs).to_have_text("Experiments›run-page›described")
    expect(crumbs.locator("a").nth(1)).to_have_attribute(
        "href", f"#/experiments/{data.experiment_id}"
    )
    expect(page.locator('[role="tablist"] [role="tab"]')).to_have_count(len(TABS))
    expect(_tab(page, "overview")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#params")).to_contain_text("optimizer")
    assert page.locator("#panel-metrics").count() == 0 and not histories
    screenshot(page, "run-overview")

    _tab(page, "metrics").click()
    assert page.url.endswith("?tab=metrics")
    expect(page.locator("#panel-overview")).to_be_hidden()
    loss = page.locator('#metrics tr[data-key="loss"]')
    expect(loss).to_have_attribute("data-loaded", "1")
    expect(loss.locator("td.min")).to_have_text("0.05")
    expect(loss.locator("td.max")).to_have_text("1")
    expect(loss.locator("svg.sparkline polyline")).to_have_count(1)
    assert histories
    screenshot(page, "run-metrics")

    page.reload()
    expect(_tab(page, "metrics")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#panel-metrics")).to_be_visible()
    assert page.locator("#panel-overview").count() == 0
    # Arrow keys move between tabs, and the address follows.
    _tab(page, "metrics").focus()
    page.keyboard.press("ArrowRight")
    expect(_tab(page, "system")).to_be_focused()
    expect(page.locator("#system-metrics")).to_be_visible()
    assert page.url.endswith("?tab=system")
    for name in ("artifacts", "models", "datasets"):
        _tab(page, name).click()
        expect(page.locator(f"#panel-{name}")).to_be_visible()
        screenshot(page, f"run-{name}")
    page.go_back()  # each tab was a step of the history
    expect(_tab(page, "models")).to_have_attribute("aria-selected", "true")
    assert not page.errors


def test_an_artifact_path_in_the_address_opens_its_preview(page: Any, data: RunPage) -> None:
    _open(page, data, query="?tab=artifacts&path=notes/deep/readme.txt")
    preview = page.locator("#artifact-preview")
    expect(preview.locator("pre")).to_have_text("read me first\n")
    expect(page.locator('#artifact-tree li[data-path="notes/deep/readme.txt"] a')).to_have_class(
        "selected"
    )
    # MLflow's shape of the same address lands on the same preview.
    page.goto(f"{data.url}/#/experiments/{data.experiment_id}/runs/{data.run_id}/artifacts/notes")
    expect(page.locator('#artifact-tree li[data-path="notes/deep"]')).to_be_visible()
    page.goto(
        f"{data.url}/#/experiments/{data.experiment_id}/runs/{data.run_id}"
        "/artifacts/notes/deep/readme.txt"
    )
    expect(page.locator("#artifact-preview pre")).to_have_text("read me first\n")
    # Choosing another file writes it into the address.
    page.click("#artifact-tree >> text=images/")
    page.click("#artifact-tree >> text=samples/")
    page.locator("#artifact-tree li.file a", has_text="step_0000000001").click()
    expect(preview.locator("img")).to_have_count(1)
    assert "path=images%2Fsamples%2Fstep_0000000001_" in page.url
    page.goto(f"{data.url}/#/runs/{data.run_id}?tab=artifacts&path=no/such.txt")
    expect(preview.locator(".error")).to_contain_text("No artifact at no/such.txt")
    assert not page.errors


def test_the_description_shows_as_text_and_edits_reach_the_client(
    page: Any, data: RunPage, seeded: Seeded
) -> None:
    _open(page, data)
    text = page.locator("#description .description-text")
    expect(text).to_have_text("Baseline with <b>dropout</b>.\nSecond line.")
    assert page.locator("#description b").count() == 0

    _open(page, data, data.bare_id)
    expect(page.locator("#description")).to_contain_text("No description yet.")
    page.click("#description-edit >> text=Add a description")
    page.fill("#description-input", "Tried a wider net.\n<script>x</script>")
    page.click("#description-save")
    expect(text).to_have_text("Tried a wider net.\n<script>x</script>")
    tags = seeded.client.get_run(data.bare_id).data.tags
    assert tags[NOTE] == "Tried a wider net.\n<script>x</script>"
    page.reload()
    expect(text).to_contain_text("Tried a wider net.")
    screenshot(page, "run-description")
    assert not page.errors


def test_the_search_box_filters_params_and_metrics(page: Any, data: RunPage) -> None:
    _open(page, data)
    params = page.locator("#params tbody tr")
    metrics = page.locator("#overview-metrics tbody tr")
    expect(params).to_have_count(3)
    page.fill("#run-search", "OPTIM")  # by key, case-insensitive
    expect(params.filter(visible=True)).to_have_count(1)
    expect(params.filter(visible=True)).to_contain_text("adam")
    expect(metrics.filter(visible=True)).to_have_count(0)
    page.fill("#run-search", "adam")  # by value
    expect(params.filter(visible=True)).to_have_text(["optimizeradam"])
    page.fill("#run-search", "loss")
    expect(params.filter(visible=True)).to_have_count(0)
    expect(metrics.filter(visible=True)).to_have_count(1)
    expect(page.locator("#run-search-count")).to_have_text("0 of 3 parameters, 1 of 2 metrics")
    page.fill("#run-search", "")
    expect(params.filter(visible=True)).to_have_count(3)
    assert not page.errors


def test_system_metrics_only_in_their_tab(page: Any, data: RunPage) -> None:
    _open(page, data)
    expect(page.locator("#overview-metrics")).to_contain_text("val_accuracy")
    expect(page.locator("#overview-metrics")).not_to_contain_text("system/")
    expect(_tab(page, "system").locator(".count")).to_have_text("2")
    _tab(page, "metrics").click()
    expect(page.locator("#metrics tbody tr")).to_have_count(2)
    expect(page.locator("#metrics")).not_to_contain_text("cpu_utilization")
    _tab(page, "system").click()
    rows = page.locator("#system-metrics tbody tr")
    expect(rows).to_have_count(2)
    cpu = page.locator('#system-metrics tr[data-key="system/cpu_utilization_percentage"]')
    link = cpu.locator("th a")
    key = quote("system/cpu_utilization_percentage", safe="")
    expect(link).to_have_attribute("href", f"#/charts?runs={data.run_id}&key={key}")
    expect(cpu.locator("td.max")).to_have_text("36")
    screenshot(page, "run-system")
    link.click()
    expect(page.locator("#metric")).to_have_value("system/cpu_utilization_percentage")
    assert not page.errors


def _natural_width(image: Any) -> int:
    image.page.wait_for_function(
        "(i) => i.complete && i.naturalWidth > 0", arg=image.element_handle()
    )
    return int(image.evaluate("(i) => i.naturalWidth"))


def test_the_step_slider_switches_images(page: Any, data: RunPage) -> None:
    _open(page, data, query="?tab=artifacts")
    card = page.locator('#image-series figure.series[data-key="samples"]')
    image, label, slider = card.locator("img"), card.locator(".series-step"), card.locator("input")
    expect(label).to_have_text("Step 2")  # the latest first
    expect(slider).to_have_attribute("type", "range")
    assert _natural_width(image) == WIDTHS[2]
    last = image.get_attribute("src")
    slider.focus()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    expect(label).to_have_text("Step 0")
    expect(image).not_to_have_attribute("src", last or "")
    assert "step_0000000000_" in (image.get_attribute("src") or "")
    assert _natural_width(image) == WIDTHS[0]
    slider.fill("1")  # a drag, as the input event reports it
    expect(label).to_have_text("Step 1")
    assert _natural_width(image) == WIDTHS[1]
    # MLflow's own layout of a keyed image is a series too.
    mlflow = page.locator('#image-series figure.series[data-key="val_maps"]')
    expect(mlflow.locator(".series-step")).to_have_text("Step 5")
    assert _natural_width(mlflow.locator("img")) == 20
    newer = page.locator('#image-series figure.series[data-key="test/maps"]')
    expect(newer.locator(".series-step")).to_have_text("Step 3")
    expect(newer.locator(".series-count")).to_have_text("2 of 2")  # previews are not steps
    assert _natural_width(newer.locator("img")) == 28
    screenshot(page, "run-images")
    # The picture opens in the preview, its folder opened in the tree.
    card.locator("button.series-frame").click()
    expect(page.locator("#artifact-preview img")).to_have_attribute(
        "src", image.get_attribute("src") or ""
    )
    expect(page.locator("#artifact-tree a.selected")).to_contain_text("step_0000000001_")
    assert not page.errors


def test_the_model_version_badge_links_to_the_version_page(page: Any, data: RunPage) -> None:
    _open(page, data, query="?tab=models")
    badge = page.locator("#registered-versions a.version-link")
    expect(badge).to_have_text(f"{data.model} v1")
    expect(badge).to_have_attribute("href", f"#/models/{data.model}/versions/1")
    badge.click()
    assert page.url.endswith(f"#/models/{data.model}/versions/1")
    expect(page.locator("main")).to_contain_text(data.model)
    assert not page.errors


def test_a_failed_run_and_the_children_show_their_status(page: Any, data: RunPage) -> None:
    _open(page, data, data.failed_id)
    expect(page.locator(".run-head .status-badge.status-failed")).to_have_text("FAILED")
    expect(page.locator("#parent-run")).to_contain_text("described")
    screenshot(page, "run-failed")
    _open(page, data)
    child = page.locator(f'#children .child-run[data-run-id="{data.failed_id}"]')
    expect(child.locator("a")).to_have_text("crashed")
    expect(child.locator(".status-badge.status-failed")).to_have_text("FAILED")
    assert not page.errors
