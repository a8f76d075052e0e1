"""Registry rows become entities here: versions with their tags and aliases, registered
models with their tags, aliases and newest version per stage. Lookups go in chunks, so a
page of 200,000 versions never becomes one giant IN list."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Row, func, select, tuple_
from sqlalchemy.engine import Connection

from cairn.entities import ModelVersion, ModelVersionStage, RegisteredModel
from cairn.store.sql.schema import (
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
)

VersionKey = tuple[str, int]
_CHUNK = 500
_STAGE_ORDER = {stage.value: i for i, stage in enumerate(ModelVersionStage)}


def _chunks(items: Sequence[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield list(items[start : start + _CHUNK])


def versions_from_rows(conn: Connection, rows: Sequence[Row[Any]]) -> list[ModelVersion]:
    """Entities for model_versions rows, in their order."""
    keys = [(row.name, row.version) for row in rows]
    tags: dict[VersionKey, dict[str, str]] = {}
    aliases: dict[VersionKey, list[str]] = {}
    t, a = model_version_tags.c, registered_model_aliases.c
    for chunk in _chunks(keys):
        for name, number, key, value in conn.execute(
            select(t.name, t.version, t.key, t.value).where(tuple_(t.name, t.version).in_(chunk))
        ):
            tags.setdefault((name, number), {})[key] = value
        for name, number, alias in conn.execute(
            select(a.name, a.version, a.alias).where(tuple_(a.name, a.version).in_(chunk))
        ):
            aliases.setdefault((name, number), []).append(alias)
    return [
        _version(row, tags.get(key, {}), sorted(aliases.get(key, ())))
        for row, key in zip(rows, keys, strict=True)
    ]


def _version(row: Row[Any], tags: dict[str, str], aliases: list[str]) -> ModelVersion:
    return ModelVersion(
        name=row.name,
        version=str(row.version),
        creation_timestamp=row.creation_time,
        last_updated_timestamp=row.last_updated_time,
        current_stage=row.current_stage,
        description=row.description or "",
        source=row.source,
        run_id=row.run_id,
        status=row.status,
        status_message=row.status_message,
        user_id=row.user_id,
        run_link=row.run_link,
        model_id=row.model_id,
        tags=tags,
        aliases=tuple(aliases),
    )


def load_versions(conn: Connection, keys: Sequence[VersionKey]) -> list[ModelVersion]:
    """The versions named by `keys`, in that order; missing ones are left out."""
    mv = model_versions.c
    found: dict[VersionKey, Row[Any]] = {}
    for chunk in _chunks(keys):
        for row in conn.execute(
            select(model_versions).where(tuple_(mv.name, mv.version).in_(chunk))
        ):
            found[(row.name, row.version)] = row
    return versions_from_rows(conn, [found[k] for k in keys if k in found])


def latest_version_keys(conn: Connection, names: Sequence[str]) -> dict[str, list[VersionKey]]:
    """For each model, the highest version in each stage, in MLflow's stage order."""
    mv = model_versions.c
    grouped: dict[str, list[tuple[int, VersionKey]]] = {}
    for chunk in _chunks(names):
        for name, stage, number in conn.execute(
            select(mv.name, mv.current_stage, func.max(mv.version))
            .where(mv.name.in_(chunk))
            .group_by(mv.name, mv.current_stage)
        ):
            grouped.setdefault(name, []).append((_STAGE_ORDER.get(stage, 99), (name, number)))
    return {name: [key for _, key in sorted(found)] for name, found in grouped.items()}


def load_models(conn: Connection, names: Sequence[str]) -> list[RegisteredModel]:
    """The registered models named by `names`, in that order; missing ones are left out."""
    rm, t, a = registered_models.c, registered_model_tags.c, registered_model_aliases.c
    rows: dict[str, Row[Any]] = {}
    tags: dict[str, dict[str, str]] = {}
    aliases: dict[str, dict[str, str]] = {}
    for chunk in _chunks(names):
        rows.update(
            (row.name, row)
            for row in conn.execute(select(registered_models).where(rm.name.in_(chunk)))
        )
        for name, key, value in conn.execute(
            select(t.name, t.key, t.value).where(t.name.in_(chunk))
        ):
            tags.setdefault(name, {})[key] = value
        for name, alias, number in conn.execute(
            select(a.name, a.alias, a.version).where(a.name.in_(chunk)).order_by(a.alias)
        ):
            aliases.setdefault(name, {})[alias] = str(number)
    latest_keys = latest_version_keys(conn, list(rows))
    latest: dict[str, list[ModelVersion]] = {}
    for version in load_versions(conn, [k for keys in latest_keys.values() for k in keys]):
        latest.setdefault(version.name, []).append(version)
    return [
        RegisteredModel(
            name=row.name,
            creation_timestamp=row.creation_time,
            last_updated_timestamp=row.last_updated_time,
            description=row.description or "",
            user_id=row.user_id,
            latest_versions=tuple(latest.get(name, ())),
            tags=tags.get(name, {}),
            aliases=aliases.get(name, {}),
        )
        for name in names
        if (row := rows.get(name)) is not None
    ]
