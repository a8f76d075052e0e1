"""The step-axis rollup of metric histories: per block of ROLLUP_BLOCK (64) steps, the
block's point count, non-finite count, min, max and last finite point.

A chart of 10 runs × 100,000 steps then reads 16,000 rows, not 1,000,000 (issue 8's
"a chart appears in ≤ 1 s"), and its buckets are exact: a bucket wider than a block is a
whole number of blocks (cairn.store.downsample aligns them), merged with
`downsample.merge`.

The rollup stays off the write path. A writer only lowers each of its runs' watermark,
`metric_rollup_state.fresh_below`, to the first block its batch touches (one UPDATE per
run and batch, matching no row until a chart has been drawn); blocks below the watermark
are current. A chart computes the stale blocks when there are many of them (`catch_up`),
and reads a few stale ones (the block a live run is appending to) from the history.

Catching up and writing exclude each other, so a batch committed while blocks are being
computed always lowers the new watermark after it is written: SQLite runs one write
transaction at a time, and PostgreSQL's catch-up takes a table lock that the writers'
UPDATE waits for. MySQL/MariaDB have no such cheap lock in InnoDB's repeatable reads
(a catch-up could miss a concurrent batch), so there charts read the history itself.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

from sqlalchemy import BigInteger, and_, bindparam, case, delete, func, insert, select, update
from sqlalchemy.engine import Connection

from cairn.store import downsample as ds
from cairn.store.base import MetricPoint
from cairn.store.sql import dialects
from cairn.store.sql.prepared import Prepared
from cairn.store.sql.schema import metric_rollup_state, metric_rollups

BLOCK = ds.ROLLUP_BLOCK
#: Stale steps a chart reads from the history before it catches the rollup up first.
CATCH_UP_AT = 16 * BLOCK
DIALECTS = frozenset({"sqlite", "postgresql"})

_r = metric_rollups.c
_s = metric_rollup_state.c
_RUN, _STEP = operator.itemgetter(0), operator.itemgetter(4)
_LOWER = Prepared(
    update(metric_rollup_state)
    .where(_s.run_uuid == bindparam("run"), _s.fresh_below > bindparam("block"))
    .values(fresh_below=bindparam("block"))
)
# A chart's buckets are whole numbers of blocks: the database merges them (count, min, max,
# the last block holding a finite point), so ~180 rows leave it instead of ~1,600 per series
# (measured: 4 ms → 1.2 ms a series of 100,000 steps, most of it Python building blocks).
_number = (_r.block - bindparam("anchor", type_=BigInteger)) // bindparam("width", type_=BigInteger)
_in_range = select(
    _number.label("b"),
    _r.block,
    _r.points,
    _r.non_finite,
    _r.min,
    _r.max,
    case((_r.min.is_not(None), _r.block)).label("finite_block"),
).where(
    _r.run_uuid == bindparam("run"),
    _r.key == bindparam("key"),
    _r.block >= bindparam("start"),
    _r.block < bindparam("end"),
)
_blocks = _in_range.subquery()
_merged = (
    select(
        _blocks.c.b,
        func.sum(_blocks.c.points).label("points"),
        func.sum(_blocks.c.non_finite).label("bad"),
        func.min(_blocks.c.min).label("low"),
        func.max(_blocks.c.max).label("high"),
        # The last point is the last finite block's; with none, the last block's.
        func.coalesce(func.max(_blocks.c.finite_block), func.max(_blocks.c.block)).label("at"),
    )
    .group_by(_blocks.c.b)
    .subquery()
)
_at = metric_rollups.alias("at_block")
_BUCKETED = Prepared(
    select(
        _merged.c.low,
        _merged.c.high,
        _at.c.last,
        _at.c.step,
        _at.c.timestamp,
        _merged.c.points,
        _merged.c.bad,
    )
    .join_from(
        _merged,
        _at,
        and_(
            _at.c.run_uuid == bindparam("run"),
            _at.c.key == bindparam("key"),
            _at.c.block == _merged.c.at,
        ),
    )
    .order_by(_merged.c.b)
)
_FRESH_BELOW = Prepared(
    select(_s.fresh_below).where(_s.run_uuid == bindparam("run"), _s.key == bindparam("key"))
)


def kept(conn: Connection) -> bool:
    return conn.dialect.name in DIALECTS


def block_of(step: int) -> int:
    """The first step of the block holding `step` (floor division: steps may be negative)."""
    return step // BLOCK * BLOCK


def mark_stale(conn: Connection, points: Sequence[MetricPoint]) -> None:
    """Lower the watermark of each run in the batch to the first block it touches."""
    if not points or not kept(conn):
        return
    runs = set(map(_RUN, points))
    lowest: dict[str, int] = {}
    if len(runs) == 1:  # the common case, without a loop in Python
        lowest[runs.pop()] = min(map(_STEP, points))
    else:
        for point in points:
            held = lowest.get(point[0])
            if held is None or point[4] < held:
                lowest[point[0]] = point[4]
    _LOWER.executemany(conn, [{"run": r, "block": block_of(s)} for r, s in lowest.items()])


def fresh_below(conn: Connection, run_id: str, key: str) -> int | None:
    """The step below which the history's blocks are current; None before any catch-up."""
    row = _FRESH_BELOW.first(conn, {"run": run_id, "key": key})
    return None if row is None else int(row[0])


def lock_for_catch_up(conn: Connection) -> None:
    """Make writers of metric points wait until this transaction ends (SQLite's write
    transaction already does)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("LOCK TABLE metric_rollup_state IN SHARE ROW EXCLUSIVE MODE")


def stored_buckets(
    conn: Connection, run_id: str, key: str, start: int, end: int, grid: ds.Grid
) -> list[ds.MetricBucket]:
    """The blocks starting in `[start, end)` merged into `grid`'s buckets (their width and
    anchor multiples of BLOCK), in step order: `ds.merge` of each bucket's blocks."""
    params = {"run": run_id, "key": key, "start": start, "end": end}
    rows = _BUCKETED.all(conn, {**params, "anchor": grid.anchor, "width": grid.width})
    return [
        ds.MetricBucket(step, low, high, last, step, timestamp, int(points), int(bad))
        for low, high, last, step, timestamp, points, bad in rows
    ]


def replace_blocks(
    conn: Connection,
    run_id: str,
    key: str,
    start: int,
    blocks: Sequence[ds.MetricBucket],
    fresh_until: int,
) -> None:
    """Store `blocks` (computed for the steps from `start` on) in place of the stored ones
    from `start` on, and mark the history current below `fresh_until`."""
    conn.execute(
        delete(metric_rollups).where(_r.run_uuid == run_id, _r.key == key, _r.block >= start)
    )
    if blocks:
        conn.execute(
            insert(metric_rollups),
            [
                {
                    "run_uuid": run_id,
                    "key": key,
                    "block": block_of(b.step),
                    "points": b.count,
                    "non_finite": b.non_finite,
                    "min": b.min,
                    "max": b.max,
                    "last": b.last,
                    "step": b.step,
                    "timestamp": b.timestamp,
                }
                for b in blocks
            ],
        )
    state = {"run_uuid": run_id, "key": key, "fresh_below": fresh_until}
    dialects.upsert(conn, metric_rollup_state, [state], ("run_uuid", "key"))
