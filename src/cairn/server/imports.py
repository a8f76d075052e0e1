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
it they are open, as the rest of the API is. What is here is about HTTP: reading the
bodies, bounding each call, and keeping artifact locations in the server's allowed roots
(as for `experiments/create`). The writes check every field themselves
(cairn.store.sql.import_checks): a value its column cannot hold, or a time beyond 64 bits,
is INVALID_PARAMETER_VALUE; a run, experiment or registered model that a write names must
exist (RESOURCE_DOES_NOT_EXIST).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from itertools import repeat
from typing import Any, TypeVar

from starlette.routing import Route

from cairn import wire
from cairn.exceptions import InvalidParameterValueError, NotImplementedByServerError
from cairn.server import security
from cairn.server.access import ADMIN, Access
from cairn.server.context import Context
from cairn.server.messages import Message
from cairn.server.routes import Endpoint, build_routes
from cairn.server.ui_api import PREFIXES
from cairn.store import validation as check
from cairn.store.base import MetricPoint
from cairn.store.sql.imports import SqlImports
from cairn.store.sql.tracking import SqlTrackingStore
from cairn.wire.fields import as_list, as_object

MAX_POINTS = 50_000
"""The most metric points one `/metric-points` call may carry (a few MB of JSON)."""
MAX_RUNS = 500
"""The most runs one `/runs-of` call may ask for."""

T = TypeVar("T")


def _writes(ctx: Context) -> SqlImports:
    if not isinstance(ctx.tracking, SqlTrackingStore):
        raise NotImplementedByServerError("This server's tracking store takes no imports.")
    return SqlImports(ctx.tracking)


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


def _location(ctx: Context, msg: Message) -> str | None:
    location = msg.string("artifact_uri") or None
    security.check_artifact_location(location, ctx)
    return location


def _run_id(name: str, value: Any) -> str:
    """A run id as the body names it (its form and its existence are the write's to check)."""
    if not isinstance(value, str):
        raise InvalidParameterValueError(f"Invalid run id {value!r} for parameter '{name}'.")
    return value


def _experiment_id(msg: Message) -> str:
    return wire.parse_id("experiment_id", msg.required("experiment_id"))


# -- experiments and runs ------------------------------------------------------------------


def put_experiment(ctx: Context, msg: Message) -> dict[str, Any]:
    experiment = _entity(msg, "experiment", wire.parse_experiment)
    security.check_artifact_location(experiment.artifact_location, ctx)
    experiment_id, created = _writes(ctx).put_experiment(experiment)
    return {"experiment_id": experiment_id, "created": created}


def runs_of(ctx: Context, msg: Message) -> dict[str, Any]:
    run_ids = [check.run_id(r) for r in wire.parse_strings("run_ids", msg.repeated("run_ids"))]
    if len(run_ids) > MAX_RUNS:
        raise InvalidParameterValueError(
            f"At most {MAX_RUNS} runs per call; {len(run_ids)} were given."
        )
    found = _writes(ctx).runs_of(run_ids)
    return {"runs": [wire.run(r) for r in found.values()]}


def put_run(ctx: Context, msg: Message) -> dict[str, Any]:
    run = _entity(msg, "run", wire.parse_run)
    experiment_id = _experiment_id(msg)
    location = _location(ctx, msg)
    artifact_uri, conflicts = _writes(ctx).put_run(run, experiment_id, location)
    return {"artifact_uri": artifact_uri, "conflicts": conflicts}


def _series_points(index: int, raw: Any) -> list[MetricPoint]:
    """One series of `/metric-points`: a run's metric and its points as three columns
    (their values checked by the write, cairn.store.sql.import_checks.metric_points)."""
    name = f"series[{index}]"
    item = as_object("series", index, raw)
    run_id = _run_id(f"{name}.run_id", item.get("run_id"))
    key = item.get("key")
    if not isinstance(key, str) or not key:
        raise InvalidParameterValueError(f"Missing value for required parameter '{name}.key'.")
    values = _doubles(f"{name}.values", as_list(f"{name}.values", item.get("values")))
    timestamps = _ints(f"{name}.timestamps", as_list(f"{name}.timestamps", item.get("timestamps")))
    steps = _ints(f"{name}.steps", as_list(f"{name}.steps", item.get("steps")))
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


def _ints(name: str, items: list[Any]) -> list[int]:
    # Plain ints likewise; their range (64 bits) is the write's to check, a column at once.
    return [x if type(x) is int else wire.parse_int(f"{name}[{i}]", x) for i, x in enumerate(items)]


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
    _writes(ctx).put_metric_points(points)
    return {}


def put_datasets(ctx: Context, msg: Message) -> dict[str, Any]:
    run_id = _run_id("run_id", msg.required("run_id"))
    inputs = wire.parse_dataset_inputs(msg.get("inputs"), "inputs")
    outputs = wire.parse_dataset_inputs(msg.get("outputs"), "outputs")
    _writes(ctx).put_datasets(run_id, inputs, outputs)
    return {}


def put_model_outputs(ctx: Context, msg: Message) -> dict[str, Any]:
    run_id = _run_id("run_id", msg.required("run_id"))
    outputs = wire.parse_model_outputs(msg.repeated("models"), "models")
    _writes(ctx).put_model_outputs(run_id, outputs)
    return {}


def finish_run(ctx: Context, msg: Message) -> dict[str, Any]:
    run = _entity(msg, "run", wire.parse_run)
    _writes(ctx).finish_run(run, msg.integer("deleted_time"))
    return {}


# -- logged models and the registry --------------------------------------------------------


def put_logged_model(ctx: Context, msg: Message) -> dict[str, Any]:
    model = _entity(msg, "model", wire.parse_logged_model)
    experiment_id = _experiment_id(msg)
    location = _location(ctx, msg)
    artifact_uri, created = _writes(ctx).put_logged_model(model, experiment_id, location)
    return {"artifact_uri": artifact_uri, "created": created}


def put_registered_model(ctx: Context, msg: Message) -> dict[str, Any]:
    model = _entity(msg, "registered_model", wire.parse_registered_model)
    return {"created": _writes(ctx).put_registered_model(model)}


def put_model_version(ctx: Context, msg: Message) -> dict[str, Any]:
    version = _entity(msg, "model_version", wire.parse_model_version)
    return {"created": _writes(ctx).put_model_version(version)}


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
