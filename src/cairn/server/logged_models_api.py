"""Handlers of MLflow 3's LoggedModel calls (`/logged-models…`, `/runs/outputs`).

`mlflow.<flavor>.log_model` creates a model here, uploads its files through the artifact
proxy to `<experiment>/models/<model_id>/artifacts`, then marks it READY.
"""

from __future__ import annotations

from typing import Any

from cairn import wire
from cairn.exceptions import InvalidParameterValueError
from cairn.server.access import EDIT, READ, Access, Reference, Refers, Source
from cairn.server.artifacts_api import list_under
from cairn.server.context import Context
from cairn.server.messages import Message
from cairn.server.routes import Endpoint
from cairn.store.base import LOGGED_MODELS_MAX_RESULTS_DEFAULT


def _model_id(msg: Message) -> str:
    return msg.string("model_id", required=True) or ""


def _pairs(msg: Message, name: str) -> dict[str, str]:
    """A list of `{key, value}` objects (tags or params) as a dict."""
    return wire.parse_tag_map(msg.repeated(name), name)


def create_logged_model(ctx: Context, msg: Message) -> dict[str, Any]:
    model = ctx.tracking.create_logged_model(
        wire.parse_id("experiment_id", msg.required("experiment_id")),
        name=msg.string("name") or None,
        source_run_id=msg.string("source_run_id") or None,
        tags=_pairs(msg, "tags"),
        params=_pairs(msg, "params"),
        model_type=msg.string("model_type") or None,
    )
    return {"model": wire.logged_model(model)}


def get_logged_model(ctx: Context, msg: Message) -> dict[str, Any]:
    model = ctx.tracking.get_logged_model(_model_id(msg), msg.boolean("allow_deleted"))
    return {"model": wire.logged_model(model)}


def finalize_logged_model(ctx: Context, msg: Message) -> dict[str, Any]:
    status = wire.parse_logged_model_status(msg.required("status"))
    model = ctx.tracking.finalize_logged_model(_model_id(msg), status)
    return {"model": wire.logged_model(model)}


def delete_logged_model(ctx: Context, msg: Message) -> dict[str, Any]:
    ctx.tracking.delete_logged_model(_model_id(msg))
    return {}


def set_logged_model_tags(ctx: Context, msg: Message) -> dict[str, Any]:
    ctx.tracking.set_logged_model_tags(_model_id(msg), _pairs(msg, "tags"))
    return {}


def delete_logged_model_tag(ctx: Context, msg: Message) -> dict[str, Any]:
    ctx.tracking.delete_logged_model_tag(_model_id(msg), msg.string("tag_key", required=True) or "")
    return {}


def log_logged_model_params(ctx: Context, msg: Message) -> dict[str, Any]:
    ctx.tracking.log_logged_model_params(_model_id(msg), _pairs(msg, "params"))
    return {}


def search_logged_models(ctx: Context, msg: Message) -> dict[str, Any]:
    if msg.repeated("datasets"):
        # Left for the datasets issue: filtering models by the dataset a metric was measured on.
        raise InvalidParameterValueError("Searching logged models by dataset is not supported yet.")
    found = ctx.tracking.search_logged_models(
        wire.parse_ids("experiment_ids", msg.repeated("experiment_ids")),
        filter_string=msg.string("filter"),
        max_results=msg.integer("max_results", default=LOGGED_MODELS_MAX_RESULTS_DEFAULT) or 0,
        order_by=[wire.parse_order_clause(i, o) for i, o in enumerate(msg.repeated("order_by"))],
        page_token=msg.string("page_token"),
    )
    return wire.page("models", [wire.logged_model(m) for m in found], found.token)


def list_model_artifacts(ctx: Context, msg: Message) -> dict[str, Any]:
    model = ctx.tracking.get_logged_model(_model_id(msg))
    return list_under(ctx, model.artifact_uri, msg.string("artifact_directory_path"))


def log_outputs(ctx: Context, msg: Message) -> dict[str, Any]:
    outputs = wire.parse_model_outputs(msg.repeated("models"), "models")
    ctx.tracking.log_outputs(msg.run_id(), outputs)
    return {}


# What each call needs under `--auth` (cairn.server.access): the logged model's experiment.
# Naming another experiment's run or model (a source run, an output) writes nothing there,
# so READ on it is enough; the run or model named is then shown beside the caller's own.
_READ_MODEL = Access(READ, Source.LOGGED_MODEL)
_EDIT_MODEL = Access(EDIT, Source.LOGGED_MODEL)

ENDPOINTS = [
    Endpoint(
        "POST",
        "/logged-models",
        create_logged_model,
        access=Access(EDIT, Source.EXPERIMENT, refers=(Refers(READ, Reference.SOURCE_RUN),)),
    ),
    Endpoint(
        "POST",
        "/logged-models/search",
        search_logged_models,
        access=Access(READ, Source.EXPERIMENT_IDS),
    ),
    Endpoint("GET", "/logged-models/{model_id}", get_logged_model, access=_READ_MODEL),
    Endpoint("PATCH", "/logged-models/{model_id}", finalize_logged_model, access=_EDIT_MODEL),
    Endpoint("DELETE", "/logged-models/{model_id}", delete_logged_model, access=_EDIT_MODEL),
    Endpoint("PATCH", "/logged-models/{model_id}/tags", set_logged_model_tags, access=_EDIT_MODEL),
    Endpoint(
        "DELETE",
        "/logged-models/{model_id}/tags/{tag_key:path}",
        delete_logged_model_tag,
        access=_EDIT_MODEL,
    ),
    Endpoint(
        "POST", "/logged-models/{model_id}/params", log_logged_model_params, access=_EDIT_MODEL
    ),
    Endpoint(
        "GET",
        "/logged-models/{model_id}/artifacts/directories",
        list_model_artifacts,
        access=_READ_MODEL,
    ),
    Endpoint(
        "POST",
        "/runs/outputs",
        log_outputs,
        access=Access(EDIT, Source.RUN, refers=(Refers(READ, Reference.OUTPUT_MODELS),)),
    ),
]
