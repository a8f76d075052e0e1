"""The web UI in a real browser: issue 8's four speed figures, at 10,000 runs × 20 params ×
20 metrics in a SQLite store (plus 10 runs with a 100,000-step metric in a second experiment).

    .venv/bin/python benchmarks/ui.py                 # the full run, about 1.5-2.5 minutes
    .venv/bin/python benchmarks/ui.py --runs 1000 --repeats 3   # a quick look

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
  the parallel coordinates (SVG) and plotly's scatter are drawn.

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
TARGETS_MS = {"runs_page": 1000.0, "sort_by_metric": 300.0, "chart": 1000.0, "compare": 1000.0}


# -- seeding -----------------------------------------------------------------------------


def seed(database: Path, runs: int, long_runs: int, steps: int) -> dict[str, Any]:
    """`runs` finished runs with PARAMS params and METRICS metrics each, then `long_runs`
    runs with a `steps`-point "loss" history in an experiment of their own."""
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
        points = [
            (run_id, "loss", 1 / (1 + s) + rng.random() * 0.01, T0 + 20 * s, s)
            for s in range(steps)
        ]
        for j in range(0, steps, 50_000):
            store.log_metric_points(points[j : j + 50_000])
        long_ids.append(run_id)
    store.close()
    ranked = sorted(sort_values, key=sort_values.__getitem__)
    return {
        "experiment": experiment,
        "long_experiment": long_experiment,
        "long_ids": long_ids,
        "highest": ranked[-1],
        "lowest": ranked[0],
        "compare_ids": ranked[:: max(1, len(ranked) // 100)][:100],
    }


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
        page.locator("#chart .scatterlayer .trace").nth(3 * expected - 1).wait_for()
        took = (time.perf_counter() - started) * 1000
        drawn = page.locator("#chart .scatterlayer .trace .js-line").count()
        assert drawn >= expected, f"{drawn} lines drawn, {expected} expected"
        return took
    finally:
        page.close()


def compare(context: Any, base: str, seeded: dict[str, Any], errors: list[str]) -> float:
    ids = seeded["compare_ids"]
    page = fresh_page(context, errors)
    try:
        started = time.perf_counter()
        page.goto(f"{base}/#/compare?runs={','.join(ids)}", wait_until="commit")
        page.locator("#compare-params").wait_for()
        page.locator("#compare-metrics").wait_for()
        page.locator("#parcoords[data-drawn]").wait_for()
        page.locator("#scatter .scatterlayer .trace .point").first.wait_for()
        took = (time.perf_counter() - started) * 1000
        columns = page.locator("#compare-params thead th").count() - 1
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
    base: str, seeded: dict[str, Any], repeats: int, profile: Path
) -> dict[str, tuple[list[float], list[float]]]:
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
        context.set_default_timeout(30_000)
        out["chart"] = timed(lambda: chart(context, base, seeded, errors), repeats)
        out["compare"] = timed(lambda: compare(context, base, seeded, errors), repeats)
        out["runs_page"] = timed(lambda: runs_page(context, base, seeded, errors), repeats)
        sorter = SortPage(context, base, seeded, errors)
        out["sort_by_metric"] = timed(sorter.measure, repeats)
        sorter.page.close()
        context.close()
    if errors:
        sys.exit(f"page errors: {errors[:5]}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--long-runs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        database = folder / "cairn.db"
        started = time.perf_counter()
        seeded = seed(database, args.runs, args.long_runs, args.steps)
        seeded["runs"] = args.runs
        seeding_s = time.perf_counter() - started
        print(
            f"seeded {args.runs:,} runs × {PARAMS} params × {METRICS} metrics and "
            f"{args.long_runs} runs × {args.steps:,} steps in {seeding_s:.1f} s"
        )
        print("load average before the browser: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
        load_before = os.getloadavg()
        server, base = start_server(folder, database)
        try:
            times = measure_all(base, seeded, args.repeats, folder / "profile")
        finally:
            stop_session(server)
    results = {name: summary(*times[name], TARGETS_MS[name]) for name in TARGETS_MS}
    print(f"{'figure':<16} {'median':>9} {'min':>9} {'max':>9}   target       first visit")
    for name, r in results.items():
        mark = "✓" if r["met"] else "✗"
        print(
            f"{name:<16} {r['median_ms']:>7.0f}ms {r['min_ms']:>7.0f}ms {r['max_ms']:>7.0f}ms"
            f"   ≤ {r['target_ms']:.0f} ms {mark}   {r['first_visits_ms'][0]:>7.0f}ms"
        )
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
            "seeding_s": round(seeding_s, 1),
        },
        "repeats": args.repeats,
        "warm_ups": WARM_UPS,
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
