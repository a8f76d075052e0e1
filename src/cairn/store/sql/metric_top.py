"""First pages of run searches ordered by a metric, read from the top of its index.

SQLite plans `order_by=["metrics.m DESC"], max_results=100` over 100,000 runs by joining
every run that passes the filter and sorting them all (42 ms here). The runs of the first
pages are among those with the highest (lowest, ascending) values of `m`, which the
`(key, value)` index hands out in order. So the same query is run once more, restricted to
the top CANDIDATES_PER_ROW × (page end) values and to finite ones, and its answer is kept
only when that alone fills the page: every run left out sorts after all of those kept (a
smaller value, NaN, or none). Otherwise the caller runs the query whole. SQLite only: the
other databases plan such queries from the index themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.engine import Connection

from cairn.store.search import Comparison, OrderBy
from cairn.store.sql import query
from cairn.store.sql.schema import latest_metrics

CANDIDATES_PER_ROW = 16
#: Only where the metric has this many times more rows than candidates (else the whole
#: query costs about as much as the restricted one).
WORTH_IT = 8
#: Deeper pages read the query whole (their candidates would be most of the runs).
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
    candidates_per_row: int = CANDIDATES_PER_ROW,
    worth_it: int = WORTH_IT,
) -> list[str] | None:
    """Rows `offset` to `offset + rows` of the search's answer, or None when the top of
    the index cannot tell them (the caller then runs the whole query)."""
    if conn.dialect.name != "sqlite" or not order or order[0].kind != "metric":
        return None
    end = offset + rows
    if end > MAX_PAGE_END:
        return None
    spec = order[0]
    cap = candidates_per_row * end
    if _nth_value(conn, spec, worth_it * cap) is None:
        return None
    threshold = _nth_value(conn, spec, cap)
    within = _lm.value <= threshold if spec.ascending else _lm.value >= threshold
    candidates = select(_lm.run_uuid).where(_lm.key == spec.key, within)
    stmt = query.run_search(experiment_ids, stages, filters, order, candidates)
    found = list(conn.execute(stmt.limit(rows).offset(offset)).scalars())
    return found if len(found) == rows else None


def _nth_value(conn: Connection, spec: OrderBy, n: int) -> Any:
    """The n-th value of the metric in the order's direction (NaN counts as its stored 0);
    None when fewer rows hold it. Read from the covering (key, value) index."""
    value = _lm.value.asc() if spec.ascending else _lm.value.desc()
    nth: Select[Any] = (
        select(_lm.value).where(_lm.key == spec.key).order_by(value).limit(1).offset(n - 1)
    )
    return conn.execute(nth).scalar()
