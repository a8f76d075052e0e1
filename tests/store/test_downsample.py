"""The SQL stores' downsampled history (`DownsampledHistory`) against the generic one over
`get_metric_history`, on SQLite, PostgreSQL and MariaDB: the buckets must be identical."""

from __future__ import annotations

import math
import random

import pytest

from cairn.entities import Metric
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError
from cairn.store import downsample as ds
from cairn.store.base import DownsampledHistory
from cairn.store.sql.tracking import SqlTrackingStore
from cairn.store.validation import FLOAT_MAX

T0 = 1_700_000_000_000
SPIKE_STEP, SPIKE = 1234, 1e6


def _history() -> list[Metric]:
    """3,000 steps with a spike, NaN and ±inf, repeated steps, and time running backwards."""
    rng = random.Random(8)
    points = [
        Metric("loss", rng.uniform(0, 1), T0 + 7 * s + rng.randrange(5), s) for s in range(3000)
    ]
    points[SPIKE_STEP] = Metric("loss", SPIKE, T0 + 7 * SPIKE_STEP, SPIKE_STEP)
    for step in (10, 11, 12, 2999):
        points[step] = Metric("loss", math.nan, points[step].timestamp, step)
    points[500] = Metric("loss", math.inf, points[500].timestamp, 500)
    points[501] = Metric("loss", -math.inf, points[501].timestamp, 501)
    points += [Metric("loss", 0.25 + i, T0 + 7 * 700 - 50 * i, 700) for i in range(4)]  # repeats
    points += [Metric("loss", 0.5, T0 - 1000, 2500)]  # the earliest timestamp, late step
    return points


def _seed(store: SqlTrackingStore) -> str:
    run_id = store.create_run("0", "u", T0, [], None).info.run_id
    points = _history()
    for i in range(0, len(points), 1000):
        store.log_batch(run_id, metrics=points[i : i + 1000])
    huge = [Metric("huge", float(i), T0 + i, i * 2**57) for i in range(50)]  # past 64 bits
    store.log_batch(run_id, metrics=huge)
    return run_id


CASES = [
    (axis, buckets, zoom)
    for axis in ds.AXES
    for buckets in (1, 7, 100, 1000, 5000)
    for zoom in [(None, None), (0, 1500), (400, None), (None, 2000)]
]


def test_sql_buckets_equal_the_generic_ones(store: SqlTrackingStore) -> None:
    assert isinstance(store, DownsampledHistory)
    run_id = _seed(store)
    history = store.get_metric_history(run_id, "loss")
    for axis, buckets, (x_min, x_max) in CASES:
        if axis != ds.STEP:  # the time axes zoom in milliseconds
            x_min = None if x_min is None else x_min * 7
            x_max = None if x_max is None else x_max * 7
        sql = store.downsample_metric_history(run_id, "loss", axis, buckets, x_min, x_max)
        generic = ds.from_history(run_id, "loss", history, axis, buckets, x_min, x_max)
        assert sql == generic, (axis, buckets, x_min, x_max)
        assert len(sql.points) <= max(buckets, sql.total_points if not sql.downsampled else 0)


def test_the_spike_survives_and_non_finite_points_are_counted(store: SqlTrackingStore) -> None:
    run_id = _seed(store)
    series = store.downsample_metric_history(run_id, "loss", ds.STEP, 100)
    assert series.downsampled and len(series.points) == 100
    assert series.total_points == 3005
    assert series.non_finite_points == 6
    assert max(p.max for p in series.points if p.max is not None) == SPIKE
    spiked = next(p for p in series.points if p.max == SPIKE)
    assert spiked.x >= SPIKE_STEP  # the bucket's last point, after the spike
    for point in series.points:
        assert point.min is None or -FLOAT_MAX < point.min <= point.max < FLOAT_MAX


def test_relative_time_counts_from_the_first_point(store: SqlTrackingStore) -> None:
    run_id = _seed(store)
    series = store.downsample_metric_history(run_id, "loss", ds.RELATIVE, 5000)
    assert not series.downsampled
    assert series.points[0].x == 0 and series.points[0].timestamp == T0 - 1000
    assert all(p.x == p.timestamp - (T0 - 1000) for p in series.points)


def test_huge_steps_and_empty_ranges(store: SqlTrackingStore) -> None:
    run_id = _seed(store)
    history = store.get_metric_history(run_id, "huge")
    sql = store.downsample_metric_history(run_id, "huge", ds.STEP, 10)
    assert sql == ds.from_history(run_id, "huge", history, ds.STEP, 10)
    assert sql.downsampled and sql.points[-1].last == 49.0
    assert store.downsample_metric_history(run_id, "absent", ds.STEP, 10).points == []
    assert store.downsample_metric_history(run_id, "loss", ds.STEP, 10, 5000, 6000).points == []
    assert store.downsample_metric_history(run_id, "loss", ds.STEP, 10, 30, 20).points == []


def test_bad_requests(store: SqlTrackingStore) -> None:
    run_id = _seed(store)
    with pytest.raises(ResourceDoesNotExistError):
        store.downsample_metric_history("0" * 32, "loss", ds.STEP, 10)
    with pytest.raises(InvalidParameterValueError):
        store.downsample_metric_history(run_id, "loss", "epoch", 10)
    with pytest.raises(InvalidParameterValueError):
        store.downsample_metric_history(run_id, "loss", ds.STEP, ds.MAX_BUCKETS + 1)
