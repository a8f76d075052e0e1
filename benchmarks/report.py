"""Turn job results into the comparison table (markdown) and the JSON results file."""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from plan import Job
from runner import JobResult

SEARCH_TARGETS_MS = {10_000: 10.0, 100_000: 50.0}
DATAFRAME_TARGETS_MS = {10_000: 200.0}


@dataclass(frozen=True)
class Row:
    """One table line: which measurement of each tool it compares, and Cairn's target."""

    label: str
    cairn: str | None  # measurement key "<job key>/<metric>", None when the tool has no such row
    mlflow: str | None
    unit: str
    higher_is_better: bool = False
    target: float | None = None


def _sizes(jobs: list[Job], unit: str, cairn_key: str, mlflow_key: str | None = None) -> str:
    """Each tool's sample size for the row label, e.g. "Cairn 50, MLflow 10 calls"."""
    wanted = {"cairn": cairn_key, "mlflow": mlflow_key or cairn_key}
    parts = [
        f"{'Cairn' if j.tool == 'cairn' else 'MLflow'} {j.n:,}"
        for j in jobs
        if wanted.get(j.tool) == j.key
    ]
    return f"{', '.join(parts)} {unit}"


def build_rows(jobs: list[Job]) -> list[Row]:
    """Rows for the workloads that were planned, labelled with each tool's sample size."""
    keys = {j.key for j in jobs}
    rows: list[Row] = []
    if keys & {"log_metric", "log_metric_async"}:
        sizes = _sizes(jobs, "points", "log_metric")
        sync = f"fluent log_metric until stored, MLflow synchronous ({sizes})"
        end_to_end = (
            "fluent log_metric end to end, MLflow synchronous=False + flush_async_logging "
            f"({_sizes(jobs, 'points', 'log_metric', 'log_metric_async')})"
        )
        point, per_s = "log_metric/us_per_point", "log_metric/points_per_s"
        rows.append(Row(sync, point, point, "µs/point", target=2.0))
        rows.append(Row(end_to_end, per_s, "log_metric_async/points_per_s", "points/s", True))
    if "log_batch" in keys:
        label = f"Client.log_batch(1000 metrics), median ({_sizes(jobs, 'calls', 'log_batch')})"
        rows.append(Row(label, "log_batch/ms_per_call", "log_batch/ms_per_call", "ms", target=1.0))
    if "runs" in keys:
        sizes = _sizes(jobs, "runs", "runs")
        label = f"fluent runs: start + 5 params + 5 metrics + 3 tags + end ({sizes})"
        rows.append(Row(label, "runs/runs_per_s", "runs/runs_per_s", "runs/s", True, 2000.0))
    for n in sorted({j.n for j in jobs if j.workload == "search"}):
        rows += _search_rows(n)
    if "import" in keys:
        time_ms, rss = "import/time_ms", "import/peak_rss_mb"
        rows.append(
            Row("import time, median of fresh processes", time_ms, time_ms, "ms", target=100)
        )
        rows.append(Row("import peak RSS (ratio: times smaller)", rss, rss, "MB", target=40.0))
    return rows


def _search_rows(n: int) -> list[Row]:
    key = f"search@{n}"
    rows = [
        Row(
            f"search_runs filter + order_by, 100 of {n:,} runs (DataFrame)",
            f"{key}/filtered_pandas_ms",
            f"{key}/filtered_pandas_ms",
            "ms",
            target=SEARCH_TARGETS_MS.get(n),
        ),
        Row(
            f"search_runs filter + order_by, 100 of {n:,} runs (list)",
            f"{key}/filtered_list_ms",
            f"{key}/filtered_list_ms",
            "ms",
        ),
    ]
    if n <= 10_000:
        rows.append(
            Row(
                f"search_runs all {n:,} runs as DataFrame",
                f"{key}/all_dataframe_ms",
                f"{key}/all_dataframe_ms",
                "ms",
                target=DATAFRAME_TARGETS_MS.get(n),
            )
        )
    return rows


def fmt(value: float) -> str:
    """Three significant figures or so, with thousands separators for big numbers."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def figure(result: dict[str, Any], *keys: str) -> float | None:
    """The number at `result[keys[0]][keys[1]]...`, or None if a key is missing or it is not
    a number (a step that failed records {"error": ...} instead of its figures)."""
    value: Any = result
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, (int, float)) else None


class Table:
    """Looks measurements up by (tool, key) and renders cells, ratios and target checks."""

    def __init__(self, results: list[JobResult]) -> None:
        self.values = {
            (r.job.tool, f"{r.job.key}/{m['metric']}"): m for r in results for m in r.measurements
        }
        self.errors = {(r.job.tool, r.job.key) for r in results if r.error}

    def value(self, tool: str, key: str | None) -> float | None:
        found = self.values.get((tool, key)) if key else None
        return float(found["value"]) if found else None

    def cell(self, tool: str, key: str | None, unit: str) -> str:
        if key and (tool, key) in self.values:
            found = self.values[(tool, key)]
            return f"{fmt(found['value'])} {unit}" + (" ⚠" if "warning" in found else "")
        if key and (tool, key.split("/")[0]) in self.errors:
            return "error"
        return "—"

    def ratio(self, row: Row) -> str:
        """How many times faster Cairn is (>1 means Cairn wins)."""
        cairn, mlflow = self.value("cairn", row.cairn), self.value("mlflow", row.mlflow)
        if not cairn or not mlflow:
            return "—"
        return f"{fmt(cairn / mlflow if row.higher_is_better else mlflow / cairn)}×"

    def target(self, row: Row) -> str:
        if row.target is None:
            return ""
        sign = "≥" if row.higher_is_better else "≤"
        text = f"{sign} {fmt(row.target)} {row.unit}"
        cairn = self.value("cairn", row.cairn)
        if cairn is None:
            return text
        met = cairn >= row.target if row.higher_is_better else cairn <= row.target
        return f"{text} {'✓' if met else '✗'}"

    def render(self, row: Row) -> dict[str, str]:
        return {
            "workload": row.label,
            "cairn": self.cell("cairn", row.cairn, row.unit),
            "mlflow": self.cell("mlflow", row.mlflow, row.unit),
            "ratio": self.ratio(row),
            "target": self.target(row),
        }


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def meta(backend: str, quick: bool) -> dict[str, Any]:
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "backend": backend,
        "quick": quick,
        "cairn": _version("cairn-tracker"),
        "mlflow": _version("mlflow"),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
    }


def markdown(info: dict[str, Any], rendered: list[dict[str, str]], results: list[JobResult]) -> str:
    lines = [
        f"Cairn {info['cairn']} vs MLflow {info['mlflow']} on {info['backend']} — {info['date']}, "
        f"Python {info['python']}, {info['machine']}{' (quick sizes)' if info['quick'] else ''}",
        "",
        "| Workload | Cairn | MLflow | Cairn faster by | Cairn target |",
        "|---|---:|---:|---:|---|",
    ]
    lines += [
        f"| {r['workload']} | {r['cairn']} | {r['mlflow']} | {r['ratio']} | {r['target']} |"
        for r in rendered
    ]
    notes = [
        f"- {r.job.tool} {r.job.key}: error: {r.error.splitlines()[-1]}" for r in results if r.error
    ]
    notes += [
        f"- {r.job.tool} {r.job.key}: ⚠ {m['warning']}"
        for r in results
        for m in r.measurements
        if "warning" in m
    ]
    return "\n".join(lines + ([""] + notes if notes else []))


def write_json(
    path: Path, info: dict[str, Any], rendered: list[dict[str, str]], results: list[JobResult]
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    jobs = [
        {
            **asdict(r.job),
            "key": r.job.key,
            "seconds": r.seconds,
            "error": r.error,
            "measurements": r.measurements,
        }
        for r in results
    ]
    payload = {"meta": info, "table": rendered, "jobs": jobs, "argv": sys.argv[1:]}
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
