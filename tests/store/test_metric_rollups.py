"""The step-axis rollup behind long charts (cairn.store.sql.rollups): whatever the order of
writes and charts, a chart read through the rollup equals the generic downsampling of the
whole history, on SQLite, PostgreSQL and MariaDB (where no rollup is kept)."""

from __future__ import annotations

import math
import random
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from cairn.entities import Metric
from cairn.store import downsample as ds
from cairn.store.sql import rollups
from cairn.store.sql.downsample import _Series
from cairn.store.sql.tracking import SqlTrackingStore

T0 = 1_700_000_000_000
ZOOMS = [(None, None), (100, 2500), (64, 1983), (1000, None), (None, 777), (2000, 2040)]


def _points(steps: range, rng: random.Random) -> list[Metric]:
    points = []
    for step in steps:
        roll = rng.random()
        value = math.nan if roll < 0.01 else math.inf if roll < 0.015 else rng.gauss(0, 1)
        points.append(Metric("loss", value, T0 + 3 * step + rng.randrange(3), step))
    return points


def _log(store: SqlTrackingStore, run_id: str, points: list[Metric]) -> None:
    for i in range(0, len(points), 1000):
        store.log_batch(run_id, metrics=points[i : i + 1000])


def _agrees(store: SqlTrackingStore, run_id: str, buckets: int = 40) -> None:
    history = store.get_metric_history(run_id, "loss")
    for x_min, x_max in ZOOMS:
        kept = store.downsample_metric_history(run_id, "loss", ds.STEP, buckets, x_min, x_max)
        generic = ds.from_history(run_id, "loss", history, ds.STEP, buckets, x_min, x_max)
        assert kept == generic, (buckets, x_min, x_max)


def _stored_blocks(store: SqlTrackingStore, run_id: str) -> int:
    with store.engine.connect() as conn:
        query = sa.text("SELECT count(*) FROM metric_rollups WHERE run_uuid = :r")
        return int(conn.execute(query, {"r": run_id}).scalar() or 0)


def _kept(store: SqlTrackingStore) -> bool:
    return store.engine.dialect.name in rollups.DIALECTS


def test_a_long_history_is_rolled_up_on_its_first_chart(store: SqlTrackingStore) -> None:
    rng = random.Random(1)
    run_id = store.create_run("0", "u", T0, [], None).info.run_id
    _log(store, run_id, _points(range(3000), rng))
    assert _stored_blocks(store, run_id) == 0  # writing computes nothing
    _agrees(store, run_id)
    assert _stored_blocks(store, run_id) == (math.ceil(3000 / 64) if _kept(store) else 0)
    for buckets in (1, 2, 3, 46, 47, 100, 3000):
        _agrees(store, run_id, buckets)


def test_appends_and_late_points_are_seen(store: SqlTrackingStore) -> None:
    """A live run appends (the last block goes stale, then many), and a late point lands
    in an old block: every chart still equals the history."""
    rng = random.Random(2)
    run_id = store.create_run("0", "u", T0, [], None).info.run_id
    _log(store, run_id, _points(range(2000), rng))
    _agrees(store, run_id)
    _log(store, run_id, _points(range(2000, 2010), rng))  # a few: read from the history
    _agrees(store, run_id)
    _log(store, run_id, _points(range(2010, 4100), rng))  # many: caught up again
    _agrees(store, run_id)
    store.log_batch(run_id, metrics=[Metric("loss", 1e6, T0, 130)])  # a late spike
    _agrees(store, run_id)
    spiked = store.downsample_metric_history(run_id, "loss", ds.STEP, 20)
    assert max(p.max for p in spiked.points if p.max is not None) == 1e6
    store.log_batch(run_id, metrics=[Metric("loss", -5.0, T0, 3)])  # and one in the first block
    _agrees(store, run_id)


def test_keys_and_runs_do_not_mix(store: SqlTrackingStore) -> None:
    rng = random.Random(3)
    first = store.create_run("0", "u", T0, [], None).info.run_id
    second = store.create_run("0", "u", T0, [], None).info.run_id
    _log(store, first, _points(range(1500), rng))
    _log(store, second, _points(range(0, 6000, 2), rng))
    other = [Metric("acc", 1.0 * s, T0 + s, s) for s in range(1500)]
    _log(store, first, other)
    _agrees(store, first)
    _agrees(store, second)
    # One batch for both runs lowers both watermarks.
    store.log_metric_points([(first, "loss", 9.0, T0, 10), (second, "loss", -9.0, T0, 20)])
    _agrees(store, first)
    _agrees(store, second)
    acc = store.downsample_metric_history(first, "acc", ds.STEP, 10)
    assert acc.points[-1].last == 1499.0 and acc.total_points == 1500


def test_negative_and_sparse_steps(store: SqlTrackingStore) -> None:
    rng = random.Random(4)
    run_id = store.create_run("0", "u", T0, [], None).info.run_id
    points = _points(range(-2000, 2000), rng)
    points += [Metric("loss", float(i), T0 + i, 10**9 * i) for i in range(1, 40)]
    _log(store, run_id, points)
    history = store.get_metric_history(run_id, "loss")
    for buckets in (5, 50, 500):
        kept = store.downsample_metric_history(run_id, "loss", ds.STEP, buckets)
        assert kept == ds.from_history(run_id, "loss", history, ds.STEP, buckets)
        zoomed = store.downsample_metric_history(run_id, "loss", ds.STEP, buckets, -1500, 1700)
        assert zoomed == ds.from_history(run_id, "loss", history, ds.STEP, buckets, -1500, 1700)


def test_random_interleavings_of_writes_and_charts(store: SqlTrackingStore) -> None:
    rng = random.Random(5)
    run_id = store.create_run("0", "u", T0, [], None).info.run_id
    logged = 0
    for _ in range(12):
        if rng.random() < 0.7:
            count = rng.choice([1, 30, 700, 1500])
            _log(store, run_id, _points(range(logged, logged + count), rng))
            logged += count
        else:
            late = rng.randrange(max(logged, 1))
            store.log_batch(run_id, metrics=[Metric("loss", rng.uniform(-50, 50), T0, late)])
        _agrees(store, run_id, rng.choice([7, 40, 300]))


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_a_batch_written_during_a_catch_up_is_not_lost(store: SqlTrackingStore) -> None:
    """PostgreSQL: a catch-up that cannot see a concurrent batch leaves that batch's blocks
    stale, because the batch's watermark UPDATE waits for the catch-up's table lock."""
    rng = random.Random(6)
    run_id = store.create_run("0", "u", T0, [], None).info.run_id
    _log(store, run_id, _points(range(3000), rng))
    catching_up = store.engine.connect()
    transaction = catching_up.begin()
    rollups.lock_for_catch_up(catching_up)
    writer = threading.Thread(
        target=store.log_metric_points, args=([(run_id, "loss", 1e6, T0, 100)],)
    )
    writer.start()
    _wait_for_a_lock_wait(store)
    # The batch is written but not committed: the catch-up computes without it.
    _Series(catching_up, run_id, "loss", ds.STEP).catch_up()
    transaction.commit()
    catching_up.close()
    writer.join()
    _agrees(store, run_id)
    chart = store.downsample_metric_history(run_id, "loss", ds.STEP, 20)
    assert max(p.max for p in chart.points if p.max is not None) == 1e6


def _wait_for_a_lock_wait(store: SqlTrackingStore) -> None:
    """Until a session waits for a lock on metric_rollup_state (polled, not slept on)."""
    query = sa.text(
        "SELECT count(*) FROM pg_locks WHERE NOT granted "
        "AND relation = 'metric_rollup_state'::regclass"
    )
    deadline = time.monotonic() + 30
    with store.engine.connect() as conn:
        while conn.execute(query).scalar() == 0:
            conn.rollback()
            assert time.monotonic() < deadline, "the writer never waited for the lock"


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_a_read_only_database_still_draws_charts(store: SqlTrackingStore, tmp_path: Path) -> None:
    """The rollup cannot be stored through a read-only session (a replica, a read-only
    role): the chart is read from the history instead, and is the same."""
    rng = random.Random(7)
    run_id = store.create_run("0", "u", T0, [], None).info.run_id
    _log(store, run_id, _points(range(3000), rng))
    read_only = store.engine.url.update_query_dict(
        {"options": "-c default_transaction_read_only=on"}
    )
    reader = SqlTrackingStore(read_only.render_as_string(hide_password=False), str(tmp_path))
    try:
        _agrees(reader, run_id)
        with pytest.raises(Exception, match="read-only transaction"):  # the session is
            reader.log_metric_points([(run_id, "loss", 1.0, T0, 1)])
    finally:
        reader.close()
    assert _stored_blocks(store, run_id) == 0
    _agrees(store, run_id)
    assert _stored_blocks(store, run_id) == math.ceil(3000 / 64)
