"""Registry search ASTs (cairn.store.search) compiled into one SQL query each.

Tag comparisons are EXISTS over the tag tables' primary keys; values are bound parameters.
A tag's `!=` also matches models (and versions) without the tag, unlike runs': MLflow 3's
client adds ``tags.`mlflow.prompt.is_prompt` != 'true'`` to every registered-model search
and expects the untagged models back.

Prompts (MLflow's prompt registry: models and versions tagged `mlflow.prompt.is_prompt`) are
left out of both searches unless the filter asks for them, as MLflow's server does: when the
filter's first clause on that tag is `= 'true'` (or `!= 'false'`) only prompts are searched;
otherwise clauses on the tag are dropped and prompts are excluded. A version is a prompt's
when any version of its model carries the tag.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, exists, not_, select
from sqlalchemy.sql.elements import ColumnElement

from cairn.entities import ModelVersionStage
from cairn.store.registry_validation import IS_PROMPT_TAG_KEY
from cairn.store.search import Comparison, OrderBy
from cairn.store.sql.query import child_exists, compare
from cairn.store.sql.schema import (
    model_version_tags,
    model_versions,
    registered_model_tags,
    registered_models,
)

REGISTERED_MODEL_ATTRIBUTES = {
    "name": registered_models.c.name,
    "last_updated_timestamp": registered_models.c.last_updated_time,
}
MODEL_VERSION_ATTRIBUTES = {
    "name": model_versions.c.name,
    "version_number": model_versions.c.version,
    "run_id": model_versions.c.run_id,
    "source_path": model_versions.c.source,
    "current_stage": model_versions.c.current_stage,
    "creation_timestamp": model_versions.c.creation_time,
    "last_updated_timestamp": model_versions.c.last_updated_time,
}


def registered_model_search(filters: Sequence[Comparison], order: Sequence[OrderBy]) -> Select[Any]:
    """SELECT name of matching registered models in the requested order; name breaks ties."""
    name = registered_models.c.name
    query = select(name)
    filters, prompts = _prompt_scope(filters)
    marked = registered_model_tags.alias("prompt")
    is_prompt = _prompt_marked(marked, marked.c.name == name)
    query = query.where(is_prompt if prompts else ~is_prompt)
    for i, clause in enumerate(filters):
        if clause.kind == "attribute":
            query = query.where(
                compare(REGISTERED_MODEL_ATTRIBUTES[clause.key], clause.op, clause.value)
            )
            continue
        tag = registered_model_tags.alias(f"f{i}")
        query = query.where(
            _tag_matches(i, and_(tag.c.name == name, tag.c.key == clause.key), tag, clause)
        )
    ordering = [_direction(REGISTERED_MODEL_ATTRIBUTES[o.key], o) for o in order]
    if not any(o.key == "name" for o in order):
        ordering.append(name.asc())
    return query.order_by(*ordering)


def model_version_search(filters: Sequence[Comparison], order: Sequence[OrderBy]) -> Select[Any]:
    """SELECT the rows of matching versions in the requested order; MLflow's default
    (name ASC, version DESC) breaks ties."""
    mv = model_versions.c
    query = select(model_versions)
    filters, prompts = _prompt_scope(filters)
    marked = model_version_tags.alias("prompt")
    is_prompt = _prompt_marked(marked, marked.c.name == mv.name)
    query = query.where(is_prompt if prompts else ~is_prompt)
    for i, clause in enumerate(filters):
        query = query.where(_version_condition(i, clause))
    ordering = [_direction(MODEL_VERSION_ATTRIBUTES[o.key], o) for o in order]
    named = {o.key for o in order}
    if "name" not in named:
        ordering.append(mv.name.asc())
    if "version_number" not in named:
        ordering.append(mv.version.desc())
    return query.order_by(*ordering)


def _prompt_scope(filters: Sequence[Comparison]) -> tuple[Sequence[Comparison], bool]:
    """(the filters to apply, whether prompts are searched); see the module docstring."""
    for clause in filters:
        if clause.kind == "tag" and clause.key == IS_PROMPT_TAG_KEY:
            value = clause.value.lower() if isinstance(clause.value, str) else None
            if (clause.op, value) in (("=", "true"), ("!=", "false")):
                return filters, True
            break
    return [c for c in filters if not (c.kind == "tag" and c.key == IS_PROMPT_TAG_KEY)], False


def _prompt_marked(tag: Any, owner: ColumnElement[bool]) -> ColumnElement[bool]:
    """A tag row of `owner` marks it as a prompt."""
    return exists().where(owner, tag.c.key == IS_PROMPT_TAG_KEY, tag.c.value == "true")


def _version_condition(i: int, clause: Comparison) -> ColumnElement[bool]:
    mv = model_versions.c
    if clause.kind == "attribute":
        value = clause.value
        if clause.key == "current_stage" and clause.op not in ("LIKE", "ILIKE"):
            value = _canonical_stages(value)
        return compare(MODEL_VERSION_ATTRIBUTES[clause.key], clause.op, value)
    tag = model_version_tags.alias(f"f{i}")
    owner = and_(tag.c.name == mv.name, tag.c.version == mv.version, tag.c.key == clause.key)
    return _tag_matches(i, owner, tag, clause)


def _tag_matches(
    i: int, owner: ColumnElement[bool], tag: Any, clause: Comparison
) -> ColumnElement[bool]:
    """The tag the filter's clause `i` names, on the row `owner` selects, compares true (see
    the module docstring for `!=`)."""
    if clause.op == "!=":
        return not_(child_exists(i, owner, tag.c.value == clause.value))
    return child_exists(i, owner, compare(tag.c.value, clause.op, clause.value))


def _canonical_stages(value: Any) -> Any:
    """Stages compare case-insensitively with =, != and IN, as they are accepted on input."""

    def one(text: str) -> str:
        try:
            return ModelVersionStage.parse(text).value
        except ValueError:
            return text

    if isinstance(value, tuple):
        return tuple(one(v) for v in value)
    return one(value) if isinstance(value, str) else value


def _direction(column: Any, spec: OrderBy) -> Any:
    return column.asc() if spec.ascending else column.desc()
