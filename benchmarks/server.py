"""`cairn server` vs `mlflow server` 3.17.2, side by side over MLflow's REST API.

Both servers run on SQLite with `--workers 1`, each started here as a subprocess on a free
loopback port in a fresh temp dir, so neither sees the other's data or caches. Measured:

1. log-batch throughput: 4 spawned client processes post 1,000-point log-batch requests over
   keep-alive connections; points/s over the wall time from the common start to the last reply.
2. search-runs latency (median of 20) over runs seeded with each tool's own client library
   into the server's SQLite file before the server starts (the fastest fair way to fill it).
3. artifact upload/download MB/s of one large file through the artifact proxy, streamed from
   and to disk, with the server process tree's peak RSS during the transfers.
4. idle RSS of the server process tree right after start and after all workloads.

    .venv/bin/python benchmarks/server.py               # full: cairn 10k runs, mlflow 2k runs
    .venv/bin/python benchmarks/server.py --mlflow-10k  # mlflow searched over 10k runs too
    .venv/bin/python benchmarks/server.py --quick       # small sizes, a smoke test

Prints a markdown table; writes every figure to benchmarks/results/server-latest.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from processes import free_port, spawn_in_session, stop_session, wait_until_answers
from report import figure
from seeding import expected_filtered_rows, seed_runs
from tools import load

from data import rng, run_payload

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "server-latest.json"
CLIENTS = 4
POINTS_PER_REQUEST = 1000
SEARCH_REPEATS = 20
SEARCH_BODY = {
    "filter": "metrics.m1 > 0.5 and params.p1 = 'a'",
    "order_by": ["metrics.m2 DESC"],
    "max_results": 100,
}
CHUNK = 1 << 20
FLAT_MEMORY_MB = 64.0  # "memory flat": peak tree RSS during transfers at most this above idle


# -- process tree memory ------------------------------------------------------------------------


def _tree(pid: int) -> list[int]:
    """`pid` and all its descendants: MLflow's CLI forks uvicorn, so the parent alone is not it."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_mb(pid: int, field: str = "VmRSS") -> float:
    """Sum of `field` (VmRSS now, or VmHWM peak) over the process tree, in MB."""
    return sum(_status_kb(p, field) for p in _tree(pid)) / 1024


def tree_pss_mb(pid: int) -> float:
    """Sum of Pss over the tree: shared pages split between processes, so nothing counts twice."""
    total = 0
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def reset_peaks(pid: int) -> None:
    """Reset VmHWM of every process in the tree (write 5 to clear_refs), so the peak is ours."""
    for p in _tree(pid):
        try:
            Path(f"/proc/{p}/clear_refs").write_text("5")
        except OSError:
            pass


class PeakSampler(threading.Thread):
    """Samples tree VmRSS every 20 ms: a cross-check if clear_refs is not permitted."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.02):
            self.peak = max(self.peak, tree_mb(self.pid))


# -- servers ------------------------------------------------------------------------------------


def start_server(tool: str, folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start `tool`'s server on `folder`'s SQLite file; poll /health (bounded) until it answers."""
    port = free_port()
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    if tool == "mlflow":
        command = [sys.executable, "-m", "mlflow", "server"]
        command += ["--backend-store-uri", f"sqlite:///{folder}/mlflow.db"]
        command += ["--artifacts-destination", f"{folder}/mlartifacts"]
    else:
        command = [sys.executable, "-c", "from cairn.cli import cli; cli()", "server"]
        command += ["--backend-store-uri", f"sqlite:///{folder}/cairn.db"]
        command += ["--artifacts-destination", f"{folder}/artifacts"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    log = folder / "server.log"
    process = spawn_in_session(command, folder, log, env)
    if wait_until_answers(process, port, "/health", 120):
        return process, port
    stop_session(process)
    tail = log.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"{tool} server did not become healthy:\n{tail}")


def call(connection: http.client.HTTPConnection, path: str, body: Any = None) -> Any:
    """POST JSON (GET if no body) on a keep-alive connection; the decoded reply, or raise."""
    if body is None:
        connection.request("GET", path)
    else:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        connection.request("POST", path, body=data, headers=headers)
    response = connection.getresponse()
    payload = response.read()
    if response.status != 200:
        raise RuntimeError(f"{path}: HTTP {response.status}: {payload[:300]!r}")
    return json.loads(payload) if payload else {}


# -- seeding ------------------------------------------------------------------------------------


def seed(tool: str, folder: Path, runs: int) -> tuple[str, int]:
    """Seed `runs` runs into the tool's SQLite file with its own client; (experiment id, rows)."""
    client = load(tool, f"sqlite:///{folder}/{tool}.db").client()
    experiment_id = client.create_experiment("search-bench")
    gen = rng()
    payloads = [run_payload(gen) for _ in range(runs)]
    seed_runs(load(tool, f"sqlite:///{folder}/{tool}.db"), client, experiment_id, payloads)
    return str(experiment_id), expected_filtered_rows(payloads, SEARCH_BODY["max_results"])


# -- workloads ----------------------------------------------------------------------------------


def _log_batch_client(port: int, run_id: str, requests: int, barrier: Any, results: Any) -> None:
    """One client process: prebuild bodies, wait for all, post them on one connection."""
    bodies = []
    for r in range(requests):
        base, timestamp = r * POINTS_PER_REQUEST, int(time.time() * 1000)
        metrics = [
            {"key": "loss", "value": 1.0 / (base + i + 1), "timestamp": timestamp, "step": base + i}
            for i in range(POINTS_PER_REQUEST)
        ]
        bodies.append(json.dumps({"run_id": run_id, "metrics": metrics}).encode())
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    barrier.wait()
    start = time.monotonic()
    for body in bodies:
        call(connection, "/api/2.0/mlflow/runs/log-batch", body)
    results.put((start, time.monotonic()))
    connection.close()


def log_batch_throughput(port: int, requests: int) -> dict[str, Any]:
    """Points/s of CLIENTS concurrent processes (spawn: no inherited state), each its own run."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    experiment = call(connection, "/api/2.0/mlflow/experiments/create", {"name": "throughput"})
    run_ids = [
        call(
            connection,
            "/api/2.0/mlflow/runs/create",
            {"experiment_id": experiment["experiment_id"], "start_time": int(time.time() * 1000)},
        )["run"]["info"]["run_id"]
        for _ in range(CLIENTS)
    ]
    context = mp.get_context("spawn")
    barrier, results = context.Barrier(CLIENTS), context.Queue()
    workers = [
        context.Process(target=_log_batch_client, args=(port, run_id, requests, barrier, results))
        for run_id in run_ids
    ]
    for worker in workers:
        worker.start()
    spans = [results.get(timeout=1800) for _ in workers]
    for worker in workers:
        worker.join()
    seconds = max(end for _, end in spans) - min(start for start, _ in spans)
    points = CLIENTS * requests * POINTS_PER_REQUEST
    # The latest point of each run must be the last one posted, so dropped batches show up.
    # A new connection: uvicorn closes keep-alive connections idle for 5 s, as this one was.
    connection.close()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for run_id in run_ids:
        run = call(connection, f"/api/2.0/mlflow/runs/get?run_id={run_id}")["run"]
        steps = [int(m.get("step", 0)) for m in run["data"].get("metrics", [])]
        if steps != [requests * POINTS_PER_REQUEST - 1]:
            raise RuntimeError(f"run {run_id}: latest steps {steps}, expected the last one")
    connection.close()
    return {"points": points, "seconds": seconds, "points_per_s": points / seconds}


def search_latency(port: int, experiment_id: str, expected_rows: int) -> dict[str, Any]:
    """Median ms of SEARCH_REPEATS searches (after 3 warm-ups); checks the row count."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    body = json.dumps({"experiment_ids": [experiment_id], **SEARCH_BODY}).encode()
    samples: list[float] = []
    for i in range(SEARCH_REPEATS + 3):
        start = time.perf_counter()
        reply = call(connection, "/api/2.0/mlflow/runs/search", body)
        elapsed = (time.perf_counter() - start) * 1000
        rows = len(reply.get("runs", []))
        if rows != expected_rows:
            raise RuntimeError(f"search returned {rows} rows, expected {expected_rows}")
        if i >= 3:
            samples.append(elapsed)
    connection.close()
    return {"median_ms": statistics.median(samples), "samples_ms": samples, "rows": rows}


def artifact_transfer(pid: int, port: int, folder: Path, size_mb: int) -> dict[str, Any]:
    """PUT then GET one `size_mb` file via the artifact proxy, streamed; MB/s and peak RSS."""
    source, target = folder / "big-src.bin", folder / "big-dst.bin"
    with open(source, "wb") as out:
        block = os.urandom(CHUNK)
        for _ in range(size_mb):
            out.write(block)
    size = source.stat().st_size
    path = "/api/2.0/mlflow-artifacts/artifacts/1/run/artifacts/big.bin"
    idle = tree_mb(pid)
    reset_peaks(pid)
    sampler = PeakSampler(pid)
    sampler.start()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600, blocksize=CHUNK)
    start = time.perf_counter()
    with open(source, "rb") as body:
        headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
        connection.request("PUT", path, body=body, headers=headers)
        response = connection.getresponse()
        reply = response.read()
    upload_s = time.perf_counter() - start
    if response.status != 200:
        raise RuntimeError(f"upload: HTTP {response.status}: {reply[:300]!r}")
    start = time.perf_counter()
    connection.request("GET", path)
    response = connection.getresponse()
    if response.status != 200:
        raise RuntimeError(f"download: HTTP {response.status}")
    with open(target, "wb") as out:
        while chunk := response.read(CHUNK):
            out.write(chunk)
    download_s = time.perf_counter() - start
    connection.close()
    sampler.stop.set()
    sampler.join()
    if target.stat().st_size != size:
        raise RuntimeError(f"downloaded {target.stat().st_size} bytes, expected {size}")
    peak = max(tree_mb(pid, "VmHWM"), sampler.peak)
    source.unlink()
    target.unlink()
    mb = size / 1e6
    return {
        "size_mb": mb,
        "upload_mb_s": mb / upload_s,
        "download_mb_s": mb / download_s,
        "rss_before_mb": idle,
        "peak_rss_mb": peak,
        "peak_growth_mb": peak - idle,
    }


def bench_server(tool: str, runs: int, requests: int, size_mb: int) -> dict[str, Any]:
    """Seed, start, then run every workload against one server; errors are recorded, not fatal."""
    result: dict[str, Any] = {"search_runs": runs, "log_batch_requests_per_client": requests}
    with tempfile.TemporaryDirectory(prefix=f"{tool}-server-bench-") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        experiment_id, expected_rows = seed(tool, folder, runs)
        result["seed_s"] = time.perf_counter() - start
        print(f"[{tool}] seeded {runs} runs in {result['seed_s']:.1f} s", file=sys.stderr)
        process, port = start_server(tool, folder)
        try:
            time.sleep(2)  # let start-up allocations settle before calling it idle
            result["idle_rss_start_mb"] = tree_mb(process.pid)
            result["idle_pss_start_mb"] = tree_pss_mb(process.pid)
            result["processes"] = len(_tree(process.pid))
            steps = [
                ("search", lambda: search_latency(port, experiment_id, expected_rows)),
                ("log_batch", lambda: log_batch_throughput(port, requests)),
                ("artifacts", lambda: artifact_transfer(process.pid, port, folder, size_mb)),
            ]
            for name, step in steps:
                print(f"[{tool}] {name} ...", file=sys.stderr)
                try:
                    result[name] = step()
                except Exception as error:  # report and carry on
                    result[name] = {"error": f"{type(error).__name__}: {error}"}
                    print(f"[{tool}] {name} failed: {error}", file=sys.stderr)
            time.sleep(2)
            result["idle_rss_end_mb"] = tree_mb(process.pid)
            result["idle_pss_end_mb"] = tree_pss_mb(process.pid)
        finally:
            stop_session(process)
    return result


# -- report -------------------------------------------------------------------------------------


def table(cairn: dict[str, Any], mlflow: dict[str, Any]) -> str:
    """Markdown: one row per figure, the ratio (how many times better Cairn is) and the goal."""
    rows = [
        (
            "log-batch points/s (4 clients)",
            ("log_batch", "points_per_s"),
            True,
            "Cairn ≥ 20x MLflow",
        ),
        (
            f"search-runs median ms ({cairn['search_runs']:,} vs {mlflow['search_runs']:,} runs)",
            ("search", "median_ms"),
            False,
            "Cairn ≤ 20 ms",
        ),
        ("artifact upload MB/s", ("artifacts", "upload_mb_s"), True, "≥ 200 MB/s"),
        ("artifact download MB/s", ("artifacts", "download_mb_s"), True, "≥ 200 MB/s"),
        (
            "peak RSS growth during transfer, MB",
            ("artifacts", "peak_growth_mb"),
            False,
            f"flat (≤ {FLAT_MEMORY_MB:.0f} MB)",
        ),
        ("idle RSS after start, MB", ("idle_rss_start_mb",), False, "Cairn ≤ 100 MB"),
        ("idle RSS after workloads, MB", ("idle_rss_end_mb",), False, "Cairn ≤ 100 MB"),
        ("idle PSS after workloads, MB", ("idle_pss_end_mb",), False, "(shared pages split)"),
        ("processes in the server tree", ("processes",), False, ""),
    ]
    lines = ["| measure | Cairn | MLflow | Cairn better by | goal |", "|---|---|---|---|---|"]
    for label, keys, higher_better, goal in rows:
        c, m = figure(cairn, *keys), figure(mlflow, *keys)
        ratio = "n/a"
        if c and m and "growth" not in label:  # a ratio of two near-zero growths means nothing
            ratio = f"{(c / m if higher_better else m / c):.1f}x"
        show = [f"{v:,.1f}" if v is not None else "error" for v in (c, m)]
        lines.append(f"| {label} | {show[0]} | {show[1]} | {ratio} | {goal} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke test")
    parser.add_argument("--mlflow-10k", action="store_true", help="seed MLflow with 10k runs")
    arguments = parser.parse_args()
    if arguments.quick:
        sizes = {"cairn": (500, 20, 50), "mlflow": (200, 3, 50)}
    else:
        mlflow_runs = 10_000 if arguments.mlflow_10k else 2_000
        sizes = {"cairn": (10_000, 200, 500), "mlflow": (mlflow_runs, 20, 500)}
    results = {tool: bench_server(tool, *sizes[tool]) for tool in ("cairn", "mlflow")}
    results["sizes"] = {
        tool: dict(zip(("search_runs", "requests_per_client", "artifact_mb"), s, strict=True))
        for tool, s in sizes.items()
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results["cairn"], results["mlflow"]))
    print(f"\nraw figures: {RESULTS.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
