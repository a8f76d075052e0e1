"""A metric history cut into at most N buckets of its x range, keeping min, max and last.

MLflow's get-history-bulk-interval samples points, so a spike between two samples vanishes
(MLflow #11444). Here every point counts. The x range `[lo, hi]` (integers: steps, epoch
milliseconds, or milliseconds since the series' first point) is cut into buckets of one
width, aligned to multiples of that width: the point at `x` falls in bucket
`(x - anchor) // width`, `anchor = lo // width * width`. Aligned buckets stay put when the
view pans, and a width above ROLLUP_BLOCK is a multiple of it, so on the step axis a bucket
is a whole number of the stored rollup's blocks (cairn.store.sql.rollups). Exact integer
arithmetic, so SQL on every dialect and the generic code below agree bucket for bucket.

NaN and ±inf (stored as ±FLOAT_MAX, as MLflow stores them) are counted, never part of min,
max or last. A range with no more points than buckets comes back whole, one point each.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from cairn.entities import Metric
from cairn.exceptions import InvalidParameterValueError
from cairn.store.validation import FLOAT_MAX

STEP, TIMESTAMP, RELATIVE = "step", "timestamp", "relative"
AXES = (STEP, TIMESTAMP, RELATIVE)
MAX_BUCKETS = 10_000
#: Steps per block of the stored rollup; bucket widths above it are rounded up to multiples.
ROLLUP_BLOCK = 64
#: SQL computes offsets `x - anchor` in 64-bit integers; series whose offsets or anchor
#: pass this (steps near ±2**62) are bucketed in Python instead.
SQL_INTEGER_LIMIT = 2**62

#: One stored point: (step, timestamp, value, is_nan), NaN's value 0 as in the metrics table.
Row = tuple[int, int, float, bool]


@dataclass(frozen=True, slots=True)
class MetricBucket:
    """One bucket; `x`, `step` and `timestamp` are those of its last finite point (of its
    last point when none is finite, with min, max and last None)."""

    x: int
    min: float | None
    max: float | None
    last: float | None
    step: int
    timestamp: int
    count: int
    non_finite: int


@dataclass(frozen=True, slots=True)
class DownsampledSeries:
    run_id: str
    key: str
    points: list[MetricBucket]
    total_points: int
    non_finite_points: int
    downsampled: bool


def check_request(axis: str, buckets: int) -> None:
    if axis not in AXES:
        raise InvalidParameterValueError(f"x_axis must be one of {', '.join(AXES)}; got {axis!r}.")
    if not 1 <= buckets <= MAX_BUCKETS:
        raise InvalidParameterValueError(f"buckets must be between 1 and {MAX_BUCKETS}.")


@dataclass(frozen=True, slots=True)
class Grid:
    """The buckets over `[lo, hi]`: `count` of them, `width` wide, the first at `anchor`."""

    lo: int
    hi: int
    anchor: int
    width: int

    @property
    def count(self) -> int:
        return (self.hi - self.anchor) // self.width + 1

    def bucket_of(self, x: int) -> int:
        return (x - self.anchor) // self.width

    def fits_sql(self) -> bool:
        return -SQL_INTEGER_LIMIT <= self.anchor and self.hi - self.anchor < SQL_INTEGER_LIMIT


def grid(lo: int, hi: int, buckets: int) -> Grid:
    """An aligned width giving at most `buckets` buckets over `[lo, hi]` (widths above
    ROLLUP_BLOCK are multiples of it). One bucket is the range itself."""
    span = hi - lo + 1
    if buckets == 1:
        return Grid(lo, hi, lo, span)
    # span / buckets when alignment costs no extra bucket; span / (buckets - 1) always fits.
    for parts in (buckets, buckets - 1):
        width = _rounded(-(-span // parts))
        if hi // width - lo // width < buckets:
            break
    return Grid(lo, hi, lo // width * width, width)


def _rounded(width: int) -> int:
    return width if width <= ROLLUP_BLOCK else -(-width // ROLLUP_BLOCK) * ROLLUP_BLOCK


def is_finite(value: float, is_nan: bool) -> bool:
    return not is_nan and -FLOAT_MAX < value < FLOAT_MAX


def sort_key(axis: str) -> Callable[[Row], tuple[int, int, float, bool]]:
    """History order along the axis: by step then time, or by time then step."""
    if axis == STEP:
        return lambda r: (r[0], r[1], r[2], r[3])
    return lambda r: (r[1], r[0], r[2], r[3])


def last_row(rows: Iterable[Row], axis: str, any_finite: bool) -> Row:
    """The bucket's last finite row (its last row when `any_finite` is False)."""
    candidates = [r for r in rows if not any_finite or is_finite(r[2], r[3])]
    return max(candidates, key=sort_key(axis))


def exact_point(row: Row, axis: str, origin: int) -> MetricBucket:
    """A point of a history small enough to send whole."""
    step, timestamp, value, is_nan = row
    finite = is_finite(value, is_nan)
    shown = value if finite else None
    x = step if axis == STEP else timestamp - origin
    return MetricBucket(x, shown, shown, shown, step, timestamp, 1, 0 if finite else 1)


def exact_series(
    run_id: str, key: str, rows: Sequence[Row], axis: str, origin: int
) -> DownsampledSeries:
    points = [exact_point(r, axis, origin) for r in sorted(rows, key=sort_key(axis))]
    bad = sum(p.non_finite for p in points)
    return DownsampledSeries(run_id, key, points, len(points), bad, False)


def empty_series(run_id: str, key: str) -> DownsampledSeries:
    return DownsampledSeries(run_id, key, [], 0, 0, False)


def x_of(row: Row, axis: str, origin: int) -> int:
    return row[0] if axis == STEP else row[1] - origin


def from_history(
    run_id: str,
    key: str,
    history: Sequence[Metric],
    axis: str,
    buckets: int,
    x_min: int | None = None,
    x_max: int | None = None,
) -> DownsampledSeries:
    """The generic implementation, over a whole history (any store's get_metric_history)."""
    check_request(axis, buckets)
    rows = [_row(m) for m in history]
    if not rows:
        return empty_series(run_id, key)
    origin = min(r[1] for r in rows) if axis == RELATIVE else 0
    xs = [x_of(r, axis, origin) for r in rows]
    lo = min(xs) if x_min is None else x_min
    hi = max(xs) if x_max is None else x_max
    inside = [r for r, x in zip(rows, xs, strict=True) if lo <= x <= hi]
    if len(inside) <= buckets:
        return exact_series(run_id, key, inside, axis, origin)
    cut = grid(lo, hi, buckets)
    groups: dict[int, list[Row]] = {}
    for row in inside:
        groups.setdefault(cut.bucket_of(x_of(row, axis, origin)), []).append(row)
    points = [_bucket(groups[b], axis, origin) for b in sorted(groups)]
    bad = sum(p.non_finite for p in points)
    return DownsampledSeries(run_id, key, points, len(inside), bad, True)


def _row(metric: Metric) -> Row:
    value = metric.value
    if math.isnan(value):
        return (metric.step, metric.timestamp, 0.0, True)
    return (metric.step, metric.timestamp, value, False)


def _bucket(rows: list[Row], axis: str, origin: int) -> MetricBucket:
    finite = [r[2] for r in rows if is_finite(r[2], r[3])]
    last = last_row(rows, axis, bool(finite))
    return MetricBucket(
        x=x_of(last, axis, origin),
        min=min(finite) if finite else None,
        max=max(finite) if finite else None,
        last=last[2] if finite else None,
        step=last[0],
        timestamp=last[1],
        count=len(rows),
        non_finite=len(rows) - len(finite),
    )


def merge(parts: Sequence[MetricBucket]) -> MetricBucket:
    """One bucket from consecutive buckets of it, in x order (on the step axis, the rollup's
    blocks): the last finite point is that of the last part holding one."""
    count = bad = 0
    low: float | None = None
    high: float | None = None
    last_finite: MetricBucket | None = None
    for part in parts:  # one pass: a chart merges thousands of these
        count += part.count
        bad += part.non_finite
        if part.min is not None and part.max is not None:
            last_finite = part
            low = part.min if low is None or part.min < low else low
            high = part.max if high is None or part.max > high else high
    if last_finite is None:
        last = parts[-1]
        return MetricBucket(last.x, None, None, None, last.step, last.timestamp, count, bad)
    last = last_finite
    return MetricBucket(last.x, low, high, last.last, last.step, last.timestamp, count, bad)
