"""Cost of capturing a run's context: what start_run pays now, and what the thread does later.

Measured on this repository (a real git working tree) with this venv's installed packages,
plus `--extra-packages` synthetic distributions (default 300) so the package scan sees a
machine with a few hundred packages. The synchronous part (`start_capture`: user, entry point,
git commit/branch/remote read from .git, thread start) must stay under 50 ms; the background
part (script, `git status`, `git diff HEAD`, requirements, python_env.yaml) is reported.

    .venv/bin/python benchmarks/capture_cost.py [--repeats 20] [--extra-packages 300]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from timing import median_ms

from cairn.provenance import git
from cairn.provenance.source import source_tags
from cairn.tracking import environment, run_context

SYNC_BUDGET_MS = 50.0
ENTRY_POINT = Path(__file__).resolve()
SYNC_LABEL = "sync   start_capture() (tags + thread start)"


def _synthetic_packages(root: Path, count: int) -> None:
    """`count` minimal installed distributions, as pip leaves them (METADATA with a long body)."""
    body = "A description long enough to be realistic.\n" * 200
    for index in range(count):
        info = root / f"synthetic_pkg_{index}-1.{index}.0.dist-info"
        info.mkdir()
        headers = f"Metadata-Version: 2.1\nName: synthetic-pkg-{index}\nVersion: 1.{index}.0\n"
        (info / "METADATA").write_text(headers + "\n" + body)


def _start_and_wait(repeats: int) -> tuple[float, float]:
    """Median ms of (start_capture returning, capture done), each capture awaited before the
    next starts so no earlier thread competes with the one being timed."""
    sync, total = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        capture = run_context.start_capture(ENTRY_POINT)
        returned = time.perf_counter()
        if not capture.result(timeout=120).complete:
            raise RuntimeError("the capture did not finish within 120 s")
        sync.append((returned - started) * 1000)
        total.append((time.perf_counter() - started) * 1000)
    return statistics.median(sync), statistics.median(total)


def _measure(repeats: int) -> list[tuple[str, float]]:
    repo = git.find_git_repository(ENTRY_POINT)
    if repo is None:
        raise SystemExit(f"{ENTRY_POINT.name} is not inside a git working tree")
    cap, timeout = run_context.DEFAULT_MAX_DIFF_BYTES, run_context.DEFAULT_GIT_TIMEOUT_SECONDS
    sync_ms, total_ms = _start_and_wait(repeats)
    parts: list[tuple[str, Callable[[], Any]]] = [
        ("sync   source_tags() alone", lambda: source_tags(ENTRY_POINT)),
        ("bg     git status", lambda: git.status(repo, timeout)),
        ("bg     git diff HEAD", lambda: git.diff_head(repo, cap, timeout)),
        ("bg     requirements.txt + python_env.yaml", environment.environment_artifacts),
    ]
    rows = [
        (SYNC_LABEL, sync_ms),
        ("bg     whole capture, start to result() done", total_ms),
    ]
    rows += [(label, median_ms(fn, repeats)[0]) for label, fn in parts]
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--extra-packages", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cairn-capture-bench-") as extra:
        _synthetic_packages(Path(extra), args.extra_packages)
        sys.path.append(extra)
        packages = len(environment.installed_versions())
        rows = _measure(args.repeats)
        sys.path.remove(extra)
    print(
        f"capture cost: median of {args.repeats} runs; {packages} packages "
        f"({args.extra_packages} synthetic); entry point {ENTRY_POINT.name}"
    )
    for label, ms in rows:
        print(f"  {label:<48} {ms:8.2f} ms")
    sync_ms = dict(rows)[SYNC_LABEL]
    verdict = "within" if sync_ms <= SYNC_BUDGET_MS else "OVER"
    print(f"synchronous part {sync_ms:.2f} ms: {verdict} the {SYNC_BUDGET_MS:.0f} ms budget")
    return 0 if sync_ms <= SYNC_BUDGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
