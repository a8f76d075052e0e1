"""The SQL stores' grouped history (`GroupedMetricHistory`) against the generic one over
`get_metric_history`, on SQLite, PostgreSQL and MariaDB: the same runs per bucket, the same
statistics."""

from __future__ import annotations

import math
import random

import pytest

from cairn.entities import Metric
from cairn.exceptions import InvalidParameterValueError
from cairn.store import grouping
from cairn.store.base import GroupedMetricHistory
from cairn.store.sql.tracking import SqlTrackingStore

T0 = 1_700_000_000_000


def _history(seed: int, steps: int) -> list[Metric]:
    """Noisy points with NaN and ±inf, repeated steps (the later timestamp counts, then the
    larger value), a negative step, and runs of different lengths."""
    rng = random.Random(seed)
    points = [Metric("loss", rng.uniform(0, 1), T0 + 10 * s, s) for s in range(steps)]
    points[3] = Metric("loss", math.nan, T0, 3)
    points[4] = Metric("loss", math.inf, T0, 4)
    points += [Metric("loss", 5.0 + seed, T0 + 10 * 20 + 1, 20)]  # later than step 20's
    points += [Metric("loss", 7.0, T0 + 10 * 21, 21), Metric("loss", -7.0, T0 + 10 * 21, 21)]
    points += [Metric("loss", math.nan, T0 + 10 * 22 + 5, 22)]  # a later NaN: not counted
    points += [Metric("loss", 0.5, T0 - 5, -3)]
    return points


def _seed(store: SqlTrackingStore) -> list[list[str]]:
    groups: list[list[str]] = []
    for g, sizes in enumerate(([300, 250, 120], [300], [40, 300])):
        group = []
        for i, steps in enumerate(sizes):
            run_id = store.create_run("0", "u", T0, [], None).info.run_id
            store.log_batch(run_id, metrics=_history(10 * g + i, steps))
            group.append(run_id)
        groups.append(group)
    return groups


def _generic(
    store: SqlTrackingStore, groups: list[list[str]], buckets: int, zoom: tuple[int, int] | None
) -> grouping.GroupedSeries:
    histories = [
        [
            [
                grouping.row_of(m.step, m.timestamp, m.value)
                for m in store.get_metric_history(r, "loss")
            ]
            for r in group
        ]
        for group in groups
    ]
    return grouping.from_histories(histories, buckets, *(zoom or (None, None)))


def _same(a: grouping.BucketStats, b: grouping.BucketStats) -> bool:
    return (
        (a.x, a.count, a.min, a.max) == (b.x, b.count, b.min, b.max)
        and math.isclose(a.mean, b.mean, rel_tol=1e-12, abs_tol=1e-12)
        and a.std is not None
        and b.std is not None
        and math.isclose(a.std, b.std, rel_tol=1e-6, abs_tol=1e-9)
    )


@pytest.mark.parametrize("buckets", [1, 7, 64, 200, 1000])
@pytest.mark.parametrize("zoom", [None, (10, 150), (-10, 25)])
def test_sql_statistics_equal_the_generic_ones(
    store: SqlTrackingStore, buckets: int, zoom: tuple[int, int] | None
) -> None:
    assert isinstance(store, GroupedMetricHistory)
    groups = _seed(store)
    got = store.group_metric_history(groups, "loss", buckets, *(zoom or (None, None)))
    expected = _generic(store, groups, buckets, zoom)
    assert got.width == expected.width
    for mine, theirs in zip(got.groups, expected.groups, strict=True):
        assert len(mine) == len(theirs) <= buckets
        assert all(_same(a, b) for a, b in zip(mine, theirs, strict=True)), (mine, theirs)


def test_a_bucket_counts_each_runs_last_finite_point(store: SqlTrackingStore) -> None:
    groups = _seed(store)
    series = store.group_metric_history(groups[:1], "loss", 1000)  # one step per bucket
    assert series.width == 1
    by_step = {b.x: b for b in series.groups[0]}
    assert by_step[20].mean == pytest.approx(6.0)  # the later points: (5 + 6 + 7) / 3
    assert (by_step[21].min, by_step[21].max) == (7.0, 7.0)  # same time: the larger value
    assert 3 not in by_step and 4 not in by_step  # only NaN and inf there
    assert by_step[-3].count == 3 and by_step[-3].std == 0.0
    assert by_step[200].count == 2  # the 120-step run has stopped


def test_nothing_to_group(store: SqlTrackingStore) -> None:
    groups = _seed(store)
    assert store.group_metric_history(groups, "missing", 100).groups == [[], [], []]
    assert store.group_metric_history([], "loss", 100).groups == []
    assert store.group_metric_history(groups, "loss", 100, 500, 600).groups == [[], [], []]
    with pytest.raises(InvalidParameterValueError):
        store.group_metric_history(groups, "loss", 0)


def test_steps_past_64_bits_are_grouped_in_python(store: SqlTrackingStore) -> None:
    run_id = store.create_run("0", "u", T0, [], None).info.run_id
    huge = [Metric("huge", float(i), T0 + i, i * 2**57) for i in range(50)]
    store.log_batch(run_id, metrics=huge)
    series = store.group_metric_history([[run_id]], "huge", 10)
    assert sum(b.count for b in series.groups[0]) == 10
    assert series.groups[0][-1].mean == 49.0
