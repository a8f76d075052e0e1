"""The three databases of the issue-19 scenarios: a SQLite file, and a fresh database on the
PostgreSQL and MariaDB servers the test suite uses (created as cairn_reliability_<pid>_<n>
and dropped afterwards, so a run never sees another's rows)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SERVERS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "mysql": "mysql+pymysql://root@127.0.0.1:3306/test",
}
BACKENDS = ("sqlite", "postgresql", "mysql")
NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mysql": "MariaDB"}
_COUNTER = itertools.count()


@contextmanager
def fresh_database(backend: str, folder: Path) -> Iterator[str]:
    """A URI of an empty database of `backend`, dropped on the way out."""
    if backend == "sqlite":
        folder.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{folder / 'cairn.db'}"
        return
    import sqlalchemy as sa

    server = sa.make_url(SERVERS[backend])
    name = f"cairn_reliability_{os.getpid()}_{next(_COUNTER)}"
    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        force = " WITH (FORCE)" if backend == "postgresql" else ""
        with engine.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
        engine.dispose()


def reachable(backend: str) -> str | None:
    """None when `backend` can be used, else why not (the scenario reports it)."""
    if backend == "sqlite":
        return None
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(SERVERS[backend])
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        engine.dispose()
    except Exception as error:
        return f"{type(error).__name__}: {str(error).splitlines()[0][:120]}"
    return None
