"""Bring a database to the newest schema, safely when several processes start at once.

The common case costs one query: the stored revision already equals HEAD, so Alembic is
not even imported. Otherwise one process takes a lock (a file lock for SQLite, an
advisory lock on PostgreSQL, GET_LOCK on MySQL), checks again, and migrates.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

HEAD = "0007"
_LOCK_NAME = "cairn_schema_migration"
_PG_LOCK_KEY = 0x6361_6972_6E  # "cairn"


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        return None


def ensure_schema(engine: Engine) -> None:
    """Migrate to HEAD unless the database is already there."""
    if current_revision(engine) == HEAD:
        return
    with _migration_lock(engine):
        if current_revision(engine) != HEAD:
            upgrade(engine)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run Alembic's upgrade on `engine` (callers hold the migration lock)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.connect().execution_options(cairn_write=True) as conn, conn.begin():
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    dialect = engine.dialect.name
    if dialect == "sqlite":
        with _file_lock(engine.url.database):
            yield
    elif dialect == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
    elif dialect == "mysql":
        with engine.connect() as conn:
            conn.execute(text("SELECT GET_LOCK(:n, 600)"), {"n": _LOCK_NAME})
            try:
                yield
            finally:
                conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": _LOCK_NAME})
    else:
        yield


@contextlib.contextmanager
def _file_lock(database: str | None) -> Iterator[None]:
    if not database or database == ":memory:":
        yield
        return
    import fcntl

    with open(f"{database}.migrate-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
