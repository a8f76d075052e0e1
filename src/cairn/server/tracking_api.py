"""Handlers of MLflow's tracking service (`service.proto`), one small function each."""

from __future__ import annotations

from typing import Any

from cairn.entities import ExperimentTag
from cairn.exceptions import ResourceDoesNotExistError
from cairn.server import wire
from cairn.server.context import Context
from cairn.server.messages import Message
from cairn.server.routes import Endpoint


def create_experiment(ctx: Context, msg: Message) -> dict[str, Any]:
    tags = [ExperimentTag(t["key"], t.get("value", "")) for t in msg.repeated("tags")]
    experiment_id = ctx.tracking.create_experiment(
        msg.string("name", required=True) or "", msg.string("artifact_location"), tags
    )
    return {"experiment_id": experiment_id}


def get_experiment(ctx: Context, msg: Message) -> dict[str, Any]:
    experiment = ctx.tracking.get_experiment(str(msg.required("experiment_id")))
    return {"experiment": wire.experiment(experiment)}


def get_experiment_by_name(ctx: Context, msg: Message) -> dict[str, Any]:
    name = msg.string("experiment_name", required=True) or ""
    experiment = ctx.tracking.get_experiment_by_name(name)
    if experiment is None:
        # MLflow answers 404 here, and its client relies on it to create the experiment.
        raise ResourceDoesNotExistError(f"Could not find experiment with name '{name}'")
    return {"experiment": wire.experiment(experiment)}


ENDPOINTS = [
    Endpoint("POST", "/experiments/create", create_experiment),
    Endpoint("GET", "/experiments/get", get_experiment),
    Endpoint("GET", "/experiments/get-by-name", get_experiment_by_name),
]
