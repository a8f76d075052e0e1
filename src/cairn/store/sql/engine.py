"""SQLAlchemy engines set up per dialect.

SQLite: WAL (readers never block the writer), a long busy timeout, and every write
transaction opened with BEGIN IMMEDIATE. A deferred transaction that later writes can
fail at once with "database is locked" whatever the timeout; taking the write lock up
front makes concurrent writers queue instead.
"""

from __future__ import annotations

import os
import weakref
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import NullPool

from cairn import env
from cairn.exceptions import InvalidParameterValueError
from cairn.extras import require

WRITE = {"cairn_write": True}

_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
}
# The driver each of those needs, and the extra that brings it.
_DRIVER_EXTRAS = {
    "postgresql+psycopg": ("psycopg", "postgres"),
    "mysql+pymysql": ("pymysql", "mysql"),
}


def normalize_uri(uri: str) -> str:
    """Pick the driver Cairn ships with when the URI names only the database."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        raise InvalidParameterValueError(f"Invalid database URI {uri!r}.")
    return f"{_DRIVERS.get(scheme, scheme)}://{rest}"


def create(uri: str) -> Engine:
    """An engine for `uri` (sqlite, postgresql or mysql) with Cairn's session settings."""
    url = make_url(normalize_uri(uri))
    if url.get_backend_name() == "sqlite":
        engine = _sqlite_engine(url.database)
        if url.database and url.database != ":memory:":
            _give_up_pool_in_forked_children(engine)
        return engine
    _require_driver(url.drivername)
    options: dict[str, Any] = {"pool_pre_ping": True, "pool_size": 4, "max_overflow": 8}
    if url.get_backend_name() == "mysql":
        url = url.update_query_dict({"charset": "utf8mb4"})
        options["isolation_level"] = "READ COMMITTED"
    engine = create_engine(url, **options)
    _give_up_pool_in_forked_children(engine)
    return engine


def require_driver(uri: str) -> None:
    """Raise MissingExtraError (naming the extra) when the driver `uri` needs is missing:
    `cairn server` checks this before it starts its workers. A URI that does not parse is
    left for the store to refuse, with its own message."""
    try:
        url = make_url(normalize_uri(uri))
    except (ArgumentError, InvalidParameterValueError):
        return
    _require_driver(url.drivername)


def _require_driver(drivername: str) -> None:
    """Name the extra to install when Cairn's own driver is missing, rather than leave
    SQLAlchemy's traceback from deep inside the dialect."""
    if drivername in _DRIVER_EXTRAS:
        module, extra = _DRIVER_EXTRAS[drivername]
        require(module, extra=extra, needed_for=f"A {drivername.partition('+')[0]} store")


# Every engine this process made, so that a forked child can give up their pools.
_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def _give_up_pool_in_forked_children(engine: Engine) -> None:
    """A pooled connection is used only by the process that opened it.

    After `os.fork()` the child holds copies of the parent's pooled connections: a socket
    that two processes talk over interleaves their protocol messages ("unexpected result
    EMPTY_QUERY", a connection stuck in a transaction), and even a pre-ping from the child
    breaks the parent's session. The child gives the pools up without closing anything
    (closing would end the parent's sessions too) and opens connections of its own.
    """
    _engines.add(engine)


def _forget_pools_in_child() -> None:
    for engine in list(_engines):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_pools_in_child)


def _sqlite_engine(path: str | None) -> Engine:
    memory = not path or path == ":memory:"
    if not memory:
        assert path is not None
        os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    engine = create_engine(
        f"sqlite:///{path or ':memory:'}",
        # One connection per thread; NullPool for :memory: would lose the database.
        poolclass=None if memory else NullPool if os.environ.get("CAIRN_SQLITE_NULLPOOL") else None,
        connect_args={"check_same_thread": False, "timeout": env.sqlite_busy_timeout_seconds()},
    )
    timeout_ms = int(env.sqlite_busy_timeout_seconds() * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: object) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        for pragma in (
            "synchronous=NORMAL",
            "foreign_keys=ON",
            f"busy_timeout={timeout_ms}",
            "case_sensitive_like=ON",
            "cache_size=-32768",
            # Checkpoints (which fsync) every 64 MB of WAL rather than SQLite's 4 MB: commits
            # cost half as much, and the WAL file is cut back to 64 MB afterwards.
            "wal_autocheckpoint=16384",
            "journal_size_limit=67108864",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get("cairn_write", False)
        # Straight to the driver: SQLAlchemy's execute path would cost more than the BEGIN.
        driver = connection.connection.driver_connection
        driver.execute("BEGIN IMMEDIATE" if write else "BEGIN")  # type: ignore[union-attr]

    return engine


_SEARCH_TABLES = ("runs", "latest_metrics", "params", "tags", "experiments")


def refresh_statistics(engine: Engine) -> None:
    """ANALYZE the tables search reads when their statistics are missing or the runs table
    has more than doubled, or shrunk to less than half (a gc), since (MySQL keeps its own
    statistics current).

    Without statistics a planner guesses which index is selective: SQLite takes ~4x longer
    on a filtered search over 10,000 runs, and PostgreSQL, right after a bulk load, picks
    nested scans that take 100x longer. SQLite's sampled statistics (`analysis_limit`)
    mislead it the same way, so there the tables are analysed whole (25 ms at 10,000 runs);
    the metric history, which search never reads, is left out.
    """
    dialect = engine.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        return
    with engine.connect().execution_options(**WRITE) as conn:
        runs = conn.exec_driver_sql("SELECT count(*) FROM runs").scalar() or 0
        analysed = _analysed_run_count(conn, dialect)
        if runs < 100 and analysed >= 0 or runs < analysed * 2 and analysed < runs * 2:
            return
        if dialect == "sqlite":
            for table in _SEARCH_TABLES:
                conn.exec_driver_sql(f"ANALYZE {table}")
        else:
            conn.exec_driver_sql(f"ANALYZE {', '.join(_SEARCH_TABLES)}")
        conn.commit()


def _analysed_run_count(conn: Connection, dialect: str) -> int:
    """The runs table's row count when it was last analysed; -1 if never."""
    if dialect == "sqlite":
        try:
            row = conn.exec_driver_sql(
                "SELECT stat FROM sqlite_stat1 WHERE tbl = 'runs' LIMIT 1"
            ).first()
        except Exception:  # no sqlite_stat1 table before the first ANALYZE
            return -1
        return int(row[0].split()[0]) if row else -1
    tuples = conn.exec_driver_sql(
        "SELECT reltuples FROM pg_class WHERE relname = 'runs' AND relkind = 'r'"
    ).scalar()
    return -1 if tuples is None or tuples < 0 else int(tuples)
