"""Row-level steps the registry's write transactions share: lock a model or version, touch
a model's update time, and record a history event.

Writers lock in one order, the model's row before any of its versions' rows, so two
transactions on one model queue instead of deadlocking.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.engine import Connection

from cairn.entities import ModelVersionEventKind
from cairn.exceptions import ResourceDoesNotExistError
from cairn.store import validation as check
from cairn.store.sql.schema import model_version_events, model_versions, registered_models

_rm, _mv = registered_models.c, model_versions.c


def now_ms() -> int:
    return int(time.time() * 1000)


def model_missing(name: str) -> ResourceDoesNotExistError:
    return ResourceDoesNotExistError(f"Registered Model with name={name} not found")


def version_missing(name: str, number: int) -> ResourceDoesNotExistError:
    return ResourceDoesNotExistError(f"Model Version (name={name}, version={number}) not found")


def lock_model(conn: Connection, name: str) -> Row[Any]:
    """The model's row, locked until the transaction ends (SQLite locks the whole database)."""
    row = conn.execute(select(registered_models).where(_rm.name == name).with_for_update()).first()
    if row is None:
        raise model_missing(name)
    return row


def lock_version(conn: Connection, name: str, number: int) -> Row[Any]:
    """The version's row, locked, after its model's row (the one lock order)."""
    lock_model(conn, name)
    row = conn.execute(
        select(model_versions).where(_mv.name == name, _mv.version == number).with_for_update()
    ).first()
    if row is None:
        raise version_missing(name, number)
    return row


def touch_model(conn: Connection, name: str, now: int) -> None:
    conn.execute(update(registered_models).where(_rm.name == name).values(last_updated_time=now))


def record(
    conn: Connection,
    name: str,
    number: int,
    kind: ModelVersionEventKind,
    user_id: str | None,
    now: int,
    *,
    from_value: str | None = None,
    to_value: str | None = None,
    alias: str | None = None,
) -> None:
    """One history row, written in the caller's transaction."""
    conn.execute(
        insert(model_version_events).values(
            name=name,
            version=number,
            kind=kind.value,
            from_value=from_value,
            to_value=to_value,
            alias=alias,
            user_id=user_id,
            timestamp=now,
        )
    )


def checked_user(user_id: str | None) -> str | None:
    return None if user_id is None else check.user_id(user_id)
