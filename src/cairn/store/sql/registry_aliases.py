"""Aliases and the version history in SQL: the part of the RegistryStore contract that moves
named pointers between versions and reads back what happened. SqlRegistryStore inherits
this; it is apart because it is its own concept.

Moving an alias writes two events: `alias_set` on the version it now points at (from: the
version it left) and `alias_deleted` on the version it left (to: its new version), so each
version's history alone tells its whole story.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Connection

from cairn.entities import ModelVersion, ModelVersionEvent, ModelVersionEventKind
from cairn.exceptions import InvalidParameterValueError
from cairn.store import registry_validation as valid
from cairn.store.sql import dialects, registry_loading
from cairn.store.sql.registry_rows import (
    checked_user,
    lock_model,
    lock_version,
    model_missing,
    now_ms,
    record,
    version_missing,
)
from cairn.store.sql.schema import (
    model_version_events,
    model_versions,
    registered_model_aliases,
    registered_models,
)
from cairn.store.sql.transactions import SqlTransactions

_rm, _mv, _alias = registered_models.c, model_versions.c, registered_model_aliases.c


def _aliased_version(conn: Connection, name: str, alias: str) -> int | None:
    """The version `alias` of model `name` points at, or None."""
    number: int | None = conn.execute(
        select(_alias.version).where(_alias.name == name, _alias.alias == alias)
    ).scalar()
    return number


def _record_alias_left(
    conn: Connection,
    name: str,
    alias: str,
    previous: int,
    actor: str | None,
    now: int,
    to_value: str | None = None,
) -> None:
    """`alias_deleted` on the version `alias` left (`to_value`: the version it moved to)."""
    record(
        conn,
        name,
        previous,
        ModelVersionEventKind.ALIAS_DELETED,
        actor,
        now,
        from_value=str(previous),
        to_value=to_value,
        alias=alias,
    )


class SqlRegistryAliases(SqlTransactions):
    """Aliases and history (see RegistryStore in store/base.py)."""

    def set_registered_model_alias(
        self, name: str, alias: str, version: str, user_id: str | None = None
    ) -> None:
        name, alias, number = valid.model_name(name), valid.alias(alias), valid.version(version)
        actor = checked_user(user_id)

        def work(conn: Connection) -> None:
            lock_version(conn, name, number)
            previous = _aliased_version(conn, name, alias)
            row = {"name": name, "alias": alias, "version": number}
            dialects.upsert(conn, registered_model_aliases, [row], ("name", "alias"))
            now = now_ms()
            if previous is not None and previous != number:
                # The version it left records the move too, so each history is complete.
                _record_alias_left(conn, name, alias, previous, actor, now, to_value=str(number))
            record(
                conn,
                name,
                number,
                ModelVersionEventKind.ALIAS_SET,
                actor,
                now,
                from_value=None if previous is None else str(previous),
                to_value=str(number),
                alias=alias,
            )

        self._retrying(work)

    def delete_registered_model_alias(
        self, name: str, alias: str, user_id: str | None = None
    ) -> None:
        name, alias, actor = valid.model_name(name), valid.alias(alias), checked_user(user_id)

        def work(conn: Connection) -> None:
            lock_model(conn, name)
            previous = _aliased_version(conn, name, alias)
            if previous is None:
                return  # MLflow deletes a missing alias silently
            conn.execute(
                delete(registered_model_aliases).where(_alias.name == name, _alias.alias == alias)
            )
            _record_alias_left(conn, name, alias, previous, actor, now_ms())

        self._retrying(work)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        name = valid.model_name(name)
        latest = isinstance(alias, str) and alias.lower() == "latest"
        if not latest:
            alias = valid.alias(alias)
        with self._read() as conn:
            if not conn.execute(select(_rm.name).where(_rm.name == name)).first():
                raise model_missing(name)
            if latest:
                number = conn.execute(
                    select(func.max(_mv.version)).where(_mv.name == name)
                ).scalar()
            else:
                number = _aliased_version(conn, name, alias)
            found = registry_loading.load_versions(conn, [(name, number)]) if number else []
        if not found:
            # MLflow answers 400 INVALID_PARAMETER_VALUE here, not 404.
            raise InvalidParameterValueError(
                f"Registered model alias {alias} not found for model {name}."
            )
        return found[0]

    def get_model_version_history(self, name: str, version: str) -> list[ModelVersionEvent]:
        name, number = valid.model_name(name), valid.version(version)
        e = model_version_events.c
        with self._read() as conn:
            rows = conn.execute(
                select(model_version_events)
                .where(e.name == name, e.version == number)
                .order_by(e.id)
            ).all()
        if not rows:  # a created version always has its `created` event
            raise version_missing(name, number)
        return [
            ModelVersionEvent(
                name=row.name,
                version=str(row.version),
                kind=ModelVersionEventKind(row.kind),
                timestamp=row.timestamp,
                user_id=row.user_id,
                from_value=row.from_value,
                to_value=row.to_value,
                alias=row.alias,
            )
            for row in rows
        ]
