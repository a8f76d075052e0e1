"""The charts grid: one chart per metric (search, system section, lazy loading, expand,
one colour per run), a one-value metric as bars, runs grouped by a param (the band chart's
mean against the client's), a live run's new points without a reload, another metric as
the x axis."""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect
from ui_support import XSS_NAME, Seeded, query_of, require_browser, screenshot, start_server

import cairn
from cairn.entities import Metric

T0 = 1_700_000_000_000
STEPS = 60
LIVE_STEPS = 50
MANY = 24  # metrics of one run: more charts than a screen holds
LRS = ("0.1", "0.01", "0.001")
DOWNSAMPLED = "/cairn/metrics/downsampled"
GROUPED = "/cairn/metrics/grouped"
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7")


def _loss(i: int, step: int) -> float:
    return (1 + i) / (1 + step) + 0.01 * ((step * 7 + i * 3) % 5)


def _accuracy(i: int, step: int) -> float:
    return 1 - 0.5 / (1 + step / 10) - 0.02 * i


def _log(client: cairn.Client, run_id: str, metrics: list[Metric]) -> None:
    for start in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[start : start + 1000])


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """Overrides ui_support's: four finished runs with loss, accuracy, a system metric and a
    one-value f1; a sweep of 30 runs over three learning rates; a run of MANY metrics; a
    running run."""
    require_browser()
    process, url = start_server(tmp_path_factory.mktemp("ui-chart-grid"))
    try:
        client = cairn.Client(tracking_uri=url, registry_uri=url)
        ids: dict[str, str] = {}
        grid = client.create_experiment("grid-demo")
        for i in range(4):
            run_id = client.create_run(grid, run_name=f"a{i}").info.run_id
            points = [Metric("final_f1", 0.7 + 0.05 * i, T0, 0)]
            for s in range(STEPS):
                points += [
                    Metric("loss", _loss(i, s), T0 + 1000 * s, s),
                    Metric("accuracy", _accuracy(i, s), T0 + 1000 * s, s),
                    Metric("system/cpu_utilization_percentage", 40 + i + s % 7, T0 + 1000 * s, s),
                ]
            _log(client, run_id, points)
            client.set_terminated(run_id)
            ids[f"a{i}"] = run_id
        sweep = client.create_experiment("lr-sweep")
        for i in range(30):
            run_id = client.create_run(sweep, run_name=f"s{i}").info.run_id
            client.log_param(run_id, "lr", LRS[i % 3])
            _log(client, run_id, [Metric("loss", _loss(i, s), T0 + s, s) for s in range(40)])
            client.set_terminated(run_id)
            ids[f"s{i}"] = run_id
        other = client.create_experiment("many-and-live")
        many = client.create_run(other, run_name="many").info.run_id
        _log(
            client,
            many,
            [Metric(f"m{k:02d}", k + s, T0 + s, s) for k in range(MANY) for s in range(5)],
        )
        client.set_terminated(many)
        ids["many"] = many
        live = client.create_run(other, run_name="live").info.run_id  # left RUNNING
        _log(client, live, [Metric("loss", _loss(0, s), T0 + s, s) for s in range(LIVE_STEPS)])
        ids["live"] = live
        xss = client.create_run(other, run_name=XSS_NAME).info.run_id
        client.log_param(xss, "lr", XSS_NAME)
        _log(client, xss, [Metric("final_f1", 0.5, T0, 0)])
        client.set_terminated(xss)
        ids["xss"] = xss
        ids["sweep"], ids["grid"], ids["other"] = sweep, grid, other
        yield Seeded(url, client, grid, ids)
    finally:
        process.terminate()
        process.wait(15)


def _plot_data(page: Any, selector: str) -> list[dict[str, Any]]:
    """The traces plotly holds for a chart (its element's own `data`)."""
    return page.evaluate(
        """(selector) => document.querySelector(selector).data.map((t) => ({
            type: t.type || "scatter", name: t.name, meta: t.meta || {},
            color: (t.line && t.line.color) || (t.marker && t.marker.color),
            x: Array.from(t.x || []), y: Array.from(t.y || []) }))""",
        selector,
    )


def _runs(seeded: Seeded, *names: str) -> str:
    return ",".join(seeded.run_ids[n] for n in names)


def test_one_chart_per_metric_search_and_expand(page: Any, seeded: Seeded) -> None:
    page.goto(f"{seeded.url}/#/charts?runs={_runs(seeded, 'a0', 'a1', 'a2', 'a3')}")
    cards = page.locator(".chart-card")
    expect(cards).to_have_count(4, timeout=20_000)
    expect(page.locator("#metric-charts .chart-card")).to_have_count(3)
    expect(page.locator("#system-charts .chart-card")).to_have_count(1)
    expect(page.locator("nav.crumbs")).to_contain_text("grid-demo")
    for key in ("loss", "accuracy", "final_f1", "system/cpu_utilization_percentage"):
        plot = page.locator(f'.chart-plot[data-key="{key}"]')
        expect(plot).to_have_attribute("data-loads", "1", timeout=20_000)
    # A run keeps its colour (dom.js's PALETTE, in the order of the address) on every chart.
    for key in ("loss", "accuracy"):
        lines = [t for t in _plot_data(page, f'.chart-plot[data-key="{key}"]') if t["meta"]]
        colours = {t["meta"]["run_id"]: t["color"] for t in lines if t["meta"]["role"] == "last"}
        assert [colours[seeded.run_ids[f"a{i}"]] for i in range(4)] == list(PALETTE)
    screenshot(page, "charts-grid")

    search = page.locator("#metric-search")
    search.fill("acc")
    expect(page.locator(".chart-card:visible")).to_have_count(1)
    expect(page.locator('.chart-card[data-key="accuracy"]')).to_be_visible()
    expect(page.locator("#metric-count")).to_have_text("1 of 4 metrics")
    expect(page.locator("#system-charts")).to_be_hidden()
    search.fill("SYSTEM/cpu")
    expect(page.locator(".chart-card:visible")).to_have_count(1)
    search.fill("nothing-like-it")
    expect(page.locator("#no-metric-match")).to_be_visible()
    search.fill("")
    expect(page.locator(".chart-card:visible")).to_have_count(4)

    # One click: the card takes the whole row and plotly redraws to its width.
    card = page.locator('.chart-card[data-key="loss"]')
    width = """document.querySelector('.chart-plot[data-key="loss"]')._fullLayout.width"""
    before = page.evaluate(width)
    card.locator(".chart-expand").click()
    expect(card).to_have_class(re.compile(r"\bexpanded\b"))
    page.wait_for_function(f"(w) => {width} > 2 * w", arg=before)
    assert card.bounding_box()["height"] > 450
    # The metric's own page (zoom, CSV) is one click away.
    card.locator(".chart-open").click()
    expect(page.locator("#chart[data-series]")).to_have_attribute(
        "data-series", "4", timeout=20_000
    )
    assert "key=loss" in page.url
    assert not page.errors


def test_charts_below_the_fold_load_when_scrolled_to(page: Any, seeded: Seeded) -> None:
    requested: list[str] = []
    page.on(
        "request",
        lambda r: requested.append(query_of(r.url)["key"]) if DOWNSAMPLED in r.url else None,
    )
    page.goto(f"{seeded.url}/#/charts?runs={seeded.run_ids['many']}")
    expect(page.locator(".chart-card")).to_have_count(MANY, timeout=20_000)
    expect(page.locator('.chart-plot[data-key="m00"]')).to_have_attribute("data-loads", "1")
    drawn = page.locator(".chart-plot[data-loads]")
    assert drawn.count() < MANY and len(requested) < MANY
    last = page.locator(f'.chart-card[data-key="m{MANY - 1:02d}"]')
    last.scroll_into_view_if_needed()
    expect(last.locator(".chart-plot")).to_have_attribute("data-loads", "1", timeout=20_000)
    assert f"m{MANY - 1:02d}" in requested
    assert not page.errors


def test_a_one_value_metric_is_a_bar_per_run(page: Any, seeded: Seeded) -> None:
    page.goto(f"{seeded.url}/#/charts?runs={_runs(seeded, 'a0', 'a1', 'a2', 'a3')}")
    plot = page.locator('.chart-plot[data-key="final_f1"]')
    expect(plot).to_have_attribute("data-kind", "bar", timeout=20_000)
    bars = _plot_data(page, '.chart-plot[data-key="final_f1"]')
    assert [t["type"] for t in bars] == ["bar"] * 4
    assert [t["x"] for t in bars] == [[f"a{i}"] for i in range(4)]
    assert [t["y"][0] for t in bars] == pytest.approx([0.7, 0.75, 0.8, 0.85])
    expect(plot.locator(".bars .point")).to_have_count(4)
    expect(page.locator('.chart-plot[data-key="loss"]')).to_have_attribute("data-kind", "lines")
    assert not page.errors


def test_names_reach_plotly_as_text(page: Any, seeded: Seeded) -> None:
    page.goto(f"{seeded.url}/#/charts?runs={_runs(seeded, 'xss', 'a0')}")
    plot = page.locator('.chart-plot[data-key="final_f1"]')
    expect(plot).to_have_attribute("data-kind", "bar", timeout=20_000)
    expect(plot.locator(".xtick text").first).to_have_text(XSS_NAME)
    expect(page.locator("#chart-legend")).to_contain_text(XSS_NAME)
    page.select_option("#group-by", "params.lr")
    expect(plot.locator(".xtick text", has_text="lr = <img")).to_have_count(1)
    assert page.locator("main img").count() == 0 and not page.dialogs
    assert not page.errors


def _client_groups(client: cairn.Client, run_ids: list[str]) -> dict[str, dict[int, list[float]]]:
    """Per lr, per step, every run's value there (one point per step in this data)."""
    groups: dict[str, dict[int, list[float]]] = {}
    for run_id in run_ids:
        lr = client.get_run(run_id).data.params["lr"]
        for m in client.get_metric_history(run_id, "loss"):
            groups.setdefault(lr, {}).setdefault(m.step, []).append(m.value)
    return groups


def _group_traces(page: Any, role: str) -> dict[str, dict[str, list[Any]]]:
    traces = _plot_data(page, "#chart")
    return {t["meta"]["group"]: t for t in traces if t["meta"].get("role") == role}


def test_grouped_band_mean_equals_the_clients(page: Any, seeded: Seeded) -> None:
    sweep = [seeded.run_ids[f"s{i}"] for i in range(30)]
    expected = _client_groups(seeded.client, sweep)
    with page.expect_response(lambda r: GROUPED in r.url, timeout=20_000) as answered:
        page.goto(
            f"{seeded.url}/#/charts?experiment={seeded.run_ids['sweep']}&group=params.lr&key=loss"
        )
    chart = page.locator("#chart")
    expect(chart).to_have_attribute("data-kind", "band", timeout=20_000)
    expect(chart).to_have_attribute("data-series", "3")
    answer = answered.value.json()
    assert answer["runs"] == 30 and answer["bucket_width"] == 1
    means = _group_traces(page, "mean")
    assert set(means) == set(LRS)
    for lr, by_step in expected.items():
        assert means[lr]["x"] == sorted(by_step)
        assert means[lr]["y"] == pytest.approx(
            [statistics.mean(by_step[s]) for s in sorted(by_step)]
        )
        lower, upper = _group_traces(page, "lower")[lr], _group_traces(page, "upper")[lr]
        assert lower["y"] == pytest.approx([min(by_step[s]) for s in sorted(by_step)])
        assert upper["y"] == pytest.approx([max(by_step[s]) for s in sorted(by_step)])
    expect(page.locator("#chart-status")).to_contain_text("3 groups of 30 runs")
    screenshot(page, "charts-band")

    # The band as mean ± std (population std across the group's runs), drawn from the answer.
    first = expected["0.001"][0]  # the first group: ordered by value
    page.select_option("#band", "std")
    page.wait_for_function(
        """(y) => Math.abs(document.getElementById("chart").data
            .find((t) => t.meta.role === "upper").y[0] - y) < 1e-9""",
        arg=statistics.mean(first) + statistics.pstdev(first),
    )
    assert "band=std" in page.url
    expect(page.locator("#chart-status")).to_contain_text("band mean ± std")
    upper = _group_traces(page, "upper")
    for lr, by_step in expected.items():
        steps = sorted(by_step)
        spread = [statistics.mean(by_step[s]) + statistics.pstdev(by_step[s]) for s in steps]
        assert upper[lr]["y"] == pytest.approx(spread)
    screenshot(page, "charts-band-std")
    assert not page.errors


def test_grouping_selected_runs_and_the_grid(page: Any, seeded: Seeded) -> None:
    chosen = [seeded.run_ids[f"s{i}"] for i in range(6)]  # two runs per lr
    page.goto(f"{seeded.url}/#/charts?runs={','.join(chosen)}")
    expect(page.locator('.chart-plot[data-key="loss"]')).to_have_attribute(
        "data-loads", "1", timeout=20_000
    )
    with page.expect_response(lambda r: GROUPED in r.url) as answered:
        page.select_option("#group-by", "params.lr")
    asked = query_of(answered.value.url)
    assert asked["run_ids"].split(",") == chosen and asked["group_by"] == "params.lr"
    assert [g["runs"] for g in answered.value.json()["groups"]] == [2, 2, 2]
    plot = page.locator('.chart-plot[data-key="loss"]')
    expect(plot).to_have_attribute("data-kind", "band")
    expect(page.locator("#chart-legend .chip")).to_have_count(3)
    means = {
        t["meta"]["group"]: t
        for t in _plot_data(page, '.chart-plot[data-key="loss"]')
        if t["meta"].get("role") == "mean"
    }
    expected = _client_groups(seeded.client, chosen)
    assert means["0.01"]["y"] == pytest.approx(
        [statistics.mean(expected["0.01"][s]) for s in range(40)]
    )
    assert "group=params.lr" in page.url
    screenshot(page, "charts-grid-grouped")
    assert not page.errors


def test_a_live_run_appends_only_its_new_points(page: Any, seeded: Seeded) -> None:
    live = seeded.run_ids["live"]
    requests: list[Any] = []
    page.on("request", lambda r: requests.append(r) if DOWNSAMPLED in r.url else None)
    page.goto(f"{seeded.url}/#/charts?runs={live}")
    plot = page.locator('.chart-plot[data-key="loss"]')
    expect(plot).to_have_attribute("data-loads", "1", timeout=20_000)
    expect(page.locator("#charts-status")).to_contain_text("1 running")
    shown = page.evaluate("""document.querySelector('.chart-plot[data-key="loss"]').data
        .find((t) => t.meta.role === "last").x.length""")
    assert shown == LIVE_STEPS

    new = [
        Metric("loss", 100.0 + s, T0 + 10_000 + s, s) for s in range(LIVE_STEPS, LIVE_STEPS + 10)
    ]
    with page.expect_response(
        lambda r: DOWNSAMPLED in r.url and "x_min" in r.url, timeout=20_000
    ) as refreshed:
        seeded.client.log_batch(live, metrics=new)
    asked = query_of(refreshed.value.url)
    assert asked["x_min"] == str(LIVE_STEPS) and asked["run_ids"] == live
    (series,) = refreshed.value.json()["series"]
    assert [p["step"] for p in series["points"]] == list(range(LIVE_STEPS, LIVE_STEPS + 10))
    page.wait_for_function(
        """(n) => document.querySelector('.chart-plot[data-key="loss"]').data
            .find((t) => t.meta.role === "last").x.length === n""",
        arg=LIVE_STEPS + 10,
    )
    ys = _plot_data(page, '.chart-plot[data-key="loss"]')[0]["y"]
    assert ys[-1] == 100.0 + LIVE_STEPS + 9
    expect(plot).to_have_attribute("data-loads", "1")  # appended, not fetched anew
    # Every history request but the first asked only past what the chart held.
    assert all("x_min" in r.url for r in requests[1:])
    seeded.client.set_terminated(live)
    assert not page.errors


def test_another_metric_as_the_x_axis(page: Any, seeded: Seeded) -> None:
    a0, a1 = seeded.run_ids["a0"], seeded.run_ids["a1"]
    page.goto(f"{seeded.url}/#/charts?runs={a0},{a1}&key=loss")
    chart = page.locator("#chart")
    expect(chart).to_have_attribute("data-loads", "1", timeout=20_000)
    page.select_option("#x-axis", "metric:accuracy")
    expect(chart).to_have_attribute("data-kind", "scatter")
    assert "x=metric%3Aaccuracy" in page.url or "x=metric:accuracy" in page.url
    traces = {t["meta"]["run_id"]: t for t in _plot_data(page, "#chart")}
    for i, run_id in enumerate((a0, a1)):
        accuracy = {m.step: m.value for m in seeded.client.get_metric_history(run_id, "accuracy")}
        loss = {m.step: m.value for m in seeded.client.get_metric_history(run_id, "loss")}
        steps = sorted(loss)
        assert traces[run_id]["x"] == pytest.approx([accuracy[s] for s in steps])
        assert traces[run_id]["y"] == pytest.approx([loss[s] for s in steps])
        assert traces[run_id]["x"][0] == pytest.approx(_accuracy(i, 0))
    title = page.evaluate("document.getElementById('chart').layout.xaxis.title.text")
    assert title == "accuracy" and not math.isnan(traces[a0]["y"][0])
    screenshot(page, "charts-metric-x")
    assert not page.errors
