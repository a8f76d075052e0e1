"""Bring a database to the newest schema, safely when several processes start at once.

The common case costs one query: the stored revision already equals HEAD, so Alembic is
not even imported. Otherwise one process takes a lock (a file lock for SQLite, an
advisory lock on PostgreSQL, GET_LOCK on MySQL), checks again, and migrates. A SQLite
file is copied beside itself first (backup.py), and a database at a revision this code does
not know (migrated by a newer Cairn) is refused rather than handed to Alembic.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from cairn.exceptions import InvalidStateError
from cairn.store.sql.backup import backup_sqlite
from cairn.version import __version__

HEAD = "0009"
_LOCK_NAME = "cairn_schema_migration"
_PG_LOCK_KEY = 0x6361_6972_6E  # "cairn"


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        return None


def known_revisions() -> frozenset[str]:
    """The revisions this code can migrate from: one file `<revision>_<name>.py` each."""
    versions = Path(__file__).parent / "migrations" / "versions"
    return frozenset(p.name.partition("_")[0] for p in versions.glob("[0-9]*_*.py"))


def refuse_unknown(engine: Engine, revision: str | None) -> None:
    """Raise when `revision` is not one of this code's: a newer Cairn migrated the
    database, and Alembic would fail on it with "Can't locate revision"."""
    if revision is not None and revision not in known_revisions():
        raise InvalidStateError(
            f"The database {engine.url.render_as_string(hide_password=True)} is at schema "
            f"revision {revision}, which this Cairn ({__version__}, schema revision {HEAD}) "
            "does not know: a newer Cairn migrated it. Upgrade Cairn to use this database."
        )


def ensure_schema(engine: Engine, *, backup: bool = True) -> str | None:
    """Migrate to HEAD unless the database is already there. A SQLite file that held data
    is copied beside itself first (unless `backup` is False); returns that copy's path."""
    revision = current_revision(engine)
    if revision == HEAD:
        return None
    refuse_unknown(engine, revision)
    with _migration_lock(engine):
        revision = current_revision(engine)
        if revision == HEAD:
            return None
        refuse_unknown(engine, revision)
        copy = _backup(engine, revision) if backup else None
        upgrade(engine)
        return copy


def _backup(engine: Engine, revision: str | None) -> str | None:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or revision is None or database in (None, "", ":memory:"):
        return None
    assert database is not None
    copy = backup_sqlite(database, revision)
    logging.getLogger("cairn.migrate").warning(
        "Migrating %s from schema revision %s to %s; the database as it was is kept at %s.",
        database,
        revision,
        HEAD,
        copy,
    )
    return copy


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


def migrated_engine(uri: str) -> Engine:
    """A Cairn engine on `uri` with the schema at HEAD; its pool is closed again when the
    database cannot be used (a newer revision, a failed migration), never left to the GC."""
    from cairn.store.sql import engine as engines

    made = engines.create(uri)
    try:
        ensure_schema(made)
    except BaseException:
        made.dispose()
        raise
    return made
