"""Clock and statistics helpers shared by both tools, so both are timed the same way."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Run `fn` once; return (seconds, result). perf_counter is monotonic and high resolution."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def median_ms(fn: Callable[[], Any], repeats: int) -> tuple[float, list[float], Any]:
    """Call `fn` `repeats` times; return (median ms, every sample in ms, last result).

    The median rather than the mean, so one cold cache or GC pause does not skew the figure.
    """
    samples: list[float] = []
    result: Any = None
    for _ in range(repeats):
        seconds, result = timed(fn)
        samples.append(seconds * 1000.0)
    return statistics.median(samples), samples, result
