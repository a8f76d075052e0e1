"""`cairn models serve` vs `mlflow models serve` 3.17.2: one scikit-learn model, both servers.

A LogisticRegression on 8 numeric features (3 classes) is fitted once, then saved twice from
the same object: with `cairn.sklearn.save_model` and with `mlflow.sklearn.save_model`. Each
tool serves its copy with one worker on a free loopback port (MLflow with `--env-manager
local`). Measured per tool:

1. `load_model` time, in a fresh process per tool after importing it: the first load (which
   imports scikit-learn while unpickling), and the median of the next five.
2. `/invocations` latency, one keep-alive client, one-row `dataframe_split` payloads:
   p50 / p99 over REQUESTS requests after a warm-up.
3. requests/s with CLIENTS concurrent keep-alive clients (spawned processes, raw sockets and
   prebuilt requests, so the client costs ~30 µs of CPU per request) over SECONDS seconds.
4. the server process tree's RSS after the workloads.

Before timing, each server's reply to a 20-row payload is checked against the estimator's own
predictions: a fast wrong answer is no result.

    .venv/bin/python benchmarks/serving.py           # about two minutes
    .venv/bin/python benchmarks/serving.py --quick   # a smoke test

Prints a markdown table; writes every figure to benchmarks/results/serving-latest.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from processes import free_port, spawn_in_session, stop_session, wait_until_answers
from report import figure

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "serving-latest.json"
FEATURES = [f"f{i}" for i in range(8)]
CLIENTS = 8
START_TIMEOUT = 120.0
LOAD_PROBE = """
import json, statistics, sys, time, warnings
warnings.simplefilter("ignore")
if sys.argv[1] == "cairn":
    from cairn.pyfunc import load_model
else:
    from mlflow.pyfunc import load_model
start = time.perf_counter(); load_model(sys.argv[2]); first = time.perf_counter() - start
again = []
for _ in range(5):
    start = time.perf_counter(); load_model(sys.argv[2]); again.append(time.perf_counter() - start)
print(json.dumps({"first_ms": first * 1000, "median_ms": statistics.median(again) * 1000}))
"""


# -- the model ---------------------------------------------------------------------------------


def build_models(folder: Path) -> tuple[dict[str, Path], Any, Any]:
    """Fit one estimator, save it with each tool; (model dirs, features, predictions)."""
    import warnings

    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    generator = np.random.default_rng(7)
    frame = pd.DataFrame(generator.normal(size=(600, len(FEATURES))), columns=FEATURES)
    labels = (frame["f0"] + frame["f1"] > 0).astype(int) + (frame["f2"] > 1).astype(int)
    estimator = LogisticRegression(max_iter=500).fit(frame, labels)
    example = frame.head(5)
    import mlflow.sklearn

    import cairn.sklearn

    dirs = {"cairn": folder / "cairn-model", "mlflow": folder / "mlflow-model"}
    cairn.sklearn.save_model(estimator, str(dirs["cairn"]), input_example=example)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(estimator, str(dirs["mlflow"]), input_example=example)
    return dirs, frame, estimator.predict(frame)


def load_times(tool: str, model_dir: Path) -> dict[str, float]:
    """load_model in a fresh process (after its imports): first call and median of five."""
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    output = subprocess.run(
        [sys.executable, "-c", LOAD_PROBE, tool, str(model_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    ).stdout
    result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return result


# -- servers -----------------------------------------------------------------------------------


def start(tool: str, model_dir: Path, folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    """`<tool> models serve` with one worker; polls /ping until it answers (bounded)."""
    port = free_port()
    if tool == "cairn":
        command = [sys.executable, "-c", "from cairn.cli import cli; cli()", "models", "serve"]
    else:
        command = [sys.executable, "-m", "mlflow", "models", "serve", "--env-manager", "local"]
    command += ["-m", str(model_dir), "--host", "127.0.0.1", "--port", str(port), "-w", "1"]
    log = folder / f"{tool}-serve.log"
    # `mlflow models serve` runs `uvicorn` found on PATH: this venv's, as if activated.
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PATH": path}
    process = spawn_in_session(command, folder, log, env)
    if wait_until_answers(process, port, "/ping", START_TIMEOUT):
        return process, port
    stop_session(process)
    tail = log.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"{tool} models serve did not answer /ping:\n{tail}")


def _payload(frame: Any) -> bytes:
    split = {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}
    return json.dumps({"dataframe_split": split}).encode()


def check_predictions(port: int, frame: Any, expected: Any) -> None:
    """The server's predictions for 20 rows are the estimator's own."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    connection.request("POST", "/invocations", _payload(frame.head(20)), headers)
    response = connection.getresponse()
    reply = response.read()
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"/invocations: HTTP {response.status}: {reply[:300]!r}")
    got = json.loads(reply)["predictions"]
    if got != expected[:20].tolist():
        raise RuntimeError(f"wrong predictions: {got} != {expected[:20].tolist()}")


# -- the client --------------------------------------------------------------------------------


def _request_bytes(port: int, body: bytes) -> bytes:
    head = (
        f"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class RawClient:
    """One keep-alive connection sending a prebuilt request and reading the whole reply
    (status line checked, body sized by Content-Length): cheaper than http.client."""

    def __init__(self, port: int, request: bytes) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.request, self.buffer = request, b""

    def call(self) -> None:
        self.sock.sendall(self.request)
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"reply: {head[:200]!r}")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        while len(rest) < length:
            rest += self._recv()
        self.buffer = rest[length:]

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise RuntimeError("the server closed the connection")
        return chunk

    def close(self) -> None:
        self.sock.close()


def latency(port: int, body: bytes, requests: int) -> dict[str, Any]:
    """p50/p99 ms of `requests` sequential requests on one connection, after a warm-up."""
    client = RawClient(port, _request_bytes(port, body))
    for _ in range(100):
        client.call()
    samples = []
    for _ in range(requests):
        begin = time.perf_counter()
        client.call()
        samples.append((time.perf_counter() - begin) * 1000)
    client.close()
    ordered = sorted(samples)
    return {
        "requests": requests,
        "p50_ms": statistics.median(ordered),
        "p99_ms": ordered[int(0.99 * (len(ordered) - 1))],
        "mean_ms": statistics.fmean(ordered),
    }


def _throughput_client(port: int, body: bytes, seconds: float, barrier: Any, out: Any) -> None:
    client = RawClient(port, _request_bytes(port, body))
    client.call()  # connected and warm before the common start
    barrier.wait()
    done, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        client.call()
        done += 1
    out.put(done)
    client.close()


def throughput(port: int, body: bytes, seconds: float) -> dict[str, Any]:
    """Requests/s of CLIENTS spawned client processes over `seconds`."""
    context = mp.get_context("spawn")
    barrier, out = context.Barrier(CLIENTS), context.Queue()
    workers = [
        context.Process(target=_throughput_client, args=(port, body, seconds, barrier, out))
        for _ in range(CLIENTS)
    ]
    for worker in workers:
        worker.start()
    counts = [out.get(timeout=seconds + 120) for _ in workers]
    for worker in workers:
        worker.join()
    return {"clients": CLIENTS, "seconds": seconds, "requests_per_s": sum(counts) / seconds}


# -- one tool ----------------------------------------------------------------------------------


def bench(tool: str, model_dir: Path, frame: Any, expected: Any, sizes: dict[str, Any]) -> Any:
    """Every measurement for one tool; a failure is recorded, not fatal."""
    from server import tree_mb

    result: dict[str, Any] = {}
    print(f"[{tool}] load_model ...", file=sys.stderr)
    try:
        result["load_model"] = load_times(tool, model_dir)
    except (subprocess.SubprocessError, ValueError) as error:
        result["load_model"] = {"error": f"{type(error).__name__}: {error}"}
    folder = model_dir.parent
    try:
        began = time.perf_counter()
        process, port = start(tool, model_dir, folder)
        result["start_s"] = time.perf_counter() - began
    except RuntimeError as error:
        result["serve"] = {"error": str(error)}
        print(f"[{tool}] {error}", file=sys.stderr)
        return result
    try:
        check_predictions(port, frame, expected)
        body = _payload(frame.head(1))
        print(f"[{tool}] latency ...", file=sys.stderr)
        result["latency"] = latency(port, body, sizes["requests"])
        print(f"[{tool}] throughput ...", file=sys.stderr)
        result["throughput"] = throughput(port, body, sizes["seconds"])
        result["rss_mb"] = tree_mb(process.pid)
    except (RuntimeError, OSError) as error:
        result["error"] = f"{type(error).__name__}: {error}"
        print(f"[{tool}] failed: {error}", file=sys.stderr)
    finally:
        stop_session(process)
    return result


# -- report ------------------------------------------------------------------------------------


def table(cairn: dict[str, Any], mlflow: dict[str, Any]) -> str:
    rows = [
        ("/invocations p50, ms (1 client)", ("latency", "p50_ms"), False, "≤ 2 ms"),
        ("/invocations p99, ms (1 client)", ("latency", "p99_ms"), False, ""),
        (f"requests/s ({CLIENTS} clients)", ("throughput", "requests_per_s"), True, "≥ 3× MLflow"),
        ("load_model, first call, ms", ("load_model", "first_ms"), False, ""),
        ("load_model, median of 5 more, ms", ("load_model", "median_ms"), False, ""),
        ("start until /ping answers, s", ("start_s",), False, ""),
        ("server tree RSS after the workloads, MB", ("rss_mb",), False, ""),
    ]
    lines = ["| measure | Cairn | MLflow | Cairn better by | goal |", "|---|---:|---:|---:|---|"]
    for label, keys, higher_better, goal in rows:
        c, m = figure(cairn, *keys), figure(mlflow, *keys)
        ratio = f"{(c / m if higher_better else m / c):.1f}×" if c and m else "n/a"
        shown = [f"{v:,.2f}" if v is not None else "error" for v in (c, m)]
        lines.append(f"| {label} | {shown[0]} | {shown[1]} | {ratio} | {goal} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke test")
    parser.add_argument("--tools", default="cairn,mlflow", help="comma-separated")
    arguments = parser.parse_args()
    sizes = (
        {"requests": 300, "seconds": 3.0}
        if arguments.quick
        else {"requests": 3000, "seconds": 10.0}
    )
    results: dict[str, Any] = {"sizes": sizes, "features": len(FEATURES)}
    with tempfile.TemporaryDirectory(prefix="cairn-serving-bench-") as tmp:
        dirs, frame, expected = build_models(Path(tmp))
        for tool in arguments.tools.split(","):
            results[tool] = bench(tool, dirs[tool], frame, expected, sizes)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results.get("cairn", {}), results.get("mlflow", {})))
    print(f"\nraw figures: {RESULTS.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
