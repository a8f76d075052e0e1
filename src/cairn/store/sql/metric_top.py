"""First pages of run searches ordered by a metric, found by walking the top of its index.

A search ordered by `metrics.m` cannot read the `(key, value)` index of latest_metrics in
order: its ORDER BY puts NaN and missing values last with a CASE, so the database joins
every run that passes the filter and sorts them all (PostgreSQL, a filtered top-100 over
1,000,000 runs: 2.3 s; SQLite over 100,000: 42 ms). The runs of a first page are among those
with the highest (lowest, ascending) finite values of `m`, so first_rows sends one statement
that

1. walks the top `depth` finite entries of that index in order, checks each one's run
   against the search (experiments, lifecycle stages, filter) and keeps the first `end`
   matches (page end = offset + rows; PostgreSQL reads no further than the last of them);
2. runs the search itself over those runs and every other run tied with the last value
   found, which orders them exactly as the whole query does (ties, later order keys).

That set holds every match whose value is at least the last one found (a match the walk
did not keep comes after its last one in the index, or below the top `depth` entries:
either way no higher than that value, and the runs tied with it are in), so it is a first
part of the whole answer, and when it fills the page it is the page: one statement, one
snapshot. The same 1,000,000 runs: 28 ms, or 44 ms within one experiment of five, loading
the runs included.

When a walk finds too few, a deeper one follows (GROWTH times deeper, at most ROUNDS in
all) if the matches found predict that it fills the page; otherwise the caller runs the
whole query. Each walk must be worth it: the metric has at least WORTH_IT times `depth`
rows (a separate count, from the index), or the whole query costs about as much. SQLite
and PostgreSQL; MySQL and MariaDB, not measured, keep the whole query.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.engine import Connection

from cairn.store.search import Comparison, OrderBy
from cairn.store.sql import query
from cairn.store.sql.schema import latest_metrics, runs

#: The first walk reads this many index entries per row up to the page end. PostgreSQL
#: stops reading at the page's last match, so it may look deep: 32 is enough where a
#: twentieth of the metric's runs match (one experiment of five, one model of four).
#: SQLite reads and sorts all of them (a subquery with a LIMIT is materialized), so there
#: the depth is the cost.
CANDIDATES_PER_ROW = {"postgresql": 32, "sqlite": 16}
#: Each further walk is this many times deeper, and is tried only when the last one found
#: at least 1/GROWTH of the rows wanted.
GROWTH = 8
ROUNDS = 3
#: Only where the metric has this many times more rows than the walk reads (else the whole
#: query costs about as much).
WORTH_IT = 8
#: Deeper pages read the query whole (their walks would cover most of the runs).
MAX_PAGE_END = 5_000

_lm = latest_metrics.c


def first_rows(
    conn: Connection,
    experiment_ids: Sequence[int],
    stages: Sequence[str],
    filters: Sequence[Comparison],
    order: Sequence[OrderBy],
    rows: int,
    offset: int,
    candidates_per_row: int | None = None,
    worth_it: int = WORTH_IT,
) -> list[str] | None:
    """Rows `offset` to `offset + rows` of the search's answer, or None when the top of
    the index cannot tell them (the caller then runs the whole query)."""
    dialect = conn.dialect.name
    if dialect not in CANDIDATES_PER_ROW or not order or order[0].kind != "metric":
        return None
    end = offset + rows
    if end > MAX_PAGE_END:
        return None
    depth = (candidates_per_row or CANDIDATES_PER_ROW[dialect]) * end
    for _ in range(ROUNDS):
        if not _holds(conn, order[0], worth_it * depth):
            return None
        matched = _matches_from_top(experiment_ids, stages, filters, order, depth, end)
        stmt = query.run_search(experiment_ids, stages, filters, order, matched)
        found = list(conn.execute(stmt.limit(end)).scalars())
        if len(found) == end:
            return found[offset:]
        if len(found) * GROWTH < end:  # a deeper walk would likely fall short too
            return None
        depth *= GROWTH
    return None


def _matches_from_top(
    experiment_ids: Sequence[int],
    stages: Sequence[str],
    filters: Sequence[Comparison],
    order: Sequence[OrderBy],
    depth: int,
    end: int,
) -> Select[Any]:
    """Ids of the first `end` matching runs among the top `depth` finite entries of the
    order metric's index, in index order, and of every run tied with the last of them."""
    spec = order[0]
    ranked = (
        select(_lm.run_uuid, _lm.value)
        .where(_lm.key == spec.key, _lm.is_nan.is_(False))
        .order_by(_lm.value.asc() if spec.ascending else _lm.value.desc())
        .limit(depth)
        .subquery("ranked")
    )
    walk = (
        query.run_search(experiment_ids, stages, filters, ())
        .order_by(None)
        .join(ranked, ranked.c.run_uuid == runs.c.run_uuid)
        .add_columns(ranked.c.value)
        .order_by(ranked.c.value.asc() if spec.ascending else ranked.c.value.desc())
        .limit(end)
        .cte("walk")
    )
    last = (func.max if spec.ascending else func.min)(walk.c.value)
    tied = select(_lm.run_uuid).where(
        _lm.key == spec.key, _lm.value == select(last).scalar_subquery()
    )
    both = select(walk.c.run_uuid).union(tied).subquery("matched")
    return select(both.c.run_uuid)


def _holds(conn: Connection, spec: OrderBy, n: int) -> bool:
    """Whether the metric has at least n rows, read from the covering (key, value) index."""
    nth: Select[Any] = (
        select(_lm.value).where(_lm.key == spec.key).order_by(_lm.value).offset(n - 1)
    )
    return conn.execute(nth.limit(1)).first() is not None
