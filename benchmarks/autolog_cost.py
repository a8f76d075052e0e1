"""What scikit-learn autologging adds to a fit: Cairn beside MLflow.

A `RandomForestClassifier(random_state=0)` (100 trees, one core, about 2.3 s here) is fit
on 10,000 rows × 20 features (`make_classification`, seed 0) in three variants:

* `none`    no autologging
* `cairn`   `cairn.sklearn.autolog()` then fit; the default store `./cairn-data` (SQLite)
* `mlflow`  `mlflow.sklearn.autolog()` then fit; `sqlite:///<tmp>/mlflow.db`,
            `MLFLOW_DISABLE_TELEMETRY=true`

Both autologgers keep their defaults (model, signature, training metrics and params logged).
Each (round, variant) is a fresh process whose working directory is a fresh temp dir; rounds
are interleaved with the order rotated. Before the clock: the imports, the data, the store and
an experiment (`set_experiment`), a 5-tree fit on 200 rows (so sklearn's own first-call costs
land in no variant), and the `autolog()` call. Timed: each of `FITS` fits in the process, each
until everything it logged is stored (autolog's run ends inside `fit`; then `flush()` /
`flush_async_logging()` and `end_run()` should a run still be active). The first fit pays
what a process pays once (the plotting library's import, Cairn's figure templates, MLflow's
lazy imports); it is reported apart from the median of the later fits. The run the fit created
is read back afterwards (metrics, params, artifacts) to show both logged the same things.

    .venv/bin/python benchmarks/autolog_cost.py            # 5 rounds
    .venv/bin/python benchmarks/autolog_cost.py --quick    # 2 rounds

Progress goes to stderr, the table to stdout, every sample to
benchmarks/results/autolog-cost-latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from results_file import write_results

RESULTS = Path(__file__).resolve().parent / "results" / "autolog-cost-latest.json"
VARIANTS = ("none", "cairn", "mlflow")
ROWS, FEATURES, TREES = 10_000, 20, 100  # 100 trees: RandomForestClassifier()'s default
FITS = 4  # per process: the first pays one-time costs (imports, figures), the rest do not
CHILD_TIMEOUT_S = 900
ERROR_TAIL_LINES = 12


# -- child ------------------------------------------------------------------------------------


def tracker_for(variant: str) -> Any:
    """The tool's module with its store ready and autolog on; None for `none`."""
    if variant == "none":
        return None
    if variant == "cairn":
        import cairn
        import cairn.sklearn

        cairn.set_experiment("autolog-bench")
        cairn.sklearn.autolog()
        return cairn
    import mlflow
    import mlflow.sklearn

    mlflow.set_tracking_uri(f"sqlite:///{Path.cwd() / 'mlflow.db'}")
    mlflow.set_experiment("autolog-bench")
    mlflow.sklearn.autolog()
    return mlflow


def finish(tracker: Any) -> None:
    """Everything the fit logged is stored once this returns."""
    if tracker is None:
        return
    if tracker.__name__ == "cairn":
        tracker.flush()
    else:
        tracker.flush_async_logging()
    if tracker.active_run() is not None:
        tracker.end_run()


def logged(tracker: Any) -> dict[str, Any]:
    """What the fit's run holds, read back through the tool's own client."""
    runs = tracker.search_runs(output_format="list")
    if not runs:
        return {"runs": 0}
    run = runs[0]
    client = tracker.Client() if tracker.__name__ == "cairn" else tracker.MlflowClient()
    models: int | str
    try:
        models = len(client.search_logged_models(experiment_ids=[run.info.experiment_id]))
    except Exception as exc:  # a version without logged models: say so, keep the timing
        models = f"{type(exc).__name__}: {exc}"
    return {
        "runs": len(runs),
        "logged_models": models,
        "status": run.info.status,
        "metrics": sorted(run.data.metrics),
        "params": len(run.data.params),
        "artifacts": sorted(a.path for a in client.list_artifacts(run.info.run_id)),
    }


def child(variant: str) -> dict[str, Any]:
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    X, y = make_classification(n_samples=ROWS, n_features=FEATURES, random_state=0)
    RandomForestClassifier(n_estimators=5, random_state=0).fit(X[:200], y[:200])
    tracker = tracker_for(variant)
    times = []
    for _ in range(FITS):
        model = RandomForestClassifier(n_estimators=TREES, random_state=0)
        start = time.perf_counter()
        model.fit(X, y)
        finish(tracker)
        times.append(time.perf_counter() - start)
    result: dict[str, Any] = {
        "variant": variant,
        "first_s": times[0],
        "fit_s": statistics.median(times[1:]),
    }
    if tracker is not None:
        result["version"] = getattr(tracker, "__version__", "?")
        result["logged"] = logged(tracker)
    return result


# -- parent -----------------------------------------------------------------------------------


def run_child(variant: str) -> dict[str, Any]:
    workdir = tempfile.mkdtemp(prefix=f"bench-autolog-{variant}-")
    redirects = ("MLFLOW_TRACKING_URI", "CAIRN_TRACKING_URI")
    env = {k: v for k, v in os.environ.items() if k not in redirects}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", variant]
    try:
        proc = subprocess.run(
            cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return {"variant": variant, "error": f"timed out after {CHILD_TIMEOUT_S} s"}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith('{"bench": '):
            found: dict[str, Any] = json.loads(line)["bench"]
            return found
    tail = "\n".join(proc.stderr.strip().splitlines()[-ERROR_TAIL_LINES:])
    return {"variant": variant, "error": f"exit {proc.returncode}: {tail}"}


def summarise(samples: list[dict[str, Any]]) -> dict[str, Any]:
    good = [s for s in samples if "fit_s" in s]
    errors = [s["error"] for s in samples if "error" in s]
    row: dict[str, Any] = {}
    if errors:
        row["error"] = f"{len(errors)} of {len(samples)} runs failed: {errors[0]}"
    if good:
        for key in ("first_s", "fit_s"):
            values = [s[key] for s in good]
            row[key] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
        row["version"] = good[0].get("version")
        row["logged"] = good[0].get("logged")
    return row


def cell(row: dict[str, Any], key: str, base: dict[str, Any] | None) -> str:
    if key not in row:
        return "error"
    figure = row[key]
    text = (
        f"{figure['median'] * 1000:,.0f} ({figure['min'] * 1000:,.0f}–{figure['max'] * 1000:,.0f})"
    )
    if base and key in base and base is not row:
        extra = figure["median"] - base[key]["median"]
        text += f" | {extra * 1000:+,.0f} ms, {extra / base[key]['median'] * 100:+.1f} %"
    else:
        text += " | —"
    return text


def overhead(rows: dict[str, dict[str, Any]], variant: str, key: str) -> float | None:
    if key not in rows.get(variant, {}) or key not in rows.get("none", {}):
        return None
    extra: float = rows[variant][key]["median"] - rows["none"][key]["median"]
    return extra


def table(rows: dict[str, dict[str, Any]]) -> str:
    base = rows.get("none")
    lines = [
        "| variant | first fit ms median (min–max) | over none | each later fit ms | over none |",
        "|---|---:|---:|---:|---:|",
    ]
    for variant, row in rows.items():
        name = f"`{variant}`" + (f" {row['version']}" if row.get("version") else "")
        lines.append(f"| {name} | {cell(row, 'first_s', base)} | {cell(row, 'fit_s', base)} |")
    lines.append("")
    for key, label in (("first_s", "first fit"), ("fit_s", "each later fit")):
        cairn_extra, mlflow_extra = overhead(rows, "cairn", key), overhead(rows, "mlflow", key)
        if cairn_extra is not None and mlflow_extra is not None and cairn_extra > 0:
            lines.append(
                f"MLflow's overhead / Cairn's ({label}): {mlflow_extra / cairn_extra:.1f}× "
                f"({mlflow_extra * 1000:,.0f} ms against {cairn_extra * 1000:,.0f} ms)"
            )
        elif cairn_extra is not None and mlflow_extra is not None:
            lines.append(
                f"MLflow's overhead / Cairn's ({label}): Cairn's is within noise "
                f"({cairn_extra * 1000:+,.0f} ms; MLflow {mlflow_extra * 1000:+,.0f} ms)"
            )
    lines.append("")
    for variant, row in rows.items():
        if row.get("logged"):
            lines.append(f"- {variant} logged: {json.dumps(row['logged'])}")
        if "error" in row:
            lines.append(f"- {variant} error: {row['error']}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=None, help="5; 2 with --quick")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps({"bench": child(args.child)}), flush=True)
        return 0
    rounds = args.rounds or (2 if args.quick else 5)
    variants = [v for v in args.variants.split(",") if v]
    if bad := sorted(set(variants) - set(VARIANTS)):
        parser.error(f"unknown variants {bad}; choose from {', '.join(VARIANTS)}")
    samples: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    load_before = os.getloadavg()
    for round_index in range(rounds):
        shift = round_index % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            print(f"round {round_index + 1}/{rounds}: {variant} ...", file=sys.stderr)
            found = run_child(variant)
            samples[variant].append(found)
            if "fit_s" in found:
                print(
                    f"  first fit {found['first_s'] * 1000:,.0f} ms, "
                    f"later fits {found['fit_s'] * 1000:,.0f} ms",
                    file=sys.stderr,
                )
            else:
                print(f"  error: {found['error'].splitlines()[-1]}", file=sys.stderr)
    rows = {v: summarise(samples[v]) for v in variants}
    print(
        f"\nsklearn autolog cost: RandomForestClassifier(n_estimators={TREES}) on "
        f"{ROWS:,} × {FEATURES}; median of {rounds} fresh processes (min–max)\n"
    )
    print(table(rows))
    write_results(
        args.output,
        load_before,
        {
            "rows": ROWS,
            "features": FEATURES,
            "trees": TREES,
            "fits_per_process": FITS,
            "rounds": rounds,
        },
        rows=rows,
        samples=samples,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
