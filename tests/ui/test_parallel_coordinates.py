"""The compare page's parallel coordinates are drawn (SVG, one line per run), in Chromium
with WebGL and without it: plotly's parcoords only ever showed "WebGL is not supported"
under the UI's Content-Security-Policy (its regl layer compiles with eval)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect
from ui_support import XSS_NAME, Seeded, screenshot

RUNS = ("run-0", "run-1", "run-2", "run-3", "xss")
# The columns that tell the runs apart, those every run has first; epochs (10 wherever it
# is logged) is offered unticked.
AXES = ["params.optimizer", "params.lr", "metrics.accuracy", "metrics.loss"]
LR = {"run-0": 0.1, "run-1": 0.01, "run-2": 0.001, "run-3": 0.05}
ACCURACY = {"run-0": 0.5, "run-1": 0.6, "run-2": 0.7, "run-3": 0.8, "xss": -1.0}
ACCURACY_MIDDLE = 0.65  # the middle of the accuracy axis (0.5 to 0.8)
POINT = re.compile(r"([ML])([-\d.]+) ([-\d.]+)")
# Chromium as usual, and with WebGL switched off (as on a remote desktop or a bare VM).
LAUNCHES = {"webgl": (), "no-webgl": ("--disable-3d-apis", "--disable-webgl")}
HAS_WEBGL = "() => !!document.createElement('canvas').getContext('webgl')"
pytestmark = pytest.mark.parametrize(
    "browser", LAUNCHES.values(), ids=LAUNCHES.keys(), indirect=True
)


def _lines(page: Any) -> dict[str, list[tuple[str, float, float]]]:
    """Each drawn line's run id → its path as (command, x, y) points."""
    paths = page.eval_on_selector_all(
        "#parcoords path.pc-line", "ps => ps.map(p => [p.dataset.runId, p.getAttribute('d')])"
    )
    return {rid: [(c, float(x), float(y)) for c, x, y in POINT.findall(d)] for rid, d in paths}


def _tick_labels(page: Any, axis: str) -> list[str]:
    """An axis's tick labels in full (a shortened one carries its whole text as a title)."""
    return page.eval_on_selector_all(
        f'#parcoords .pc-axis[data-name="{axis}"] .pc-tick text',
        "ts => ts.map(t => (t.querySelector('title') || t).textContent)",
    )


def test_parallel_coordinates_draw_one_line_per_run(
    page: Any, seeded: Seeded, request: pytest.FixtureRequest
) -> None:
    launch = request.node.callspec.id
    ids = {name: seeded.run_ids[name] for name in RUNS}
    page.goto(f"{seeded.url}/#/compare?runs={','.join(ids.values())}")
    assert page.evaluate(HAS_WEBGL) == (launch == "webgl")  # the switches took
    expect(page.locator("#parcoords[data-drawn]")).to_have_count(1, timeout=20_000)
    expect(page.locator("#parcoords .pc-axis .pc-title")).to_have_text(AXES)
    lines = _lines(page)
    assert set(lines) == set(ids.values())  # one line per run
    for name in LR:  # a full run crosses every axis in one stroke, left to right
        points = lines[ids[name]]
        assert [c for c, _, _ in points] == ["M"] + ["L"] * (len(AXES) - 1)
        assert [x for _, x, _ in points] == sorted(x for _, x, _ in points)
    # On the lr axis (the second), a larger lr is higher (a smaller y); ends at the range.
    height = {name: lines[ids[name]][1][2] for name in LR}
    assert sorted(LR, key=lambda n: height[n]) == sorted(LR, key=LR.__getitem__, reverse=True)
    assert {"0.001", "0.1"} <= set(_tick_labels(page, "params.lr"))
    # The xss run has only the optimizer param: a lone point there, its name as plain text.
    assert [c for c, _, _ in lines[ids["xss"]]] == ["M"]
    lone = page.locator(f'#parcoords path[data-run-id="{ids["xss"]}"]')
    assert (lone.get_attribute("d") or "").endswith("h0")  # a dot (round cap), not nothing
    assert sorted(_tick_labels(page, "params.optimizer")) == sorted(["adam", "sgd", XSS_NAME])
    expect(page.locator("#parcoords img")).to_have_count(0)
    expect(page.get_by_text("WebGL is not supported")).to_have_count(0)
    expect(page.locator(".no-webgl")).to_have_count(0)
    screenshot(page, f"compare-parallel-{launch}")

    # Unticking a dimension redraws without its axis; every run keeps its line.
    page.locator("#parcoords").locator("xpath=..").locator("summary").click()
    expect(page.get_by_role("checkbox", name="params.epochs")).not_to_be_checked()
    page.get_by_role("checkbox", name="params.optimizer").uncheck()
    expect(page.locator("#parcoords .pc-title")).to_have_text(AXES[1:])
    assert len(_lines(page)) == len(RUNS)
    assert not page.errors and not page.dialogs


def test_axes_place_numbers_categories_and_gaps(page: Any, seeded: Seeded) -> None:
    page.goto(seeded.url + "/")
    placed = page.evaluate(
        """async () => {
            const { axis } = await import("/static/parallel.js");
            const at = (values) => {
              const a = axis("x", values);
              return { at: values.map((_, i) => a.at(i)), ticks: a.ticks.map(([, t]) => t) };
            };
            return {
              numbers: at(["2", 4, undefined, "NaN", 3]),
              same: at([5, "5"]),
              words: at(["b", "a", 1, undefined]),
              infinite: at([1, "Infinity", 3]),
            };
        }"""
    )
    # Numbers (as strings or not) on one scale; missing and NaN are gaps.
    assert placed["numbers"]["at"] == [0, 1, None, None, 0.5]
    assert placed["numbers"]["ticks"][0] == "2" and placed["numbers"]["ticks"][-1] == "4"
    assert placed["same"]["at"] == [0.5, 0.5]  # one value: the middle
    # Anything not a number makes the axis categorical, sorted as text, evenly spaced.
    assert placed["words"]["at"] == [1, 0.5, 0, None]
    assert placed["words"]["ticks"] == ["1", "a", "b"]
    assert placed["infinite"]["at"] == [0, None, 1]  # ±inf has no place on a finite scale


def test_dragging_along_an_axis_keeps_the_runs_in_its_range(page: Any, seeded: Seeded) -> None:
    ids = {name: seeded.run_ids[name] for name in RUNS}
    page.goto(f"{seeded.url}/#/compare?runs={','.join(ids.values())}")
    expect(page.locator("#parcoords[data-drawn]")).to_have_count(1, timeout=20_000)
    area = page.locator('#parcoords .pc-axis[data-name="params.lr"] .pc-brush')
    box = area.bounding_box()
    assert box is not None
    x, top, span = box["x"] + box["width"] / 2, box["y"], box["height"]
    # The axis runs from lr 0.001 (bottom) to 0.1 (top): drag over its upper 70%, which
    # holds 0.1 and 0.05 but not 0.01 or 0.001 (and the xss run has no lr at all).
    page.mouse.move(x, top + 1)
    page.mouse.down()
    page.mouse.move(x, top + 0.4 * span, steps=4)
    page.mouse.move(x, top + 0.7 * span, steps=4)
    page.mouse.up()
    kept = {n for n in RUNS if "pc-dimmed" not in _classes(page, ids[n])}
    assert kept == {"run-0", "run-3"}
    expect(page.locator("#parcoords .pc-legend .pc-kept")).to_have_text(
        "2 of 5 runs in the chosen ranges. "
    )
    expect(page.locator('#parcoords .pc-axis[data-name="params.lr"] .pc-range')).to_be_visible()
    # A range on a second axis narrows the choice: accuracy's upper half.
    accuracy = page.locator('#parcoords .pc-axis[data-name="metrics.accuracy"] .pc-brush')
    abox = accuracy.bounding_box()
    assert abox is not None
    ax = abox["x"] + abox["width"] / 2
    page.mouse.move(ax, abox["y"] + 1)
    page.mouse.down()
    page.mouse.move(ax, abox["y"] + abox["height"] / 2, steps=4)
    page.mouse.up()
    both = {n for n in RUNS if "pc-dimmed" not in _classes(page, ids[n])}
    screenshot(page, "compare-parallel-ranges")
    assert both <= kept and both == {n for n in kept if ACCURACY[n] >= ACCURACY_MIDDLE}
    # A click without a drag clears an axis' range; with none left, every run is back.
    page.mouse.click(ax, abox["y"] + abox["height"] / 2)
    page.mouse.click(x, top + span / 2)
    assert all("pc-dimmed" not in _classes(page, ids[n]) for n in RUNS)
    expect(page.locator("#parcoords .pc-legend .pc-kept")).to_have_text("")
    assert not page.errors


def _classes(page: Any, run_id: str) -> str:
    return page.locator(f'#parcoords path[data-run-id="{run_id}"]').get_attribute("class") or ""
