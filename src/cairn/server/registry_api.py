"""Handlers of MLflow's model registry (`model_registry.proto`), one small function each, plus
Cairn's `GET /model-versions/history`.

The store validates names, stages, aliases and sources and raises the CairnError that becomes
MLflow's error JSON (an unknown alias is 400 INVALID_PARAMETER_VALUE there, as in MLflow).
Who acted is recorded in the history: the authenticated user under `--auth`, else the
caller's `user_id` field, if any (MLflow's requests have none; Cairn's REST store sends it).
"""

from __future__ import annotations

from typing import Any

from cairn import wire
from cairn.server.access import ANY_USER, EDIT, MANAGE, READ, Access, Effect, Source
from cairn.server.context import Context, authenticated_user
from cairn.server.messages import Message
from cairn.server.routes import Endpoint
from cairn.store.base import (
    MODEL_VERSIONS_MAX_RESULTS_LIMIT,
    REGISTERED_MODELS_MAX_RESULTS_DEFAULT,
)

# Omitted max_results: the protos' defaults (100 models; 200 000 versions, which MLflow's
# server uses as given — its client always sends 10 000).
MODEL_VERSIONS_SEARCH_DEFAULT = MODEL_VERSIONS_MAX_RESULTS_LIMIT


def _name(msg: Message) -> str:
    return msg.string("name", required=True) or ""


def _version(msg: Message) -> str:
    return wire.parse_version("version", msg.required("version"))


def _key(msg: Message) -> str:
    return msg.string("key", required=True) or ""


def _alias(msg: Message) -> str:
    return msg.string("alias", required=True) or ""


def _user(msg: Message) -> str | None:
    """With `--auth` the authenticated user, whatever the request claims."""
    return authenticated_user() or msg.string("user_id") or None


# -- registered models ----------------------------------------------------------------------


def create_registered_model(ctx: Context, msg: Message) -> dict[str, Any]:
    model = ctx.models.create_registered_model(
        _name(msg),
        tags=wire.parse_tag_map(msg.repeated("tags")),
        description=msg.string("description"),
        user_id=_user(msg),
    )
    return {"registered_model": wire.registered_model(model)}


def get_registered_model(ctx: Context, msg: Message) -> dict[str, Any]:
    return {"registered_model": wire.registered_model(ctx.models.get_registered_model(_name(msg)))}


def rename_registered_model(ctx: Context, msg: Message) -> dict[str, Any]:
    new_name = msg.string("new_name", required=True) or ""
    model = ctx.models.rename_registered_model(_name(msg), new_name)
    return {"registered_model": wire.registered_model(model)}


def update_registered_model(ctx: Context, msg: Message) -> dict[str, Any]:
    model = ctx.models.update_registered_model(_name(msg), msg.string("description"))
    return {"registered_model": wire.registered_model(model)}


def delete_registered_model(ctx: Context, msg: Message) -> dict[str, Any]:
    ctx.models.delete_registered_model(_name(msg))
    return {}


def search_registered_models(ctx: Context, msg: Message) -> dict[str, Any]:
    found = ctx.models.search_registered_models(
        filter_string=msg.string("filter"),
        max_results=msg.integer("max_results", default=REGISTERED_MODELS_MAX_RESULTS_DEFAULT) or 0,
        order_by=wire.parse_strings("order_by", msg.repeated("order_by")),
        page_token=msg.string("page_token"),
    )
    return wire.page("registered_models", [wire.registered_model(m) for m in found], found.token)


def get_latest_versions(ctx: Context, msg: Message) -> dict[str, Any]:
    stages = wire.parse_strings("stages", msg.repeated("stages"))
    found = ctx.models.get_latest_versions(_name(msg), stages or None)
    # MLflow leaves empty repeated fields out: no versions answer `{}`.
    return wire.page("model_versions", [wire.model_version(v) for v in found], None)


def set_registered_model_tag(ctx: Context, msg: Message) -> dict[str, Any]:
    ctx.models.set_registered_model_tag(_name(msg), _key(msg), msg.string("value") or "")
    return {}


def delete_registered_model_tag(ctx: Context, msg: Message) -> dict[str, Any]:
    ctx.models.delete_registered_model_tag(_name(msg), _key(msg))
    return {}


# -- aliases ------------------------------------------------------------------------------


def set_registered_model_alias(ctx: Context, msg: Message) -> dict[str, Any]:
    ctx.models.set_registered_model_alias(_name(msg), _alias(msg), _version(msg), _user(msg))
    return {}


def delete_registered_model_alias(ctx: Context, msg: Message) -> dict[str, Any]:
    ctx.models.delete_registered_model_alias(_name(msg), _alias(msg), _user(msg))
    return {}


def get_model_version_by_alias(ctx: Context, msg: Message) -> dict[str, Any]:
    version = ctx.models.get_model_version_by_alias(_name(msg), _alias(msg))
    return {"model_version": wire.model_version(version)}


# -- model versions -------------------------------------------------------------------------


def create_model_version(ctx: Context, msg: Message) -> dict[str, Any]:
    version = ctx.models.create_model_version(
        _name(msg),
        msg.string("source", required=True) or "",
        run_id=msg.string("run_id") or None,
        tags=wire.parse_tag_map(msg.repeated("tags")),
        run_link=msg.string("run_link") or None,
        description=msg.string("description"),
        model_id=msg.string("model_id") or None,
        user_id=_user(msg),
    )
    return {"model_version": wire.model_version(version)}


def get_model_version(ctx: Context, msg: Message) -> dict[str, Any]:
    version = ctx.models.get_model_version(_name(msg), _version(msg))
    return {"model_version": wire.model_version(version)}


def update_model_version(ctx: Context, msg: Message) -> dict[str, Any]:
    version = ctx.models.update_model_version(_name(msg), _version(msg), msg.string("description"))
    return {"model_version": wire.model_version(version)}


def transition_model_version_stage(ctx: Context, msg: Message) -> dict[str, Any]:
    version = ctx.models.transition_model_version_stage(
        _name(msg),
        _version(msg),
        msg.string("stage", required=True) or "",
        archive_existing_versions=msg.boolean("archive_existing_versions"),
        user_id=_user(msg),
    )
    return {"model_version": wire.model_version(version)}


def delete_model_version(ctx: Context, msg: Message) -> dict[str, Any]:
    ctx.models.delete_model_version(_name(msg), _version(msg), _user(msg))
    return {}


def search_model_versions(ctx: Context, msg: Message) -> dict[str, Any]:
    found = ctx.models.search_model_versions(
        filter_string=msg.string("filter"),
        max_results=msg.integer("max_results", default=MODEL_VERSIONS_SEARCH_DEFAULT) or 0,
        order_by=wire.parse_strings("order_by", msg.repeated("order_by")),
        page_token=msg.string("page_token"),
    )
    return wire.page("model_versions", [wire.model_version(v) for v in found], found.token)


def get_model_version_download_uri(ctx: Context, msg: Message) -> dict[str, Any]:
    return {"artifact_uri": ctx.models.get_model_version_download_uri(_name(msg), _version(msg))}


def set_model_version_tag(ctx: Context, msg: Message) -> dict[str, Any]:
    ctx.models.set_model_version_tag(
        _name(msg), _version(msg), _key(msg), msg.string("value") or ""
    )
    return {}


def delete_model_version_tag(ctx: Context, msg: Message) -> dict[str, Any]:
    ctx.models.delete_model_version_tag(_name(msg), _version(msg), _key(msg))
    return {}


def get_model_version_history(ctx: Context, msg: Message) -> dict[str, Any]:
    events = ctx.models.get_model_version_history(_name(msg), _version(msg))
    return {wire.HISTORY_FIELD: [wire.model_version_event(e) for e in events]}


# What each call needs under `--auth` (cairn.server.access, cairn.server.registry_auth).
_READ_MODEL = Access(READ, Source.REGISTERED_MODEL)
_EDIT_MODEL = Access(EDIT, Source.REGISTERED_MODEL)
_MANAGE_MODEL = Access(MANAGE, Source.REGISTERED_MODEL)

ENDPOINTS = [
    Endpoint(
        "POST",
        "/registered-models/create",
        create_registered_model,
        access=Access(ANY_USER, effect=Effect.CREATOR_MANAGES_MODEL),
    ),
    Endpoint("GET", "/registered-models/get", get_registered_model, access=_READ_MODEL),
    Endpoint("POST", "/registered-models/rename", rename_registered_model, access=_MANAGE_MODEL),
    Endpoint("PATCH", "/registered-models/update", update_registered_model, access=_EDIT_MODEL),
    Endpoint("DELETE", "/registered-models/delete", delete_registered_model, access=_MANAGE_MODEL),
    Endpoint(
        "GET",
        "/registered-models/search",
        search_registered_models,
        access=Access(ANY_USER, effect=Effect.READABLE_MODELS),
    ),
    # The only registry call MLflow serves on two methods; its client uses POST.
    Endpoint(
        "POST", "/registered-models/get-latest-versions", get_latest_versions, access=_READ_MODEL
    ),
    Endpoint(
        "GET", "/registered-models/get-latest-versions", get_latest_versions, access=_READ_MODEL
    ),
    Endpoint("POST", "/registered-models/set-tag", set_registered_model_tag, access=_EDIT_MODEL),
    Endpoint(
        "DELETE", "/registered-models/delete-tag", delete_registered_model_tag, access=_EDIT_MODEL
    ),
    Endpoint("POST", "/registered-models/alias", set_registered_model_alias, access=_EDIT_MODEL),
    Endpoint(
        "DELETE", "/registered-models/alias", delete_registered_model_alias, access=_EDIT_MODEL
    ),
    Endpoint("GET", "/registered-models/alias", get_model_version_by_alias, access=_READ_MODEL),
    Endpoint(
        "POST",
        "/model-versions/create",
        create_model_version,
        access=Access(EDIT, Source.NEW_VERSION),
    ),
    Endpoint("GET", "/model-versions/get", get_model_version, access=_READ_MODEL),
    Endpoint("PATCH", "/model-versions/update", update_model_version, access=_EDIT_MODEL),
    Endpoint(
        "POST",
        "/model-versions/transition-stage",
        transition_model_version_stage,
        access=_EDIT_MODEL,
    ),
    Endpoint("DELETE", "/model-versions/delete", delete_model_version, access=_EDIT_MODEL),
    Endpoint(
        "GET",
        "/model-versions/search",
        search_model_versions,
        access=Access(ANY_USER, effect=Effect.READABLE_VERSIONS),
    ),
    Endpoint(
        "GET",
        "/model-versions/get-download-uri",
        get_model_version_download_uri,
        access=_READ_MODEL,
    ),
    Endpoint("POST", "/model-versions/set-tag", set_model_version_tag, access=_EDIT_MODEL),
    Endpoint("DELETE", "/model-versions/delete-tag", delete_model_version_tag, access=_EDIT_MODEL),
    Endpoint("GET", "/model-versions/history", get_model_version_history, access=_READ_MODEL),
]
