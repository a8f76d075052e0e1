"""Cairn's import writes over HTTP, so that `cairn import mlflow … --to http://…` keeps
identity as an import into a database does: the server runs the same writes
(cairn.store.sql.imports) on its own store.

One POST per write, under `/api/2.0/cairn/import` and `/ajax-api/2.0/cairn/import`:

* `/experiment` {experiment} → {experiment_id, created}
* `/runs-of` {run_ids} (at most MAX_RUNS) → {runs}: those the server holds
* `/run` {run, experiment_id, artifact_uri?} → {artifact_uri, conflicts}
* `/metric-points` {series: [{run_id, key, values, timestamps, steps}]}, at most
  MAX_POINTS points in all: a metric's points as columns, not objects
* `/datasets` {run_id, inputs, outputs} and `/model-outputs` {run_id, models}
* `/finish-run` {run: {info}, deleted_time?}
* `/logged-model` {model, experiment_id, artifact_uri?} → {artifact_uri, created}
* `/registered-model` {registered_model} → {created}
* `/model-version` {model_version} → {created}

Entities travel as cairn.wire writes them (doubles as "NaN" and "±Infinity"). These calls
choose ids, users and times, so under `--auth` only administrators may make them; without
it they are open, as the rest of the API is. The writes beneath check little, so every
field is checked here first: a value its column cannot hold, or a time beyond 64 bits, is
INVALID_PARAMETER_VALUE; a run, experiment or registered model that a write names must
exist (RESOURCE_DOES_NOT_EXIST). Artifact locations must lie in the server's allowed
roots, as for `experiments/create`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from itertools import repeat
from typing import Any, TypeVar

from sqlalchemy import Column, Table
from sqlalchemy.exc import DataError, IntegrityError
from starlette.routing import Route

from cairn import wire
from cairn.entities import (
    Experiment,
    LoggedModel,
    ModelVersion,
    ModelVersionStatus,
    RegisteredModel,
    Run,
)
from cairn.exceptions import (
    InvalidParameterValueError,
    NotImplementedByServerError,
    ResourceDoesNotExistError,
)
from cairn.server import security
from cairn.server.access import ADMIN, Access
from cairn.server.context import Context
from cairn.server.messages import Message
from cairn.server.routes import Endpoint, build_routes
from cairn.server.ui_api import PREFIXES
from cairn.store import registry_validation as valid
from cairn.store import validation as check
from cairn.store.base import MetricPoint
from cairn.store.sql.imports import SqlImports
from cairn.store.sql.schema import (
    experiment_tags,
    experiments,
    logged_model_metrics,
    logged_model_params,
    logged_model_tags,
    logged_models,
    metrics,
    model_version_tags,
    model_versions,
    params,
    registered_model_tags,
    registered_models,
    run_outputs,
    runs,
    tags,
)
from cairn.store.sql.tracking import SqlTrackingStore
from cairn.wire.fields import as_list, as_object

MAX_POINTS = 50_000
"""The most metric points one `/metric-points` call may carry (a few MB of JSON)."""
MAX_RUNS = 500
"""The most runs one `/runs-of` call may ask for."""

T = TypeVar("T")
_STATUSES = frozenset(s.value for s in ModelVersionStatus)
_INT64 = range(-(2**63), 2**63)


def _writes(ctx: Context) -> SqlImports:
    if not isinstance(ctx.tracking, SqlTrackingStore):
        raise NotImplementedByServerError("This server's tracking store takes no imports.")
    return SqlImports(ctx.tracking)


def _stored(write: Callable[[], T]) -> T:
    """The write's result; a value the database still refuses (a race on a name, say) is
    the caller's INVALID_PARAMETER_VALUE, not a server error. The write's transaction
    rolled back, so nothing of it is kept."""
    try:
        return write()
    except (DataError, IntegrityError) as error:
        told = str(error.orig).strip()
        reason = told.splitlines()[0] if told else type(error.orig).__name__
        raise InvalidParameterValueError(f"The database refused the import: {reason}") from None


# -- reading the call ----------------------------------------------------------------------


def _entity(msg: Message, name: str, parse: Callable[[Mapping[str, Any]], T]) -> T:
    """The object `name` read by cairn.wire's `parse`. Those readers take the nested
    objects they expect (a run's `info`, a model's `data`) for mappings; anything else in
    their place is refused here, by name."""
    value = msg.required(name)
    if not isinstance(value, dict):
        raise InvalidParameterValueError(f"Parameter '{name}' must be an object.")
    try:
        return parse(value)
    except (AttributeError, TypeError):
        raise InvalidParameterValueError(
            f"Parameter '{name}' is not a well-formed object."
        ) from None


def _run_id(msg: Message) -> str:
    return check.run_id(msg.string("run_id", required=True))


def _location(ctx: Context, msg: Message) -> str | None:
    location = msg.string("artifact_uri") or None
    _fits("artifact_uri", location, runs.c.artifact_uri)
    security.check_artifact_location(location, ctx)
    return location


def _experiment_id(ctx: Context, msg: Message) -> str:
    """The call's `experiment_id`, which must name an experiment of the server."""
    experiment_id = check.experiment_id(
        wire.parse_id("experiment_id", msg.required("experiment_id"))
    )
    ctx.tracking.get_experiment(experiment_id)
    return experiment_id


def _existing_runs(writes: SqlImports, run_ids: Iterable[str]) -> None:
    wanted = list(dict.fromkeys(run_ids))
    missing = set(wanted) - set(writes.runs_of(wanted))
    if missing:
        raise ResourceDoesNotExistError(f"Run '{sorted(missing)[0]}' not found.")


# -- checking values against their columns -------------------------------------------------


def _fits(what: str, value: str | None, column: Column[Any]) -> None:
    """`value` can be stored in `column`: no NUL (PostgreSQL refuses it), not longer than
    the column (PostgreSQL and MySQL refuse that; SQLite would keep it)."""
    if value is None:
        return
    check.no_nul(what, value)
    limit = getattr(column.type, "length", None)
    if limit is not None and len(value) > limit:
        raise InvalidParameterValueError(
            f"{what} has {len(value)} characters; the limit is {limit}."
        )


def _pairs(what: str, items: Mapping[str, str], table: Table) -> None:
    """Tags or params: keys non-empty and fitting the table's key column, values NUL-free."""
    for key, value in items.items():
        if not key:
            raise InvalidParameterValueError(f"{what} keys must not be empty.")
        _fits(f"{what} key", key, table.c.key)
        _fits(f"{what} {key!r}", value, table.c.value)


def _times(*fields: tuple[str, int | None]) -> None:
    for what, value in fields:
        if value is not None:
            check.integer(what, value)


# -- experiments and runs ------------------------------------------------------------------


def put_experiment(ctx: Context, msg: Message) -> dict[str, Any]:
    experiment: Experiment = _entity(msg, "experiment", wire.parse_experiment)
    _fits("artifact_location", experiment.artifact_location, experiments.c.artifact_location)
    security.check_artifact_location(experiment.artifact_location, ctx)
    _times(
        ("creation_time", experiment.creation_time),
        ("last_update_time", experiment.last_update_time),
    )
    _pairs("Experiment tag", experiment.tags, experiment_tags)
    experiment_id, created = _stored(lambda: _writes(ctx).put_experiment(experiment))
    return {"experiment_id": experiment_id, "created": created}


def runs_of(ctx: Context, msg: Message) -> dict[str, Any]:
    run_ids = [check.run_id(r) for r in wire.parse_strings("run_ids", msg.repeated("run_ids"))]
    if len(run_ids) > MAX_RUNS:
        raise InvalidParameterValueError(
            f"At most {MAX_RUNS} runs per call; {len(run_ids)} were given."
        )
    found = _writes(ctx).runs_of(run_ids)
    return {"runs": [wire.run(r) for r in found.values()]}


def _checked_run(run: Run) -> Run:
    info = run.info
    _fits("run_name", info.run_name, runs.c.name)
    _fits("user_id", info.user_id, runs.c.user_id)
    _times(("start_time", info.start_time), ("end_time", info.end_time))
    _pairs("Param", run.data.params, params)
    _pairs("Tag", run.data.tags, tags)
    return run


def put_run(ctx: Context, msg: Message) -> dict[str, Any]:
    run = _checked_run(_entity(msg, "run", wire.parse_run))
    experiment_id = _experiment_id(ctx, msg)
    location = _location(ctx, msg)
    artifact_uri, conflicts = _stored(lambda: _writes(ctx).put_run(run, experiment_id, location))
    return {"artifact_uri": artifact_uri, "conflicts": conflicts}


def _series_points(index: int, raw: Any) -> list[MetricPoint]:
    """One series of `/metric-points`: a run's metric and its points as three columns."""
    name = f"series[{index}]"
    item = as_object("series", index, raw)
    run_id = check.run_id(item.get("run_id"))
    key = item.get("key")
    if not isinstance(key, str) or not key:
        raise InvalidParameterValueError(f"Missing value for required parameter '{name}.key'.")
    _fits(f"{name}.key", key, metrics.c.key)
    values = _doubles(f"{name}.values", as_list(f"{name}.values", item.get("values")))
    timestamps = _int64s(
        f"{name}.timestamps", as_list(f"{name}.timestamps", item.get("timestamps"))
    )
    steps = _int64s(f"{name}.steps", as_list(f"{name}.steps", item.get("steps")))
    if not len(values) == len(timestamps) == len(steps):
        raise InvalidParameterValueError(
            f"{name}: values, timestamps and steps must have the same length."
        )
    return list(zip(repeat(run_id), repeat(key), values, timestamps, steps, strict=False))


def _doubles(name: str, items: list[Any]) -> list[float]:
    # Plain floats (nearly all points) skip the reader; its per-point path names the index.
    return [
        x if type(x) is float else wire.parse_double(f"{name}[{i}]", x) for i, x in enumerate(items)
    ]


def _int64s(name: str, items: list[Any]) -> list[int]:
    return [
        x if type(x) is int and x in _INT64 else check.integer(f"{name}[{i}]", _int(name, i, x))
        for i, x in enumerate(items)
    ]


def _int(name: str, index: int, value: Any) -> int:
    return wire.parse_int(f"{name}[{index}]", value)


def put_metric_points(ctx: Context, msg: Message) -> dict[str, Any]:
    series = msg.repeated("series")
    total = sum(
        len(s["values"])
        for s in series
        if isinstance(s, dict) and isinstance(s.get("values"), list)
    )
    if total > MAX_POINTS or len(series) > MAX_POINTS:
        raise InvalidParameterValueError(
            f"At most {MAX_POINTS} metric points per call; {total} were given."
        )
    points = [p for i, raw in enumerate(series) for p in _series_points(i, raw)]
    writes = _writes(ctx)
    _existing_runs(writes, (p[0] for p in points))
    _stored(lambda: writes.put_metric_points(points))
    return {}


def put_datasets(ctx: Context, msg: Message) -> dict[str, Any]:
    run_id = _run_id(msg)
    inputs = wire.parse_dataset_inputs(msg.get("inputs"), "inputs")
    outputs = wire.parse_dataset_inputs(msg.get("outputs"), "outputs")
    writes = _writes(ctx)
    _existing_runs(writes, [run_id])
    _stored(lambda: writes.put_datasets(run_id, inputs, outputs))
    return {}


def put_model_outputs(ctx: Context, msg: Message) -> dict[str, Any]:
    run_id = _run_id(msg)
    outputs = wire.parse_model_outputs(msg.repeated("models"), "models")
    for i, output in enumerate(outputs):
        _fits(f"models[{i}].model_id", output.model_id, run_outputs.c.model_id)
        check.integer(f"models[{i}].step", output.step)
    writes = _writes(ctx)
    _existing_runs(writes, [run_id])
    _stored(lambda: writes.put_model_outputs(run_id, outputs))
    return {}


def finish_run(ctx: Context, msg: Message) -> dict[str, Any]:
    run = _checked_run(_entity(msg, "run", wire.parse_run))
    deleted_time = msg.integer("deleted_time")
    _times(("deleted_time", deleted_time))
    writes = _writes(ctx)
    _existing_runs(writes, [run.info.run_id])
    _stored(lambda: writes.finish_run(run, deleted_time))
    return {}


# -- logged models and the registry --------------------------------------------------------


def _checked_logged_model(model: LoggedModel) -> LoggedModel:
    columns = logged_models.c
    for what, value, column in (
        ("model_id", model.model_id, columns.model_id),
        ("name", model.name, columns.name),
        ("model_type", model.model_type, columns.model_type),
        ("source_run_id", model.source_run_id, columns.source_run_id),
        ("status_message", model.status_message, columns.status_message),
        ("creator_id", model.creator_id, columns.creator_id),
    ):
        _fits(what, value, column)
    _times(
        ("creation_timestamp_ms", model.creation_timestamp),
        ("last_updated_timestamp_ms", model.last_updated_timestamp),
    )
    _pairs("Logged model tag", model.tags, logged_model_tags)
    _pairs("Logged model param", model.params, logged_model_params)
    metric = logged_model_metrics.c
    for i, m in enumerate(model.metrics):
        where = f"model.data.metrics[{i}]"
        _fits(f"{where}.key", m.key, metric.key)
        _fits(f"{where}.run_id", m.run_id, metric.run_uuid)
        _fits(f"{where}.dataset_name", m.dataset_name, metric.dataset_name)
        _fits(f"{where}.dataset_digest", m.dataset_digest, metric.dataset_digest)
        _times((f"{where}.timestamp", m.timestamp), (f"{where}.step", m.step))
    return model


def put_logged_model(ctx: Context, msg: Message) -> dict[str, Any]:
    model = _checked_logged_model(_entity(msg, "model", wire.parse_logged_model))
    experiment_id = _experiment_id(ctx, msg)
    location = _location(ctx, msg)
    writes = _writes(ctx)
    artifact_uri, created = _stored(lambda: writes.put_logged_model(model, experiment_id, location))
    return {"artifact_uri": artifact_uri, "created": created}


def put_registered_model(ctx: Context, msg: Message) -> dict[str, Any]:
    model: RegisteredModel = _entity(msg, "registered_model", wire.parse_registered_model)
    valid.model_name(model.name)
    valid.text("description", model.description, valid.MAX_DESCRIPTION_LENGTH)
    _fits("user_id", model.user_id, registered_models.c.user_id)
    _times(
        ("creation_timestamp", model.creation_timestamp),
        ("last_updated_timestamp", model.last_updated_timestamp),
    )
    _pairs("Registered model tag", model.tags, registered_model_tags)
    created = _stored(lambda: _writes(ctx).put_registered_model(model))
    return {"created": created}


def _checked_version(version: ModelVersion) -> ModelVersion:
    valid.model_name(version.name)
    number = valid.version(version.version)
    if number < 1:
        raise InvalidParameterValueError(f"Invalid model version {version.version!r}.")
    if version.status not in _STATUSES:
        raise InvalidParameterValueError(f"Invalid model version status {version.status!r}.")
    columns = model_versions.c
    for what, value, column in (
        ("user_id", version.user_id, columns.user_id),
        ("source", version.source, columns.source),
        ("run_id", version.run_id, columns.run_id),
        ("status_message", version.status_message, columns.status_message),
        ("model_id", version.model_id, columns.model_id),
    ):
        _fits(what, value, column)
    valid.text("description", version.description, valid.MAX_DESCRIPTION_LENGTH)
    valid.text("run_link", version.run_link, valid.MAX_RUN_LINK_LENGTH)
    _times(
        ("creation_timestamp", version.creation_timestamp),
        ("last_updated_timestamp", version.last_updated_timestamp),
    )
    _pairs("Model version tag", version.tags, model_version_tags)
    for alias in version.aliases:
        valid.alias(alias)
    stage = valid.stage(version.current_stage).value
    return replace(version, version=str(number), current_stage=stage)


def put_model_version(ctx: Context, msg: Message) -> dict[str, Any]:
    version = _checked_version(_entity(msg, "model_version", wire.parse_model_version))
    ctx.models.get_registered_model(version.name)
    created = _stored(lambda: _writes(ctx).put_model_version(version))
    return {"created": created}


# Each sets ids, users and times a caller would otherwise not choose: administrators only.
_ADMINS = Access(ADMIN)
ENDPOINTS = [
    Endpoint("POST", "/import/experiment", put_experiment, access=_ADMINS),
    Endpoint("POST", "/import/runs-of", runs_of, access=_ADMINS),
    Endpoint("POST", "/import/run", put_run, access=_ADMINS),
    Endpoint("POST", "/import/metric-points", put_metric_points, access=_ADMINS),
    Endpoint("POST", "/import/datasets", put_datasets, access=_ADMINS),
    Endpoint("POST", "/import/model-outputs", put_model_outputs, access=_ADMINS),
    Endpoint("POST", "/import/finish-run", finish_run, access=_ADMINS),
    Endpoint("POST", "/import/logged-model", put_logged_model, access=_ADMINS),
    Endpoint("POST", "/import/registered-model", put_registered_model, access=_ADMINS),
    Endpoint("POST", "/import/model-version", put_model_version, access=_ADMINS),
]


def routes(context: Context) -> list[Route]:
    return build_routes(ENDPOINTS, context, PREFIXES)
