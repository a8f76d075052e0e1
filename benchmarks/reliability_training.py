"""The training process of benchmarks/reliability.py: a paced loop over the fluent API.

Started by the benchmark as a subprocess, it logs metric points at a fixed rate, scheduled
against `time.monotonic()` (each point has a due time; the loop sleeps only until the next
one is due, so a slow call is caught up rather than stretching the schedule), times every
call, and writes what it logged and how long each kind of call took to a JSON file.

    python reliability_training.py runs   URI RESULT [--rate 1000]   # a new run every second
    python reliability_training.py one    URI RESULT --points 10000   # one run, then exit
    python reliability_training.py victim URI RESULT --counter FILE   # one run until killed
    python reliability_training.py next   URI RESULT                  # the process after a crash

`runs` goes on until a line arrives on stdin, then ends its run and calls
`cairn.flush(timeout=...)`. With `--api mlflow` it drives the unchanged mlflow client (the
same function names) instead of cairn. `victim` writes how many points it has logged into
an 8-byte counter file after each one (a shared memory map, still readable after kill -9).
"""

from __future__ import annotations

import argparse
import json
import logging
import mmap
import struct
import sys
import threading
import time
from array import array
from types import ModuleType
from typing import Any

SLOW_NS = 1_000_000  # 1 ms: the target for every hot-path call
KEEP_SLOWEST = 5


class Timings:
    """Every duration of one kind of call, with the wall-clock time of the slowest."""

    def __init__(self) -> None:
        self.samples = array("q")
        self.slowest: list[tuple[int, float]] = []  # (ns, time.time() when it started)

    def add(self, ns: int, started: float) -> None:
        self.samples.append(ns)
        if len(self.slowest) < KEEP_SLOWEST or ns > self.slowest[-1][0]:
            self.slowest.append((ns, started))
            self.slowest.sort(reverse=True)
            del self.slowest[KEEP_SLOWEST:]

    def call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.time()
        begin = time.perf_counter_ns()
        result = function(*args, **kwargs)
        self.add(time.perf_counter_ns() - begin, started)
        return result

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.samples)
        count = len(ordered)

        def percentile(fraction: float) -> float:
            return ordered[min(count - 1, int(fraction * count))] / 1e6 if count else 0.0

        rest = max(self.samples[1:], default=0)  # the first call also starts the writer
        return {
            "count": count,
            "max_ms": ordered[-1] / 1e6 if count else 0.0,
            "first_ms": self.samples[0] / 1e6 if count else 0.0,
            "max_after_first_ms": rest / 1e6,
            "p50_ms": percentile(0.5),
            "p99_ms": percentile(0.99),
            "p999_ms": percentile(0.999),
            "over_1ms": sum(1 for ns in ordered if ns > SLOW_NS),
            "slowest": [{"ms": ns / 1e6, "at": at} for ns, at in self.slowest],
        }


class Recorder(logging.Handler):
    """Keeps every warning cairn logs (with its time) and still prints it to stderr."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        self.messages.append({"at": record.created, "message": message})
        print(f"{record.name}: {message}", file=sys.stderr, flush=True)


def stop_on_stdin() -> tuple[threading.Event, threading.Event]:
    """Events set by the first line on stdin (stop training) and the second (exit)."""
    stop, leave = threading.Event(), threading.Event()

    def read() -> None:
        sys.stdin.readline()
        stop.set()
        sys.stdin.readline()
        leave.set()

    threading.Thread(target=read, name="stdin", daemon=True).start()
    return stop, leave


def wait_until(deadline: float) -> None:
    """Sleep until `deadline` on the monotonic clock (the pace of the loop)."""
    left = deadline - time.monotonic()
    if left > 0:
        time.sleep(left)


def train_runs(api: ModuleType, args: argparse.Namespace, stop: threading.Event) -> dict[str, Any]:
    """A new run every second (`rate` points, a param, a tag), until `stop` is set."""
    timings = {name: Timings() for name in ("log_metric", "start_run", "end_run", "param", "tag")}
    metric, logged = timings["log_metric"], {}
    rate = args.rate
    log_metric = api.log_metric
    start = time.monotonic()
    index = 0
    run_id = ""
    lag = 0.0  # how far the loop fell behind its schedule: a stalled training loop
    while True:
        if index % rate == 0:
            if run_id:
                timings["end_run"].call(api.end_run)
            if stop.is_set():
                break
            run = timings["start_run"].call(api.start_run, run_name=f"run-{index // rate}")
            run_id = run.info.run_id
            logged[run_id] = 0
            timings["param"].call(api.log_param, "index", index // rate)
            timings["tag"].call(api.set_tag, "phase", "training")
            if index == 0:
                print("ready", flush=True)
        lag = max(lag, time.monotonic() - start - index / rate)
        started = time.time()
        begin = time.perf_counter_ns()
        log_metric("loss", float(index), step=index % rate)
        metric.add(time.perf_counter_ns() - begin, started)
        logged[run_id] += 1
        index += 1
        wait_until(start + index / rate)
    seconds = time.monotonic() - start
    return {
        "logged": logged,
        "points": index,
        "seconds": seconds,
        "rate": index / seconds,
        "lag": lag,
        "calls": {name: t.summary() for name, t in timings.items()},
    }


def train_one(api: ModuleType, args: argparse.Namespace, counter: mmap.mmap | None) -> Any:
    """One run of `points` points at `rate` (for ever when `points` is 0)."""
    metric = Timings()
    run = api.start_run(run_name="victim" if counter is not None else "one")
    print(run.info.run_id, flush=True)
    start = time.monotonic()
    index = 0
    while index < args.points or not args.points:
        started = time.time()
        begin = time.perf_counter_ns()
        api.log_metric("loss", float(index), step=index)
        metric.add(time.perf_counter_ns() - begin, started)
        index += 1
        if counter is not None:
            struct.pack_into("<q", counter, 0, index)
        wait_until(start + index / args.rate)
    api.end_run()
    return {
        "logged": {run.info.run_id: index},
        "points": index,
        "calls": {"log_metric": metric.summary()},
    }


def flushed(api: ModuleType, timeout: float) -> dict[str, Any]:
    """`cairn.flush(timeout)`: whether everything reached the server, and how long it took."""
    if not hasattr(api, "flush"):
        return {}
    begin = time.monotonic()
    try:
        result: Any = api.flush(timeout=timeout)
    except Exception as error:  # a refusal: recorded, the benchmark reports it
        result = f"raised {type(error).__name__}: {error}"
    return {"flush": result, "flush_seconds": time.monotonic() - begin}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("runs", "one", "victim", "next"))
    parser.add_argument("uri")
    parser.add_argument("result")
    parser.add_argument("--api", choices=("cairn", "mlflow"), default="cairn")
    parser.add_argument("--rate", type=int, default=1000, help="points per second")
    parser.add_argument("--points", type=int, default=0)
    parser.add_argument("--experiment", default="reliability")
    parser.add_argument("--flush-timeout", type=float, default=300.0)
    parser.add_argument("--counter", help="victim: the file that counts logged points")
    parser.add_argument("--hold", action="store_true", help="wait for a line before exiting")
    parser.add_argument("--fsize-limit", type=int, default=0, help="RLIMIT_FSIZE in bytes")
    args = parser.parse_args()
    if args.fsize_limit:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (args.fsize_limit, args.fsize_limit))
    recorder = Recorder()
    logging.getLogger("cairn").addHandler(recorder)
    api: ModuleType = __import__(args.api)
    api.set_tracking_uri(args.uri)
    api.set_experiment(args.experiment)
    stop, leave = stop_on_stdin()
    result: dict[str, Any]
    if args.mode == "runs":
        result = train_runs(api, args, stop)
    elif args.mode == "victim":
        with open(args.counter, "r+b") as file:
            train_one(api, args, mmap.mmap(file.fileno(), 8))
        return  # never reached: the benchmark kills this process
    elif args.mode == "one" and args.counter:  # counted, so a death still tells how far
        with open(args.counter, "r+b") as file:
            result = train_one(api, args, mmap.mmap(file.fileno(), 8))
    elif args.mode == "one":
        result = train_one(api, args, None)
    else:  # next: the process after a crash, on the same journal
        result = {"logged": {api.start_run(run_name="next").info.run_id: 1}}
        api.log_metric("x", 1.0)
        api.end_run()
    result.update(flushed(api, args.flush_timeout))
    result["warnings"] = recorder.messages
    with open(args.result, "w") as file:
        json.dump(result, file)
    print("done", flush=True)
    if args.hold:
        leave.wait()


if __name__ == "__main__":
    main()
