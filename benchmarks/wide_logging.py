"""Cairn beside trackio, W&B (offline) and Aim: many metrics per step, and one long series.

Workloads (full; `--quick` is a tenth):

* `wide`  10,000 steps × 10 metrics, one dict per step: `cairn.log_metrics(d, step=i)`,
  `wandb.log(d, step=i)`, `trackio.log(d, step=i)`, Aim `run.track(d, step=i)` (its dict form)
* `long`  100,000 points of one metric: the same calls with one key (`cairn.log_metric`)

Timed from the first log call until everything is stored: Cairn until `end_run()` returned,
W&B until `run.finish()`, trackio until `trackio.finish()` (which joins its writer thread),
Aim until `run.close()`. The closing call is also timed alone. Each (repetition, workload,
tool) is a fresh process in a fresh temp directory that is its working directory and holds
every tool's files (Cairn: the default `./cairn-data`, SQLite, no server; W&B: `WANDB_DIR`,
`WANDB_MODE=offline`, `WANDB_SILENT=true`; trackio: `TRACKIO_DIR`, `HF_HOME`,
`HF_HUB_OFFLINE=1`; Aim: a repo in the temp dir). Imports, `init`/`start_run` and the data
are prepared before the clock. After Cairn's run the points in its SQLite database are
counted. Nothing goes over a network (each tool's defaults otherwise).

The peers live in their own venv, `benchmarks/.venv-peers/` (gitignored), so they never touch
Cairn's environment:

    .venv/bin/python benchmarks/wide_logging.py --install-peers   # once: venv + pip install
    .venv/bin/python benchmarks/wide_logging.py                    # 3 repetitions, median
    .venv/bin/python benchmarks/wide_logging.py --quick --tools cairn,trackio

A peer that failed to install or to import is reported as unavailable; the others still run.
Progress goes to stderr, the table to stdout, every sample to
benchmarks/results/wide-logging-latest.json.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from results_file import write_results

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "wide-logging-latest.json"
PEERS_VENV = HERE / ".venv-peers"
PEER_PACKAGES = {"wandb": "wandb", "trackio": "trackio", "aim": "aim"}
TOOLS = ("cairn", "trackio", "wandb", "aim")
WORKLOADS = {"wide": (10_000, 10), "long": (100_000, 1)}  # (steps, metrics per step)
KEYS = tuple(f"m{k}" for k in range(10))
CHILD_TIMEOUT_S = 1800
ERROR_TAIL_LINES = 12


# -- child: one tool, one workload, in a fresh process ----------------------------------------


def series(steps: int, width: int) -> list[dict[str, float]]:
    return [{k: 1.0 / (i + 1) + j for j, k in enumerate(KEYS[:width])} for i in range(steps)]


def cairn_session(steps: int, width: int, rows: list[dict[str, float]]) -> dict[str, Any]:
    import cairn

    cairn.start_run()
    log_metric, log_metrics = cairn.log_metric, cairn.log_metrics

    def log() -> None:
        if width == 1:
            for i in range(steps):
                log_metric("m0", rows[i]["m0"], step=i)
        else:
            for i in range(steps):
                log_metrics(rows[i], step=i)

    found = timed_session(log, cairn.end_run)
    found["version"] = getattr(cairn, "__version__", "?")
    database = glob.glob("cairn-data/*.db")
    if database:
        with sqlite3.connect(database[0]) as db:
            found["stored_points"] = db.execute("SELECT COUNT(*) FROM metrics").fetchone()[0]
    return found


def wandb_session(steps: int, width: int, rows: list[dict[str, float]]) -> dict[str, Any]:
    import wandb

    run = wandb.init(project="bench", dir=os.getcwd(), mode="offline")
    log = run.log

    def loop() -> None:
        for i in range(steps):
            log(rows[i], step=i)

    found = timed_session(loop, run.finish)
    found["version"] = wandb.__version__
    return found


def trackio_session(steps: int, width: int, rows: list[dict[str, float]]) -> dict[str, Any]:
    import trackio

    trackio.init(project="bench")
    log = trackio.log

    def loop() -> None:
        for i in range(steps):
            log(rows[i], step=i)

    found = timed_session(loop, trackio.finish)
    found["version"] = trackio.__version__
    return found


def aim_session(steps: int, width: int, rows: list[dict[str, float]]) -> dict[str, Any]:
    import aim
    from aim.__version__ import __version__

    run = aim.Run(repo=os.getcwd(), experiment="bench")
    track = run.track

    def loop() -> None:
        if width == 1:
            for i in range(steps):
                track(rows[i]["m0"], name="m0", step=i)
        else:
            for i in range(steps):
                track(rows[i], step=i)

    found = timed_session(loop, run.close)
    found["version"] = __version__
    return found


def timed_session(log: Callable[[], None], close: Callable[[], Any]) -> dict[str, Any]:
    start = time.perf_counter()
    log()
    closing = time.perf_counter()
    close()
    end = time.perf_counter()
    return {"seconds": end - start, "close_ms": (end - closing) * 1000}


SESSIONS = {
    "cairn": cairn_session,
    "wandb": wandb_session,
    "trackio": trackio_session,
    "aim": aim_session,
}


def child(tool: str, workload: str, steps: int) -> dict[str, Any]:
    width = WORKLOADS[workload][1]
    rows = series(steps, width)
    found = SESSIONS[tool](steps, width, rows)
    found.update(tool=tool, workload=workload, points=steps * width)
    return found


# -- parent -----------------------------------------------------------------------------------


def peers_python() -> Path:
    return PEERS_VENV / "bin" / "python"


def install_peers(tools: list[str]) -> dict[str, str]:
    """Create the peers' venv if needed and pip install each peer on its own, so one that
    cannot install leaves the others usable. Returns {tool: why unavailable}."""
    failures: dict[str, str] = {}
    if not peers_python().exists():
        print(f"creating {PEERS_VENV} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
    for tool in tools:
        print(f"pip install {PEER_PACKAGES[tool]} ...", file=sys.stderr)
        cmd = [str(peers_python()), "-m", "pip", "install", "-q", PEER_PACKAGES[tool]]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-3:]
            failures[tool] = "pip install failed: " + " / ".join(tail)
    return failures


def unavailable_peers(tools: list[str]) -> dict[str, str]:
    """Peers whose venv or import is missing, with the reason."""
    if not peers_python().exists():
        return {t: f"no {PEERS_VENV.name} (run with --install-peers)" for t in tools}
    missing = {}
    for tool in tools:
        proc = subprocess.run([str(peers_python()), "-c", f"import {tool}"], capture_output=True)
        if proc.returncode != 0:
            missing[tool] = f"`import {tool}` fails in {PEERS_VENV.name}"
    return missing


def child_env(workdir: str) -> dict[str, str]:
    redirects = ("MLFLOW_TRACKING_URI", "CAIRN_TRACKING_URI", "WANDB_API_KEY", "WANDB_BASE_URL")
    env = {k: v for k, v in os.environ.items() if k not in redirects}
    env.update(
        WANDB_MODE="offline",
        WANDB_SILENT="true",
        WANDB_DIR=workdir,
        WANDB_CACHE_DIR=os.path.join(workdir, "wandb-cache"),
        WANDB_CONFIG_DIR=os.path.join(workdir, "wandb-config"),
        TRACKIO_DIR=os.path.join(workdir, "trackio"),
        HF_HOME=os.path.join(workdir, "hf"),
        HF_HUB_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
        AIM_UI_TELEMETRY_ENABLED="0",
        MLFLOW_DISABLE_TELEMETRY="true",
    )
    return env


def run_child(tool: str, workload: str, steps: int) -> dict[str, Any]:
    python = sys.executable if tool == "cairn" else str(peers_python())
    workdir = tempfile.mkdtemp(prefix=f"bench-wide-{tool}-{workload}-")
    cmd = [python, str(Path(__file__).resolve()), "--child", tool, "--workload", workload]
    cmd += ["--steps", str(steps)]
    try:
        proc = subprocess.run(
            cmd,
            cwd=workdir,
            env=child_env(workdir),
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return {"tool": tool, "workload": workload, "error": f"timed out, {CHILD_TIMEOUT_S} s"}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith('{"bench": '):
            found: dict[str, Any] = json.loads(line)["bench"]
            return found
    tail = "\n".join(proc.stderr.strip().splitlines()[-ERROR_TAIL_LINES:])
    return {"tool": tool, "workload": workload, "error": f"exit {proc.returncode}: {tail}"}


def summarise(samples: list[dict[str, Any]]) -> dict[str, Any]:
    good = [s for s in samples if "seconds" in s]
    errors = [s["error"] for s in samples if "error" in s]
    if not good or errors:
        return {"error": errors[0] if errors else "no sample"}
    rates = [s["points"] / s["seconds"] for s in good]
    row: dict[str, Any] = {
        "points": good[0]["points"],
        "version": good[0].get("version"),
        "points_per_s": statistics.median(rates),
        "points_per_s_range": [min(rates), max(rates)],
        "close_ms": statistics.median(s["close_ms"] for s in good),
    }
    stored = [s["stored_points"] for s in good if "stored_points" in s]
    if stored:
        row["stored_points"] = stored
    return row


def table(rows: dict[str, dict[str, dict[str, Any]]], tools: list[str]) -> str:
    lines = [
        "| workload | tool | points/s median (min–max) | Cairn faster by "
        "| closing call ms | points stored |",
        "|---|---|---:|---:|---:|---|",
    ]
    notes = []
    for workload, by_tool in rows.items():
        cairn_rate = by_tool.get("cairn", {}).get("points_per_s")
        for tool in tools:
            row = by_tool[tool]
            if "points_per_s" not in row:
                word = "unavailable" if "unavailable" in row else "error"
                lines.append(f"| {workload} | {tool} | {word} | | | |")
                notes.append(f"- {tool} {workload}: {row.get('unavailable') or row['error']}")
                continue
            low, high = row["points_per_s_range"]
            rate = f"{row['points_per_s']:,.0f} ({low:,.0f}–{high:,.0f})"
            ratio = (
                "—"
                if tool == "cairn" or not cairn_rate
                else f"{cairn_rate / row['points_per_s']:.2f}×"
            )
            closing = "end_run " if tool == "cairn" else ""
            stored = row.get("stored_points")
            if stored is None:
                stored_text = "not checked"
            else:
                if all(n == row["points"] for n in stored):
                    stored_text = f"{row['points']:,} in each run"
                else:
                    counts = ", ".join(f"{n:,}" for n in stored)
                    stored_text = f"⚠ {counts} of {row['points']:,}"
            lines.append(
                f"| {workload} | {tool} {row.get('version') or ''} | {rate} | {ratio} "
                f"| {closing}{row['close_ms']:.0f} | {stored_text} |"
            )
    return "\n".join(lines + ([""] + sorted(set(notes)) if notes else []))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a tenth of the points")
    parser.add_argument("--install-peers", action="store_true", help=f"create {PEERS_VENV.name}")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps({"bench": child(args.child, args.workload, args.steps)}), flush=True)
        return 0
    tools = [t for t in args.tools.split(",") if t]
    workloads = [w for w in args.workloads.split(",") if w]
    if bad := sorted(set(tools) - set(TOOLS)) + sorted(set(workloads) - set(WORKLOADS)):
        parser.error(f"unknown {bad}; tools {TOOLS}, workloads {tuple(WORKLOADS)}")
    peers = [t for t in tools if t != "cairn"]
    install_failures = install_peers(peers) if args.install_peers and peers else {}
    unavailable = {**unavailable_peers(peers), **install_failures} if peers else {}
    for tool, why in unavailable.items():
        print(f"{tool}: unavailable ({why})", file=sys.stderr)
    runnable = [t for t in tools if t not in unavailable]
    scale = 10 if args.quick else 1
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {
        w: {t: [] for t in runnable} for w in workloads
    }
    load_before = os.getloadavg()
    for repeat in range(args.repeats):
        for workload in workloads:
            steps = WORKLOADS[workload][0] // scale
            shift = repeat % max(len(runnable), 1)
            for tool in runnable[shift:] + runnable[:shift]:
                print(f"rep {repeat + 1}/{args.repeats}: {workload} {tool} ...", file=sys.stderr)
                found = run_child(tool, workload, steps)
                samples[workload][tool].append(found)
                if "seconds" in found:
                    rate = found["points"] / found["seconds"]
                    print(f"  {rate:,.0f} points/s", file=sys.stderr)
                else:
                    print(f"  error: {found['error'].splitlines()[-1]}", file=sys.stderr)
    rows = {
        w: {
            **{t: summarise(samples[w][t]) for t in runnable},
            **{t: {"unavailable": why} for t, why in unavailable.items()},
        }
        for w in workloads
    }
    sizes = ", ".join(
        f"{w} = {WORKLOADS[w][0] // scale:,} steps × {WORKLOADS[w][1]}" for w in workloads
    )
    print(
        f"\nWide logging, {sizes}; median of {args.repeats} fresh processes each; "
        f"time from the first log call until the closing call returned\n"
    )
    print(table(rows, tools))
    write_results(
        args.output,
        load_before,
        {"tools": tools, "workloads": workloads, "repeats": args.repeats, "scale": scale},
        rows=rows,
        samples=samples,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
