"""`cairn gc` on a store after a year of use: time, bytes freed, protected runs untouched,
search latency during the collection, and a collection killed with SIGKILL then run again.

Per backend (SQLite file, PostgreSQL database on 127.0.0.1:5432, created and dropped):

1. Seed (gc_seed.py): `--runs` runs over 10 experiments × `--metrics` metrics × `--steps`
   steps, 5 params and 3 tags each, FINISHED, started over the last year; two artifact
   files per run (4–5 KB and 1–1.5 KB), half of the experiments in the local artifact root
   and half in S3 (a moto server on 127.0.0.1 that this script starts).
2. Register `--protected` of the runs about to be deleted (model versions with source
   `runs:/<id>/model`), then soft-delete `--deleted` runs through the store (every other
   block of one run per experiment, so each experiment keeps half of its runs). Snapshot
   the protected runs' files (path, size, mtime_ns and SHA-256; in S3 key, size, ETag,
   LastModified and SHA-256).
3. `cairn gc --tracking-uri URI --yes` in a fresh process, while a thread of this process
   runs the benchmark search (`metrics.m1 > 0.5 and params.p1 = 'a'`, ordered by
   `metrics.m2 DESC`, top 100) on an active experiment in a loop: gc wall time, search
   p50/p95/max during it (and p50 before it, idle).
4. Checks: bytes the gc reports == bytes gone from the artifact root and the buckets; the
   protected runs' files identical; deleted runs left == the protected ones; no metric,
   latest_metrics, param or tag row of a run that is gone; each remaining run has all its
   points; no artifact of a purged run left; every active run keeps both files.
5. SIGKILL: soft-delete `--kill-deleted` more runs, start the gc, SIGKILL it once about half
   of them are gone from the runs table (polled), check the same consistency (nothing
   half-deleted: a run is whole or gone), run the gc again to the end, check again.

S3 here is moto, a single Python process that answers one request at a time in about
5 ms (more on a loaded machine), so the S3 half measures moto as much as the gc: the
number of S3 requests is reported, and `--local-only` puts every artifact in the local
root to measure the gc alone. benchmarks/gc_mlflow.py compares with `mlflow gc`.

    .venv/bin/python benchmarks/gc.py --quick                       # a smoke test
    .venv/bin/python benchmarks/gc.py                               # the issue's figure
    .venv/bin/python benchmarks/gc.py --local-only                  # no S3
    .venv/bin/python benchmarks/gc.py --runs 2000 --seed-only       # seeding speed
    .venv/bin/python benchmarks/gc.py --table                       # the table again

Prints a table; writes every figure to benchmarks/results/gc-latest.json, keeping the
backends measured earlier at the same size (one key per backend and artifact setting).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from backends import PG_HOST, fresh_postgres_database
from gc_seed import (
    ARTIFACTS,
    Seeded,
    Shape,
    bucket_sizes,
    delete_runs,
    drop_postgres_database,
    file_sizes,
    local_path,
    register,
    seed_store,
    split_s3,
)
from processes import free_port, spawn_in_session, stop_session, wait_until_answers

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "gc-latest.json"
PG_DATABASE = "cairn_gc_bench"
BUCKET = "cairn-gc-bench"
SEARCH_FILTER = "metrics.m1 > 0.5 and params.p1 = 'a'"
SEARCH_ORDER = ["metrics.m2 DESC"]
GC_GOAL_S = 60.0
SEARCH_GOAL_MS = 50.0
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "cairn-bench-key",
    "AWS_SECRET_ACCESS_KEY": "cairn-bench-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "NO_PROXY": "127.0.0.1",
    "no_proxy": "127.0.0.1",
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- S3 ----------------------------------------------------------------------------------


def start_moto(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m moto.server` on a free loopback port, answering before it is used."""
    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    process = spawn_in_session(command, folder, folder / "moto.log", dict(os.environ))
    if not wait_until_answers(process, port, "/moto-api/", 60):
        stop_session(process)
        sys.exit((folder / "moto.log").read_text())
    return process, f"http://127.0.0.1:{port}"


def s3_requests(folder: Path) -> int:
    """Requests moto has answered so far (one log line each)."""
    with open(folder / "moto.log", "rb") as log:
        return sum(1 for line in log if b'" 20' in line or b'" 40' in line)


def s3_client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(s3={"addressing_style": "path"}, max_pool_connections=32)
    return boto3.session.Session().client("s3", endpoint_url=endpoint, config=config)


# -- what is stored ----------------------------------------------------------------------


def run_of_key(key: str) -> str:
    """The run id in `<exp>/<run>/artifacts/…` (a local relative path) or in
    `<bucket>/<exp>/<run>/artifacts/…`."""
    kind, _, rest = key.partition(":")
    return rest.split("/")[1 if kind == "local" else 2]


def artifact_listing(root: str, s3: Any) -> dict[str, int]:
    """Every artifact file: 'local:<relative path>' or 's3:<key>' → bytes."""
    found = {f"local:{k}": v for k, v in file_sizes(root).items()}
    found.update({f"s3:{k}": v for k, v in bucket_sizes(s3, BUCKET).items()})
    return found


def files_per_run(listing: dict[str, int]) -> Counter[str]:
    return Counter(run_of_key(k) for k in listing)


def snapshot(seeded: Seeded, run_ids: list[str], s3: Any) -> dict[str, tuple[Any, ...]]:
    """The protected runs' files as they are now, to prove the gc never touched them."""
    found: dict[str, tuple[Any, ...]] = {}
    for run_id in run_ids:
        uri = seeded.artifact_uri[run_id]
        if uri.startswith("s3://"):
            bucket, prefix = split_s3(f"{uri}/")
            listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
            for item in listing:
                body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                found[f"s3:{bucket}/{item['Key']}"] = (
                    item["Size"],
                    item["ETag"],
                    item["LastModified"].isoformat(),
                    hashlib.sha256(body).hexdigest(),
                )
            continue
        folder = local_path(uri)
        for sub, _dirs, files in os.walk(folder):
            for name in files:
                path = os.path.join(sub, name)
                info = os.stat(path)
                digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
                found[f"local:{path}"] = (info.st_size, info.st_mtime_ns, digest)
    return found


def disk_usage(path: str) -> int:
    """Bytes of disk blocks under `path` (what `du` counts)."""
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            total += os.lstat(os.path.join(folder, name)).st_blocks * 512
    return total


def database_state(store: Any, shape: Shape) -> dict[str, Any]:
    """Runs by stage, and everything that would mean a half-deleted run."""
    from sqlalchemy import text

    full = shape.metrics * shape.steps
    with store.engine.connect() as conn:
        stages = dict(conn.execute(text("SELECT run_uuid, lifecycle_stage FROM runs")).all())
        counts = dict(
            conn.execute(text("SELECT run_uuid, COUNT(*) FROM metrics GROUP BY run_uuid")).all()
        )
        orphans = {
            table: conn.execute(
                text(
                    f"SELECT COUNT(*) FROM {table} t WHERE NOT EXISTS "
                    "(SELECT 1 FROM runs r WHERE r.run_uuid = t.run_uuid)"
                )
            ).scalar()
            for table in ("latest_metrics", "params", "tags")
        }
        latest = dict(
            conn.execute(
                text("SELECT run_uuid, COUNT(*) FROM latest_metrics GROUP BY run_uuid")
            ).all()
        )
    return {
        "runs": Counter(stages.values()),
        "stages": stages,
        "history_of_missing_runs": sum(1 for r in counts if r not in stages),
        "partial_histories": sum(1 for r, n in counts.items() if r in stages and n != full),
        "runs_without_history": sum(1 for r in stages if r not in counts),
        "latest_metrics_of_runs_with_history_gone": sum(
            1 for r in stages if r not in counts and latest.get(r)
        ),
        "orphan_rows": orphans,
    }


def consistency_violations(state: dict[str, Any], seeded: Seeded) -> list[str]:
    """What must never be seen, interrupted or not."""
    problems = []
    for name in ("history_of_missing_runs", "partial_histories", "runs_without_history"):
        if state[name]:
            problems.append(f"{name}: {state[name]}")
    for table, count in state["orphan_rows"].items():
        if count:
            problems.append(f"{count} {table} rows of runs that are gone")
    return problems


def artifact_violations(
    listing: dict[str, int], state: dict[str, Any], seeded: Seeded
) -> dict[str, int]:
    """Files of purged runs left behind, and active runs missing files."""
    per_run = files_per_run(listing)
    stages = state["stages"]
    return {
        "files_of_purged_runs": sum(n for r, n in per_run.items() if r not in stages),
        "active_runs_missing_files": sum(
            1
            for r, s in stages.items()
            if s == "active" and r in seeded.artifact_uri and per_run.get(r, 0) != len(ARTIFACTS)
        ),
        "deleted_runs_with_some_files_gone": sum(
            1
            for r, s in stages.items()
            if s == "deleted" and 0 < per_run.get(r, 0) < len(ARTIFACTS)
        ),
    }


# -- the search that must keep answering -------------------------------------------------


class Searcher(threading.Thread):
    """The benchmark search in a loop on its own store (its own connections): latencies."""

    def __init__(self, uri: str, root: str, experiment_id: str) -> None:
        super().__init__(daemon=True)
        from cairn.store.sql.tracking import SqlTrackingStore

        self.store = SqlTrackingStore(uri, root)
        self.experiment_id = experiment_id
        self.samples: list[float] = []
        self.errors: list[str] = []
        self.found: set[int] = set()
        self.halt = threading.Event()

    def once(self) -> float:
        started = time.perf_counter()
        page = self.store.search_runs(
            [self.experiment_id], SEARCH_FILTER, max_results=100, order_by=SEARCH_ORDER
        )
        elapsed = (time.perf_counter() - started) * 1000
        self.found.add(len(page))
        return elapsed

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                self.samples.append(self.once())
            except Exception as error:  # reported, never hidden
                self.errors.append(f"{error.__class__.__name__}: {error}"[:300])
                self.halt.wait(0.01)

    def idle(self, repeats: int = 30) -> float:
        """Median latency with nothing else running (the first call warms the caches)."""
        self.once()
        return statistics.median(self.once() for _ in range(repeats))

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.samples)
        if not ordered:
            return {"searches": 0, "errors": self.errors[:5]}
        return {
            "searches": len(ordered),
            "p50_ms": statistics.median(ordered),
            "p95_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
            "max_ms": ordered[-1],
            "errors": self.errors[:5],
            "result_sizes": sorted(self.found),
        }

    def close(self) -> None:
        self.store.close()


# -- the collection ----------------------------------------------------------------------


def gc_command(uri: str) -> list[str]:
    """`cairn gc` as users run it (the console script's entry point, in this venv)."""
    return [
        sys.executable,
        "-c",
        "from cairn.cli import cli; cli()",
        "gc",
        "--tracking-uri",
        uri,
        "--yes",
    ]


# "Removed for good: 4,950 runs, 0 experiments, 0 logged models, 0 trace(s), 49,500,000
# metric point(s), 9,900 file(s) (31.2 MiB, 32,712,345 bytes)." and "Kept (50):"
_SUMMARY = re.compile(
    r"Removed for good: ([\d,]+) runs?, ([\d,]+) experiments?, ([\d,]+) logged models?, "
    r"([\d,]+) trace\(s\), ([\d,]+) metric point\(s\), ([\d,]+) file\(s\) \(.*?, "
    r"([\d,]+) bytes\)"
)
_KEPT = re.compile(r"^Kept \((\d+)\):", re.MULTILINE)


def parse_summary(text: str) -> dict[str, int]:
    """The figures of the summary `cairn gc` prints."""
    found = _SUMMARY.search(text)
    if found is None:
        raise RuntimeError(f"no summary in the gc's output:\n{text[-2000:]}")
    names = ("runs", "experiments", "logged_models", "traces", "metric_points", "files", "bytes")
    figures = {n: int(v.replace(",", "")) for n, v in zip(names, found.groups(), strict=True)}
    kept = _KEPT.search(text)
    figures["kept"] = int(kept.group(1)) if kept else 0
    return figures


def run_gc(uri: str, folder: Path, name: str, kill_at: Any = None) -> dict[str, Any]:
    """The gc in a fresh process (its own session), output to files; `kill_at()` is polled
    every 20 ms and, once true, the process gets SIGKILL."""
    out, err = folder / f"{name}.out", folder / f"{name}.err"
    env = {**os.environ, "CAIRN_CAPTURE_SOURCE": "false"}
    started = time.perf_counter()
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        process = subprocess.Popen(
            gc_command(uri),
            stdout=stdout,
            stderr=stderr,
            cwd=folder,
            env=env,
            start_new_session=True,
        )
        killed = False
        while process.poll() is None:
            if kill_at is not None and not killed and kill_at():
                os.killpg(process.pid, signal.SIGKILL)
                killed = True
            try:
                process.wait(0.02)
            except subprocess.TimeoutExpired:
                continue
    seconds = time.perf_counter() - started
    text = out.read_text(errors="replace")
    result: dict[str, Any] = {
        "seconds": seconds,
        "returncode": process.returncode,
        "killed": killed,
    }
    if killed:
        return result
    if process.returncode != 0:
        raise RuntimeError(f"gc failed ({process.returncode}):\n{err.read_text()[-3000:]}")
    result["report"] = parse_summary(text)
    result["stderr_tail"] = err.read_text(errors="replace")[-2000:]
    return result


def server_counters(store: Any) -> dict[str, int]:
    """PostgreSQL's write-ahead log bytes and checkpoints so far, server-wide (SQLite: {})."""
    from sqlalchemy import text

    if store.engine.dialect.name != "postgresql":
        return {}
    with store.engine.connect() as conn:
        wal = conn.execute(text("SELECT wal_bytes FROM pg_stat_wal")).scalar()
        checkpoints = conn.execute(
            text("SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter")
        ).scalar()
    return {"wal_bytes": int(wal), "checkpoints": int(checkpoints)}


class VacuumWatch(threading.Thread):
    """Seconds during which PostgreSQL's autovacuum worked (sampled each second)."""

    def __init__(self, store: Any) -> None:
        super().__init__(daemon=True)
        self.store, self.busy, self.halt = store, 0, threading.Event()

    def run(self) -> None:
        from sqlalchemy import text

        if self.store.engine.dialect.name != "postgresql":
            return
        query = text("SELECT COUNT(*) FROM pg_stat_activity WHERE backend_type = :kind")
        while not self.halt.wait(1.0):
            with self.store.engine.connect() as conn:
                self.busy += bool(conn.execute(query, {"kind": "autovacuum worker"}).scalar())


def database_bytes(store: Any) -> int:
    from sqlalchemy import text

    if store.engine.dialect.name == "sqlite":
        path = store.engine.url.database
        return sum(os.path.getsize(p) for p in (path, f"{path}-wal") if os.path.exists(p))
    with store.engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar())


def tracking_uri(backend: str, folder: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{folder / 'cairn.db'}"
    fresh_postgres_database(PG_DATABASE)
    return f"postgresql://{PG_HOST}/{PG_DATABASE}"


def pick(run_ids: list[str], count: int) -> list[str]:
    """`count` of `run_ids`, drawn with a fixed seed (so spread over experiments and stores),
    in their original order."""
    chosen = set(random.Random(count).sample(run_ids, min(count, len(run_ids))))
    return [r for r in run_ids if r in chosen]


# -- one backend -------------------------------------------------------------------------


def measured_gc(
    store: Any, seeded: Seeded, protected: list[str], s3: Any, folder: Path, root: str
) -> dict[str, Any]:
    """The collection of the deleted runs, with the search running, and its checks."""
    before = artifact_listing(root, s3)
    du_before, db_before = disk_usage(root), database_bytes(store)
    protected_files = snapshot(seeded, protected, s3)
    searcher = Searcher(store.db_uri, root, seeded.experiments[0])
    idle_ms = searcher.idle()
    requests_before, counters = s3_requests(folder), server_counters(store)
    vacuum = VacuumWatch(store)
    vacuum.start()
    searcher.start()
    try:
        gc = run_gc(store.db_uri, folder, "gc")
    finally:
        searcher.halt.set()
        searcher.join()
        searcher.close()
        vacuum.halt.set()
        vacuum.join()
    requests = s3_requests(folder) - requests_before
    server = {k: v - counters[k] for k, v in server_counters(store).items()}
    after = artifact_listing(root, s3)
    state = database_state(store, seeded.shape)
    freed = sum(before.values()) - sum(after.values())
    report = gc["report"]
    return {
        "gc_seconds": gc["seconds"],
        "report": report,
        "report_runs": report["runs"],
        "report_kept": report["kept"],
        "bytes_reported": report.get("bytes"),
        "bytes_freed": freed,
        "bytes_freed_local": sum(v for k, v in before.items() if k.startswith("local:"))
        - sum(v for k, v in after.items() if k.startswith("local:")),
        "bytes_freed_s3": sum(v for k, v in before.items() if k.startswith("s3:"))
        - sum(v for k, v in after.items() if k.startswith("s3:")),
        "disk_blocks_freed_local": du_before - disk_usage(root),
        "files_removed": len(before) - len(after),
        "files_reported": report.get("files"),
        "protected_files": len(protected_files),
        "protected_files_changed": sum(
            1 for k, v in snapshot(seeded, protected, s3).items() if protected_files.get(k) != v
        )
        + len(set(protected_files) - set(snapshot(seeded, protected, s3))),
        "database_bytes_before": db_before,
        "database_bytes_after": database_bytes(store),
        "runs_after": dict(state["runs"]),
        "deleted_runs_left": sorted(r for r, s in state["stages"].items() if s == "deleted"),
        "consistency_violations": consistency_violations(state, seeded),
        "artifacts": artifact_violations(after, state, seeded),
        "s3_requests": requests,
        "postgresql_during_gc": {**server, "autovacuum_seconds": vacuum.busy} if server else None,
        "search_idle_p50_ms": idle_ms,
        "search_during_gc": searcher.summary(),
    }


def killed_gc(
    store: Any, seeded: Seeded, count: int, s3: Any, folder: Path, root: str
) -> dict[str, Any]:
    """Delete `count` more runs, SIGKILL the gc once about half are gone, check, run again."""
    from sqlalchemy import text

    state = database_state(store, seeded.shape)
    active = [r for r in seeded.run_ids if state["stages"].get(r) == "active"]
    doomed = pick(active, count)
    delete_runs(store, doomed)
    held = [r for r, s in state["stages"].items() if s == "deleted"]  # protected, stay
    query = text("SELECT COUNT(*) FROM runs WHERE lifecycle_stage = 'deleted'")
    target = len(held) + len(doomed) // 2
    samples = []

    def half_gone() -> bool:
        with store.engine.connect() as conn:
            left = int(conn.execute(query).scalar())
        samples.append(left)
        return left <= target

    first = run_gc(store.db_uri, folder, "gc-killed", kill_at=half_gone)
    interrupted = database_state(store, seeded.shape)
    listing = artifact_listing(root, s3)
    gone = sum(1 for r in doomed if r not in interrupted["stages"])
    second = run_gc(store.db_uri, folder, "gc-rerun")
    final = database_state(store, seeded.shape)
    return {
        "deleted": len(doomed),
        "killed": first["killed"],
        "killed_after_s": first["seconds"],
        "runs_purged_before_kill": gone,
        "runs_whose_files_went_before_kill": sum(
            1 for r in doomed if files_per_run(listing).get(r, 0) == 0
        ),
        "after_kill_violations": consistency_violations(interrupted, seeded),
        "after_kill_artifacts": artifact_violations(listing, interrupted, seeded),
        "rerun_seconds": second["seconds"],
        "rerun_runs": second["report"]["runs"],
        "rerun_bytes": second["report"].get("bytes"),
        "after_rerun_violations": consistency_violations(final, seeded),
        "after_rerun_artifacts": artifact_violations(artifact_listing(root, s3), final, seeded),
        "deleted_runs_left": sum(1 for s in final["stages"].values() if s == "deleted"),
        "purged_all": all(r not in final["stages"] for r in doomed),
    }


def bench_backend(backend: str, shape: Shape, args: argparse.Namespace) -> dict[str, Any]:
    """Seed, delete, collect, check; then the SIGKILL scenario. A moto server of its own."""
    from cairn.store.sql.registry import SqlRegistryStore
    from cairn.store.sql.tracking import SqlTrackingStore

    folder = Path(tempfile.mkdtemp(prefix=f"gc-{backend}-", dir=args.workdir))
    moto, endpoint = start_moto(folder)
    os.environ["CAIRN_S3_ENDPOINT_URL"] = endpoint
    s3 = s3_client(endpoint)
    root = str(folder / "artifacts")
    uri = tracking_uri(backend, folder)
    store = SqlTrackingStore(uri, root)
    try:
        log(f"{backend}: seeding {shape.runs:,} runs, {shape.points:,} points")
        seeded = seed_store(store, shape, None if args.local_only else BUCKET, s3, log)
        result: dict[str, Any] = {
            "seed_seconds": seeded.seconds,
            "artifact_bytes": seeded.artifact_bytes,
            "database_bytes": database_bytes(store),
        }
        log(f"{backend}: seeded in {sum(seeded.seconds.values()):.0f} s {seeded.seconds}")
        if args.seed_only:
            return result
        # Every other block of one run per experiment: each experiment, local or S3, keeps
        # half of its runs.
        width = shape.experiments
        odd_blocks = [r for i, r in enumerate(seeded.run_ids) if (i // width) % 2]
        doomed = pick(odd_blocks, args.deleted)
        protected = pick(doomed, args.protected)
        register(SqlRegistryStore(uri), protected)
        result["delete_seconds"] = delete_runs(store, doomed)
        log(f"{backend}: {len(doomed):,} runs deleted, {len(protected)} protected; gc")
        result["gc"] = measured_gc(store, seeded, protected, s3, folder, root)
        result["gc"]["protected_left"] = result["gc"]["deleted_runs_left"] == sorted(protected)
        result["gc"]["deleted_runs_left"] = len(result["gc"]["deleted_runs_left"])
        log(f"{backend}: gc {result['gc']['gc_seconds']:.1f} s")
        if args.kill_deleted:
            log(f"{backend}: {args.kill_deleted:,} more deleted; gc killed halfway, run again")
            result["kill"] = killed_gc(store, seeded, args.kill_deleted, s3, folder, root)
        return result
    finally:
        store.close()
        stop_session(moto)
        if backend == "postgresql":
            drop_postgres_database(PG_DATABASE)
        shutil.rmtree(folder, ignore_errors=True)


# -- report ------------------------------------------------------------------------------


def mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def _seeding(r: dict[str, Any]) -> str:
    return " / ".join(f"{r['seed_seconds'][k]:.0f} s" for k in ("runs", "histories", "artifacts"))


def _gc_time(r: dict[str, Any]) -> str:
    seconds = r["gc"]["gc_seconds"]
    return f"{seconds:.1f} s {mark(seconds <= GC_GOAL_S)} ({r['gc']['s3_requests']:,} S3 requests)"


def _purged(r: dict[str, Any]) -> str:
    g = r["gc"]
    return f"{g['report_runs']:,} / {g['deleted_runs_left']} {mark(g['protected_left'])}"


def _bytes(r: dict[str, Any]) -> str:
    g = r["gc"]
    same = g["bytes_reported"] == g["bytes_freed"]
    return f"{g['bytes_reported']:,} = {g['bytes_freed']:,} {mark(same)}"


def _protected(r: dict[str, Any]) -> str:
    g = r["gc"]
    changed = g["protected_files_changed"]
    return f"{changed} of {g['protected_files']} {mark(changed == 0)}"


def _consistency(r: dict[str, Any]) -> str:
    problems = r["gc"]["consistency_violations"] + [
        f"{k}: {v}" for k, v in r["gc"]["artifacts"].items() if v
    ]
    return f"{len(problems)} {mark(not problems)}"


def _search(r: dict[str, Any]) -> str:
    s = r["gc"]["search_during_gc"]
    figures = f"{s['p50_ms']:.1f} / {s['p95_ms']:.1f} / {s['max_ms']:.1f} ms"
    return f"{figures} {mark(s['max_ms'] <= SEARCH_GOAL_MS)} ({s['searches']:,} searches)"


def _killed(r: dict[str, Any]) -> str:
    k = r["kill"]
    return f"{k['runs_purged_before_kill']:,} of {k['deleted']:,} after {k['killed_after_s']:.0f} s"


def _after_kill(r: dict[str, Any]) -> str:
    k = r["kill"]
    after, rerun = k["after_kill_violations"], k["after_rerun_violations"]
    return f"{len(after)} / {len(rerun)} {mark(not after and not rerun and k['purged_all'])}"


def table(results: dict[str, Any]) -> str:
    shape = Shape(**results["shape"])
    backends = results["backends"]
    lines = [
        f"| {shape.runs:,} runs × {shape.metrics} metrics × {shape.steps:,} steps "
        f"({shape.points:,} points) | " + " | ".join(backends) + " |",
        "|---|" + "---:|" * len(backends),
    ]
    rows = [
        ("seeding (runs / histories / artifacts)", _seeding),
        ("database size", lambda r: f"{r['database_bytes'] / 1e9:.1f} GB"),
        (f"`cairn gc` of {results['deleted']:,} deleted runs (≤ {GC_GOAL_S:.0f} s)", _gc_time),
        ("runs purged / deleted runs left (the protected ones)", _purged),
        ("bytes reported = bytes freed (local + S3)", _bytes),
        ("protected runs' files changed", _protected),
        ("half-deleted runs, orphan rows or files after gc", _consistency),
        (f"search p50 / p95 / max during gc (≤ {SEARCH_GOAL_MS:.0f} ms)", _search),
        ("search p50 idle", lambda r: f"{r['gc']['search_idle_p50_ms']:.1f} ms"),
        ("SIGKILL: runs purged before the kill", _killed),
        ("… violations after the kill / after the rerun", _after_kill),
        ("… rerun to the end", lambda r: f"{r['kill']['rerun_seconds']:.1f} s"),
    ]
    for label, cell in rows:
        cells = []
        for result in backends.values():
            try:
                cells.append(cell(result))
            except (KeyError, TypeError):
                cells.append("–")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def previous_results(shape: Shape) -> dict[str, Any]:
    """What was measured earlier and stays: the backends measured at the same size (beside
    those measured now) and gc_mlflow.py's comparison."""
    try:
        found = json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        return {"backends": {}}
    kept = {"mlflow": found["mlflow"]} if "mlflow" in found else {}
    same = found.get("shape") == shape.__dict__
    return {**kept, "backends": found.get("backends", {}) if same else {}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--metrics", type=int, default=10)
    parser.add_argument("--steps", type=int, default=1_000)
    parser.add_argument("--deleted", type=int, default=5_000)
    parser.add_argument("--protected", type=int, default=50)
    parser.add_argument(
        "--kill-deleted",
        type=int,
        default=2_500,
        help="runs deleted for the SIGKILL scenario (0: skip it)",
    )
    parser.add_argument(
        "--local-only", action="store_true", help="every artifact in the local root, none in S3"
    )
    parser.add_argument("--seed-only", action="store_true", help="measure seeding, no gc")
    parser.add_argument("--quick", action="store_true", help="200 runs × 10 × 100 steps")
    parser.add_argument("--workdir", default=None, help="where the stores go (default: TMPDIR)")
    parser.add_argument("--table", action="store_true", help="print the table of the JSON")
    args = parser.parse_args()
    if args.table:
        print(table(json.loads(RESULTS.read_text())))
        return
    if args.quick:
        args.runs, args.steps, args.deleted, args.protected, args.kill_deleted = (
            200,
            100,
            100,
            5,
            50,
        )
    shape = Shape(args.runs, args.metrics, args.steps)
    os.environ.update(AWS_ENV)
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, shared with other work; "
        f"load average {os.getloadavg()[0]:.1f} at the start",
        "shape": shape.__dict__,
        "deleted": args.deleted,
        "protected": args.protected,
        **previous_results(shape),
    }
    for backend in args.backends.split(","):
        name = f"{backend}, local artifacts" if args.local_only else backend
        load = os.getloadavg()[0]
        results["backends"][name] = bench_backend(backend, shape, args)
        results["backends"][name].update(
            date=time.strftime("%Y-%m-%d %H:%M"),
            load_average_before=load,
            load_average_after=os.getloadavg()[0],
        )
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(table(results))
    print(f"\nraw figures: {RESULTS.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
