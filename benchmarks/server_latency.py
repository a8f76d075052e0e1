"""Latency of small requests on one keep-alive connection to `cairn server --workers N`.

With several workers, stock uvicorn leaves Nagle's algorithm on for every connection (it
binds the listening socket with proto 0, and asyncio only sets TCP_NODELAY when proto is
IPPROTO_TCP). The response headers and body then go out as two small segments, and the
second waits for the client's delayed ACK: ~40 ms per request on a reused connection
(MLflow's default 4-worker server has this; see shared/reference/mlflow-baseline.md,
Surprise 1). `cairn server` sets TCP_NODELAY on each accepted connection.

    .venv/bin/python benchmarks/server_latency.py                  # cairn server --workers 2
    .venv/bin/python benchmarks/server_latency.py --compare-stock  # and on stock uvicorn

Prints the median, 95th percentile and maximum of each request kind, in milliseconds.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from processes import free_port, wait_until_answers

REQUESTS = [
    ("GET /health", "GET", "/health", None),
    ("GET experiments/get", "GET", "/api/2.0/mlflow/experiments/get?experiment_id=0", None),
    (
        "POST experiments/search",
        "POST",
        "/api/2.0/mlflow/experiments/search",
        json.dumps({"max_results": 10}).encode(),
    ),
]


def _start(folder: Path, workers: int, stock: bool) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    database = f"sqlite:///{folder / 'cairn.db'}"
    destination = str(folder / "artifacts")
    if stock:
        # The same application, served by uvicorn's own command line (its default protocol).
        settings = {
            "backend_store_uri": database,
            "artifacts_destination": destination,
            "allowed_artifact_roots": [],
            "allowed_hosts": None,
            "cors_allowed_origins": None,
            "max_artifact_upload_bytes": None,
        }
        env = {**os.environ, "CAIRN_SERVER_SETTINGS": json.dumps(settings)}
        command = [sys.executable, "-m", "uvicorn", "cairn.cli.server:app_from_environment"]
        command += ["--factory", "--workers", str(workers), "--log-level", "warning"]
        command += ["--host", "127.0.0.1", "--port", str(port)]
    else:
        env = dict(os.environ)
        command = [sys.executable, "-c", "from cairn.cli import cli; cli()", "server"]
        command += ["--workers", str(workers), "--host", "127.0.0.1", "--port", str(port)]
        command += ["--backend-store-uri", database, "--artifacts-destination", destination]
    process = subprocess.Popen(command, env=env, cwd=folder)
    if wait_until_answers(process, port, "/health", 60, interval=0.05):
        return process, port
    if process.poll() is not None:
        raise RuntimeError("the server exited during start-up")
    process.terminate()
    raise RuntimeError("the server did not answer /health within 60 s")


def _measure(port: int, count: int) -> dict[str, list[float]]:
    """Each request kind `count` times on one keep-alive connection (after a warm-up)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    samples: dict[str, list[float]] = {label: [] for label, *_ in REQUESTS}
    for round_ in range(count + 5):
        for label, method, path, body in REQUESTS:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            start = time.perf_counter()
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            elapsed = (time.perf_counter() - start) * 1000
            if response.status != 200:
                raise RuntimeError(f"{label}: HTTP {response.status}")
            if round_ >= 5:
                samples[label].append(elapsed)
    connection.close()
    return samples


def _report(title: str, samples: dict[str, list[float]]) -> None:
    print(f"\n{title}")
    count = len(next(iter(samples.values())))
    print(f"{'request':28} {'median':>8} {'p95':>8} {'max':>8}  (ms, n={count})")
    for label, values in samples.items():
        ordered = sorted(values)
        p95 = ordered[int(0.95 * (len(ordered) - 1))]
        print(f"{label:28} {statistics.median(ordered):8.2f} {p95:8.2f} {ordered[-1]:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--compare-stock", action="store_true", help="also run stock uvicorn")
    arguments = parser.parse_args()
    variants = [("cairn server", False)] + (
        [("stock uvicorn", True)] if arguments.compare_stock else []
    )
    for title, stock in variants:
        with tempfile.TemporaryDirectory(prefix="cairn-latency-") as folder:
            process, port = _start(Path(folder), arguments.workers, stock)
            try:
                samples = _measure(port, arguments.requests)
            finally:
                process.terminate()
                process.wait(30)
        _report(f"{title}, --workers {arguments.workers}, one keep-alive connection", samples)


if __name__ == "__main__":
    main()
