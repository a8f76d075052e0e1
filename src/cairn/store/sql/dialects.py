"""The statements whose best form differs per database: bulk metric inserts and upserts.

Metric points arrive as (run_id, key, value, timestamp_ms, step) tuples and are stored with
MLflow's semantics: NaN as 0 with `is_nan`, ±inf clamped to ±FLOAT_MAX, exact repeats once.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, bindparam, func, select, tuple_
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection

from cairn.store.base import MetricPoint
from cairn.store.sql.prepared import Prepared
from cairn.store.sql.schema import latest_metrics, metrics
from cairn.store.validation import FLOAT_MAX

_SQLITE_ROWS_PER_STATEMENT = 100


def insert_metric_points(
    conn: Connection, points: Sequence[MetricPoint], bulk: bool = False
) -> None:
    """Insert points, ignoring exact repeats, with as few round trips as the driver allows.
    `bulk` (an import's batches of tens of thousands, which may be written again): on
    PostgreSQL, through COPY and without waiting for the commit's flush."""
    name = conn.dialect.name
    if name == "sqlite":
        _sqlite_insert_points(conn, points)
    elif name == "postgresql" and bulk and len(points) >= _PG_COPY_FROM_POINTS:
        _postgresql_copy_points(conn, points)
    elif name == "postgresql":
        _postgresql_insert_points(conn, points)
    else:
        rows = [_stored_row(p) for p in points]
        # Not INSERT IGNORE: that would also turn an over-long value into silent truncation.
        conn.exec_driver_sql(
            "INSERT INTO metrics (run_uuid, `key`, step, `timestamp`, value, is_nan) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE run_uuid = run_uuid",
            rows,
        )


def _stored_row(point: MetricPoint) -> tuple[str, str, int, int, float, bool]:
    run_id, key, value, timestamp, step = point
    if math.isnan(value):
        return run_id, key, step, timestamp, 0.0, True
    return run_id, key, step, timestamp, min(max(value, -FLOAT_MAX), FLOAT_MAX), False


def _sqlite_values(rows: int) -> str:
    # SQLite binds NaN as NULL, so one numbered parameter yields both value and is_nan and
    # the points go in as they are: no per-point work in Python.
    clamp = f"coalesce(min(max(?{{v}}, {-FLOAT_MAX!r}), {FLOAT_MAX!r}), 0.0)"
    groups = []
    for i in range(rows):
        b = 5 * i
        value = clamp.format(v=b + 3)
        groups.append(f"(?{b + 1}, ?{b + 2}, ?{b + 5}, ?{b + 4}, {value}, ?{b + 3} IS NULL)")
    return (
        'INSERT OR IGNORE INTO metrics (run_uuid, "key", step, "timestamp", value, is_nan) '
        "VALUES " + ", ".join(groups)
    )


_SQLITE_FULL = _sqlite_values(_SQLITE_ROWS_PER_STATEMENT)


def _flat_in_key_order(points: Sequence[MetricPoint]) -> list[Any]:
    """The points' fields in one flat list, grouped by metric key, each key's points in
    their order. A training loop logs its keys interleaved (loss, acc, loss, acc, …);
    inserted grouped, they land next to each other in the primary key's b-tree instead of
    in as many places as there are keys: measured 1.5x faster for 10 keys on SQLite."""
    groups: defaultdict[str, list[Any]] = defaultdict(list)
    for point in points:
        groups[point[1]].extend(point)
    return list(itertools.chain.from_iterable(groups.values()))


def _sqlite_insert_points(conn: Connection, points: Sequence[MetricPoint]) -> None:
    flat = _flat_in_key_order(points)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    width = 5 * _SQLITE_ROWS_PER_STATEMENT
    full = len(flat) - len(flat) % width
    if full:
        # One statement's values at a time: the driver lets go of the GIL while SQLite runs
        # each, so a training thread waiting for it never waits long.
        cursor.executemany(_SQLITE_FULL, (flat[i : i + width] for i in range(0, full, width)))
    if full < len(flat):
        cursor.execute(_sqlite_values((len(flat) - full) // 5), flat[full:])
    cursor.close()


_PG_INSERT = (
    'INSERT INTO metrics (run_uuid, "key", step, "timestamp", value, is_nan) '
    "SELECT r, k, s, t, CASE WHEN v = 'NaN' THEN 0 ELSE least(greatest(v, %(lo)s), %(hi)s) END, "
    "v = 'NaN' FROM unnest(%(r)s::text[], %(k)s::text[], %(v)s::float8[], %(t)s::bigint[], "
    "%(s)s::bigint[]) AS p(r, k, v, t, s) ON CONFLICT DO NOTHING"
)


def _postgresql_insert_points(conn: Connection, points: Sequence[MetricPoint]) -> None:
    # One statement whatever the batch size: the columns travel as five arrays.
    columns: list[Any] = [list(c) for c in zip(*points, strict=True)]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(
        _PG_INSERT,
        {
            "r": columns[0],
            "k": columns[1],
            "v": columns[2],
            "t": columns[3],
            "s": columns[4],
            "lo": -FLOAT_MAX,
            "hi": FLOAT_MAX,
        },
    )
    cursor.close()


# Binary COPY straight into `metrics` (new points: an import's usual case), under a
# savepoint; if a point is there already, the batch goes again through a staging table and
# one INSERT … SELECT that skips exact repeats. COPY was measured 3× faster than the arrays
# of _PG_INSERT (the server parses the arrays' text), and straight COPY twice as fast as
# the staged INSERT (ON CONFLICT doubles the index work). The staging table empties itself
# when the transaction commits.
_PG_COPY_FROM_POINTS = 5_000
_PG_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS cairn_staged_points (run_uuid text, key text, step bigint, "
    "ts bigint, value float8, is_nan bool) ON COMMIT DELETE ROWS"
)
_PG_COPY_METRICS = (
    'COPY metrics (run_uuid, "key", step, "timestamp", value, is_nan) FROM STDIN (FORMAT BINARY)'
)
_PG_FROM_STAGE = (
    'INSERT INTO metrics (run_uuid, "key", step, "timestamp", value, is_nan) '
    "SELECT run_uuid, key, step, ts, value, is_nan FROM cairn_staged_points ON CONFLICT DO NOTHING"
)


def _postgresql_copy_points(conn: Connection, points: Sequence[MetricPoint]) -> None:
    from psycopg.errors import UniqueViolation  # psycopg: the `postgres` extra

    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    # An import's batch need not wait for its WAL flush: commits stay in order, so a crash
    # loses only the last batches, and running the import again brings them.
    cursor.execute("SET LOCAL synchronous_commit = off")
    rows = [_stored_row(point) for point in points]
    cursor.execute("SAVEPOINT cairn_copy")
    try:
        _copy_rows(cursor, _PG_COPY_METRICS, rows)
    except UniqueViolation:
        cursor.execute("ROLLBACK TO SAVEPOINT cairn_copy")
        cursor.execute(_PG_STAGE)
        _copy_rows(cursor, "COPY cairn_staged_points FROM STDIN (FORMAT BINARY)", rows)
        cursor.execute(_PG_FROM_STAGE)
    cursor.execute("RELEASE SAVEPOINT cairn_copy")
    cursor.close()


def _copy_rows(cursor: Any, statement: str, rows: list[tuple[Any, ...]]) -> None:
    with cursor.copy(statement) as copy:
        copy.set_types(["text", "text", "int8", "int8", "float8", "bool"])
        for row in rows:
            copy.write_row(row)


def refresh_latest_metrics(conn: Connection, points: Sequence[MetricPoint]) -> None:
    """Make latest_metrics hold the newest point (by step, timestamp, value) of each metric.

    Small batches pick each metric's newest point in Python and upsert them in one
    statement. Big batches of few metrics (the hot path) let the database read the newest
    point of each off the history's index instead of comparing every point in Python.
    Either way the update only moves forward, so concurrent writers to one metric cannot
    leave an older value behind.
    """
    pairs = set(map(_RUN_AND_KEY, points))
    if len(points) > _SQL_PICK_RATIO * len(pairs):
        stmt = _statement(conn, "latest_from_history")
        stmt.executemany(conn, [{"run": run_id, "key": key} for run_id, key in pairs])
        return
    newest: dict[tuple[str, str], MetricPoint] = {}
    for point in points:
        pair = (point[0], point[1])
        held = newest.get(pair)
        if held is None or (point[4], point[3], point[2]) > (held[4], held[3], held[2]):
            newest[pair] = point
    rows = []
    for point in newest.values():
        run_id, key, step, timestamp, value, is_nan = _stored_row(point)
        rows.append(
            {
                "run_uuid": run_id,
                "key": key,
                "value": value,
                "timestamp": timestamp,
                "step": step,
                "is_nan": is_nan,
            }
        )
    _statement(conn, "latest_upsert").executemany(conn, rows)


_RUN_AND_KEY = operator.itemgetter(0, 1)
_SQL_PICK_RATIO = 50
_LATEST_COLUMNS = ["run_uuid", "key", "value", "timestamp", "step", "is_nan"]
_statements: dict[tuple[str, str], Prepared] = {}


def _statement(conn: Connection, name: str) -> Prepared:
    """Statements built once per dialect: building one costs more than running it."""
    cache_key = (conn.dialect.name, name)
    stmt = _statements.get(cache_key)
    if stmt is None:
        insert = _insert_for(conn)
        if name == "latest_upsert":
            stmt = _newer_wins(
                conn, insert(latest_metrics).values({c: bindparam(c) for c in _LATEST_COLUMNS})
            )
        else:
            m = metrics.c
            newest = (
                select(*(m[c] for c in _LATEST_COLUMNS))
                .where(m.run_uuid == bindparam("run"), m.key == bindparam("key"))
                .order_by(m.step.desc(), m.timestamp.desc(), m.value.desc())
                .limit(1)
            )
            stmt = _newer_wins(conn, insert(latest_metrics).from_select(_LATEST_COLUMNS, newest))
        stmt = _statements[cache_key] = Prepared(stmt)
    return stmt


def _newer_wins(conn: Connection, stmt: Any) -> Any:
    lm = latest_metrics.c
    if conn.dialect.name == "mysql":
        new = stmt.inserted
        newer = tuple_(new.step, new.timestamp, new.value) > tuple_(lm.step, lm.timestamp, lm.value)
        # MySQL applies assignments left to right, each seeing the ones before it. With
        # this order the comparison still answers as it did on the old row.
        return stmt.on_duplicate_key_update(
            [(c, func.if_(newer, new[c], lm[c])) for c in ("is_nan", "value", "timestamp", "step")]
        )
    new = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=["run_uuid", "key"],
        set_={c: new[c] for c in ("value", "timestamp", "step", "is_nan")},
        where=tuple_(new.step, new.timestamp, new.value) > tuple_(lm.step, lm.timestamp, lm.value),
    )


def _insert_for(conn: Connection) -> Any:
    return {"sqlite": sqlite.insert, "postgresql": postgresql.insert, "mysql": mysql.insert}[
        conn.dialect.name
    ]


def upsert(conn: Connection, table: Table, rows: list[dict[str, Any]], keys: Sequence[str]) -> None:
    """Insert rows, overwriting the non-key columns of rows that already exist."""
    if not rows:
        return
    cache_key = (conn.dialect.name, f"upsert:{table.name}")
    prepared = _statements.get(cache_key)
    if prepared is None:
        stmt = _insert_for(conn)(table).values({c.name: bindparam(c.name) for c in table.columns})
        others = [c.name for c in table.columns if c.name not in keys]
        if conn.dialect.name == "mysql":
            stmt = stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in others})
        else:
            stmt = stmt.on_conflict_do_update(
                index_elements=list(keys), set_={c: stmt.excluded[c] for c in others}
            )
        prepared = _statements[cache_key] = Prepared(stmt)
    prepared.executemany(conn, rows)


def insert_ignore(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> int:
    """Insert rows, skipping any whose key already exists; returns how many were new."""
    if not rows:
        return 0
    cache_key = (conn.dialect.name, f"insert_ignore:{table.name}")
    prepared = _statements.get(cache_key)
    if prepared is None:
        stmt = _insert_for(conn)(table).values({c.name: bindparam(c.name) for c in table.columns})
        if conn.dialect.name == "mysql":
            # A no-op update, not INSERT IGNORE, which would hide errors such as truncation.
            first_key = table.primary_key.columns[0].name
            stmt = stmt.on_duplicate_key_update({first_key: table.c[first_key]})
        else:
            stmt = stmt.on_conflict_do_nothing()
        prepared = _statements[cache_key] = Prepared(stmt)
    return prepared.executemany(conn, rows)
