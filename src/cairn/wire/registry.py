"""The model registry on the wire (MLflow's `model_registry.proto`) and Cairn's history of a
version's moves.

A version is a string on MLflow's wire; a version's `aliases` are names, a registered
model's are `[{alias, version}]`. Unset optional strings are left out, and read back as None
(as is "").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cairn.entities.registry import (
    ModelVersion,
    ModelVersionEvent,
    ModelVersionEventKind,
    RegisteredModel,
)
from cairn.exceptions import InvalidParameterValueError
from cairn.wire.fields import (
    as_list,
    as_object,
    field,
    integer,
    optional_text,
    pairs,
    parse_tag_map,
    present,
    text,
)
from cairn.wire.scalars import parse_version

HISTORY_FIELD = "events"
"""`GET /model-versions/history` (Cairn's addition) answers `{"events": [...]}`, oldest first."""


def _enum_text(value: Any) -> str:
    """A stage, status or kind given as its enum or as its text."""
    return str(getattr(value, "value", value))


# -- model versions ------------------------------------------------------------------------


def model_version(v: ModelVersion) -> dict[str, Any]:
    return present(
        {
            "name": v.name,
            "version": str(v.version),
            "creation_timestamp": v.creation_timestamp,
            "last_updated_timestamp": v.last_updated_timestamp,
            "user_id": v.user_id,
            "current_stage": _enum_text(v.current_stage),
            "description": v.description,
            "source": v.source,
            "run_id": v.run_id,
            "status": _enum_text(v.status),
            "status_message": v.status_message,
            "tags": pairs(v.tags),
            "run_link": v.run_link,
            "aliases": list(v.aliases),
            "model_id": v.model_id,
        }
    )


def parse_model_version(v: Mapping[str, Any]) -> ModelVersion:
    path = "model_version"
    return ModelVersion(
        name=text(path, v, "name", True),
        version=parse_version(f"{path}.version", field(path, v, "version", True)),
        creation_timestamp=integer(path, v, "creation_timestamp"),
        last_updated_timestamp=integer(path, v, "last_updated_timestamp"),
        current_stage=text(path, v, "current_stage") or "None",
        description=text(path, v, "description"),
        source=text(path, v, "source"),
        run_id=optional_text(v.get("run_id")),
        status=text(path, v, "status") or "READY",
        status_message=optional_text(v.get("status_message")),
        user_id=optional_text(v.get("user_id")),
        run_link=optional_text(v.get("run_link")),
        model_id=optional_text(v.get("model_id")),
        tags=parse_tag_map(v.get("tags"), f"{path}.tags"),
        aliases=tuple(str(a) for a in as_list(f"{path}.aliases", v.get("aliases"))),
    )


# -- registered models ---------------------------------------------------------------------


def registered_model(m: RegisteredModel) -> dict[str, Any]:
    """`latest_versions` holds the newest version in each stage."""
    return present(
        {
            "name": m.name,
            "creation_timestamp": m.creation_timestamp,
            "last_updated_timestamp": m.last_updated_timestamp,
            "user_id": m.user_id,
            "description": m.description,
            "latest_versions": [model_version(v) for v in m.latest_versions],
            "tags": pairs(m.tags),
            "aliases": [{"alias": a, "version": str(v)} for a, v in m.aliases.items()],
        }
    )


def parse_registered_model(m: Mapping[str, Any]) -> RegisteredModel:
    path = "registered_model"
    latest = as_list(f"{path}.latest_versions", m.get("latest_versions"))
    aliases = [
        as_object(f"{path}.aliases", i, a)
        for i, a in enumerate(as_list(f"{path}.aliases", m.get("aliases")))
    ]
    return RegisteredModel(
        name=text(path, m, "name", True),
        creation_timestamp=integer(path, m, "creation_timestamp"),
        last_updated_timestamp=integer(path, m, "last_updated_timestamp"),
        description=text(path, m, "description"),
        user_id=optional_text(m.get("user_id")),
        latest_versions=tuple(parse_model_version(v) for v in latest),
        tags=parse_tag_map(m.get("tags"), f"{path}.tags"),
        aliases={
            text(f"{path}.aliases", a, "alias", True): parse_version(
                f"{path}.aliases.version", field(f"{path}.aliases", a, "version", True)
            )
            for a in aliases
        },
    )


# -- history -------------------------------------------------------------------------------


def model_version_event(e: ModelVersionEvent) -> dict[str, Any]:
    """One stage transition or alias move: `kind` is created, stage, alias_set,
    alias_deleted or deleted; `from_value`/`to_value` are stages or versions."""
    return present(
        {
            "name": e.name,
            "version": str(e.version),
            "kind": _enum_text(e.kind),
            "timestamp": e.timestamp,
            "user_id": e.user_id,
            "from_value": e.from_value,
            "to_value": e.to_value,
            "alias": e.alias,
        }
    )


def parse_model_version_event(e: Mapping[str, Any]) -> ModelVersionEvent:
    path = HISTORY_FIELD
    kind = text(path, e, "kind", True)
    try:
        known = ModelVersionEventKind(kind)
    except ValueError:
        raise InvalidParameterValueError(
            f"Invalid value {kind!r} for parameter '{path}.kind'."
        ) from None
    return ModelVersionEvent(
        name=text(path, e, "name", True),
        version=parse_version(f"{path}.version", field(path, e, "version", True)),
        kind=known,
        timestamp=integer(path, e, "timestamp"),
        user_id=optional_text(e.get("user_id")),
        from_value=optional_text(e.get("from_value")),
        to_value=optional_text(e.get("to_value")),
        alias=optional_text(e.get("alias")),
    )
