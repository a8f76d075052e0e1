"""The web UI in a real browser: issue 8's four speed figures, at 10,000 runs × 20 params ×
20 metrics in a SQLite store (plus 10 runs with 20 metrics of 100,000 steps each in a second
experiment), and issue 13's charts: the grid of every metric, a 1,000-run grouped chart, the
bytes a live run's refresh moves.

    .venv/bin/python benchmarks/ui.py                 # the full run, about 4-6 minutes
    .venv/bin/python benchmarks/ui.py --runs 1000 --repeats 3   # a quick look
    .venv/bin/python benchmarks/ui.py --figures chart_grid,chart_grid_all,grouped,live_refresh

A `cairn server` on a free loopback port serves the store; Debian's Chromium, headless and
driven by Playwright, opens the pages. Each figure is the wall time from the navigation (or
the click) until the page shows what makes it usable:

* runs page: from navigation until the first rows are in the table and a click on a row's
  checkbox has updated the selection count (the page answers input);
* sort by a metric: from the click on the column header until the first row is the run with
  the highest (then the lowest) value of that metric;
* chart: from navigation to the charts page of the 10 long runs until plotly has drawn every
  series (the line and the min/max band of each);
* compare: from navigation to the compare page of 100 runs until both tables are rendered and
  the parallel coordinates (SVG) and plotly's scatter are drawn;
* chart grid: from navigation to the charts of the 10 long runs (no metric named: one chart
  per metric, 20) until every chart in the 1400×900 window has drawn all its series (line
  and min/max band each); the charts below load as they scroll into view;
* chart grid, all: the same in a 1400×3000 window, where all 20 charts are in view at once;
* grouped: from navigation to the loss of 1,000 runs (100 steps each) grouped by their
  learning rate until the mean and band of every group are drawn (aggregated on the server);
* live refresh (not timed: bytes): a RUNNING run's chart, 10 points logged to it; the
  refresh's answer holds only those, against the size of the chart's first answer.

Each figure is repeated (`--repeats`, after two warm-up visits) in a new tab of one browser
profile: like a returning user's, it holds the static files (the server answers 304 to the
revalidation) and Chromium's compiled code for them, which it keeps from a script's second
load on (plotly.min.js takes over a second to compile and run on this VM without it). The
chart is measured first, so its first warm-up is a first visit in an empty profile; the
warm-up times are reported as `first_visits_ms`. Prints median, min and max next to the
target and writes benchmarks/results/ui-latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from processes import HOST, start_cairn_server, stop_session

from cairn.entities import Metric, Param
from cairn.store.sql.tracking import SqlTrackingStore

CHROMIUM = "/usr/bin/chromium"
RESULTS = Path(__file__).resolve().parent / "results" / "ui-latest.json"
T0 = 1_700_000_000_000
PARAMS = 20
METRICS = 20
SORT_KEY = "m07"
CHOICES = (0.1, 0.01, 1e-3, 3, "adam")
TARGETS_MS = {
    "runs_page": 1000.0,
    "sort_by_metric": 300.0,
    "chart": 1000.0,
    "compare": 1000.0,
    "chart_grid": 1500.0,
    "chart_grid_all": 1500.0,
    "grouped": 1000.0,
}
LRS = ("0.1", "0.03", "0.01", "0.003")
LIVE_STEPS = 10_000
LIVE_NEW = 10


# -- seeding -----------------------------------------------------------------------------


def seed(
    database: Path,
    runs: int,
    long_runs: int,
    steps: int,
    grid_metrics: int = METRICS,
    grouped_runs: int = 1000,
    grouped_steps: int = 100,
) -> dict[str, Any]:
    """`runs` finished runs with PARAMS params and METRICS metrics each; `long_runs` runs
    with `grid_metrics` histories of `steps` points ("loss" and g01, g02, …) in an
    experiment of their own; `grouped_runs` runs of `grouped_steps` losses over LRS; one
    RUNNING run of LIVE_STEPS losses."""
    store = SqlTrackingStore(f"sqlite:///{database}", str(database.parent / "artifacts"))
    rng = random.Random(8)
    experiment = store.create_experiment("ui-bench", None, [])
    sort_values: dict[str, float] = {}
    for i in range(runs):
        start = T0 + i * 1000
        run_id = store.create_run(experiment, "bench", start, [], f"run-{i:05d}").info.run_id
        values = [rng.random() for _ in range(METRICS)]
        store.log_batch(
            run_id,
            metrics=[Metric(f"m{k:02d}", v, start + 500, 0) for k, v in enumerate(values)],
            params=[Param(f"p{k:02d}", str(rng.choice(CHOICES))) for k in range(PARAMS)],
        )
        store.end_run(run_id, "FINISHED", start + 900)
        sort_values[run_id] = values[int(SORT_KEY[1:])]
    long_experiment = store.create_experiment("ui-bench-long", None, [])
    long_ids = []
    for i in range(long_runs):
        run_id = store.create_run(long_experiment, "bench", T0, [], f"long-{i}").info.run_id
        for k in range(grid_metrics):
            key = "loss" if k == 0 else f"g{k:02d}"
            points = [
                (run_id, key, (1 + k) / (1 + s) + rng.random() * 0.01, T0 + 20 * s, s)
                for s in range(steps)
            ]
            for j in range(0, steps, 50_000):
                store.log_metric_points(points[j : j + 50_000])
        long_ids.append(run_id)
    grouped = seed_grouped(store, grouped_runs, grouped_steps, rng)
    live = store.create_experiment("ui-bench-live", None, [])
    live_id = store.create_run(live, "bench", T0, [], "live").info.run_id  # stays RUNNING
    store.log_metric_points([(live_id, "loss", 1 / (1 + s), T0 + s, s) for s in range(LIVE_STEPS)])
    store.close()
    ranked = sorted(sort_values, key=sort_values.__getitem__)
    return {
        "experiment": experiment,
        "long_experiment": long_experiment,
        "long_ids": long_ids,
        "highest": ranked[-1],
        "lowest": ranked[0],
        "compare_ids": ranked[:: max(1, len(ranked) // 100)][:100],
        "grid_metrics": grid_metrics,
        "grouped_experiment": grouped,
        "grouped_runs": grouped_runs,
        "live_id": live_id,
        "database": database,
    }


def seed_grouped(store: SqlTrackingStore, runs: int, steps: int, rng: random.Random) -> str:
    """A sweep: `runs` finished runs over LRS, each a `steps`-point loss."""
    experiment = store.create_experiment("ui-bench-sweep", None, [])
    for i in range(runs):
        start = T0 + i * 1000
        run_id = store.create_run(experiment, "bench", start, [], f"sweep-{i:04d}").info.run_id
        lr = LRS[i % len(LRS)]
        store.log_batch(run_id, params=[Param("lr", lr), Param("seed", str(i))])
        scale = 1 + LRS.index(lr)
        store.log_metric_points(
            [
                (run_id, "loss", scale / (1 + s) + rng.random() * 0.05, start + s, s)
                for s in range(steps)
            ]
        )
        store.end_run(run_id, "FINISHED", start + 900)
    return experiment


# -- the browser -------------------------------------------------------------------------


WARM_UPS = 2  # Chromium keeps a script's compiled code from its second load on


def timed(measure: Callable[[], float], repeats: int) -> tuple[list[float], list[float]]:
    """The warm-up visits' times (the first is a first visit), then the repeats'."""
    first = [measure() for _ in range(WARM_UPS)]
    return first, [measure() for _ in range(repeats)]


def fresh_page(context: Any, errors: list[str]) -> Any:
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page


def runs_page(context: Any, base: str, seeded: dict[str, Any], errors: list[str]) -> float:
    page = fresh_page(context, errors)
    try:
        started = time.perf_counter()
        page.goto(f"{base}/#/experiments/{seeded['experiment']}", wait_until="commit")
        box = page.locator("#runs-table .vt-rows .vt-row input[type=checkbox]").first
        box.click()
        page.locator("#selection", has_text="1 selected").wait_for()
        took = (time.perf_counter() - started) * 1000
        page.locator("#runs-status", has_text=f"{seeded['runs']} runs").wait_for(timeout=60_000)
        return took
    finally:
        page.close()


class SortPage:
    """One runs page, fully loaded; each measure clicks the metric's header once (the
    order flips between descending and ascending)."""

    def __init__(self, context: Any, base: str, seeded: dict[str, Any], errors: list[str]):
        self.page = fresh_page(context, errors)
        self.seeded = seeded
        self.page.goto(f"{base}/#/experiments/{seeded['experiment']}")
        self.done = f"{seeded['runs']} runs"
        self.page.locator("#runs-status", has_text=self.done).wait_for(timeout=60_000)
        self.descending = True

    def measure(self) -> float:
        header = self.page.locator(f'#runs-table .th[data-column="metrics.`{SORT_KEY}`"]')
        top = self.seeded["highest" if self.descending else "lowest"]
        rows = "#runs-table .vt-rows > .vt-row"
        first = self.page.locator(f'{rows}:first-child[data-run-id="{top}"]')
        started = time.perf_counter()
        header.click()
        first.wait_for()
        took = (time.perf_counter() - started) * 1000
        self.page.locator("#runs-status", has_text=self.done).wait_for(timeout=60_000)
        self.descending = not self.descending
        return took


def chart(context: Any, base: str, seeded: dict[str, Any], errors: list[str]) -> float:
    ids = ",".join(seeded["long_ids"])
    expected = len(seeded["long_ids"])
    page = fresh_page(context, errors)
    try:
        started = time.perf_counter()
        page.goto(f"{base}/#/charts?runs={ids}&key=loss", wait_until="commit")
        # A downsampled series is three traces (min, max band, line): the lines carry names.
        page.locator(f'#chart[data-series="{expected}"]').wait_for()
        page.locator("#chart .scatterlayer .trace").nth(TRACES_PER_RUN * expected - 1).wait_for()
        took = (time.perf_counter() - started) * 1000
        drawn = page.locator("#chart .scatterlayer .trace .js-line").count()
        assert drawn >= expected, f"{drawn} lines drawn, {expected} expected"
        return took
    finally:
        page.close()


# Every chart in the window drawn: all its series' traces (line, min and max: three each).
TRACES_PER_RUN = 2  # a downsampled run: its min–max band (one closed shape) and its line
_GRID_DRAWN = """([cards, traces]) => {
  const all = [...document.querySelectorAll(".chart-card")];
  if (all.length !== cards) return false;
  const shown = all.filter((c) => c.getBoundingClientRect().top < window.innerHeight);
  return shown.every((c) => c.querySelector(".chart-plot[data-loads]")
    && c.querySelectorAll(".scatterlayer .trace").length >= traces) && shown.length;
}"""


def chart_grid(
    context: Any, base: str, seeded: dict[str, Any], errors: list[str], height: int = 900
) -> float:
    ids = ",".join(seeded["long_ids"])
    page = fresh_page(context, errors)
    page.set_viewport_size({"width": 1400, "height": height})
    try:
        started = time.perf_counter()
        page.goto(f"{base}/#/charts?runs={ids}", wait_until="commit")
        traces = TRACES_PER_RUN * len(seeded["long_ids"])
        drawn = page.wait_for_function(_GRID_DRAWN, arg=[seeded["grid_metrics"], traces])
        took = (time.perf_counter() - started) * 1000
        seeded.setdefault("grid_in_view", {})[height] = drawn.json_value()
        return took
    finally:
        page.close()


def grouped(context: Any, base: str, seeded: dict[str, Any], errors: list[str]) -> float:
    page = fresh_page(context, errors)
    experiment = seeded["grouped_experiment"]
    try:
        started = time.perf_counter()
        address = f"{base}/#/charts?experiment={experiment}&group=params.lr&key=loss"
        page.goto(address, wait_until="commit")
        page.locator('#chart[data-kind="band"]').wait_for()
        page.locator("#chart .scatterlayer .trace").nth(3 * len(LRS) - 1).wait_for()
        took = (time.perf_counter() - started) * 1000
        status = page.locator("#chart-status").inner_text()
        assert f"of {seeded['grouped_runs']} runs" in status, status
        return took
    finally:
        page.close()


def live_refresh(context: Any, base: str, seeded: dict[str, Any], errors: list[str]) -> dict:
    """The bytes of a live run's first chart answer and of the refresh after LIVE_NEW points."""
    run_id = seeded["live_id"]
    page = fresh_page(context, errors)
    downsampled = "/cairn/metrics/downsampled"
    try:
        with page.expect_response(lambda r: downsampled in r.url) as first:
            page.goto(f"{base}/#/charts?runs={run_id}&key=loss")
        page.locator('#chart[data-loads="1"]').wait_for()
        store = SqlTrackingStore(f"sqlite:///{seeded['database']}", "unused")
        new = [(run_id, "loss", 0.5, T0 + LIVE_STEPS + s, LIVE_STEPS + s) for s in range(LIVE_NEW)]
        with page.expect_response(lambda r: downsampled in r.url, timeout=20_000) as refresh:
            logged = time.perf_counter()
            store.log_metric_points(new)
        store.close()
        points = refresh.value.json()["series"][0]["points"]
        page.wait_for_function(
            """(n) => document.getElementById("chart").data
                .find((t) => t.meta.role === "last").x.slice(-1)[0] === n""",
            arg=LIVE_STEPS + LIVE_NEW - 1,
        )
        return {
            "first_answer_bytes": len(first.value.body()),
            "refresh_answer_bytes": len(refresh.value.body()),
            "refresh_points": len(points),
            "refresh_x_min": refresh.value.url.split("x_min=")[1].split("&")[0],
            "points_logged": LIVE_NEW,
            "logged_to_drawn_ms": round((time.perf_counter() - logged) * 1000),
        }
    finally:
        page.close()


def compare(context: Any, base: str, seeded: dict[str, Any], errors: list[str]) -> float:
    ids = seeded["compare_ids"]
    page = fresh_page(context, errors)
    try:
        started = time.perf_counter()
        page.goto(f"{base}/#/compare?runs={','.join(ids)}", wait_until="commit")
        page.locator("#compare-table #compare-params").wait_for(state="attached")
        page.locator("#parcoords[data-drawn]").wait_for()
        page.locator("#scatter .scatterlayer .trace .point").first.wait_for()
        took = (time.perf_counter() - started) * 1000
        columns = page.locator("#compare-table thead th.compare-run").count()
        assert columns == len(ids), f"{columns} runs compared, {len(ids)} expected"
        return took
    finally:
        page.close()


# -- the run -----------------------------------------------------------------------------


def summary(first: list[float], times: list[float], target: float) -> dict[str, Any]:
    median = statistics.median(times)
    return {
        "first_visits_ms": [round(t, 1) for t in first],
        "median_ms": round(median, 1),
        "min_ms": round(min(times), 1),
        "max_ms": round(max(times), 1),
        "samples_ms": [round(t, 1) for t in times],
        "target_ms": target,
        "met": median <= target,
    }


def start_server(folder: Path, database: Path) -> tuple[Any, str]:
    server, port = start_cairn_server(folder, database)
    return server, f"http://{HOST}:{port}"


def measure_all(
    base: str, seeded: dict[str, Any], repeats: int, profile: Path, figures: set[str]
) -> dict[str, Any]:
    """A browser profile of its own (not an incognito context: like a user's, it keeps
    the HTTP cache and compiled scripts between visits)."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    out = {}
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            viewport={"width": 1400, "height": 900},
        )
        context.set_default_timeout(60_000)
        measures: dict[str, Callable[[], float]] = {
            "chart": lambda: chart(context, base, seeded, errors),
            "chart_grid": lambda: chart_grid(context, base, seeded, errors),
            "chart_grid_all": lambda: chart_grid(context, base, seeded, errors, 3000),
            "grouped": lambda: grouped(context, base, seeded, errors),
            "compare": lambda: compare(context, base, seeded, errors),
            "runs_page": lambda: runs_page(context, base, seeded, errors),
        }
        for name, measure in measures.items():
            if name in figures:
                out[name] = timed(measure, repeats)
        if "sort_by_metric" in figures:
            sorter = SortPage(context, base, seeded, errors)
            out["sort_by_metric"] = timed(sorter.measure, repeats)
            sorter.page.close()
        if "live_refresh" in figures:
            out["live_refresh"] = live_refresh(context, base, seeded, errors)
        context.close()
    if errors:
        sys.exit(f"page errors: {errors[:5]}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--long-runs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--grid-metrics", type=int, default=METRICS)
    parser.add_argument("--grouped-runs", type=int, default=1000)
    parser.add_argument("--grouped-steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--figures",
        default=",".join([*TARGETS_MS, "live_refresh"]),
        help="comma-separated: " + ", ".join([*TARGETS_MS, "live_refresh"]),
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        database = folder / "cairn.db"
        started = time.perf_counter()
        seeded = seed(
            database,
            args.runs,
            args.long_runs,
            args.steps,
            args.grid_metrics,
            args.grouped_runs,
            args.grouped_steps,
        )
        seeded["runs"] = args.runs
        seeding_s = time.perf_counter() - started
        print(
            f"seeded {args.runs:,} runs × {PARAMS} params × {METRICS} metrics, "
            f"{args.long_runs} runs × {args.grid_metrics} metrics × {args.steps:,} steps and "
            f"{args.grouped_runs:,} runs × {args.grouped_steps} steps in {seeding_s:.1f} s"
        )
        print("load average before the browser: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
        load_before = os.getloadavg()
        server, base = start_server(folder, database)
        try:
            figures = set(args.figures.split(","))
            times = measure_all(base, seeded, args.repeats, folder / "profile", figures)
        finally:
            stop_session(server)
    results = {
        name: summary(*times[name], TARGETS_MS[name]) for name in TARGETS_MS if name in times
    }
    print(f"{'figure':<16} {'median':>9} {'min':>9} {'max':>9}   target       first visit")
    for name, r in results.items():
        mark = "✓" if r["met"] else "✗"
        print(
            f"{name:<16} {r['median_ms']:>7.0f}ms {r['min_ms']:>7.0f}ms {r['max_ms']:>7.0f}ms"
            f"   ≤ {r['target_ms']:.0f} ms {mark}   {r['first_visits_ms'][0]:>7.0f}ms"
        )
    live = times.get("live_refresh")
    if live:
        print(
            f"live refresh: {live['refresh_points']} new points, "
            f"{live['refresh_answer_bytes']:,} bytes (x_min={live['refresh_x_min']}); the "
            f"chart's first answer: {live['first_answer_bytes']:,} bytes; logged → drawn in "
            f"{live['logged_to_drawn_ms']} ms"
        )
    if "grid_in_view" in seeded:
        print(f"charts in view when drawn (window height → charts): {seeded['grid_in_view']}")
    document = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
        "store": {
            "runs": args.runs,
            "params_per_run": PARAMS,
            "metrics_per_run": METRICS,
            "long_runs": args.long_runs,
            "steps": args.steps,
            "grid_metrics": args.grid_metrics,
            "grouped_runs": args.grouped_runs,
            "grouped_steps": args.grouped_steps,
            "seeding_s": round(seeding_s, 1),
        },
        "live_refresh": live,
        "grid_charts_in_view": seeded.get("grid_in_view"),
        "repeats": args.repeats,
        "warm_ups": WARM_UPS,
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
