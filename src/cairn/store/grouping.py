"""One metric across groups of runs, summarised per step bucket: for the UI's "group by a
param" chart (the mean with a min–max or ±std band), computed where the points are.

The steps `[lo, hi]` that any run of any group covers (or the caller's zoom) are cut into
the buckets of cairn.store.downsample, one grid for every run, so a bucket means the same
steps in every group. **A run's value in a bucket is its last finite point there**: the
point with the greatest step, then the greatest timestamp, then the greatest value, exactly
the `last` of that bucket in the run's downsampled history. NaN and ±inf are skipped. Per
group and bucket the answer holds how many runs have a value there, their mean, min, max
and population standard deviation, and x, the greatest step among those last points (a
bucket of one step is drawn at that step).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cairn.store import downsample as ds


@dataclass(frozen=True, slots=True)
class BucketStats:
    """One bucket of one group: `count` runs have a finite value in it."""

    x: int
    count: int
    mean: float
    min: float
    max: float
    std: float | None  # None when the squares overflow a double


@dataclass(frozen=True, slots=True)
class GroupedSeries:
    """Per group (in the order asked) its buckets in step order, and the grid's bucket width."""

    width: int
    groups: list[list[BucketStats]]


def empty(groups: int) -> GroupedSeries:
    return GroupedSeries(1, [[] for _ in range(groups)])


def from_sums(
    x: int, count: int, total: float, squares: float, low: float, high: float
) -> BucketStats:
    """Stats from the sums a database returns (std = sqrt(E[v²] - E[v]²), clamped at 0:
    rounding may leave a tiny negative variance)."""
    mean = total / count
    variance = squares / count - mean * mean
    std = math.sqrt(max(0.0, variance)) if math.isfinite(variance) else None
    return BucketStats(x, count, mean, low, high, std)


def summarise(x: int, values: Sequence[float]) -> BucketStats:
    """Stats of some runs' values (two passes: exact where the sums would cancel)."""
    count = len(values)
    mean = math.fsum(values) / count
    variance = math.fsum((v - mean) ** 2 for v in values) / count
    std = math.sqrt(variance) if math.isfinite(variance) else None
    return BucketStats(x, count, mean, min(values), max(values), std)


def extent(
    firsts_and_lasts: Iterable[tuple[int, int]], x_min: int | None, x_max: int | None
) -> tuple[int, int] | None:
    """The steps to cut: every run's `(first, last)` step joined, within the zoom."""
    pairs = list(firsts_and_lasts)
    if not pairs:
        return None
    lo = min(p[0] for p in pairs) if x_min is None else x_min
    hi = max(p[1] for p in pairs) if x_max is None else x_max
    return None if lo > hi else (lo, hi)


def last_points(rows: Iterable[ds.Row], grid: ds.Grid) -> dict[int, tuple[int, float]]:
    """Per bucket of `grid`, the step and value of the run's last finite row there."""
    best: dict[int, ds.Row] = {}
    for row in rows:
        step, timestamp, value, is_nan = row
        if not grid.lo <= step <= grid.hi or not ds.is_finite(value, is_nan):
            continue
        number = grid.bucket_of(step)
        held = best.get(number)
        if held is None or (step, timestamp, value) > (held[0], held[1], held[2]):
            best[number] = row
    return {number: (row[0], row[2]) for number, row in best.items()}


def from_histories(
    groups: Sequence[Sequence[Sequence[ds.Row]]],
    buckets: int,
    x_min: int | None = None,
    x_max: int | None = None,
) -> GroupedSeries:
    """The generic implementation, over each run's whole history (as `ds.Row`s)."""
    spans = [(min(r[0] for r in h), max(r[0] for r in h)) for g in groups for h in g if h]
    steps = extent(spans, x_min, x_max)
    if steps is None:
        return empty(len(groups))
    grid = ds.grid(steps[0], steps[1], buckets)
    return GroupedSeries(grid.width, [_group(histories, grid) for histories in groups])


def _group(histories: Sequence[Sequence[ds.Row]], grid: ds.Grid) -> list[BucketStats]:
    values: dict[int, list[float]] = {}
    xs: dict[int, int] = {}
    for history in histories:
        for number, (step, value) in last_points(history, grid).items():
            values.setdefault(number, []).append(value)
            xs[number] = max(step, xs.get(number, step))
    return [summarise(xs[n], values[n]) for n in sorted(values)]


def row_of(step: int, timestamp: int, value: float) -> ds.Row:
    """A stored point as a `ds.Row` (NaN kept as the metrics table keeps it)."""
    if math.isnan(value):
        return (step, timestamp, 0.0, True)
    return (step, timestamp, value, False)
