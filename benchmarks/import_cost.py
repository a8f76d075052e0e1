"""Cost of `import <tool>`: wall time and peak RSS of fresh interpreters.

Runs inside its own worker process that imports neither tool, so RUSAGE_CHILDREN (the largest
RSS among this process's children) covers only the `python -c "import <tool>"` children.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys

from timing import timed


def _median_wall_ms(code: str, repeats: int) -> float:
    """Median wall time of `repeats` fresh `python -c <code>` processes, start to exit."""
    samples = []
    for _ in range(repeats):
        seconds, proc = timed(
            lambda: subprocess.run([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
        )
        if proc.returncode != 0:
            raise RuntimeError(f"python -c {code!r} failed: {proc.stderr.strip()}")
        samples.append(seconds * 1000.0)
    return statistics.median(samples)


def import_cost(module: str, repeats: int) -> list[dict[str, object]]:
    """Import time includes interpreter start-up; the bare start-up is reported beside it."""
    bare_ms = _median_wall_ms("pass", repeats)
    import_ms = _median_wall_ms(f"import {module}", repeats)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    return [
        {
            "metric": "time_ms",
            "value": import_ms,
            "unit": "ms",
            "repeats": repeats,
            "bare_interpreter_ms": bare_ms,
        },
        {"metric": "peak_rss_mb", "value": peak_mb, "unit": "MB", "repeats": repeats},
    ]
