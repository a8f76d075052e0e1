"""Search ASTs (cairn.store.search) compiled into one SQL query each.

A run filter's first few key-value comparisons join their indexed child table, the rest
become EXISTS, so the number of tables in the join does not grow with the filter (SQLite
allows 64, MySQL 61): metrics read `latest_metrics`, never the history. Values are bound
parameters, never spliced text, so a filter cannot change the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, String, and_, case, cast, literal_column, not_, select
from sqlalchemy.sql.elements import ColumnElement

from cairn.entities import DATASET_CONTEXT_TAG
from cairn.store.search import Comparison, OrderBy
from cairn.store.sql.schema import (
    datasets,
    experiment_tags,
    experiments,
    input_tags,
    inputs,
    latest_metrics,
    logged_model_metrics,
    logged_model_params,
    logged_model_tags,
    logged_models,
    params,
    runs,
    tags,
)
from cairn.store.validation import MAX_EXPERIMENT_ID

RUN_ATTRIBUTES = {
    "run_id": runs.c.run_uuid,
    "run_name": runs.c.name,
    "status": runs.c.status,
    "user_id": runs.c.user_id,
    "artifact_uri": runs.c.artifact_uri,
    "lifecycle_stage": runs.c.lifecycle_stage,
    "start_time": runs.c.start_time,
    "end_time": runs.c.end_time,
}
EXPERIMENT_ATTRIBUTES = {
    "name": experiments.c.name,
    "experiment_id": experiments.c.experiment_id,
    "creation_time": experiments.c.creation_time,
    "last_update_time": experiments.c.last_update_time,
}
LOGGED_MODEL_ATTRIBUTES = {
    "name": logged_models.c.name,
    "model_id": logged_models.c.model_id,
    "model_type": logged_models.c.model_type,
    "status": logged_models.c.status,
    "source_run_id": logged_models.c.source_run_id,
    "creation_timestamp": logged_models.c.creation_timestamp_ms,
    "last_updated_timestamp": logged_models.c.last_updated_timestamp_ms,
}


#: PostgreSQL turns each EXISTS in a WHERE clause into a semi-join and plans them all
#: together; its planning time grows steeply with their number (at 10,000 runs: 4 took
#: 12 ms, 8 took 0.1-0.26 s, 16 took 1.2 s, 60 took 6-13 s). Past the first JOINED_EXISTS
#: clauses an EXISTS carries an OFFSET 0, which PostgreSQL never pulls up into a join: it
#: stays a per-row filter on the child table's primary key. Five keep planning near 20 ms
#: and let a selective clause among them drive the plan (10 metric clauses: 34 ms, against
#: 0.3 s with three). SQLite and MySQL plan the EXISTS as they would without the OFFSET.
JOINED_EXISTS = 5
#: Run filters whose first clauses join their table rather than test EXISTS (see
#: _apply_run_filter); with at most 10 order keys, a search joins well under MySQL's 61.
JOINED_FILTERS = 5


def child_exists(position: int, *criteria: ColumnElement[bool]) -> ColumnElement[bool]:
    """EXISTS (child rows meeting `criteria`) for the filter's clause at `position`."""
    rows: Select[Any] = select(literal_column("1")).where(*criteria)
    if position >= JOINED_EXISTS:
        rows = rows.offset(0)
    return rows.exists()


def compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    """`column <op> value` for one parsed comparator."""
    if op == "=":
        return column == value  # type: ignore[no-any-return]
    if op == "!=":
        return column != value  # type: ignore[no-any-return]
    if op == "<":
        return column < value  # type: ignore[no-any-return]
    if op == "<=":
        return column <= value  # type: ignore[no-any-return]
    if op == ">":
        return column > value  # type: ignore[no-any-return]
    if op == ">=":
        return column >= value  # type: ignore[no-any-return]
    if op == "LIKE":
        return column.like(value)  # type: ignore[no-any-return]
    if op == "ILIKE":
        return column.ilike(value)  # type: ignore[no-any-return]
    if op == "IN":
        return column.in_(list(value))  # type: ignore[no-any-return]
    if op == "NOT IN":
        return column.not_in(list(value))  # type: ignore[no-any-return]
    raise ValueError(f"unsupported comparator {op}")


def run_search(
    experiment_ids: Sequence[int],
    stages: Sequence[str],
    filters: Sequence[Comparison],
    order: Sequence[OrderBy],
    candidates: Select[Any] | None = None,
) -> Select[Any]:
    """SELECT run_uuid of matching runs in the requested order (no limit yet); with
    `candidates` (run ids), only those of them whose first order key, a metric, is finite
    (cairn.store.sql.metric_top)."""
    query = select(runs.c.run_uuid).where(
        runs.c.experiment_id.in_(list(experiment_ids)), runs.c.lifecycle_stage.in_(list(stages))
    )
    if candidates is not None:
        query = query.where(runs.c.run_uuid.in_(candidates))
    for i, clause in enumerate(filters):
        query = _apply_run_filter(query, i, clause)
    ordering: list[Any] = []
    for i, spec in enumerate(order):
        query, keys = _apply_run_order(
            query, i, spec, finite_only=i == 0 and candidates is not None
        )
        ordering.extend(keys)
    named = {(o.kind, o.key) for o in order}
    if ("attribute", "start_time") not in named:
        ordering.append(runs.c.start_time.desc())
    if ("attribute", "run_id") not in named:
        ordering.append(runs.c.run_uuid)
    return query.order_by(*ordering)


def _apply_run_filter(query: Select[Any], i: int, clause: Comparison) -> Select[Any]:
    """The first JOINED_FILTERS value comparisons on metrics, params and tags join their
    table, which lets the planner drive the search from the most selective of them (SQLite,
    100 of 10,000 runs by a metric and a param: 10 ms joined, 18 ms as EXISTS); the rest
    are EXISTS, so the join stays within every database's table limit however long the
    filter."""
    if i < JOINED_FILTERS and clause.kind in ("metric", "param", "tag"):
        if clause.op not in ("IS NULL", "IS NOT NULL"):
            if clause.kind == "metric":
                table = latest_metrics.alias(f"f{i}")
                matched = and_(
                    compare(table.c.value, clause.op, clause.value), table.c.is_nan.is_(False)
                )
            else:
                table = (params if clause.kind == "param" else tags).alias(f"f{i}")
                matched = compare(table.c.value, clause.op, clause.value)
            on = and_(table.c.run_uuid == runs.c.run_uuid, table.c.key == clause.key)
            return query.join(table, on).where(matched)
    return query.where(_run_condition(i, clause))


def _run_condition(i: int, clause: Comparison) -> ColumnElement[bool]:
    """The condition of the filter's clause `i`. A run has at most one row per metric, param
    or tag key, so an EXISTS matches exactly the runs a join would."""
    if clause.kind == "attribute":
        return compare(RUN_ATTRIBUTES[clause.key], clause.op, clause.value)
    if clause.kind == "metric":
        lm = latest_metrics.alias(f"f{i}")
        owned = (lm.c.run_uuid == runs.c.run_uuid, lm.c.key == clause.key)
        matched = compare(lm.c.value, clause.op, clause.value)
        return child_exists(i, *owned, matched, lm.c.is_nan.is_(False))
    if clause.kind in ("param", "tag"):
        table = (params if clause.kind == "param" else tags).alias(f"f{i}")
        owned = (table.c.run_uuid == runs.c.run_uuid, table.c.key == clause.key)
        if clause.op == "IS NULL":
            return not_(child_exists(i, *owned))
        if clause.op == "IS NOT NULL":
            return child_exists(i, *owned)
        return child_exists(i, *owned, compare(table.c.value, clause.op, clause.value))
    if clause.kind == "dataset":
        return _dataset_exists(i, clause)
    raise ValueError(f"unsupported filter kind {clause.kind}")


def _dataset_exists(i: int, clause: Comparison) -> ColumnElement[bool]:
    inp, ds = inputs.alias(f"i{i}"), datasets.alias(f"d{i}")
    linked = and_(
        inp.c.destination_type == "RUN",
        inp.c.destination_id == runs.c.run_uuid,
        inp.c.source_type == "DATASET",
        inp.c.source_id == ds.c.dataset_uuid,
    )
    if clause.key == "context":
        tag = input_tags.alias(f"t{i}")
        return child_exists(
            i,
            linked,
            tag.c.input_uuid == inp.c.input_uuid,
            tag.c.name == DATASET_CONTEXT_TAG,
            compare(tag.c.value, clause.op, clause.value),
        )
    return child_exists(i, linked, compare(ds.c[clause.key], clause.op, clause.value))


def _apply_run_order(
    query: Select[Any], i: int, spec: OrderBy, finite_only: bool = False
) -> tuple[Select[Any], list[Any]]:
    if spec.kind == "attribute":
        column = RUN_ATTRIBUTES[spec.key]
        return query, [_nulls_last(column.is_(None)), _direction(column, spec)]
    table = {"metric": latest_metrics, "param": params, "tag": tags}[spec.kind].alias(f"o{i}")
    on = and_(table.c.run_uuid == runs.c.run_uuid, table.c.key == spec.key)
    missing: ColumnElement[bool] = table.c.value.is_(None)
    if spec.kind == "metric":
        missing = missing | table.c.is_nan.is_(True)
    query = query.outerjoin(table, on)
    if finite_only:  # the runs that sort first: with the metric, and not NaN
        query = query.where(table.c.value.isnot(None), table.c.is_nan.is_(False))
    return query, [_nulls_last(missing), _direction(table.c.value, spec)]


def _nulls_last(missing: ColumnElement[bool]) -> Any:
    # Runs without the key (and NaN metrics) sort after all others, in both directions.
    return case((missing, 1), else_=0)


def _direction(column: Any, spec: OrderBy) -> Any:
    return column.asc() if spec.ascending else column.desc()


def experiment_search(
    stages: Sequence[str], filters: Sequence[Comparison], order: Sequence[OrderBy]
) -> Select[Any]:
    """SELECT experiment_id of matching experiments in the requested order."""
    query = select(experiments.c.experiment_id).where(
        experiments.c.lifecycle_stage.in_(list(stages))
    )
    for i, clause in enumerate(filters):
        if clause.kind == "attribute":
            column: Any = EXPERIMENT_ATTRIBUTES[clause.key]
            value = clause.value
            if clause.key == "experiment_id" and clause.op in ("LIKE", "ILIKE"):
                column = cast(column, String)
            elif clause.key == "experiment_id":
                value = _experiment_id_value(clause.value)
            query = query.where(compare(column, clause.op, value))
            continue
        tag = experiment_tags.alias(f"f{i}")
        on = and_(tag.c.experiment_id == experiments.c.experiment_id, tag.c.key == clause.key)
        if clause.op == "IS NULL":
            query = query.where(not_(child_exists(i, on)))
        elif clause.op == "IS NOT NULL":
            query = query.where(child_exists(i, on))
        else:
            query = query.where(child_exists(i, on, compare(tag.c.value, clause.op, clause.value)))
    ordering = [_direction(EXPERIMENT_ATTRIBUTES[o.key], o) for o in order]
    if not order:
        ordering.append(experiments.c.creation_time.desc())
    ordering.append(experiments.c.experiment_id)
    return query.order_by(*ordering)


def _experiment_id_value(value: Any) -> Any:
    """Experiment ids are strings in the API and integers in the table; -1 matches none
    (nor does an id too large for the column, which PostgreSQL would refuse to compare)."""
    if isinstance(value, tuple):
        return tuple(_experiment_number(v) for v in value)
    return _experiment_number(value)


def _experiment_number(value: Any) -> int:
    if (
        isinstance(value, str)
        and value.isascii()
        and value.isdigit()
        and int(value) <= MAX_EXPERIMENT_ID
    ):
        return int(value)
    return -1


def logged_model_search(
    experiment_ids: Sequence[int], filters: Sequence[Comparison], order: Sequence[OrderBy]
) -> Select[Any]:
    """SELECT model_id of matching, undeleted logged models in the requested order.

    A model's metric matches when any of its points does (a model usually has one point per
    metric; MLflow compares every linked point too)."""
    model = logged_models.c.model_id
    query = select(model).where(
        logged_models.c.experiment_id.in_(list(experiment_ids)),
        logged_models.c.lifecycle_stage == "active",
    )
    children = {"metric": logged_model_metrics, "param": logged_model_params}
    children["tag"] = logged_model_tags
    for i, clause in enumerate(filters):
        if clause.kind == "attribute":
            column = LOGGED_MODEL_ATTRIBUTES[clause.key]
            query = query.where(compare(column, clause.op, clause.value))
            continue
        table = children[clause.kind].alias(f"f{i}")
        matched = compare(table.c.value, clause.op, clause.value)
        if clause.kind == "metric":
            matched = and_(matched, table.c.is_nan.is_(False))
        query = query.where(
            child_exists(i, table.c.model_id == model, table.c.key == clause.key, matched)
        )
    ordering: list[Any] = []
    for i, spec in enumerate(order):
        if spec.kind == "attribute":
            column = LOGGED_MODEL_ATTRIBUTES[spec.key]
            ordering += [_nulls_last(column.is_(None)), _direction(column, spec)]
            continue
        value = _model_order_value(children[spec.kind].alias(f"o{i}"), spec)
        ordering += [_nulls_last(value.is_(None)), _direction(value, spec)]
    if not order:
        ordering.append(logged_models.c.creation_timestamp_ms.desc())
    ordering.append(model)
    return query.order_by(*ordering)


def _model_order_value(table: Any, spec: OrderBy) -> Any:
    """A model's value of a key as a scalar subquery: the latest point of a metric."""
    query = select(table.c.value).where(
        table.c.model_id == logged_models.c.model_id, table.c.key == spec.key
    )
    if spec.kind == "metric":
        query = query.where(table.c.is_nan.is_(False)).order_by(
            table.c.timestamp.desc(), table.c.step.desc()
        )
    return query.limit(1).scalar_subquery()
