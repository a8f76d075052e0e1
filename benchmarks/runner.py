"""Run one Job in a fresh subprocess and temp dir; a failing tool becomes an error, not a crash."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends import tracking_uri
from plan import Job

WORKER = Path(__file__).with_name("worker.py")
JOB_TIMEOUT_SECONDS = 3 * 3600  # a stuck tool should not hang the suite forever
ERROR_TAIL_LINES = 15


@dataclass
class JobResult:
    job: Job
    measurements: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0


def child_env() -> dict[str, str]:
    """The caller's environment minus anything that would redirect either tool's storage."""
    redirects = ("MLFLOW_TRACKING_URI", "CAIRN_TRACKING_URI")
    env = {k: v for k, v in os.environ.items() if k not in redirects}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    return env


def parse_measurements(stdout: str) -> list[dict[str, Any]]:
    """Keep the worker's JSON lines; ignore anything a library itself printed to stdout."""
    found = []
    for line in stdout.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict) and "metric" in item:
            found.append(item)
    return found


def run_job(job: Job, backend: str) -> JobResult:
    """Each job gets its own temp dir, also its cwd so stray ./mlruns or ./cairn-data land there."""
    workdir = tempfile.mkdtemp(prefix=f"bench-{job.tool}-{job.workload}-")
    result = JobResult(job)
    start = time.perf_counter()
    try:
        uri = "" if job.workload == "import" else tracking_uri(backend, job.tool, workdir)
        cmd = [
            sys.executable,
            str(WORKER),
            "--tool",
            job.tool,
            "--workload",
            job.workload,
            "--uri",
            uri,
            "--n",
            str(job.n),
            "--repeats",
            str(job.repeats),
        ]
        proc = subprocess.run(
            cmd,
            cwd=workdir,
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=JOB_TIMEOUT_SECONDS,
        )
        result.measurements = parse_measurements(proc.stdout)
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-ERROR_TAIL_LINES:])
            result.error = f"exit {proc.returncode}: {tail}"
    except subprocess.TimeoutExpired:
        result.error = f"timed out after {JOB_TIMEOUT_SECONDS} s"
    except Exception as exc:  # e.g. PostgreSQL unreachable: report it beside the workload
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        result.seconds = time.perf_counter() - start
        shutil.rmtree(workdir, ignore_errors=True)
    return result
