"""Every search bounded in time, on every database (`CAIRN_SEARCH_TIMEOUT_SECONDS`).

The caps in cairn.store.search bound a filter's size, not its cost: a LIKE over every span
or a loose filter over a million runs can still hold a server thread and a database
connection for minutes. So a search's statements run under a time limit, set for that
search alone so that a pooled connection never carries it to the next user:

- PostgreSQL: `statement_timeout` set LOCAL to the search's transaction, which ends it; and
  `jit` off there too: PostgreSQL compiles plans it estimates as costly, and a 10-clause
  search spent 0.7 s compiling a plan that ran in 0.3 s (60 clauses: 3 of 3.4 s).
- MariaDB (`max_statement_time`) and MySQL (`max_execution_time`, SELECT only): the session
  variable, set back to its default before the connection returns to the pool; a
  connection that cannot be reset is discarded.
- SQLite: a progress handler that interrupts the statement once the deadline has passed,
  removed afterwards (the connection also serves writers).

A search stopped by its limit is refused with INVALID_PARAMETER_VALUE (400), not
TEMPORARILY_UNAVAILABLE (503): MLflow's clients retry a 503, which would run the same costly
search again, while the caller's cure is a narrower filter or a smaller page.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from cairn.exceptions import InvalidParameterValueError

#: SQLite virtual-machine instructions between two looks at the clock (well under 1 ms).
_SQLITE_CHECK_EVERY = 10_000
#: PostgreSQL's SQLSTATE for a statement cancelled by statement_timeout.
_PG_QUERY_CANCELED = "57014"
#: MariaDB's ER_STATEMENT_TIMEOUT, MySQL's ER_QUERY_TIMEOUT.
_MYSQL_TIMEOUTS = (1969, 3024)


@contextlib.contextmanager
def bounded(conn: Connection, seconds: float) -> Iterator[None]:
    """Run the block's statements on `conn` (in a transaction) under a `seconds` limit;
    one that runs past it raises InvalidParameterValueError."""
    setting = {"sqlite": _sqlite_limit, "postgresql": _postgresql_limit}.get(
        conn.dialect.name, _mysql_limit
    )
    try:
        with setting(conn, seconds):
            yield
    except DBAPIError as error:
        if not _timed_out(conn, error):
            raise
        raise InvalidParameterValueError(
            f"The search ran longer than {seconds:g} s and was stopped"
            " (CAIRN_SEARCH_TIMEOUT_SECONDS); narrow the filter or ask for fewer results."
        ) from error


def _timed_out(conn: Connection, error: DBAPIError) -> bool:
    orig: Any = error.orig
    name = conn.dialect.name
    if name == "postgresql":
        return getattr(orig, "sqlstate", None) == _PG_QUERY_CANCELED
    if name == "sqlite":
        return "interrupted" in str(orig)
    return bool(orig.args) and orig.args[0] in _MYSQL_TIMEOUTS


@contextlib.contextmanager
def _postgresql_limit(conn: Connection, seconds: float) -> Iterator[None]:
    milliseconds = str(max(1, round(seconds * 1000)))
    conn.exec_driver_sql(
        "SELECT set_config('statement_timeout', %s, true), set_config('jit', 'off', true)",
        (milliseconds,),
    )
    yield  # LOCAL settings end with the transaction, committed or rolled back


@contextlib.contextmanager
def _mysql_limit(conn: Connection, seconds: float) -> Iterator[None]:
    mariadb = bool(getattr(conn.dialect, "is_mariadb", False))
    variable = "max_statement_time" if mariadb else "max_execution_time"
    value = seconds if mariadb else max(1, round(seconds * 1000))
    conn.exec_driver_sql(f"SET SESSION {variable} = %s", (value,))
    try:
        yield
    finally:
        try:
            conn.exec_driver_sql(f"SET SESSION {variable} = DEFAULT")
        except DBAPIError:
            conn.invalidate()  # never back to the pool with the limit still set
            raise


@contextlib.contextmanager
def _sqlite_limit(conn: Connection, seconds: float) -> Iterator[None]:
    driver: Any = conn.connection.driver_connection
    deadline = time.monotonic() + seconds
    driver.set_progress_handler(lambda: time.monotonic() > deadline, _SQLITE_CHECK_EVERY)
    try:
        yield
    finally:
        driver.set_progress_handler(None, 0)
