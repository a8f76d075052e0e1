"""Handlers of MLflow 3's LoggedModel calls (`/logged-models…`, `/runs/outputs`).

`mlflow.<flavor>.log_model` creates a model here, uploads its files through the artifact
proxy to `<experiment>/models/<model_id>/artifacts`, then marks it READY.
"""

from __future__ import annotations

from typing import Any

from cairn.entities import LoggedModelOutput, LoggedModelStatus
from cairn.exceptions import InvalidParameterValueError
from cairn.proto_json import parse_int
from cairn.server import wire
from cairn.server.artifacts_api import list_under
from cairn.server.context import Context
from cairn.server.messages import Message
from cairn.server.routes import Endpoint
from cairn.store.base import LOGGED_MODELS_MAX_RESULTS_DEFAULT

# The proto's enum numbers, which a client may send instead of the names.
_STATUS_NUMBERS = {
    1: LoggedModelStatus.PENDING,
    2: LoggedModelStatus.READY,
    3: LoggedModelStatus.UPLOAD_FAILED,
}


def _model_id(msg: Message) -> str:
    return msg.string("model_id", required=True) or ""


def _pairs(msg: Message, name: str) -> dict[str, str]:
    """A list of `{key, value}` objects (tags or params) as a dict."""
    return {p.key: p.value for p in wire.parse_params(msg.repeated(name), name=name)}


def _status(value: Any) -> LoggedModelStatus:
    if isinstance(value, int) and not isinstance(value, bool) and value in _STATUS_NUMBERS:
        return _STATUS_NUMBERS[value]
    try:
        return LoggedModelStatus.parse(str(value))
    except ValueError:
        raise InvalidParameterValueError(
            f"Invalid value {value!r} for parameter 'status'."
        ) from None


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
    model = ctx.tracking.finalize_logged_model(_model_id(msg), _status(msg.required("status")))
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
        order_by=[_order_clause(i, o) for i, o in enumerate(msg.repeated("order_by"))],
        page_token=msg.string("page_token"),
    )
    return wire.page("models", [wire.logged_model(m) for m in found], found.token)


def _order_clause(index: int, item: Any) -> str:
    """MLflow's order_by objects (`{field_name, ascending}`) as the grammar's strings."""
    if not isinstance(item, dict) or not isinstance(item.get("field_name"), str):
        raise InvalidParameterValueError(
            f"order_by[{index}] must be an object with a string 'field_name'."
        )
    if item.get("dataset_name") or item.get("dataset_digest"):
        raise InvalidParameterValueError("Ordering logged models by dataset is not supported yet.")
    ascending = item.get("ascending", True)
    if not isinstance(ascending, bool):
        raise InvalidParameterValueError(f"order_by[{index}].ascending must be a boolean.")
    return f"{item['field_name']} {'ASC' if ascending else 'DESC'}"


def list_model_artifacts(ctx: Context, msg: Message) -> dict[str, Any]:
    model = ctx.tracking.get_logged_model(_model_id(msg))
    return list_under(ctx, model.artifact_uri, msg.string("artifact_directory_path"))


def log_outputs(ctx: Context, msg: Message) -> dict[str, Any]:
    outputs = []
    for i, item in enumerate(msg.repeated("models")):
        if not isinstance(item, dict) or not isinstance(item.get("model_id"), str):
            raise InvalidParameterValueError(f"models[{i}] must name a 'model_id'.")
        step = item.get("step")
        outputs.append(
            LoggedModelOutput(item["model_id"], 0 if step is None else parse_int("step", step))
        )
    ctx.tracking.log_outputs(msg.run_id(), outputs)
    return {}


ENDPOINTS = [
    Endpoint("POST", "/logged-models", create_logged_model),
    Endpoint("POST", "/logged-models/search", search_logged_models),
    Endpoint("GET", "/logged-models/{model_id}", get_logged_model),
    Endpoint("PATCH", "/logged-models/{model_id}", finalize_logged_model),
    Endpoint("DELETE", "/logged-models/{model_id}", delete_logged_model),
    Endpoint("PATCH", "/logged-models/{model_id}/tags", set_logged_model_tags),
    Endpoint("DELETE", "/logged-models/{model_id}/tags/{tag_key:path}", delete_logged_model_tag),
    Endpoint("POST", "/logged-models/{model_id}/params", log_logged_model_params),
    Endpoint("GET", "/logged-models/{model_id}/artifacts/directories", list_model_artifacts),
    Endpoint("POST", "/runs/outputs", log_outputs),
]
