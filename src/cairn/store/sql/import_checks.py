"""Checks of what an import writes (cairn.store.sql.imports), made before it is written.

An import takes ids, users, times and values from another store, which may be broken, and
writes them with few checks of its own. So every value is checked against its column here
first: no NUL (PostgreSQL refuses it) and no more characters than the column holds
(PostgreSQL and MySQL refuse that; SQLite would keep it), tag and param values no longer
than Cairn's API (and MLflow's) takes, times within 64 bits, names, stages and version
numbers as the registry wants them. A failure is an
InvalidParameterValueError naming the field, whichever way the import came (a database
written directly, or `cairn server`'s import endpoints), and nothing of it is written.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from operator import itemgetter
from typing import Any

from sqlalchemy import Column, Table
from sqlalchemy.exc import DataError, IntegrityError

from cairn.entities import (
    Experiment,
    LifecycleStage,
    LoggedModel,
    LoggedModelOutput,
    ModelVersion,
    ModelVersionStatus,
    RegisteredModel,
    Run,
    RunStatus,
)
from cairn.exceptions import InvalidParameterValueError
from cairn.store import registry_validation as valid
from cairn.store import validation as check
from cairn.store.base import MetricPoint
from cairn.store.sql import schema

_STATUSES = frozenset(s.value for s in ModelVersionStatus)
_DECIMAL = re.compile(r"[0-9]+")
_INT64_LOW, _INT64_END = -(2**63), 2**63
_RUN, _KEY, _VALUE, _TIMESTAMP, _STEP = (itemgetter(i) for i in range(5))


@contextlib.contextmanager
def database_refusals() -> Iterator[None]:
    """A value the database still refuses (a race on a name, a limit no check knows) is
    the caller's INVALID_PARAMETER_VALUE, not a driver error. The write's transaction has
    rolled back by then, so nothing of it is kept."""
    try:
        yield
    except (DataError, IntegrityError) as error:
        told = str(error.orig).strip()
        reason = told.splitlines()[0] if told else type(error.orig).__name__
        raise InvalidParameterValueError(f"The database refused the import: {reason}") from None


# -- values against their columns -----------------------------------------------------------


def fits(what: str, value: str | None, column: Column[Any]) -> None:
    """`value` can be stored in `column` on every database: no NUL, not too long."""
    if value is None:
        return
    if not isinstance(value, str):
        raise InvalidParameterValueError(f"{what} must be a string, got {value!r}.")
    check.no_nul(what, value)
    limit = getattr(column.type, "length", None)
    if limit is not None and len(value) > limit:
        raise InvalidParameterValueError(
            f"{what} has {len(value)} characters; the limit is {limit}."
        )


def pairs(what: str, items: Mapping[str, str], table: Table) -> None:
    """Tags or params: keys non-empty and fitting the table's key column; values fitting
    its value column. The API's length limits (MLflow's 6,000/8,000 characters) are for
    logging clients; an import keeps what the source held (MLflow's file store has no
    limit: a long `mlflow.log-model.history` is common) wherever the column can hold it."""
    for key, value in items.items():
        if not key:
            raise InvalidParameterValueError(f"{what} keys must not be empty.")
        fits(f"{what} key", key, table.c.key)
        fits(f"{what} {key!r}", value, table.c.value)


def times(*fields: tuple[str, int | None]) -> None:
    """Optional times (and steps): integers within 64 bits."""
    for what, value in fields:
        if value is not None:
            check.integer(what, value)


def lifecycle_stage(value: str) -> str:
    if value not in (LifecycleStage.ACTIVE, LifecycleStage.DELETED):
        raise InvalidParameterValueError(f"Invalid lifecycle stage {value!r}.")
    return value


# -- experiments and runs ----------------------------------------------------------------------


def experiment(experiment: Experiment) -> int | None:
    """Checks an experiment; returns the id it keeps, or None where Cairn cannot hold that
    id (MLflow's file store makes 18 digits; 0 is the Default experiment's) and it gets a
    new one. An id that is no decimal number at all comes from no MLflow store: refused."""
    check.experiment_name(experiment.name)
    lifecycle_stage(experiment.lifecycle_stage)
    columns = schema.experiments.c
    fits("artifact_location", experiment.artifact_location, columns.artifact_location)
    times(
        ("creation_time", experiment.creation_time),
        ("last_update_time", experiment.last_update_time),
    )
    pairs("Experiment tag", experiment.tags, schema.experiment_tags)
    wanted = experiment.experiment_id
    if not isinstance(wanted, str) or not _DECIMAL.fullmatch(wanted):
        raise InvalidParameterValueError(
            f"Invalid experiment id {wanted!r}: expected a decimal number."
        )
    if len(wanted) > 10 or not 0 < int(wanted) <= check.MAX_EXPERIMENT_ID:
        return None
    return int(wanted)


def run(run: Run) -> None:
    """A run's record, params and tags (its id is the caller's to check: a new run's must
    be a client run id, an existing one's only a run id)."""
    info = run.info
    fits("run_name", info.run_name, schema.runs.c.name)
    fits("user_id", info.user_id, schema.runs.c.user_id)
    RunStatus.parse(info.status)
    lifecycle_stage(info.lifecycle_stage)
    times(("start_time", info.start_time), ("end_time", info.end_time))
    pairs("Param", run.data.params, schema.params)
    pairs("Tag", run.data.tags, schema.tags)


def metric_points(points: Sequence[MetricPoint]) -> tuple[Sequence[MetricPoint], list[str]]:
    """The points, every value a float, and the runs they name (each once, in order).

    An import's hot path: millions of points. So each column is checked in a pass or two
    at C speed (its types, its least and greatest value), each distinct key and run once,
    and the points are looked at one by one only when a column is not plain (to convert an
    int value, or to name the point that is wrong)."""
    for key in set(map(_KEY, points)):
        if not isinstance(key, str) or not key:
            raise InvalidParameterValueError(f"Invalid metric key {key!r}.")
        fits(f"Metric key {key[:40]!r}", key, schema.metrics.c.key)
    runs = list(dict.fromkeys(map(_RUN, points)))
    for run_id in runs:
        check.run_id(run_id)
    if not (
        set(map(type, map(_VALUE, points))) <= {float}
        and _int64s(list(map(_TIMESTAMP, points)))
        and _int64s(list(map(_STEP, points)))
    ):
        points = [_point(p) for p in points]
    return points, runs


def _int64s(column: list[Any]) -> bool:
    """Every item an int (not a bool) within 64 bits."""
    if not column:
        return True
    return set(map(type, column)) == {int} and _INT64_LOW <= min(column) <= max(column) < _INT64_END


def _point(point: MetricPoint) -> MetricPoint:
    run_id, key, value, timestamp, step = point
    return (
        run_id,
        key,
        check.metric_value(key, value),
        check.integer(f"Metric {key!r} timestamp", timestamp),
        check.integer(f"Metric {key!r} step", step),
    )


def model_outputs(outputs: Sequence[LoggedModelOutput]) -> None:
    for i, output in enumerate(outputs):
        fits(f"models[{i}].model_id", output.model_id, schema.run_outputs.c.model_id)
        check.integer(f"models[{i}].step", output.step)


# -- logged models and the registry -----------------------------------------------------------


def logged_model(model: LoggedModel) -> None:
    columns = schema.logged_models.c
    for what, value, column in (
        ("model_id", model.model_id, columns.model_id),
        ("name", model.name, columns.name),
        ("model_type", model.model_type, columns.model_type),
        ("source_run_id", model.source_run_id, columns.source_run_id),
        ("status_message", model.status_message, columns.status_message),
        ("creator_id", model.creator_id, columns.creator_id),
    ):
        fits(what, value, column)
    times(
        ("creation_timestamp_ms", model.creation_timestamp),
        ("last_updated_timestamp_ms", model.last_updated_timestamp),
    )
    pairs("Logged model tag", model.tags, schema.logged_model_tags)
    pairs("Logged model param", model.params, schema.logged_model_params)
    metric = schema.logged_model_metrics.c
    for i, m in enumerate(model.metrics):
        where = f"model.data.metrics[{i}]"
        fits(f"{where}.key", m.key, metric.key)
        fits(f"{where}.run_id", m.run_id, metric.run_uuid)
        fits(f"{where}.dataset_name", m.dataset_name, metric.dataset_name)
        fits(f"{where}.dataset_digest", m.dataset_digest, metric.dataset_digest)
        times((f"{where}.timestamp", m.timestamp), (f"{where}.step", m.step))


def registered_model(model: RegisteredModel) -> None:
    valid.model_name(model.name)
    valid.text("description", model.description, valid.MAX_DESCRIPTION_LENGTH)
    fits("user_id", model.user_id, schema.registered_models.c.user_id)
    times(
        ("creation_timestamp", model.creation_timestamp),
        ("last_updated_timestamp", model.last_updated_timestamp),
    )
    pairs("Registered model tag", model.tags, schema.registered_model_tags)


def model_version(version: ModelVersion) -> ModelVersion:
    """The version checked, its number and stage in their canonical forms ("3", "Production")."""
    valid.model_name(version.name)
    number = valid.version(version.version)
    if number < 1:
        raise InvalidParameterValueError(f"Invalid model version {version.version!r}.")
    if version.status not in _STATUSES:
        raise InvalidParameterValueError(f"Invalid model version status {version.status!r}.")
    columns = schema.model_versions.c
    for what, value, column in (
        ("user_id", version.user_id, columns.user_id),
        ("source", version.source, columns.source),
        ("run_id", version.run_id, columns.run_id),
        ("status_message", version.status_message, columns.status_message),
        ("model_id", version.model_id, columns.model_id),
    ):
        fits(what, value, column)
    valid.text("description", version.description, valid.MAX_DESCRIPTION_LENGTH)
    valid.text("run_link", version.run_link, valid.MAX_RUN_LINK_LENGTH)
    times(
        ("creation_timestamp", version.creation_timestamp),
        ("last_updated_timestamp", version.last_updated_timestamp),
    )
    pairs("Model version tag", version.tags, schema.model_version_tags)
    for alias in version.aliases:
        valid.alias(alias)
    stage = valid.stage(version.current_stage).value
    return replace(version, version=str(number), current_stage=stage)
