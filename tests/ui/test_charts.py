"""Charts against the real downsampling endpoint: a 100,000-step history with one spike,
min/max bands, zoom through plotly's relayout, log scale, smoothing, the three x axes, and
the exact CSV download."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from playwright.sync_api import expect
from ui_support import Seeded, query_of, require_browser, screenshot, start_server

import cairn
from cairn.entities import Metric

STEPS = 100_000
SHORT = 20_000
SPIKE_STEP, SPIKE = 61_234, 1000.0
T0 = 1_700_000_000_000
DOWNSAMPLED = "/cairn/metrics/downsampled"


def value_at(step: int) -> float:
    return SPIKE if step == SPIKE_STEP else 1.5 + math.sin(step / 500)


def _log_history(client: cairn.Client, run_id: str, steps: int, scale: float = 1.0) -> None:
    for start in range(0, steps, 1000):
        points = [
            Metric("loss", scale * value_at(s), T0 + 10 * s, s)
            for s in range(start, min(start + 1000, steps))
        ]
        client.log_batch(run_id, metrics=points)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """Overrides ui_support's: one run of 100,000 steps with a spike, one of 20,000 (no
    spike reached), and one of 50 points."""
    require_browser()
    process, url = start_server(tmp_path_factory.mktemp("ui-charts"))
    try:
        client = cairn.Client(tracking_uri=url, registry_uri=url)
        experiment_id = client.create_experiment("long-histories")
        ids = {}
        for name, steps in (("long", STEPS), ("medium", SHORT), ("short", 50)):
            run_id = client.create_run(experiment_id, run_name=name).info.run_id
            _log_history(client, run_id, steps, 1.0 if name == "long" else 0.5)
            ids[name] = run_id
        yield Seeded(url, client, experiment_id, ids)
    finally:
        process.terminate()
        process.wait(15)


def _traces(page: Any, run_id: str) -> dict[str, Any]:
    """The drawn traces of one run by role (last, and the band's min and max edges: the band
    is one closed shape, along the minima and back along the maxima): their x and y."""
    drawn: dict[str, Any] = page.evaluate(
        """(runId) => Object.fromEntries(document.getElementById("chart").data
            .filter((t) => t.meta && t.meta.run_id === runId)
            .map((t) => [t.meta.role, { x: Array.from(t.x), y: Array.from(t.y) }]))""",
        run_id,
    )
    band = drawn.pop("band", None)
    if band is not None:
        half = len(band["x"]) // 2
        assert band["x"][half:] == band["x"][:half][::-1]
        drawn["min"] = {"x": band["x"][:half], "y": band["y"][:half]}
        drawn["max"] = {"x": band["x"][:half], "y": band["y"][half:][::-1]}
    return drawn


def _series(response: Any, run_id: str) -> dict[str, Any]:
    return next(s for s in response.json()["series"] if s["run_id"] == run_id)


def _loads(page: Any) -> int:
    return int(page.locator("#chart").get_attribute("data-loads") or 0)


def _zoom(page: Any, x0: Any, x1: Any) -> None:
    """Zoom as a drag does: through plotly's own relayout on the chart."""
    page.evaluate(
        """([a, b]) => Plotly.relayout(document.getElementById("chart"),
            { "xaxis.range[0]": a, "xaxis.range[1]": b })""",
        [x0, x1],
    )


def _unzoom(page: Any) -> None:
    """A double click's autorange."""
    page.evaluate(
        """Plotly.relayout(document.getElementById("chart"), { "xaxis.autorange": true })"""
    )


def _wait_drawn(page: Any, loads: int) -> None:
    expect(page.locator("#chart")).to_have_attribute("data-loads", str(loads), timeout=20_000)


def test_a_long_history_keeps_its_spike_and_zoom_refines(page: Any, seeded: Seeded) -> None:
    long = seeded.run_ids["long"]
    ids = list(seeded.run_ids.values())
    with page.expect_response(lambda r: DOWNSAMPLED in r.url, timeout=20_000) as first:
        page.goto(f"{seeded.url}/#/charts?runs={','.join(ids)}&key=loss")
    chart = page.locator("#chart[data-series]")
    expect(chart).to_have_attribute("data-series", str(len(ids)), timeout=20_000)
    expect(page.locator("#chart .legend .traces")).to_have_count(len(ids))
    _wait_drawn(page, 1)

    # About one bucket per pixel of the plot.
    asked = query_of(first.value.url)
    width = page.evaluate("document.getElementById('chart').clientWidth")
    assert abs(int(asked["buckets"]) - width) <= 100, (asked, width)
    whole = _series(first.value, long)
    assert whole["downsampled"] and whole["total_points"] == STEPS
    assert len(whole["points"]) <= int(asked["buckets"])
    assert not _series(first.value, seeded.run_ids["short"])["downsampled"]

    drawn = _traces(page, long)
    assert set(drawn) == {"last", "min", "max"}  # the line of last values and the band
    assert max(drawn["max"]["y"]) == SPIKE  # the spike is drawn, whatever the bucket
    assert max(drawn["last"]["y"]) < SPIKE or drawn["last"]["x"].count(SPIKE_STEP) == 1
    assert set(_traces(page, seeded.run_ids["short"])) == {"last"}
    screenshot(page, "charts-long")

    # Zoom (as a drag does, through plotly's relayout): asked again over the range, finer.
    with page.expect_response(lambda r: DOWNSAMPLED in r.url and "x_min" in r.url) as zoomed:
        _zoom(page, 60000, 62000)
    asked = query_of(zoomed.value.url)
    assert (float(asked["x_min"]), float(asked["x_max"])) == (60000, 62000)
    part = _series(zoomed.value, long)
    assert part["total_points"] == 2001
    assert all(60000 <= p["x"] <= 62000 for p in part["points"])
    assert max(p["max"] for p in part["points"]) == SPIKE

    def spacing(points: list[dict[str, Any]]) -> float:
        return (points[-1]["x"] - points[0]["x"]) / (len(points) - 1)

    assert spacing(part["points"]) < spacing(whole["points"]) / 10
    _wait_drawn(page, 2)
    drawn = _traces(page, long)
    assert min(drawn["last"]["x"]) >= 60000 and max(drawn["last"]["x"]) <= 62000
    assert SPIKE in drawn["last"]["y"] or max(drawn["max"]["y"]) == SPIKE
    range_ = page.evaluate("document.getElementById('chart').layout.xaxis.range")
    assert [round(v) for v in range_] == [60000, 62000]
    screenshot(page, "charts-zoomed")

    # Zoomed out again (a double click's autorange): the whole history.
    with page.expect_response(lambda r: DOWNSAMPLED in r.url and "x_min" not in r.url):
        _unzoom(page)
    _wait_drawn(page, 3)
    assert not page.errors


def test_log_scale_and_smoothing(page: Any, seeded: Seeded) -> None:
    long = seeded.run_ids["long"]
    page.goto(f"{seeded.url}/#/charts?runs={long}&key=loss")
    _wait_drawn(page, 1)
    raw = _traces(page, long)["last"]["y"]
    page.check("#log-scale")
    page.wait_for_function("document.getElementById('chart').layout.yaxis.type === 'log'")
    assert page.locator("#chart .yaxislayer-above text", has_text="1000").count() >= 1
    page.locator("#smoothing").fill("0.9")
    page.wait_for_function(
        "(raw) => document.getElementById('chart').data.find((t) => t.meta.role === 'last')"
        ".y[5] !== raw",
        arg=raw[5],
    )
    smoothed = _traces(page, long)
    assert smoothed["last"]["y"][0] == raw[0] and smoothed["last"]["y"][50] != raw[50]
    assert max(smoothed["max"]["y"]) == SPIKE  # the band stays raw: the spike still shows
    screenshot(page, "charts-log-smoothed")
    assert not page.errors


def _utc(ms: int) -> str:
    """A time as plotly writes a date axis's range."""
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def test_wall_time_and_relative_axes(page: Any, seeded: Seeded) -> None:
    long, medium = seeded.run_ids["long"], seeded.run_ids["medium"]
    page.goto(f"{seeded.url}/#/charts?runs={long},{medium}&key=loss")
    _wait_drawn(page, 1)
    with page.expect_response(lambda r: DOWNSAMPLED in r.url and "x_axis=timestamp" in r.url):
        page.select_option("#x-axis", "timestamp")
    _wait_drawn(page, 2)
    assert page.evaluate("document.getElementById('chart').layout.xaxis.type") == "date"
    xs = _traces(page, long)["max"]["x"]
    assert T0 <= min(xs) and max(xs) <= T0 + 10 * (STEPS - 1)
    # A zoom on the date axis: plotly reports the range as UTC date strings.
    lo, hi = T0 + 10 * 60_000, T0 + 10 * 62_000
    with page.expect_response(lambda r: DOWNSAMPLED in r.url and "x_min" in r.url) as zoomed:
        _zoom(page, _utc(lo), _utc(hi))
    asked = query_of(zoomed.value.url)
    assert (float(asked["x_min"]), float(asked["x_max"])) == (lo, hi)
    assert max(p["max"] for p in _series(zoomed.value, long)["points"]) == SPIKE
    _wait_drawn(page, 3)
    screenshot(page, "charts-wall-time")

    with page.expect_response(lambda r: DOWNSAMPLED in r.url and "x_axis=relative" in r.url) as rel:
        page.select_option("#x-axis", "relative")
    assert "x_min" not in rel.value.url  # switching axes drops the zoom
    _wait_drawn(page, 4)
    assert page.evaluate("document.getElementById('chart').layout.xaxis.type") == "linear"
    xs = _traces(page, long)["last"]["x"]
    # Seconds since the first point (each bucket drawn at its last point's x).
    assert 0 <= min(xs) < 2 and 990 < max(xs) <= 10 * (STEPS - 1) / 1000
    with page.expect_response(lambda r: DOWNSAMPLED in r.url and "x_min" in r.url) as zoomed:
        _zoom(page, 600, 620)
    assert max(p["max"] for p in _series(zoomed.value, long)["points"]) == SPIKE
    _wait_drawn(page, 5)
    screenshot(page, "charts-relative")
    assert not page.errors


def test_the_csv_download_is_the_stored_history(page: Any, seeded: Seeded) -> None:
    long = seeded.run_ids["long"]
    page.goto(f"{seeded.url}/#/charts?runs={long}&key=loss")
    link = page.locator(f'#downloads a[data-run-id="{long}"]')
    expect(link).to_be_visible(timeout=20_000)
    response = page.request.get(seeded.url + (link.get_attribute("href") or ""))
    assert response.ok and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text())))
    assert rows[0] == ["step", "timestamp", "value"]
    stored = cairn.Client(seeded.url).get_metric_history(long, "loss")
    assert len(rows) - 1 == len(stored) == STEPS
    exported = [(int(s), int(t), float(v)) for s, t, v in rows[1:]]
    assert exported == [(m.step, m.timestamp, m.value) for m in stored]
