"""Trace ingest and trace search: `cairn server` vs `mlflow server` 3.17.2, side by side.

Both servers run on SQLite with `--workers 1`, each in a fresh temp dir on a free loopback port.

1. Ingest: two client processes (an application's workers; one process of the mlflow client
   is bound to one core) run the mlflow client's fluent tracing (`mlflow.start_span`, a root
   and 9 child spans per trace, with inputs, outputs and an attribute) against the server with
   the client's async exporter, started together; the time runs from the first span of either
   to the end of the later one's `mlflow.flush_trace_async_logging(terminate=True)`. Nothing
   may be dropped on the client, so its queues are made large enough with MLflow's own
   variables (`CLIENT_SETTINGS`): spans go in batches (one OTLP request a second), each
   trace's record in a request of its own, and the loop waits for the client's queues to
   drain after every 1,000 traces (10,000 spans: the span processor's queue holds 20,000,
   and a loop outruns its exporter thread). Then every trace is counted through
   `search_traces` and the newest 50 are read back: Cairn must have every trace whole (else
   the run fails); for MLflow what arrived is reported. Traces/s counts what arrived. The
   server process tree's RSS is sampled throughout: "flat" means the last quarter's peak is
   within 64 MB of the first quarter's.
2. Search: `POST /api/3.0/mlflow/traces/search` for 100 traces with a filter and an order, median
   of 20 over HTTP, after the store holds `--search-traces` traces (Cairn: 100,000, sent as
   OTLP batches; MLflow: the traces of the ingest workload, for reference only).

    .venv/bin/python benchmarks/traces.py                 # Cairn 10,000 traces, MLflow 1,000
    .venv/bin/python benchmarks/traces.py --mlflow-full   # MLflow 10,000 traces too
    .venv/bin/python benchmarks/traces.py --quick         # a smoke test

Prints a markdown table; writes every figure to benchmarks/results/traces-latest.json.
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
import threading
import time
from pathlib import Path
from typing import Any

from processes import stop_session

from server import start_server, tree_mb

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "traces-latest.json"
SPANS_PER_TRACE = 10
CLIENTS = 2  # client processes, as an application's workers would be (one core each)
# The client's async exporter, configured with MLflow's variables so that it drops nothing
# (by default it does, silently, once a loop makes spans faster than any server takes them):
# OpenTelemetry's batch span processor in front of it holds max(2,048, batch size) spans and
# sends a batch at least every second; the client keeps up to 1,000 finished traces in memory
# until their root span is sent, and its task queue (set per run below) holds every trace.
CLIENT_SETTINGS = {
    "MLFLOW_ASYNC_TRACE_LOGGING_MAX_SPAN_BATCH_SIZE": "20000",
    "MLFLOW_ASYNC_TRACE_LOGGING_MAX_INTERVAL_MILLIS": "1000",
    "MLFLOW_TRACE_BUFFER_MAX_SIZE": "100000",
}
SEARCH_REPEATS = 20
SEARCH_FILTER = "trace.status = 'OK' and tags.`bench.group` = '7'"
FLAT_MEMORY_MB = 64.0

# The client workload, run in its own process so its import and exporter threads are its own.
CLIENT = r"""
import json, sys, time
import mlflow

url, experiment_id, first, traces = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
mlflow.set_tracking_uri(url)
mlflow.set_experiment(experiment_id=experiment_id)
print("ready", flush=True)
sys.stdin.readline()  # every client starts together
start = time.time()
for i in range(first, first + traces):
    with mlflow.start_span(name="answer", span_type="CHAIN") as root:
        root.set_inputs({"question": f"question {i}"})
        for j in range(SPANS - 1):
            with mlflow.start_span(name=f"step-{j}", span_type="LLM") as span:
                span.set_inputs({"prompt": f"prompt {i}.{j}"})
                span.set_attribute("tokens", 10 + j)
                span.set_outputs({"text": f"output {i}.{j}"})
        root.set_outputs({"answer": f"answer {i}"})
        mlflow.update_current_trace(tags={"bench.group": str(i % 10)})
    if i % CHUNK == CHUNK - 1:  # let the span processor's queue drain: it drops when full
        mlflow.flush_trace_async_logging()
mlflow.flush_trace_async_logging(terminate=True)
print(json.dumps({"start": start, "end": time.time()}))
""".replace("SPANS", str(SPANS_PER_TRACE)).replace("CHUNK", "1000")


class RssSampler(threading.Thread):
    """The server tree's RSS every 100 ms, kept in order, to tell flat from growing."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.samples, self.stop = pid, [], threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.1):
            self.samples.append(tree_mb(self.pid))

    def quarters(self) -> tuple[float, float]:
        """Peak RSS of the first and of the last quarter of the samples."""
        n = max(1, len(self.samples) // 4)
        return max(self.samples[:n], default=0.0), max(self.samples[-n:], default=0.0)


def post(port: int, path: str, body: Any) -> Any:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"{path}: HTTP {response.status}: {payload[:300]!r}")
    return json.loads(payload)


def search_body(experiment_id: str, page_token: str | None = None, **extra: Any) -> dict[str, Any]:
    location = {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}}
    body: dict[str, Any] = {"locations": [location], "max_results": 500, **extra}
    if page_token:
        body["page_token"] = page_token
    return body


def count_traces(port: int, experiment_id: str) -> int:
    """Every trace of the experiment, through the search API's pages."""
    total, token = 0, None
    while True:
        page = post(port, "/api/3.0/mlflow/traces/search", search_body(experiment_id, token))
        total += len(page.get("traces", []))
        token = page.get("next_page_token")
        if not token:
            return total


def whole_traces(port: int, experiment_id: str, sample: int = 50) -> int:
    """How many of the newest `sample` traces come back with all their spans."""
    body = search_body(experiment_id, max_results=sample)
    ids = [t["trace_id"] for t in post(port, "/api/3.0/mlflow/traces/search", body)["traces"]]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    whole = 0
    for trace_id in ids:
        connection.request("GET", f"/api/3.0/mlflow/traces/get?trace_id={trace_id}")
        reply = json.loads(connection.getresponse().read())
        whole += len(reply.get("trace", {}).get("spans", [])) == SPANS_PER_TRACE
    connection.close()
    return whole


def ingest(tool: str, port: int, pid: int, traces: int) -> dict[str, Any]:
    env = {
        **os.environ,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_ASYNC_TRACE_LOGGING_MAX_QUEUE_SIZE": str(traces * SPANS_PER_TRACE * 2),
        **CLIENT_SETTINGS,
    }
    sampler = RssSampler(pid)
    sampler.start()
    url = f"http://127.0.0.1:{port}"
    experiment_id = post(port, "/api/2.0/mlflow/experiments/create", {"name": "trace-bench"})[
        "experiment_id"
    ]
    share = traces // CLIENTS
    clients = [
        subprocess.Popen(
            [sys.executable, "-c", CLIENT, url, experiment_id, str(k * share), str(share)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for k in range(CLIENTS)
    ]
    for client in clients:  # each has imported mlflow and found the experiment
        if client.stdout is None or client.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{tool} client failed to start")
    for client in clients:
        assert client.stdin is not None
        client.stdin.write("go\n")
        client.stdin.flush()
    outputs = [client.communicate() for client in clients]
    sampler.stop.set()
    for client, (_out, err) in zip(clients, outputs, strict=True):
        if client.returncode != 0:
            raise RuntimeError(f"{tool} client failed:\n{err[-3000:]}")
    spans = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    result = {"seconds": max(s["end"] for s in spans) - min(s["start"] for s in spans)}
    stored, whole = count_traces(port, experiment_id), whole_traces(port, experiment_id)
    if tool == "cairn" and (stored != traces or whole != 50):
        raise RuntimeError(f"{tool}: {stored} of {traces} traces stored, {whole} of 50 whole")
    first, last = sampler.quarters()
    return {
        "traces": traces,
        "seconds": result["seconds"],
        "traces_per_s": stored / result["seconds"],  # what arrived, not what was sent
        "stored": stored,
        "whole_of_newest_50": whole,
        "rss_first_quarter_mb": first,
        "rss_last_quarter_mb": last,
        "rss_flat": last - first <= FLAT_MEMORY_MB,
        "rss_mb_over_time": sampler.samples[:: max(1, len(sampler.samples) // 20)],
        "experiment_id": experiment_id,
    }


def otlp_batch(experiment_id: str, first: int, count: int) -> dict[str, Any]:
    """OTLP/JSON for `count` one-span traces; each trace's root status is OK."""
    spans = []
    now = time.time_ns()
    for i in range(first, first + count):
        start = now - (first + count - i) * 1_000_000
        spans.append(
            {
                "traceId": f"{i + 1:032x}",
                "spanId": f"{i + 1:016x}",
                "name": f"call-{i % 50}",
                "kind": 1,
                "startTimeUnixNano": str(start),
                "endTimeUnixNano": str(start + 5_000_000),
                "attributes": [
                    {"key": "mlflow.spanType", "value": {"stringValue": '"CHAIN"'}},
                    {"key": "mlflow.spanInputs", "value": {"stringValue": '{"q": 1}'}},
                ],
                "status": {"code": 1},
            }
        )
    return {"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {}, "spans": spans}]}]}


def seed_for_search(port: int, experiment_id: str, total: int, batch: int = 2000) -> None:
    """`total` traces through OTLP/JSON, then a tag on every tenth so the filter has work."""
    for first in range(0, total, batch):
        body = json.dumps(otlp_batch(experiment_id, first, min(batch, total - first)))
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        headers = {"Content-Type": "application/json", "x-mlflow-experiment-id": experiment_id}
        connection.request("POST", "/v1/traces", body, headers)
        response = connection.getresponse()
        reply = response.read()
        connection.close()
        if response.status != 200:
            raise RuntimeError(f"OTLP seed: HTTP {response.status}: {reply[:300]!r}")
    tags = [f"tr-{i + 1:032x}" for i in range(0, total, 10)]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    for trace_id in tags:
        body = json.dumps({"key": "bench.group", "value": "7"})
        headers = {"Content-Type": "application/json"}
        connection.request("PATCH", f"/api/3.0/mlflow/traces/{trace_id}/tags", body, headers)
        response = connection.getresponse()
        reply = response.read()
        if response.status != 200:
            raise RuntimeError(f"tagging {trace_id}: HTTP {response.status}: {reply[:300]!r}")
    connection.close()


def search_latency(port: int, experiment_id: str, expected: int) -> dict[str, Any]:
    """Median time of the search; `expected`: how many traces match the filter."""
    body = search_body(
        experiment_id, max_results=100, filter=SEARCH_FILTER, order_by=["timestamp_ms DESC"]
    )
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    payload = json.dumps(body)
    times, found = [], 0
    for _ in range(SEARCH_REPEATS + 1):
        start = time.perf_counter()
        headers = {"Content-Type": "application/json"}
        connection.request("POST", "/api/3.0/mlflow/traces/search", payload, headers)
        response = connection.getresponse()
        reply = json.loads(response.read())
        times.append((time.perf_counter() - start) * 1000)
        found = len(reply.get("traces", []))
    connection.close()
    if found != min(100, expected):
        raise RuntimeError(f"the search found {found} traces, not {min(100, expected)}")
    return {"median_ms": statistics.median(times[1:]), "found": found}


def bench(tool: str, traces: int, search_traces: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"traces-{tool}-") as tmp:
        process, port = start_server(tool, Path(tmp))
        try:
            result = {"ingest": ingest(tool, port, process.pid, traces)}
            experiment_id = result["ingest"]["experiment_id"]
            if search_traces:
                created = post(port, "/api/2.0/mlflow/experiments/create", {"name": "search"})
                experiment_id = created["experiment_id"]
                seed_for_search(port, experiment_id, search_traces)
            result["search"] = {
                "traces": search_traces or traces,
                **search_latency(port, experiment_id, (search_traces or traces) // 10),
            }
            return result
        finally:
            stop_session(process)


def table(cairn: dict[str, Any], mlflow: dict[str, Any]) -> str:
    ci, mi = cairn["ingest"], mlflow["ingest"]
    cs, ms = cairn["search"], mlflow["search"]
    lines = [
        "| Workload | Cairn | MLflow | Cairn faster by | Cairn target |",
        "|---|---:|---:|---:|---|",
        f"| trace ingest via the mlflow client's async exporter, {SPANS_PER_TRACE} spans each "
        f"(Cairn {ci['traces']:,}, MLflow {mi['traces']:,} traces) | {ci['traces_per_s']:,.0f} "
        f"traces/s | {mi['traces_per_s']:,.0f} traces/s ({mi['stored']:,} stored, "
        f"{mi['whole_of_newest_50']} of the newest 50 whole) | "
        f"{ci['traces_per_s'] / mi['traces_per_s']:.1f}× | ≥ 5× "
        f"{'✓' if ci['traces_per_s'] >= 5 * mi['traces_per_s'] else '✗'} |",
        f"| server RSS during ingest, first → last quarter peak | {ci['rss_first_quarter_mb']:.0f}"
        f" → {ci['rss_last_quarter_mb']:.0f} MB | {mi['rss_first_quarter_mb']:.0f} → "
        f"{mi['rss_last_quarter_mb']:.0f} MB |  | flat {'✓' if ci['rss_flat'] else '✗'} |",
        f"| search_traces, 100 with filter + order (Cairn among {cs['traces']:,}, MLflow among "
        f"{ms['traces']:,}) | {cs['median_ms']:.1f} ms | {ms['median_ms']:.1f} ms |  | "
        f"≤ 50 ms {'✓' if cs['median_ms'] <= 50 else '✗'} |",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=10_000)
    parser.add_argument("--mlflow-traces", type=int, default=1_000)
    parser.add_argument("--mlflow-full", action="store_true", help="MLflow ingests --traces too")
    parser.add_argument("--search-traces", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.traces, args.mlflow_traces, args.search_traces = 200, 50, 2_000
    mlflow_traces = args.traces if args.mlflow_full else args.mlflow_traces
    results = {"date": time.strftime("%Y-%m-%d")}
    for tool in ("cairn", "mlflow"):  # each written as soon as it is measured
        traces = args.traces if tool == "cairn" else mlflow_traces
        results[tool] = bench(tool, traces, args.search_traces if tool == "cairn" else 0)
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results["cairn"], results["mlflow"]))
    print(f"\nraw figures: {RESULTS.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
