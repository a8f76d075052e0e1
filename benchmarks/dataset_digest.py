"""Dataset digests and log_input: Cairn beside MLflow 3.17.2 where the two compare.

Measured, each part in a fresh Python process (so neither tool's imports or caches touch the
other's figures, and peak RSS is the part's own):

* file    `cairn.data.from_path` of a 1 GB CSV from page cache (read once to warm it): MB/s
          of the streaming digest alone and of the whole call (digest + row count + schema
          sample), and the growth of peak RSS during the call (goal: ≥ 500 MB/s, flat memory).
          MLflow has no file digest to compare with.
* frame   `from_pandas(df).to_dict()` (digest, schema, profile: what log_input sends) for a
          1,000,000 x 8 DataFrame, Cairn beside `mlflow.data.from_pandas`, median of 3.
* log     `log_input` of an already-logged dataset into the same run on a fresh SQLite
          store, median ms over 200 calls (goal ≤ 5 ms), beside `mlflow.log_input`.

    .venv/bin/python benchmarks/dataset_digest.py            # about a minute
    .venv/bin/python benchmarks/dataset_digest.py --size-mb 128   # a quick look

Prints a markdown table and writes benchmarks/results/datasets-latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "datasets-latest.json"
FRAME_ROWS = 1_000_000
LOG_CALLS = 200
GOAL_MB_S = 500.0
GOAL_LOG_MS = 5.0


# -- the parts, each run in its own process -------------------------------------------------


def _write_csv(path: Path, size_mb: int) -> None:
    """A CSV of numeric and text columns, written from a 4 MB block with a changing id."""
    import numpy as np

    rng = np.random.default_rng(7)
    rows = 40_000
    block = "".join(
        f"{{}},{a:.6f},{b},{c:.3f},label-{d}\n"
        for a, b, c, d in zip(
            rng.random(rows),
            rng.integers(0, 10**6, rows),
            rng.normal(size=rows),
            rng.integers(0, 50, rows),
            strict=True,
        )
    )
    target = size_mb * 1024 * 1024
    with open(path, "w") as out:
        out.write("id,a,b,c,label\n")
        written, index = 0, 0
        while written < target:
            text = block.format(*range(index, index + rows))
            out.write(text)
            written += len(text)
            index += rows


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def part_file(path: Path) -> dict[str, Any]:
    import pandas as pd

    from cairn import data
    from cairn.data import digests

    with open(path, "rb") as stream:  # warm the page cache (a 1 MiB buffer: RSS stays put)
        while stream.read(1 << 20):
            pass
    pd.read_csv(path, nrows=10)  # pandas imported before the clock starts
    size_mb = path.stat().st_size / 1e6
    stream_s, call_s, growth = [], [], []
    for _ in range(3):
        start = time.perf_counter()
        digests.scan_file(path, digests.new_hasher(), count_newlines=True)
        stream_s.append(time.perf_counter() - start)
        before = _peak_rss_mb()
        start = time.perf_counter()
        dataset = data.from_path(path)
        call_s.append(time.perf_counter() - start)
        growth.append(_peak_rss_mb() - before)
    return {
        "size_mb": size_mb,
        "stream_mb_s": size_mb / min(stream_s),
        "from_path_mb_s": size_mb / min(call_s),
        "from_path_s": min(call_s),
        "peak_rss_growth_mb": max(growth),
        "peak_rss_mb": _peak_rss_mb(),
        "rows": (dataset.profile or {}).get("num_rows"),
        "digest": dataset.digest,
    }


def _frame() -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(11)
    n = FRAME_ROWS
    return pd.DataFrame(
        {
            "f0": rng.random(n),
            "f1": rng.random(n),
            "f2": rng.normal(size=n),
            "i0": rng.integers(0, 1000, n),
            "i1": rng.integers(0, 10, n),
            "b0": rng.random(n) > 0.5,
            "s0": [f"user-{i % 5000}" for i in range(n)],
            "s1": [("a", "b", "c")[i % 3] for i in range(n)],
        }
    )


def part_frame_cairn() -> dict[str, Any]:
    from cairn import data
    from cairn.data import DatasetSource

    frame, source = _frame(), DatasetSource.http("https://example.com/frame.parquet")
    return _time_frame(lambda: data.from_pandas(frame, source=source).to_dict())


def part_frame_mlflow() -> dict[str, Any]:
    import pandas as pd

    # MLflow's own digest code trips a pandas 3 deprecation warning; not ours to fix.
    warnings.filterwarnings("ignore", category=pd.errors.Pandas4Warning)
    import mlflow
    from mlflow.data.http_dataset_source import HTTPDatasetSource

    frame, source = _frame(), HTTPDatasetSource("https://example.com/frame.parquet")
    return _time_frame(lambda: mlflow.data.from_pandas(frame, source=source).to_dict())


def _time_frame(fn: Any) -> dict[str, Any]:
    samples = []
    for _ in range(3):
        start = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - start) * 1000)
    return {
        "median_ms": statistics.median(samples),
        "samples_ms": samples,
        "digest": result["digest"],
    }


def part_log_cairn(folder: Path) -> dict[str, Any]:
    import pandas as pd

    import cairn

    os.environ["CAIRN_CAPTURE_SOURCE"] = os.environ["CAIRN_CAPTURE_ENVIRONMENT"] = "false"
    cairn.set_tracking_uri(f"sqlite:///{folder / 'cairn.db'}")
    dataset = cairn.data.from_pandas(pd.DataFrame({"x": [1.0, 2.0]}), name="train")
    with cairn.start_run():
        cairn.log_input(dataset, context="training")  # the dataset is now known
        return _time_calls(lambda: cairn.log_input(dataset, context="training"))


def part_log_mlflow(folder: Path) -> dict[str, Any]:
    import pandas as pd

    warnings.filterwarnings("ignore", category=pd.errors.Pandas4Warning)
    import mlflow
    from mlflow.data.http_dataset_source import HTTPDatasetSource

    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    source = HTTPDatasetSource("https://example.com/train.csv")
    dataset = mlflow.data.from_pandas(pd.DataFrame({"x": [1.0, 2.0]}), source=source)
    with mlflow.start_run():
        mlflow.log_input(dataset, context="training")
        return _time_calls(lambda: mlflow.log_input(dataset, context="training"))


def _time_calls(fn: Any) -> dict[str, Any]:
    samples = []
    for _ in range(LOG_CALLS):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return {"median_ms": statistics.median(samples), "p90_ms": _p90(samples), "calls": LOG_CALLS}


def _p90(samples: list[float]) -> float:
    return sorted(samples)[int(len(samples) * 0.9)]


# -- the driver -----------------------------------------------------------------------------


def _run_part(name: str, folder: Path, csv: Path) -> dict[str, Any]:
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONPATH": str(HERE)}
    command = [sys.executable, __file__, "--part", name, "--folder", str(folder), "--csv", str(csv)]
    print(f"  {name} …", file=sys.stderr, flush=True)
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=folder)
    if done.returncode != 0:
        return {"error": done.stderr[-2000:]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _part(name: str, folder: Path, csv: Path) -> dict[str, Any]:
    parts = {
        "file": lambda: part_file(csv),
        "frame-cairn": part_frame_cairn,
        "frame-mlflow": part_frame_mlflow,
        "log-cairn": lambda: part_log_cairn(folder),
        "log-mlflow": lambda: part_log_mlflow(folder),
    }
    return parts[name]()


def _table(results: dict[str, dict[str, Any]]) -> str:
    file, fc, fm = results["file"], results["frame-cairn"], results["frame-mlflow"]
    lc, lm = results["log-cairn"], results["log-mlflow"]

    def ratio(mlflow_ms: Any, cairn_ms: Any) -> str:
        ok = isinstance(mlflow_ms, float) and isinstance(cairn_ms, float) and cairn_ms
        return f"{mlflow_ms / cairn_ms:,.1f}×" if ok else "—"

    def mark(ok: bool) -> str:
        return "✓" if ok else "✗"

    stream, call = file.get("stream_mb_s", 0.0), file.get("from_path_mb_s", 0.0)
    rows = [
        "| Measure | Cairn | MLflow | Cairn faster by | Goal |",
        "|---|---:|---:|---:|---|",
        f"| digest of a {file.get('size_mb', 0):,.0f} MB CSV from page cache (streaming "
        f"SHA-256 + newline count) | {stream:,.0f} MB/s | — | | ≥ {GOAL_MB_S:,.0f} MB/s "
        f"{mark(stream >= GOAL_MB_S)} |",
        f"| `from_path` of that CSV (digest, row count, schema from 1,000 rows) | "
        f"{call:,.0f} MB/s ({file.get('from_path_s', 0):.2f} s) | — | | ≥ {GOAL_MB_S:,.0f} "
        f"MB/s {mark(call >= GOAL_MB_S)} |",
        f"| peak RSS growth during `from_path` | {file.get('peak_rss_growth_mb', 0):.1f} MB "
        f"| — | | flat {mark(file.get('peak_rss_growth_mb', 99) < 16)} |",
        f"| `from_pandas(df).to_dict()`, {FRAME_ROWS:,} x 8 frame, median of 3 | "
        f"{fc.get('median_ms', 0):,.1f} ms | {fm.get('median_ms', 0):,.0f} ms | "
        f"{ratio(fm.get('median_ms'), fc.get('median_ms'))} | |",
        f"| `log_input` of a known dataset, same run, SQLite, median of {LOG_CALLS} | "
        f"{lc.get('median_ms', 0):.2f} ms | {lm.get('median_ms', 0):.2f} ms | "
        f"{ratio(lm.get('median_ms'), lc.get('median_ms'))} | ≤ {GOAL_LOG_MS:.0f} ms "
        f"{mark(lc.get('median_ms', 99) <= GOAL_LOG_MS)} |",
    ]
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="size of the CSV (MiB)")
    parser.add_argument("--part", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        print(json.dumps(_part(args.part, Path(args.folder), Path(args.csv))))
        return 0
    with tempfile.TemporaryDirectory(prefix="cairn-datasets-") as tmp:
        folder = Path(tmp)
        csv = folder / "big.csv"
        print(f"writing a {args.size_mb} MiB CSV …", file=sys.stderr, flush=True)
        _write_csv(csv, args.size_mb)
        names = ["file", "frame-cairn", "frame-mlflow", "log-cairn", "log-mlflow"]
        results = {name: _run_part(name, folder, csv) for name in names}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(_table(results))
    for name, result in results.items():
        if "error" in result:
            print(f"\n{name} failed:\n{result['error']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
