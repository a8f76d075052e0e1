"""What logging costs a training loop that runs at about 1,000 steps/s on the CPU.

A small MLP (32 → 448 → 448 → 1, batch 64, SGD, one torch thread; a numpy MLP of the same
shape when torch is absent or with `--backend numpy`) is trained for N steps while logging:

* `none`      no Cairn at all (not even imported)
* `run_only`  Cairn imported and a run active, nothing logged: what an idle run costs
* `one`       `cairn.log_metric("loss", <python float>, step=i)` per step
* `ten_dict`  `cairn.log_metrics(<10-key dict of floats>, step=i)` per step
* `ten_calls` ten `cairn.log_metric(key, <float>, step=i)` calls per step
* `tensor`    `cairn.log_metric("loss", loss, step=i)`, the 0-d tensor itself (no `.item()`)
* `item`      `cairn.log_metric("loss", loss.item(), step=i)`

Each (round, variant) is a fresh subprocess with its own temp working directory, so the store
is the default `./cairn-data` (SQLite, no server). The run is started and the model warmed up
before the clock; the timed region is the loop alone, and `end_run()` after it is timed
separately. Rounds are interleaved (every variant once per round, order rotated) so a busy
moment of the machine spreads over all variants. A variant a Cairn version refuses (a tensor
value: "must be a number") prints `refused` instead of failing the benchmark.

A/B another checkout: the children run under `--python` (default: this interpreter) with the
caller's `PYTHONPATH`, and print which `cairn` they imported:

    .venv/bin/python benchmarks/training_loop.py                    # 2,000 steps × 4 rounds
    .venv/bin/python benchmarks/training_loop.py --quick            # 500 steps
    PYTHONPATH=/path/to/old/src .venv/bin/python benchmarks/training_loop.py \\
        --variants ten_dict,none --output /tmp/old.json

Progress goes to stderr, the table to stdout, every sample to
benchmarks/results/training-loop-latest.json (or `--output`).
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from results_file import write_results

RESULTS = Path(__file__).resolve().parent / "results" / "training-loop-latest.json"
VARIANTS = ("none", "run_only", "one", "ten_dict", "ten_calls", "tensor", "item")
POINTS_PER_STEP = {
    "none": 0,
    "run_only": 0,
    "one": 1,
    "ten_dict": 10,
    "ten_calls": 10,
    "tensor": 1,
    "item": 1,
}
KEYS = tuple(f"m{k}" for k in range(10))
IN_FEATURES, WIDTH, BATCH = 32, 448, 64
WARMUP_STEPS = 50
CHILD_TIMEOUT_S = 1800
ERROR_TAIL_LINES = 12


# -- child: one variant in one fresh process --------------------------------------------------


class TorchModel:
    """The MLP, its optimizer and a fixed batch; `step()` returns the 0-d loss tensor."""

    backend = "torch"

    def __init__(self) -> None:
        import torch

        torch.set_num_threads(1)
        torch.manual_seed(0)
        nn = torch.nn
        self.model = nn.Sequential(
            nn.Linear(IN_FEATURES, WIDTH),
            nn.ReLU(),
            nn.Linear(WIDTH, WIDTH),
            nn.ReLU(),
            nn.Linear(WIDTH, 1),
        )
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=1e-3)
        self.loss_fn = nn.MSELoss()
        self.x = torch.randn(BATCH, IN_FEATURES)
        self.y = torch.randn(BATCH, 1)
        self.version = torch.__version__

    def step(self) -> Any:
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model(self.x), self.y)
        loss.backward()
        self.optimizer.step()
        return loss


class NumpyModel:
    """The same MLP by hand (forward, backward, SGD); `step()` returns a 0-d ndarray."""

    backend = "numpy"

    def __init__(self) -> None:
        import numpy as np

        self.np = np
        rng = np.random.default_rng(0)
        sizes = [(IN_FEATURES, WIDTH), (WIDTH, WIDTH), (WIDTH, 1)]
        self.weights = [rng.standard_normal(s).astype(np.float32) * 0.05 for s in sizes]
        self.x = rng.standard_normal((BATCH, IN_FEATURES)).astype(np.float32)
        self.y = rng.standard_normal((BATCH, 1)).astype(np.float32)
        self.version = np.__version__

    def step(self) -> Any:
        np = self.np
        w1, w2, w3 = self.weights
        h1 = np.maximum(self.x @ w1, 0)
        h2 = np.maximum(h1 @ w2, 0)
        err = h2 @ w3 - self.y
        loss = np.mean(err * err)
        d_out = 2 * err / len(err)
        d_h2 = (d_out @ w3.T) * (h2 > 0)
        d_h1 = (d_h2 @ w2.T) * (h1 > 0)
        grads = [self.x.T @ d_h1, h1.T @ d_h2, h2.T @ d_out]
        for w, g in zip(self.weights, grads, strict=True):
            w -= 1e-3 * g
        return loss


def make_model(backend: str) -> TorchModel | NumpyModel:
    if backend in ("auto", "torch"):
        try:
            return TorchModel()
        except ImportError:
            if backend == "torch":
                raise
    return NumpyModel()


def loop_for(variant: str, steps: int, model: TorchModel | NumpyModel) -> Callable[[], None]:
    """The loop to time. `values` are prepared here, before the clock, so the loop measures
    logging, not building the dicts."""
    values = [{k: 1.0 / (i + 1) + j for j, k in enumerate(KEYS)} for i in range(steps)]
    step = model.step

    def none() -> None:
        for _ in range(steps):
            step()

    if variant in ("none", "run_only"):
        return none
    import cairn

    log_metric, log_metrics = cairn.log_metric, cairn.log_metrics

    def one() -> None:
        for i in range(steps):
            step()
            log_metric("loss", values[i]["m0"], step=i)

    def ten_dict() -> None:
        for i in range(steps):
            step()
            log_metrics(values[i], step=i)

    def ten_calls() -> None:
        for i in range(steps):
            step()
            for key, value in values[i].items():
                log_metric(key, value, step=i)

    def tensor() -> None:
        for i in range(steps):
            log_metric("loss", step(), step=i)

    def item() -> None:
        for i in range(steps):
            log_metric("loss", step().item(), step=i)

    loops = {"one": one, "ten_dict": ten_dict, "ten_calls": ten_calls}
    loops.update(tensor=tensor, item=item)
    return loops[variant]


def timed(loop: Callable[[], None]) -> dict[str, float]:
    """Wall seconds (what steps/s comes from), and CPU seconds of the training thread and of
    the whole process (the training thread plus any writer thread), which a busy machine
    disturbs less than the wall clock."""
    wall, thread, process = time.perf_counter(), time.thread_time(), time.process_time()
    loop()
    return {
        "seconds": time.perf_counter() - wall,
        "thread_cpu_s": time.thread_time() - thread,
        "process_cpu_s": time.process_time() - process,
    }


def stored_points(run_id: str, variant: str) -> int:
    """Points the store holds for the run after end_run (outside any timing): a fast loop
    that loses data is no result."""
    import cairn

    client = cairn.Client()
    keys = KEYS if variant in ("ten_dict", "ten_calls") else ("loss",)
    return sum(len(client.get_metric_history(run_id, key)) for key in keys)


def child(variant: str, steps: int, backend: str) -> dict[str, Any]:
    model = make_model(backend)
    for _ in range(WARMUP_STEPS):
        model.step()
    result: dict[str, Any] = {
        "variant": variant,
        "steps": steps,
        "backend": model.backend,
        "backend_version": model.version,
        "python": sys.executable,
    }
    if variant == "none":
        result.update(timed(loop_for(variant, steps, model)))
        return result
    import cairn

    result["cairn"] = getattr(cairn, "__version__", "?")
    result["cairn_path"] = str(Path(cairn.__file__).parent)
    run_id = cairn.start_run().info.run_id
    try:
        result.update(timed(loop_for(variant, steps, model)))
    except Exception as exc:  # a refused value; anything else is a real error
        if not isinstance(exc, (TypeError, ValueError)) and "Invalid" not in type(exc).__name__:
            raise
        cairn.end_run()
        result["refused"] = f"{type(exc).__name__}: {exc}"
        return result
    start = time.perf_counter()
    cairn.end_run()
    result["end_run_ms"] = (time.perf_counter() - start) * 1000
    result["stored_points"] = stored_points(run_id, variant)
    result["expected_points"] = steps * POINTS_PER_STEP[variant]
    return result


# -- parent: rounds of fresh processes, then the table ----------------------------------------


def child_env() -> dict[str, str]:
    """The caller's environment (PYTHONPATH included, for A/B) minus store redirects, with
    BLAS on one thread as torch is (the numpy model's matmuls)."""
    redirects = ("MLFLOW_TRACKING_URI", "CAIRN_TRACKING_URI")
    env = {k: v for k, v in os.environ.items() if k not in redirects}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def run_child(python: str, variant: str, steps: int, backend: str) -> dict[str, Any]:
    workdir = tempfile.mkdtemp(prefix=f"bench-training-{variant}-")
    cmd = [python, str(Path(__file__).resolve()), "--child", variant]
    cmd += ["--steps", str(steps), "--backend", backend]
    try:
        proc = subprocess.run(
            cmd,
            cwd=workdir,
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return {"variant": variant, "error": f"timed out after {CHILD_TIMEOUT_S} s"}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            try:
                found = json.loads(line)
            except ValueError:
                continue
            if isinstance(found, dict) and found.get("variant") == variant:
                return found
    tail = "\n".join(proc.stderr.strip().splitlines()[-ERROR_TAIL_LINES:])
    return {"variant": variant, "error": f"exit {proc.returncode}: {tail}"}


def rotated(variants: list[str], round_index: int) -> list[str]:
    shift = round_index % len(variants)
    return variants[shift:] + variants[:shift]


def summarise(
    variant: str, samples: list[dict[str, Any]], base: dict[str, Any] | None
) -> dict[str, Any]:
    """Medians over rounds; against `base` (the `none` row) the overhead and the cost per
    logged point, from the wall clock and from CPU time."""
    errors = [s["error"] for s in samples if "error" in s]
    refused = [s["refused"] for s in samples if "refused" in s]
    good = [s for s in samples if "seconds" in s]
    row: dict[str, Any] = {"variant": variant, "points_per_step": POINTS_PER_STEP[variant]}
    if errors:
        row["error"] = f"{len(errors)} of {len(samples)} runs failed: {errors[0]}"
    if refused:
        row["refused"] = refused[0]
    if not good or refused:
        return row
    rates = [s["steps"] / s["seconds"] for s in good]
    row["steps_per_s"] = {"median": statistics.median(rates), "min": min(rates), "max": max(rates)}
    for clock in ("thread_cpu_s", "process_cpu_s"):
        per_step = [s[clock] / s["steps"] for s in good if clock in s]
        if per_step:
            row[f"{clock}_per_step"] = statistics.median(per_step)
    end_runs = [s["end_run_ms"] for s in good if "end_run_ms" in s]
    if end_runs:
        row["end_run_ms"] = {"median": statistics.median(end_runs), "max": max(end_runs)}
        row["lost_points"] = sum(s["expected_points"] - s["stored_points"] for s in good)
    if base is None or "steps_per_s" not in base or variant == "none":
        return row
    sps, none_sps = row["steps_per_s"]["median"], base["steps_per_s"]["median"]
    row["overhead_pct"] = (none_sps / sps - 1) * 100
    points = POINTS_PER_STEP[variant]
    if not points:
        return row
    row["us_per_point"] = (1 / sps - 1 / none_sps) / points * 1e6
    for clock in ("thread_cpu_s", "process_cpu_s"):
        key = f"{clock}_per_step"
        if key in row and key in base:
            row[f"{clock.removesuffix('_s')}_us_per_point"] = (row[key] - base[key]) / points * 1e6
    return row


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| variant | points/step | steps/s median (min–max) | overhead vs none "
        "| µs per logged point (wall) | CPU µs/point: training thread, whole process "
        "| end_run ms median (max) | points stored |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        name = f"`{row['variant']}`"
        if "steps_per_s" not in row:
            word = "refused" if "refused" in row else "error"
            lines.append(f"| {name} | {row['points_per_step']} | {word} | | | | | |")
            continue
        sps = row["steps_per_s"]
        rate = f"{sps['median']:,.0f} ({sps['min']:,.0f}–{sps['max']:,.0f})"
        overhead = f"{row['overhead_pct']:+.1f} %" if "overhead_pct" in row else "—"
        per_point = f"{row['us_per_point']:.2f}" if "us_per_point" in row else "—"
        cpu = "—"
        if "thread_cpu_us_per_point" in row and "process_cpu_us_per_point" in row:
            cpu = f"{row['thread_cpu_us_per_point']:.2f}, {row['process_cpu_us_per_point']:.2f}"
        end_run = row.get("end_run_ms")
        end_text = f"{end_run['median']:.1f} ({end_run['max']:.1f})" if end_run else "—"
        lost = row.get("lost_points")
        stored = "—" if lost is None else ("all" if lost == 0 else f"⚠ {lost} lost")
        lines.append(
            f"| {name} | {row['points_per_step']} | {rate} | {overhead} | {per_point} "
            f"| {cpu} | {end_text} | {stored} |"
        )
    notes = [
        f"- `{r['variant']}` {k}: {r[k]}" for r in rows for k in ("refused", "error") if k in r
    ]
    return "\n".join(lines + ([""] + notes if notes else []))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="steps per run (2,000; 500)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="500 steps")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--python", default=sys.executable, help="interpreter for the runs")
    parser.add_argument("--backend", choices=("auto", "torch", "numpy"), default="auto")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    steps = args.steps or (500 if args.quick else 2000)
    if args.child:
        print(json.dumps(child(args.child, steps, args.backend)), flush=True)
        return 0
    variants = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    samples: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    load_before = os.getloadavg()
    for round_index in range(args.rounds):
        for variant in rotated(variants, round_index):
            print(f"round {round_index + 1}/{args.rounds}: {variant} ...", file=sys.stderr)
            found = run_child(args.python, variant, steps, args.backend)
            samples[variant].append(found)
            if "seconds" in found:
                print(f"  {steps / found['seconds']:,.0f} steps/s", file=sys.stderr)
            else:
                last = (found.get("refused") or found.get("error") or "").splitlines()[-1:]
                print(
                    f"  {'refused' if 'refused' in found else 'error'}: {''.join(last)}",
                    file=sys.stderr,
                )
    base = summarise("none", samples["none"], None) if "none" in samples else None
    rows = [summarise(v, samples[v], base) for v in variants]
    first = next((s for v in variants for s in samples[v] if "backend" in s), {})
    cairn_at = next(
        (s["cairn_path"] for v in variants for s in samples[v] if "cairn_path" in s), ""
    )
    print(
        f"\nTraining loop, {steps:,} steps × {args.rounds} rounds, each a fresh process; "
        f"MLP {IN_FEATURES}→{WIDTH}→{WIDTH}→1, batch {BATCH}, "
        f"{first.get('backend', '?')} {first.get('backend_version', '')}, one thread; "
        f"store ./cairn-data (SQLite)\npython {args.python}; cairn from {cairn_at or '—'}\n"
    )
    print(table(rows))
    idle = next((r for r in rows if r["variant"] == "run_only" and "steps_per_s" in r), None)
    if idle:
        idle_sps = idle["steps_per_s"]["median"]
        against = [
            f"`{r['variant']}` {(1 / r['steps_per_s']['median'] - 1 / idle_sps) / points * 1e6:.2f}"
            for r in rows
            if "steps_per_s" in r and (points := POINTS_PER_STEP[r["variant"]])
        ]
        if against:
            print("\nµs per logged point (wall) against `run_only`: " + ", ".join(against))
    if base is None:
        print("\n(no `none` variant: overhead and µs per point need it)")
    write_results(
        args.output,
        load_before,
        {
            "steps": steps,
            "rounds": args.rounds,
            "variants": variants,
            "python": args.python,
            "pythonpath": os.environ.get("PYTHONPATH", ""),
            "model": f"{IN_FEATURES}-{WIDTH}-{WIDTH}-1, batch {BATCH}",
            "warmup_steps": WARMUP_STEPS,
        },
        rows=rows,
        samples=samples,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
