"""The compare page: columns that tell the runs apart come first (scatter, parallel
coordinates, box plot), equal rows hide on request, and two runs' artifacts show side by
side (images) or as a line diff (texts, JSON pretty-printed first)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import expect
from ui_support import XSS_NAME, Seeded, _upload, screenshot

# Four runs. batch, lr and optimizer differ and every run has them; b_partial differs but
# two runs lack it; a00…a15 are the same everywhere (alphabetically first: a default that
# took the first column would show a flat line); seed is logged by one run only.
BATCH = [16, 128, 16, 64]
LR = [0.1, 0.01, 0.1, 0.001]
OPTIMIZER = ["adam", "adam", "sgd", "sgd"]
ACC = [0.91, 0.82, 0.63, 0.74]
CONSTANT_PARAMS = [f"a{i:02d}" for i in range(16)]
NOTES = ("alpha\nbeta\ngamma\n", "alpha\nBETA\ngamma\n")
CONFIGS = ({"lr": 0.1, "layers": [64, 32]}, {"lr": 0.01, "layers": [64, 32]})


@dataclass
class Compared:
    url: str
    ids: list[str]  # cmp-0 … cmp-3
    seeded: dict[str, str]  # ui_support's runs (experiment "ui-demo")
    html: str  # a run whose optimizer param is markup

    def page_url(self, *extra: str) -> str:
        return f"{self.url}/#/compare?runs={','.join(self.ids)}" + "".join(extra)


def _png(colour: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def compared(seeded: Seeded) -> Compared:
    client = seeded.client
    experiment_id = client.create_experiment("compare-demo")
    ids = []
    for i in range(4):
        rid = client.create_run(experiment_id, run_name=f"cmp-{i}").info.run_id
        ids.append(rid)
        for key, value in [("batch", BATCH[i]), ("lr", LR[i]), ("optimizer", OPTIMIZER[i])]:
            client.log_param(rid, key, value)
        for key in CONSTANT_PARAMS:
            client.log_param(rid, key, "same")
        if i < 2:
            client.log_param(rid, "b_partial", f"p{i}")
            client.log_metric(rid, "m_partial", float(i))
        if i == 0:
            client.log_param(rid, "seed", 7)
        client.log_metric(rid, "acc", ACC[i])
        client.log_metric(rid, "a_metric_const", 1.0)
        client.set_terminated(rid, "FAILED" if i == 3 else "FINISHED")
    for i, rid in enumerate(ids[:2]):
        root = client.get_run(rid).info.artifact_uri.removeprefix("mlflow-artifacts:")
        _upload(seeded.url, f"{root}/notes.txt", NOTES[i].encode())
        _upload(seeded.url, f"{root}/config.json", json.dumps(CONFIGS[i]).encode())
        _upload(seeded.url, f"{root}/plots/curve.png", _png(("red", "blue")[i]))
        _upload(seeded.url, f"{root}/only-{i}.txt", b"x\n")
    html = client.create_run(experiment_id, run_name="cmp-html").info.run_id
    client.log_param(html, "optimizer", XSS_NAME)
    client.log_metric(html, "acc", 0.5)
    return Compared(seeded.url, ids, seeded.run_ids, html)


def test_defaults_start_on_shared_differing_columns(page: Any, compared: Compared) -> None:
    page.goto(compared.page_url())
    expect(page.locator("nav.crumbs")).to_have_text("Experiments›compare-demo›Compare 4 runs")
    heads = page.locator("#compare-table thead th.compare-run")
    expect(heads).to_have_count(4)
    expect(heads.nth(3).locator(".status-badge")).to_have_text("FAILED")
    expect(page.locator("#parcoords[data-drawn]")).to_have_count(1)
    # Params first (those every run has, then b_partial), then metrics: none that is equal.
    expect(page.locator("#parcoords .pc-title")).to_have_text(
        [
            "params.batch",
            "params.lr",
            "params.optimizer",
            "params.b_partial",
            "metrics.acc",
            "metrics.m_partial",
        ]
    )
    expect(page.locator("#scatter-x option:checked")).to_have_text("params.batch")
    expect(page.locator("#scatter-y option:checked")).to_have_text("metrics.acc")
    expect(page.locator("#scatter .scatterlayer .point")).to_have_count(4, timeout=20_000)
    expect(page.locator("#box-param option:checked")).to_have_text("params.batch")
    # A constant column is offered last, and not ticked.
    labels = page.locator("#parcoords").locator("xpath=..").locator(".menu label")
    expect(labels.last).to_have_text("metrics.a_metric_const")
    expect(labels.last.locator("input")).not_to_be_checked()
    screenshot(page, "compare-defaults")
    assert not page.errors


def test_differences_only_hides_equal_rows(page: Any, compared: Compared) -> None:
    page.goto(compared.page_url())
    only = page.locator("#diff-only")
    expect(only).to_be_checked()  # 24 rows: more than a screenful, so on by default
    params, metrics = page.locator("#compare-params"), page.locator("#compare-metrics")
    expect(params.locator('tr[data-key="a00"]')).to_be_hidden()
    expect(metrics.locator('tr[data-key="a_metric_const"]')).to_be_hidden()
    for key in ("batch", "lr", "optimizer", "b_partial", "seed"):
        expect(params.locator(f'tr[data-key="{key}"]')).to_be_visible()
    expect(params.locator('tr[data-key="seed"] td.missing')).to_have_count(3)
    expect(page.locator("#diff-count")).to_contain_text("17 with the same value")
    only.uncheck()
    expect(params.locator('tr[data-key="a00"]')).to_be_visible()
    expect(params.locator("tr[data-key]")).to_have_count(len(CONSTANT_PARAMS) + 5)
    assert "diff=0" in page.url
    page.reload()  # the choice is kept in the address
    expect(page.locator("#diff-only")).not_to_be_checked()
    assert not page.errors


def _boxes(page: Any) -> list[tuple[str, list[float]]]:
    """Each drawn box's name and values, as plotly holds them on the chart's element."""
    data = page.eval_on_selector("#boxplot", "el => el.data.map(t => [t.type, t.name, t.y])")
    assert {kind for kind, _, _ in data} == {"box"}
    return [(name, sorted(values)) for _, name, values in data]


def test_box_plot_has_one_box_per_param_value(page: Any, compared: Compared) -> None:
    page.goto(compared.page_url())
    expect(page.locator("#boxplot[data-boxes]")).to_have_attribute(
        "data-boxes", "3", timeout=20_000
    )
    # batch's values in numeric order (16 < 64 < 128), not as text.
    assert _boxes(page) == [
        ("16", sorted([ACC[0], ACC[2]])),
        ("64", [ACC[3]]),
        ("128", [ACC[1]]),
    ]
    expect(page.locator("#boxplot .boxlayer .trace")).to_have_count(3)
    page.select_option("#box-param", "params.optimizer")
    expect(page.locator("#boxplot")).to_have_attribute("data-boxes", "2")
    assert _boxes(page) == [("adam", sorted(ACC[:2])), ("sgd", sorted(ACC[2:]))]
    page.select_option("#box-param", "params.b_partial")
    expect(page.locator("#box-note")).to_have_text("2 runs without b_partial left out.")
    screenshot(page, "compare-boxplot")
    assert not page.errors


def test_two_runs_text_artifacts_show_a_line_diff(page: Any, compared: Compared) -> None:
    page.goto(compared.page_url())
    expect(page.locator("#artifact-summary")).to_have_text("3 files in both runs, 2 in only one.")
    # The first text file is shown: JSON, pretty-printed, so the changed value is its own line.
    expect(page.locator("#artifact-path")).to_have_value("config.json")
    diff = page.locator("#artifact-diff")
    expect(diff.locator("tr.removed td.code")).to_have_text(['  "lr": 0.1,'])
    expect(diff.locator("tr.added td.code")).to_have_text(['  "lr": 0.01,'])
    page.select_option("#artifact-path", "notes.txt")
    expect(diff.locator("tr.removed td.code")).to_have_text(["beta"])
    expect(diff.locator("tr.added td.code")).to_have_text(["BETA"])
    expect(diff.locator("tr.same td.code")).to_have_text(["alpha", "gamma"])
    expect(diff.locator("tr.removed td.mark")).to_have_text("−")
    expect(page.locator("#diff-summary")).to_have_text(
        "1 line only in cmp-0 (−), 1 only in cmp-1 (+)."
    )
    screenshot(page, "compare-artifact-diff")
    # The same run on both sides: nothing differs.
    page.select_option("#artifact-right", label="cmp-0")
    expect(page.locator("#diff-summary")).to_have_text("The files are identical.")
    assert not page.errors


def test_two_runs_images_show_side_by_side(page: Any, compared: Compared) -> None:
    page.goto(compared.page_url())
    expect(page.locator("#artifact-path option")).to_have_count(3)
    page.select_option("#artifact-path", "plots/curve.png")
    images = page.locator("#artifact-view .side-by-side img")
    expect(images).to_have_count(2)
    for i, rid in enumerate(compared.ids[:2]):
        src = images.nth(i).get_attribute("src") or ""
        assert f"run_id={rid}" in src and "curve.png" in src
    page.wait_for_function(
        "() => [...document.querySelectorAll('#artifact-view img')]"
        ".every(i => i.complete && i.naturalWidth === 40)"
    )
    expect(page.locator("#artifact-view figcaption")).to_have_text(["cmp-0", "cmp-1"])
    assert not page.errors


def test_one_run_asks_for_more(page: Any, compared: Compared) -> None:
    page.goto(f"{compared.url}/#/compare?runs={compared.ids[0]}")
    expect(page.locator(".empty-state")).to_contain_text("Choose 2 to 100 runs")
    assert not page.errors


def test_runs_of_several_experiments_are_named_so(page: Any, compared: Compared) -> None:
    page.goto(f"{compared.url}/#/compare?runs={compared.ids[0]},{compared.seeded['run-1']}")
    expect(page.locator("nav.crumbs")).to_have_text(
        "Experiments›several experiments›Compare 2 runs"
    )
    experiments = page.locator("#compare-table th.compare-run .compare-run-experiment")
    expect(experiments).to_have_text(["compare-demo", "ui-demo"])
    assert not page.errors


def test_an_html_param_value_stays_text_in_the_charts(page: Any, compared: Compared) -> None:
    page.goto(f"{compared.url}/#/compare?runs={compared.ids[0]},{compared.html}")
    # optimizer differs (adam, and markup) and both runs have it: the box plot's default.
    expect(page.locator("#boxplot[data-boxes]")).to_have_attribute(
        "data-boxes", "2", timeout=20_000
    )
    expect(page.locator("#boxplot .xtick text")).to_have_text([XSS_NAME, "adam"])  # sorted as text
    expect(page.locator('#compare-params tr[data-key="optimizer"] td').nth(1)).to_have_text(
        XSS_NAME
    )
    assert page.locator("main img").count() == 0
    assert not page.errors and not page.dialogs
