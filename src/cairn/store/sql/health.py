"""What `cairn doctor` reads from (and, told to, repairs in) a tracking database, apart from
its schema (schema_check.py): SQLite's settings, runs left RUNNING, the ids that artifact
folders are checked against, and planner statistics.

The doctor looks before it touches: `open_engine` gives SQLite a plain engine, because
Cairn's own (engine.py) switches every file it opens to WAL, and a check that repaired
what it was looking at would report nothing.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine, event, func, select, update
from sqlalchemy.pool import NullPool

from cairn import env
from cairn.entities import RunStatus
from cairn.store.sql import engine as engines
from cairn.store.sql.schema import experiments, latest_metrics, logged_models, runs, tags

_CHUNK = 500  # ids per IN (...) list


def sqlite_file(uri: str) -> str | None:
    """The file of a SQLite URI; None for another database or an in-memory one."""
    url = sa.make_url(engines.normalize_uri(uri))
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return url.database


def open_engine(uri: str) -> Engine:
    """An engine that changes nothing by connecting (see the module's docstring)."""
    path = sqlite_file(uri)
    if path is None:
        return engines.create(uri)
    engine = sa.create_engine(
        f"sqlite:///{path}",
        poolclass=NullPool,
        connect_args={"timeout": env.sqlite_busy_timeout_seconds()},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: object) -> None:
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    return engine


@contextlib.contextmanager
def _sqlite(path: str) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(path, timeout=env.sqlite_busy_timeout_seconds())
    try:
        yield connection
    finally:
        connection.close()


def journal_mode(path: str) -> str:
    """The journal mode stored in the SQLite file (`wal` once Cairn has opened it)."""
    with _sqlite(path) as connection:
        return str(connection.execute("PRAGMA journal_mode").fetchone()[0]).lower()


def set_wal(path: str) -> str:
    """Switch the file to WAL; the mode SQLite reports afterwards (not `wal` where the file
    system cannot share memory between processes, as on some network mounts)."""
    with _sqlite(path) as connection:
        return str(connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()


def enforces_foreign_keys(path: str) -> bool:
    """Whether this SQLite library enforces foreign keys once asked to (a build without
    them answers nothing), as every connection Cairn opens asks."""
    with _sqlite(path) as connection:
        connection.execute("PRAGMA foreign_keys=ON")
        row = connection.execute("PRAGMA foreign_keys").fetchone()
        return bool(row and row[0])


def foreign_key_violations(path: str, limit: int = 1000) -> int:
    """Rows whose parent is gone (written while enforcement was off), counted up to `limit`."""
    with _sqlite(path) as connection:
        cursor = connection.execute("PRAGMA foreign_key_check")
        return len(cursor.fetchmany(limit))


@dataclass(frozen=True)
class StuckRun:
    run_id: str
    experiment_id: str
    start_time: int
    last_activity: int  # ms: its newest metric's timestamp, else its start time


def stuck_runs(engine: Engine, idle_since_ms: int) -> list[StuckRun]:
    """RUNNING runs with no activity at or after `idle_since_ms`."""
    newest = (
        select(func.max(latest_metrics.c.timestamp))
        .where(latest_metrics.c.run_uuid == runs.c.run_uuid)
        .scalar_subquery()
    )
    query = select(runs.c.run_uuid, runs.c.experiment_id, runs.c.start_time, newest).where(
        runs.c.status == RunStatus.RUNNING.value, runs.c.start_time < idle_since_ms
    )
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(runs.c.start_time)).all()
    found = [StuckRun(r[0], str(r[1]), r[2], max(r[2], r[3] or 0)) for r in rows]
    return [run for run in found if run.last_activity < idle_since_ms]


@dataclass(frozen=True)
class WatchedRun:
    """A RUNNING run with a heartbeat tag (cairn.maintenance.run_owner)."""

    run_id: str
    experiment_id: str
    start_time: int
    last_point: int | None  # ms: its newest metric's timestamp
    heartbeat: str
    owner: str | None


def watched_runs(engine: Engine, heartbeat_tag: str, owner_tag: str) -> list[WatchedRun]:
    """RUNNING runs that carry `heartbeat_tag`, with their owner tag and newest metric."""

    def tag(key: str) -> sa.ScalarSelect[Any]:
        return (
            select(tags.c.value)
            .where(tags.c.run_uuid == runs.c.run_uuid, tags.c.key == key)
            .scalar_subquery()
        )

    newest = (
        select(func.max(latest_metrics.c.timestamp))
        .where(latest_metrics.c.run_uuid == runs.c.run_uuid)
        .scalar_subquery()
    )
    beat = tags.alias("beat")
    query = (
        select(
            runs.c.run_uuid,
            runs.c.experiment_id,
            runs.c.start_time,
            newest,
            beat.c.value,
            tag(owner_tag),
        )
        .join(beat, (beat.c.run_uuid == runs.c.run_uuid) & (beat.c.key == heartbeat_tag))
        .where(runs.c.status == RunStatus.RUNNING.value)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [WatchedRun(r[0], str(r[1]), r[2], r[3], r[4] or "", r[5]) for r in rows]


def kill_runs(engine: Engine, stuck: Iterable[StuckRun]) -> int:
    """End each run KILLED at its last activity, unless it ended meanwhile; how many were."""
    killed = 0
    with engine.connect().execution_options(**engines.WRITE) as conn:
        for run in stuck:
            result = conn.execute(
                update(runs)
                .where(runs.c.run_uuid == run.run_id, runs.c.status == RunStatus.RUNNING.value)
                .values(status=RunStatus.KILLED.value, end_time=run.last_activity)
            )
            killed += result.rowcount
        conn.commit()
    return killed


def experiment_locations(engine: Engine) -> dict[str, str | None]:
    """Every experiment's id and artifact location, deleted ones included."""
    with engine.connect() as conn:
        rows = conn.execute(select(experiments.c.experiment_id, experiments.c.artifact_location))
        return {str(row[0]): row[1] for row in rows}


def existing_run_ids(engine: Engine, ids: Iterable[str]) -> set[str]:
    """Those of `ids` that name a run row."""
    return _existing(engine, runs.c.run_uuid, ids)


def existing_logged_model_ids(engine: Engine, ids: Iterable[str]) -> set[str]:
    """Those of `ids` that name a logged model row."""
    return _existing(engine, logged_models.c.model_id, ids)


def _existing(engine: Engine, column: sa.Column[str], ids: Iterable[str]) -> set[str]:
    wanted = sorted(set(ids))
    found: set[str] = set()
    with engine.connect() as conn:
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            found.update(conn.execute(select(column).where(column.in_(chunk))).scalars())
    return found


def statistics(engine: Engine) -> tuple[int, int] | None:
    """(rows in runs, rows when the planner's statistics were taken; -1: never), or None
    where the database keeps them itself (MySQL/MariaDB)."""
    dialect = engine.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        return None
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(runs)).scalar() or 0
        if dialect == "sqlite":
            if not conn.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"
            ).first():
                return count, -1
            stat = conn.exec_driver_sql(
                "SELECT stat FROM sqlite_stat1 WHERE tbl = 'runs' LIMIT 1"
            ).scalar()
            return count, int(str(stat).split()[0]) if stat else -1
        tuples = conn.exec_driver_sql(
            "SELECT reltuples FROM pg_class WHERE relname = 'runs' AND relkind = 'r'"
        ).scalar()
        return count, -1 if tuples is None or tuples < 0 else int(tuples)
