"""The workloads, written once against the `Tool` adapter and run by `worker.py` in a subprocess.

Each workload does its setup (schema creation, experiment, test data) outside the timed region
and returns measurements as dicts: {"metric", "value", "unit", ...details}.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from seeding import expected_filtered_rows, seed_runs
from timing import median_ms, timed
from tools import Tool

from data import now_ms, rng, run_payload

Measurement = dict[str, Any]

SEARCH_FILTER = "metrics.m1 > 0.5 and params.p1 = 'a'"
SEARCH_ORDER = ["metrics.m2 DESC"]
SEARCH_LIMIT = 100
DATAFRAME_MAX_RUNS = 10_000  # returning every run as a DataFrame is measured up to this size
BATCH_SIZE = 1000


def measurement(metric: str, value: float, unit: str, **details: Any) -> Measurement:
    return {"metric": metric, "value": value, "unit": unit, **details}


def per_point(seconds: float, n: int) -> list[Measurement]:
    """Both views of one throughput figure: amortised µs per point and points per second."""
    return [
        measurement("us_per_point", seconds / n * 1e6, "µs", n=n, seconds=seconds),
        measurement("points_per_s", n / seconds, "points/s", n=n, seconds=seconds),
    ]


def log_metric(tool: Tool, n: int, repeats: int) -> list[Measurement]:
    """Fluent log_metric in one run, timed from the first call until the points are durable."""
    experiment_id = tool.fluent.set_experiment("bench-log-metric").experiment_id
    log = tool.fluent.log_metric

    def work() -> None:
        for i in range(n):
            log("loss", i * 0.001, step=i)
        tool.flush()

    with tool.fluent.start_run(experiment_id=experiment_id):
        seconds, _ = timed(work)
    return per_point(seconds, n)


def log_metric_async(tool: Tool, n: int, repeats: int) -> list[Measurement]:
    """MLflow's opt-in async mode: synchronous=False, then flush_async_logging() to store all."""
    if tool.name != "mlflow":
        raise ValueError("log_metric_async is MLflow's async mode; Cairn's default is measured")
    experiment_id = tool.fluent.set_experiment("bench-log-metric-async").experiment_id
    log = tool.fluent.log_metric

    def work() -> None:
        for i in range(n):
            log("loss", i * 0.001, step=i, synchronous=False)
        tool.fluent.flush_async_logging()

    with tool.fluent.start_run(experiment_id=experiment_id):
        seconds, _ = timed(work)
    return per_point(seconds, n)


def log_batch(tool: Tool, n: int, repeats: int) -> list[Measurement]:
    """`n` calls of Client.log_batch with 1000 points of one key each, steps never repeating."""
    client = tool.client()
    experiment_id = client.create_experiment("bench-log-batch")
    run_id = client.create_run(experiment_id).info.run_id
    gen, timestamp, metric = rng(), now_ms(), tool.entities.Metric
    batches = iter(
        [
            [
                metric(key="loss", value=gen.random(), timestamp=timestamp, step=c * BATCH_SIZE + j)
                for j in range(BATCH_SIZE)
            ]
            for c in range(n)
        ]
    )
    median, samples, _ = median_ms(lambda: client.log_batch(run_id, metrics=next(batches)), n)
    client.set_terminated(run_id, status="FINISHED")
    return [measurement("ms_per_call", median, "ms", calls=n, batch=BATCH_SIZE, samples=samples)]


def runs(tool: Tool, n: int, repeats: int) -> list[Measurement]:
    """Whole fluent runs: start + log_params(5) + log_metrics(5) + set_tags(3) + end."""
    fluent = tool.fluent
    experiment_id = fluent.set_experiment("bench-runs").experiment_id
    gen = rng()
    payloads = [run_payload(gen) for _ in range(n)]

    def work() -> None:
        for p in payloads:
            with fluent.start_run(experiment_id=experiment_id):
                fluent.log_params(p.params)
                fluent.log_metrics(p.metrics)
                fluent.set_tags(p.tags)
        tool.flush()

    seconds, _ = timed(work)
    return [
        measurement("runs_per_s", n / seconds, "runs/s", n=n, seconds=seconds),
        measurement("ms_per_run", seconds / n * 1000, "ms", n=n),
    ]


def search(tool: Tool, n: int, repeats: int) -> list[Measurement]:
    """Seed `n` runs via the client, then time a filtered+ordered search and a full DataFrame."""
    client = tool.client()
    experiment_id = client.create_experiment("bench-search")
    gen = rng()
    payloads = [run_payload(gen) for _ in range(n)]
    seed_seconds, _ = timed(lambda: seed_runs(tool, client, experiment_id, payloads))
    results = [measurement("seed_runs_per_s", n / seed_seconds, "runs/s", n=n)]
    expected = expected_filtered_rows(payloads, SEARCH_LIMIT)
    for output_format in ("pandas", "list"):
        results.append(_filtered_search(tool, experiment_id, output_format, repeats, expected))
    if n <= DATAFRAME_MAX_RUNS:
        results.append(_all_runs_dataframe(tool, experiment_id, max(3, repeats // 2), n))
    return results


def _filtered_search(
    tool: Tool, experiment_id: str, output_format: str, repeats: int, expected: int
) -> Measurement:
    """The issue's query. "pandas" is search_runs' default output; "list" isolates the query."""

    def query() -> Any:
        return tool.fluent.search_runs(
            experiment_ids=[experiment_id],
            filter_string=SEARCH_FILTER,
            order_by=SEARCH_ORDER,
            max_results=SEARCH_LIMIT,
            output_format=output_format,
        )

    median, samples, result = median_ms(query, repeats)
    return _checked(f"filtered_{output_format}_ms", median, samples, len(result), expected)


def _all_runs_dataframe(tool: Tool, experiment_id: str, repeats: int, n: int) -> Measurement:
    """Every run of the experiment as a DataFrame: search_runs with default arguments."""
    median, samples, frame = median_ms(
        lambda: tool.fluent.search_runs(experiment_ids=[experiment_id]), repeats
    )
    return _checked("all_dataframe_ms", median, samples, len(frame), n)


def _checked(
    metric: str, median: float, samples: list[float], rows: int, expected: int
) -> Measurement:
    """A timing plus a warning when the row count is wrong: a fast wrong answer is no result."""
    result = measurement(metric, median, "ms", samples=samples, rows=rows, expected_rows=expected)
    if rows != expected:
        result["warning"] = f"{metric}: returned {rows} rows, expected {expected}"
    return result


WORKLOADS: dict[str, Callable[[Tool, int, int], list[Measurement]]] = {
    "log_metric": log_metric,
    "log_metric_async": log_metric_async,
    "log_batch": log_batch,
    "runs": runs,
    "search": search,
}
