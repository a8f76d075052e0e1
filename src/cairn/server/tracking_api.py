"""Handlers of MLflow's tracking service (`service.proto`), one small function each.

A handler reads its fields, converts them to entities (cairn.wire) and calls the store, which
validates everything and raises the CairnError that becomes MLflow's error JSON.
"""

from __future__ import annotations

import time
from typing import Any

from cairn import wire
from cairn.entities import ExperimentTag, Metric, Param, RunTag, ViewType
from cairn.exceptions import ResourceDoesNotExistError
from cairn.provenance.user import USER_TAG
from cairn.server import linked_models
from cairn.server.access import (
    ANY_USER,
    EDIT,
    MANAGE,
    READ,
    Access,
    Effect,
    Reference,
    Refers,
    Source,
)
from cairn.server.context import Context, authenticated_user
from cairn.server.messages import Message
from cairn.server.routes import Endpoint

RUNS_SEARCH_DEFAULT_MAX_RESULTS = 1000  # the proto's default; experiments/search has none
# The header RestTrackingStore sends keys in (not imported: the server needs no HTTP client).
IDEMPOTENCY_HEADER = "Idempotency-Key"
CLIENT_USER_TAG = "cairn.client_user_id"
"""Under `--auth`, who the client said it was, when that is not who authenticated."""


def _experiment_id(msg: Message) -> str:
    return wire.parse_id("experiment_id", msg.required("experiment_id"))


def _key(msg: Message) -> str:
    return msg.string("key", required=True) or ""


def _value(msg: Message) -> str:
    return msg.string("value") or ""


def _idempotency_key(msg: Message) -> str | None:
    """Cairn's `Idempotency-Key` header: the store makes a repeat of the call a no-op. It
    scopes the key by the run written to, so under `--auth` a key can only suppress writes
    to a run its sender may edit anyway."""
    return msg.headers.get(IDEMPOTENCY_HEADER)


def _view_type(msg: Message, name: str) -> ViewType:
    value = msg.get(name)
    return ViewType.ACTIVE_ONLY if value is None else wire.parse_view_type(name, value)


# -- experiments ----------------------------------------------------------------------------


def create_experiment(ctx: Context, msg: Message) -> dict[str, Any]:
    experiment_id = ctx.tracking.create_experiment(
        msg.string("name", required=True) or "",
        msg.string("artifact_location"),
        wire.parse_experiment_tags(msg.repeated("tags")),
    )
    return {"experiment_id": experiment_id}


def get_experiment(ctx: Context, msg: Message) -> dict[str, Any]:
    experiment = ctx.tracking.get_experiment(_experiment_id(msg))
    return {"experiment": wire.experiment(experiment)}


def get_experiment_by_name(ctx: Context, msg: Message) -> dict[str, Any]:
    name = msg.string("experiment_name", required=True) or ""
    experiment = ctx.tracking.get_experiment_by_name(name)
    if experiment is None:
        # MLflow answers 404 here, and its client relies on it to create the experiment.
        raise ResourceDoesNotExistError(f"Could not find experiment with name '{name}'")
    return {"experiment": wire.experiment(experiment)}


def search_experiments(ctx: Context, msg: Message) -> dict[str, Any]:
    found = ctx.tracking.search_experiments(
        view_type=_view_type(msg, "view_type"),
        # Omitted reads as 0, which the store refuses: MLflow requires max_results here.
        max_results=msg.integer("max_results", default=0) or 0,
        filter_string=msg.string("filter"),
        order_by=wire.parse_strings("order_by", msg.repeated("order_by")),
        page_token=msg.string("page_token"),
    )
    return wire.page("experiments", [wire.experiment(e) for e in found], found.token)


def update_experiment(ctx: Context, msg: Message) -> dict[str, Any]:
    ctx.tracking.rename_experiment(_experiment_id(msg), msg.string("new_name", required=True) or "")
    return {}


def delete_experiment(ctx: Context, msg: Message) -> dict[str, Any]:
    ctx.tracking.delete_experiment(_experiment_id(msg))
    return {}


def restore_experiment(ctx: Context, msg: Message) -> dict[str, Any]:
    ctx.tracking.restore_experiment(_experiment_id(msg))
    return {}


def set_experiment_tag(ctx: Context, msg: Message) -> dict[str, Any]:
    ctx.tracking.set_experiment_tag(_experiment_id(msg), ExperimentTag(_key(msg), _value(msg)))
    return {}


def delete_experiment_tag(ctx: Context, msg: Message) -> dict[str, Any]:
    ctx.tracking.delete_experiment_tag(_experiment_id(msg), _key(msg))
    return {}


# -- runs -----------------------------------------------------------------------------------


def _run_user(msg: Message, tags: list[RunTag]) -> tuple[str, list[RunTag]]:
    """The run's user and tags: under `--auth` the authenticated user, whatever the client
    claims (its claim, if different, kept in CLIENT_USER_TAG); else the client's `user_id`."""
    claimed = msg.string("user_id") or ""
    user = authenticated_user()
    if user is None:
        return claimed, tags
    claimed = claimed or next((t.value for t in tags if t.key == USER_TAG), "")
    kept = [t for t in tags if t.key not in (USER_TAG, CLIENT_USER_TAG)]
    kept.append(RunTag(USER_TAG, user))
    if claimed and claimed != user:
        kept.append(RunTag(CLIENT_USER_TAG, claimed))
    return user, kept


def create_run(ctx: Context, msg: Message) -> dict[str, Any]:
    start_time = msg.integer("start_time")
    user_id, tags = _run_user(msg, wire.parse_run_tags(msg.repeated("tags")))
    run = ctx.tracking.create_run(
        experiment_id=_experiment_id(msg),
        user_id=user_id,
        # MLflow stores 0 when the client sends none; "now" is what such a caller means.
        start_time=int(time.time() * 1000) if start_time is None else start_time,
        tags=tags,
        run_name=msg.string("run_name") or None,
        # Cairn's field: the client's id, so that a replayed create returns the same run.
        run_id=msg.string("run_id") or None,
    )
    return {"run": wire.run(run)}


def get_run(ctx: Context, msg: Message) -> dict[str, Any]:
    return {"run": wire.run(ctx.tracking.get_run(msg.run_id()))}


def update_run(ctx: Context, msg: Message) -> dict[str, Any]:
    status = msg.get("status")
    info = ctx.tracking.update_run_info(
        msg.run_id(),
        run_status=None if status is None else wire.parse_run_status(status),
        end_time=msg.integer("end_time"),
        run_name=msg.string("run_name"),
    )
    return {"run_info": wire.run_info(info)}


def delete_run(ctx: Context, msg: Message) -> dict[str, Any]:
    ctx.tracking.delete_run(msg.run_id())
    return {}


def restore_run(ctx: Context, msg: Message) -> dict[str, Any]:
    ctx.tracking.restore_run(msg.run_id())
    return {}


def search_runs(ctx: Context, msg: Message) -> dict[str, Any]:
    found = ctx.tracking.search_runs(
        experiment_ids=wire.parse_ids("experiment_ids", msg.repeated("experiment_ids")),
        filter_string=msg.string("filter"),
        run_view_type=_view_type(msg, "run_view_type"),
        max_results=msg.integer("max_results", default=RUNS_SEARCH_DEFAULT_MAX_RESULTS) or 0,
        order_by=wire.parse_strings("order_by", msg.repeated("order_by")),
        page_token=msg.string("page_token"),
    )
    return wire.page("runs", [wire.run(r) for r in found], found.token)


def log_metric(ctx: Context, msg: Message) -> dict[str, Any]:
    run_id = msg.run_id()
    metric = Metric(
        _key(msg),
        wire.parse_double("value", msg.required("value")),
        msg.integer("timestamp", required=True) or 0,
        msg.integer("step", default=0) or 0,
    )
    # MLflow 3: a point naming a model_id (and the dataset it was measured on) also
    # belongs to that model, as in log-batch.
    linked = wire.parse_model_metrics([msg.fields], run_id, name="metric")
    linked_models.check(ctx, linked)
    ctx.tracking.log_batch(run_id, metrics=[metric], idempotency_key=_idempotency_key(msg))
    for model_id, points in linked.items():
        ctx.tracking.log_model_metrics(model_id, points)
    return {}


def log_param(ctx: Context, msg: Message) -> dict[str, Any]:
    param = Param(_key(msg), _value(msg))
    ctx.tracking.log_batch(msg.run_id(), params=[param], idempotency_key=_idempotency_key(msg))
    return {}


def set_tag(ctx: Context, msg: Message) -> dict[str, Any]:
    tag = RunTag(_key(msg), _value(msg))
    ctx.tracking.log_batch(msg.run_id(), tags=[tag], idempotency_key=_idempotency_key(msg))
    return {}


def delete_tag(ctx: Context, msg: Message) -> dict[str, Any]:
    ctx.tracking.delete_tag(msg.run_id(), _key(msg))
    return {}


def log_batch(ctx: Context, msg: Message) -> dict[str, Any]:
    run_id = msg.run_id()
    metrics = msg.repeated("metrics")
    linked = wire.parse_model_metrics(metrics, run_id)
    linked_models.check(ctx, linked)
    ctx.tracking.log_batch(
        run_id,
        metrics=wire.parse_metrics(metrics),
        params=wire.parse_params(msg.repeated("params")),
        tags=wire.parse_run_tags(msg.repeated("tags")),
        idempotency_key=_idempotency_key(msg),
    )
    # Points naming a model_id also belong to that model (MLflow 3); both writes are
    # idempotent, so a retried batch stores nothing twice.
    for model_id, points in linked.items():
        ctx.tracking.log_model_metrics(model_id, points)
    return {}


def log_inputs(ctx: Context, msg: Message) -> dict[str, Any]:
    datasets = [wire.parse_dataset_input(d) for d in msg.repeated("datasets")]
    ctx.tracking.log_inputs(msg.run_id(), datasets)
    return {}


def log_dataset_outputs(ctx: Context, msg: Message) -> dict[str, Any]:
    """Cairn's addition: datasets a run produced (its predictions), in log-inputs' shape."""
    datasets = [wire.parse_dataset_input(d) for d in msg.repeated("datasets")]
    ctx.tracking.log_dataset_outputs(msg.run_id(), datasets)
    return {}


def get_metric_history(ctx: Context, msg: Message) -> dict[str, Any]:
    history = ctx.tracking.get_metric_history(
        msg.run_id(),
        msg.string("metric_key", required=True) or "",
        max_results=msg.integer("max_results"),
        page_token=msg.string("page_token"),
    )
    return wire.page("metrics", [wire.metric(m) for m in history], history.token)


# What each call needs under `--auth` (cairn.server.access).
_READ_EXPERIMENT = Access(READ, Source.EXPERIMENT)
_MANAGE_EXPERIMENT = Access(MANAGE, Source.EXPERIMENT)
_READ_RUN = Access(READ, Source.RUN)
_EDIT_RUN = Access(EDIT, Source.RUN)
_CREATOR_MANAGES = Access(ANY_USER, effect=Effect.CREATOR_MANAGES_EXPERIMENT)
_ONLY_READABLE = Access(ANY_USER, effect=Effect.READABLE_EXPERIMENTS)
# A parent-run tag makes the parent outlive retention while its child lives: EDIT there.
_PARENT = Refers(EDIT, Reference.PARENT_RUN)

ENDPOINTS = [
    Endpoint("POST", "/experiments/create", create_experiment, access=_CREATOR_MANAGES),
    Endpoint("GET", "/experiments/get", get_experiment, access=_READ_EXPERIMENT),
    Endpoint(
        "GET",
        "/experiments/get-by-name",
        get_experiment_by_name,
        access=Access(READ, Source.EXPERIMENT_NAME),
    ),
    Endpoint("POST", "/experiments/search", search_experiments, access=_ONLY_READABLE),
    Endpoint("GET", "/experiments/search", search_experiments, access=_ONLY_READABLE),
    Endpoint("POST", "/experiments/update", update_experiment, access=_MANAGE_EXPERIMENT),
    Endpoint("POST", "/experiments/delete", delete_experiment, access=_MANAGE_EXPERIMENT),
    Endpoint("POST", "/experiments/restore", restore_experiment, access=_MANAGE_EXPERIMENT),
    Endpoint(
        "POST", "/experiments/set-experiment-tag", set_experiment_tag, access=_MANAGE_EXPERIMENT
    ),
    Endpoint(
        "POST",
        "/experiments/delete-experiment-tag",
        delete_experiment_tag,
        access=_MANAGE_EXPERIMENT,
    ),
    Endpoint(
        "POST",
        "/runs/create",
        create_run,
        access=Access(EDIT, Source.EXPERIMENT, refers=(_PARENT,)),
    ),
    Endpoint("GET", "/runs/get", get_run, access=_READ_RUN),
    Endpoint("POST", "/runs/update", update_run, access=_EDIT_RUN),
    Endpoint("POST", "/runs/delete", delete_run, access=_EDIT_RUN),
    Endpoint("POST", "/runs/restore", restore_run, access=_EDIT_RUN),
    Endpoint("POST", "/runs/search", search_runs, access=Access(READ, Source.EXPERIMENT_IDS)),
    Endpoint(
        "POST",
        "/runs/log-metric",
        log_metric,
        access=Access(EDIT, Source.RUN, refers=(Refers(EDIT, Reference.METRIC_MODEL),)),
    ),
    Endpoint("POST", "/runs/log-parameter", log_param, access=_EDIT_RUN),
    Endpoint("POST", "/runs/set-tag", set_tag, access=Access(EDIT, Source.RUN, refers=(_PARENT,))),
    Endpoint("POST", "/runs/delete-tag", delete_tag, access=_EDIT_RUN),
    Endpoint(
        "POST",
        "/runs/log-batch",
        log_batch,
        access=Access(
            EDIT, Source.RUN, refers=(Refers(EDIT, Reference.BATCH_METRIC_MODELS), _PARENT)
        ),
    ),
    Endpoint("POST", "/runs/log-inputs", log_inputs, access=_EDIT_RUN),
    Endpoint("POST", "/runs/log-dataset-outputs", log_dataset_outputs, access=_EDIT_RUN),
    Endpoint("GET", "/metrics/get-history", get_metric_history, access=_READ_RUN),
]
