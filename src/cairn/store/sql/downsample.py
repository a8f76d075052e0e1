"""The downsampled metric history in SQL: only about one row per bucket leaves the database.

On the step axis, on SQLite and PostgreSQL, buckets of a block or more are merged from the
stored rollup (cairn.store.sql.rollups), read one row per 64 steps; the few blocks it does
not cover (the one a live run is appending to, the partial blocks at a zoom's edges) are
aggregated from the history. Everything else is one GROUP BY over the metrics table's
primary key (run_uuid, key, step, timestamp, …): bucket numbers and the per-bucket min,
max, counts and last x in one query, the last points' values in a second (an index lookup
per bucket). Buckets follow cairn.store.downsample, exactly.

SQLite sorts the rows of a GROUP BY on an expression (measured: 3x the cost of reading
them). On the step axis it walks a temporary table of bucket numbers in order and reads
each bucket's step range from the primary key, so the groups arrive sorted and no sort is
needed. PostgreSQL and MariaDB hash the groups; time axes cannot use the key's order.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Integer,
    MetaData,
    Select,
    Table,
    and_,
    cast,
    func,
    literal,
    not_,
    select,
    type_coerce,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from cairn.exceptions import ResourceDoesNotExistError
from cairn.store import downsample as ds
from cairn.store import validation as check
from cairn.store.base import DownsampledHistory, TrackingStore
from cairn.store.sql import rollups
from cairn.store.sql.schema import metrics, runs
from cairn.store.sql.transactions import SqlTransactions
from cairn.store.validation import FLOAT_MAX

_BUCKET_NUMBERS = Table(
    "cairn_bucket_numbers",
    MetaData(),
    Column("i", Integer, primary_key=True),
    prefixes=["TEMPORARY"],
)
_m = metrics.c
_FINITE = and_(not_(_m.is_nan), _m.value > -FLOAT_MAX, _m.value < FLOAT_MAX)
_RUN = select(runs.c.run_uuid)
_INT64_MAX = 2**63 - 1
_log = logging.getLogger(__name__)


class SqlDownsampledHistory(SqlTransactions, DownsampledHistory):
    """Inherited by SqlTrackingStore."""

    def downsample_metric_history(
        self,
        run_id: str,
        key: str,
        axis: str,
        buckets: int,
        x_min: int | None = None,
        x_max: int | None = None,
    ) -> ds.DownsampledSeries:
        ds.check_request(axis, buckets)
        check.run_id(run_id)
        check.no_nul("Metric key", key)
        use_rollup = axis == ds.STEP and self.engine.dialect.name in rollups.DIALECTS
        if use_rollup:
            self._catch_up_rollup(run_id, key)
        with self._read() as conn:
            if conn.execute(_RUN.where(runs.c.run_uuid == run_id)).first() is None:
                raise ResourceDoesNotExistError(f"Run '{run_id}' not found.")
            series = _Series(conn, run_id, key, axis).downsample(buckets, x_min, x_max, use_rollup)
        if series is None:  # offsets past 62 bits (steps near ±2**62): bucket in Python
            assert isinstance(self, TrackingStore)
            history = self.get_metric_history(run_id, key)
            series = ds.from_history(run_id, key, history, axis, buckets, x_min, x_max)
        return series

    def _catch_up_rollup(self, run_id: str, key: str) -> None:
        """Compute the history's stale blocks first when there are many (a cheap check)."""
        with self._read() as conn:
            if not _Series(conn, run_id, key, ds.STEP).rollup_is_behind():
                return
        try:
            self._retrying(lambda conn: _Series(conn, run_id, key, ds.STEP).catch_up())
        except DBAPIError as error:
            # A database this server may only read (a replica, a read-only role) still
            # draws the chart, from the history.
            _log.info("Metric rollup not stored, read from the history instead: %s", error)


class _Series:
    """One (run, key) history along one axis, in absolute column values."""

    def __init__(self, conn: Connection, run_id: str, key: str, axis: str) -> None:
        self.conn = conn
        self.run_id = run_id
        self.key = key
        self.axis = axis
        self.column = _m.step if axis == ds.STEP else _m.timestamp
        self.where = and_(_m.run_uuid == run_id, _m.key == key)

    def downsample(
        self, buckets: int, x_min: int | None, x_max: int | None, use_rollup: bool = False
    ) -> ds.DownsampledSeries | None:
        """The series; None when its numbers are too large for SQL's 64-bit integers."""
        first, last, origin = self._extent()
        if first is None or last is None:
            return ds.empty_series(self.run_id, self.key)
        lo = first if x_min is None else x_min + origin
        hi = last if x_max is None else x_max + origin
        if lo > hi:
            return ds.empty_series(self.run_id, self.key)
        cut = ds.grid(lo - origin, hi - origin, buckets)  # aligned in x, as from_history
        grid = ds.Grid(lo, hi, cut.anchor + origin, cut.width)
        if not grid.fits_sql():
            return None
        if use_rollup and grid.width % rollups.BLOCK == 0 and grid.anchor % rollups.BLOCK == 0:
            return self._from_blocks(grid, buckets, self._blocks(grid, first, last))
        groups = self._groups(grid)
        total = sum(g.points for g in groups)
        if total <= buckets:
            return self._exact(lo, hi, origin)
        points = self._buckets(groups, origin)
        bad = sum(p.non_finite for p in points)
        return ds.DownsampledSeries(self.run_id, self.key, points, total, bad, True)

    def _exact(self, lo: int, hi: int, origin: int) -> ds.DownsampledSeries:
        rows = self._rows(and_(self.column >= lo, self.column <= hi))
        return ds.exact_series(self.run_id, self.key, rows, self.axis, origin)

    def _from_blocks(
        self, grid: ds.Grid, buckets: int, blocks: list[ds.MetricBucket]
    ) -> ds.DownsampledSeries:
        total = sum(b.count for b in blocks)
        if total <= buckets:
            return self._exact(grid.lo, grid.hi, 0)
        by_bucket: dict[int, list[ds.MetricBucket]] = {}
        for block in blocks:
            by_bucket.setdefault(grid.bucket_of(block.step), []).append(block)
        # Stored blocks come merged per bucket: most buckets are one part already.
        points = [parts[0] if len(parts) == 1 else ds.merge(parts) for parts in by_bucket.values()]
        bad = sum(p.non_finite for p in points)
        return ds.DownsampledSeries(self.run_id, self.key, points, total, bad, True)

    # -- the step axis' rollup ----------------------------------------------------------------

    def _blocks(self, grid: ds.Grid, first: int, last: int) -> list[ds.MetricBucket]:
        """The blocks of steps `[lo, hi]` in order: stored ones where they are current and
        whole in the range (already merged into the grid's buckets by the database),
        aggregated from the history elsewhere."""
        lo, hi = grid.lo, grid.hi
        block = rollups.BLOCK
        whole_from = rollups.block_of(lo)
        if lo > first and lo != whole_from:
            whole_from += block  # the first block holds points below lo
        whole_to = rollups.block_of(hi) + block
        if hi < last and hi + 1 != whole_to:
            whole_to -= block  # the last block holds points above hi
        fresh = rollups.fresh_below(self.conn, self.run_id, self.key)
        stored_to = max(whole_from, min(whole_to, whole_from if fresh is None else fresh))
        blocks = []
        if lo < whole_from:
            blocks += self._aggregated_blocks(lo, min(hi, whole_from - 1))
        if whole_from < stored_to:
            blocks += rollups.stored_buckets(
                self.conn, self.run_id, self.key, whole_from, stored_to, grid
            )
        rest = max(lo, stored_to)
        if rest <= hi:
            blocks += self._aggregated_blocks(rest, hi)
        return blocks

    def _aggregated_blocks(self, lo: int, hi: int) -> list[ds.MetricBucket]:
        grid = ds.Grid(lo, hi, rollups.block_of(lo), rollups.BLOCK)
        return self._buckets(self._groups(grid), 0)

    def rollup_is_behind(self) -> bool:
        """Whether many of the history's steps lie above the rollup's fresh blocks."""
        first, last, _ = self._extent()
        if first is None or last is None:
            return False
        fresh = rollups.fresh_below(self.conn, self.run_id, self.key)
        return last - (first if fresh is None else fresh) + 1 >= rollups.CATCH_UP_AT

    def catch_up(self) -> None:
        """Compute and store the stale blocks (in a write transaction, writers excluded)."""
        rollups.lock_for_catch_up(self.conn)
        first, last, _ = self._extent()
        if first is None or last is None:
            return
        fresh = rollups.fresh_below(self.conn, self.run_id, self.key)
        start = rollups.block_of(first) if fresh is None else fresh
        blocks: list[ds.MetricBucket] = []
        chunk = ds.MAX_BUCKETS * rollups.BLOCK
        cursor = start
        while cursor <= last:
            # From the next point on: sparse steps (far apart) cost one pass per point.
            found = self.conn.execute(
                select(func.min(_m.step)).where(self.where, _m.step >= cursor)
            ).scalar()
            if found is None:
                break
            lo = rollups.block_of(found)
            hi = min(lo + chunk - 1, last)
            blocks += self._aggregated_blocks(lo, hi)  # lo >= cursor: both start blocks
            cursor = hi + 1
        fresh_until = min(rollups.block_of(last) + rollups.BLOCK, _INT64_MAX)
        rollups.replace_blocks(self.conn, self.run_id, self.key, start, blocks, fresh_until)

    # -- aggregates over the history ----------------------------------------------------------

    def _groups(self, grid: ds.Grid) -> list[_Group]:
        """Every row aggregated at once, then again without NaN and ±inf, only for the
        buckets that hold some (they are rare; the one pass stays free of CASEs)."""
        groups = [_Group(*row) for row in self.conn.execute(self._aggregate(grid))]
        dirty = [g.number for g in groups if not g.clean]
        if not dirty:
            return groups
        query = self._aggregate(grid, finite_only=True, among=dirty)
        finite = {row[0]: row for row in self.conn.execute(query)}
        return [g if g.clean else g.only_finite(finite.get(g.number)) for g in groups]

    def _extent(self) -> tuple[int | None, int | None, int]:
        """First and last x of the whole history, and the relative axis' origin (0 else)."""
        column = self.column
        if self.axis == ds.STEP:
            # Two subqueries: each is one primary-key lookup (a combined min/max is a scan).
            first = select(func.min(column)).where(self.where).scalar_subquery()
            last = select(func.max(column)).where(self.where).scalar_subquery()
            row = self.conn.execute(select(first, last)).one()
            return row[0], row[1], 0
        row = self.conn.execute(select(func.min(column), func.max(column)).where(self.where)).one()
        origin = row[0] if self.axis == ds.RELATIVE and row[0] is not None else 0
        return row[0], row[1], origin

    def _aggregate(
        self, grid: ds.Grid, finite_only: bool = False, among: Sequence[int] = ()
    ) -> Select[Any]:
        rows = and_(self.where, _FINITE) if finite_only else self.where
        walk = self.conn.dialect.name == "sqlite" and self.axis == ds.STEP
        if walk and grid.count <= ds.MAX_BUCKETS:
            return _sqlite_step_buckets(self.conn, rows, grid, among)
        number = (self.column - literal(grid.anchor)) // literal(grid.width)
        inner = (
            select(number.label("b"), self.column.label("x"), _m.value, _m.is_nan)
            .where(rows, self.column >= grid.lo, self.column <= grid.hi)
            .subquery()
        )
        query = _group(inner.c.b, inner.c.x, inner.c.value, inner.c.is_nan, self.conn)
        query = query.group_by(inner.c.b)
        return query.where(inner.c.b.in_(among)) if among else query

    def _buckets(self, groups: Sequence[_Group], origin: int) -> list[ds.MetricBucket]:
        last_x = [g.x_last_finite if g.x_last_finite is not None else g.x_last for g in groups]
        at: dict[int, list[ds.Row]] = {}
        for row in self._rows(self.column.in_(last_x)):
            at.setdefault(row[0] if self.axis == ds.STEP else row[1], []).append(row)
        return [g.bucket(at[x], self.axis, origin) for g, x in zip(groups, last_x, strict=True)]

    def _rows(self, condition: ColumnElement[bool]) -> list[ds.Row]:
        query = select(_m.step, _m.timestamp, _m.value, _m.is_nan).where(self.where, condition)
        return [(s, t, v, bool(n)) for s, t, v, n in self.conn.execute(query)]


class _Group:
    """One bucket's aggregates; `clean` when none of its points is NaN or ±inf."""

    def __init__(
        self,
        number: int,
        points: int,
        nans: Any,
        low: float | None,
        high: float | None,
        x_last: int,
    ) -> None:
        self.number = number
        self.points = int(points)
        self.finite = self.points
        self.min, self.max = low, high
        self.x_last = x_last
        self.x_last_finite: int | None = x_last
        self.clean = not nans and _finite(low) and _finite(high)

    def only_finite(self, row: Any) -> _Group:
        """This bucket with min, max and last x over its finite points (`row`; None: none)."""
        self.finite = 0 if row is None else int(row[1])
        self.min = None if row is None else row[3]
        self.max = None if row is None else row[4]
        self.x_last_finite = None if row is None else row[5]
        return self

    def bucket(self, rows_at_last_x: list[ds.Row], axis: str, origin: int) -> ds.MetricBucket:
        any_finite = self.finite > 0
        last = ds.last_row(rows_at_last_x, axis, any_finite)
        return ds.MetricBucket(
            x=ds.x_of(last, axis, origin),
            min=self.min if any_finite else None,
            max=self.max if any_finite else None,
            last=last[2] if any_finite else None,
            step=last[0],
            timestamp=last[1],
            count=self.points,
            non_finite=self.points - self.finite,
        )


def _finite(value: float | None) -> bool:
    return value is not None and -FLOAT_MAX < value < FLOAT_MAX


def _group(
    number: ColumnElement[Any],
    x: ColumnElement[Any],
    value: ColumnElement[Any],
    is_nan: ColumnElement[Any],
    conn: Connection,
) -> Select[Any]:
    """Per bucket: its number, points, NaN points, min, max and last x, in bucket order."""
    # SQLite keeps booleans as 0/1 and sums them as they are; the others need a CAST.
    nans = type_coerce(is_nan, Integer) if conn.dialect.name == "sqlite" else cast(is_nan, Integer)
    return select(
        number,
        func.count(),
        func.sum(nans),
        func.min(value),
        func.max(value),
        func.max(x),
    ).order_by(number)


def _sqlite_step_buckets(
    conn: Connection, rows: ColumnElement[bool], grid: ds.Grid, among: Sequence[int]
) -> Select[Any]:
    """Bucket i holds the steps of `[anchor + i * width, anchor + (i + 1) * width)` that lie
    in `[lo, hi]`."""
    _ensure_bucket_numbers(conn)
    i = _BUCKET_NUMBERS.c.i
    start = literal(grid.anchor) + i * literal(grid.width)
    end = start + literal(grid.width)
    inside = and_(rows, _m.step >= start, _m.step < end, _m.step >= grid.lo, _m.step <= grid.hi)
    joined = _BUCKET_NUMBERS.join(metrics, inside)
    query = _group(i, _m.step, _m.value, _m.is_nan, conn).select_from(joined).group_by(i)
    return query.where(i.in_(among)) if among else query.where(i < grid.count)


def _ensure_bucket_numbers(conn: Connection) -> None:
    """0 … MAX_BUCKETS-1 in a temporary table of this connection (SQLite's TEMP database:
    writing it takes no lock on the main database)."""
    _BUCKET_NUMBERS.create(conn, checkfirst=True)
    if conn.execute(select(func.count()).select_from(_BUCKET_NUMBERS)).scalar() == ds.MAX_BUCKETS:
        return
    conn.exec_driver_sql(
        "INSERT OR IGNORE INTO temp.cairn_bucket_numbers (i) "
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        "SELECT i FROM n",
        (ds.MAX_BUCKETS - 1,),
    )
