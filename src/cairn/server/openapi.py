"""The server's OpenAPI 3 description, generated from its routes, served at `/openapi.json`.

Every endpoint route (cairn.server.routes) becomes one operation per method under each of
its prefixes. What a call reads is declared here, one line per endpoint, in the names and
types of MLflow's service protos (`service.proto`, `model_registry.proto`), in a small
notation: `name` is a string, `name:int` an int64, `name:num` a double, `name:bool`,
`name:id` a string of ASCII digits, `name:kv` a `{key, value}` object, `name:metric` and
`name:dataset` MLflow's messages, `name:obj` any object, `name:[type]` a repeated field,
`name:A|B` one of the names, and a trailing `!` a required field. A GET reads them from the
query string, the other methods from a JSON body; `{path}` fields come from the path.
Every answer that is not a 200 is MLflow's error `{error_code, message}`.

The description covers the JSON API; the artifact proxy, multipart uploads and OTLP take
raw bodies and are left out, as are /health and /version.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from cairn.server.access import ANY_USER, Access
from cairn.server.responses import JSON
from cairn.server.routes import EndpointRoute
from cairn.server.ui_api import DOWNLOADS
from cairn.version import __version__

OPENAPI_PATH = "/openapi.json"

# The API namespaces an endpoint's path is served under: /api/2.0/mlflow, /ajax-api/3.0/cairn...
_PREFIX = re.compile(r"^/(?:ajax-)?api/[0-9.]+/[a-z-]+(?=/)")
_PATH_FIELD = re.compile(r"\{(\w+)(?::\w+)?\}")
_ERROR = {"$ref": "#/components/schemas/Error"}
_KV = {"$ref": "#/components/schemas/KeyValue"}

_SEARCH = "filter max_results:int order_by:[string] page_token"
_VIEW = "ACTIVE_ONLY|DELETED_ONLY|ALL"
_RUN_STATUS = "RUNNING|SCHEDULED|FINISHED|FAILED|KILLED"
_MODEL_STATUS = "LOGGED_MODEL_PENDING|LOGGED_MODEL_READY|LOGGED_MODEL_UPLOAD_FAILED"
_TRACE_STATE = "OK|ERROR|IN_PROGRESS|STATE_UNSPECIFIED"
_VERSION = "name! version:id!"
_METRICS = "key! x_min:num x_max:num buckets:int filter"

#: What each endpoint reads, by method and path without its API prefix (None: a raw body,
#: not described).
REQUEST_FIELDS: dict[str, str | None] = {
    # tracking (service.proto)
    "POST /experiments/create": "name! artifact_location tags:[kv]",
    "GET /experiments/get": "experiment_id:id!",
    "GET /experiments/get-by-name": "experiment_name!",
    "POST /experiments/search": f"{_SEARCH} view_type:{_VIEW}",
    "GET /experiments/search": f"{_SEARCH} view_type:{_VIEW}",
    "POST /experiments/update": "experiment_id:id! new_name!",
    "POST /experiments/delete": "experiment_id:id!",
    "POST /experiments/restore": "experiment_id:id!",
    "POST /experiments/set-experiment-tag": "experiment_id:id! key! value",
    "POST /experiments/delete-experiment-tag": "experiment_id:id! key!",
    "POST /runs/create": "experiment_id:id! user_id run_name start_time:int tags:[kv] run_id",
    "GET /runs/get": "run_id!",
    "POST /runs/update": f"run_id! status:{_RUN_STATUS} end_time:int run_name",
    "POST /runs/delete": "run_id!",
    "POST /runs/restore": "run_id!",
    "POST /runs/search": f"experiment_ids:[id] run_view_type:{_VIEW} {_SEARCH}",
    "POST /runs/log-metric": (
        "run_id! key! value:num! timestamp:int! step:int model_id dataset_name dataset_digest"
    ),
    "POST /runs/log-parameter": "run_id! key! value",
    "POST /runs/set-tag": "run_id! key! value",
    "POST /runs/delete-tag": "run_id! key!",
    "POST /runs/log-batch": "run_id! metrics:[metric] params:[kv] tags:[kv]",
    "POST /runs/log-inputs": "run_id! datasets:[dataset] models:[obj]",
    "POST /runs/log-dataset-outputs": "run_id! datasets:[dataset]",
    "POST /runs/outputs": "run_id! models:[obj]",
    "GET /metrics/get-history": "run_id! metric_key! max_results:int page_token",
    "GET /artifacts/list": "run_id! path page_token",
    # logged models (MLflow 3)
    "POST /logged-models": "experiment_id:id! name model_type source_run_id params:[kv] tags:[kv]",
    "POST /logged-models/search": (
        "experiment_ids:[id] filter datasets:[obj] max_results:int order_by:[obj] page_token"
    ),
    "GET /logged-models/{model_id}": "allow_deleted:bool",
    "PATCH /logged-models/{model_id}": f"status:{_MODEL_STATUS}!",
    "DELETE /logged-models/{model_id}": "",
    "PATCH /logged-models/{model_id}/tags": "tags:[kv]",
    "DELETE /logged-models/{model_id}/tags/{tag_key}": "",
    "POST /logged-models/{model_id}/params": "params:[kv]",
    "GET /logged-models/{model_id}/artifacts/directories": "artifact_directory_path",
    # model registry (model_registry.proto)
    "POST /registered-models/create": "name! description tags:[kv]",
    "GET /registered-models/get": "name!",
    "POST /registered-models/rename": "name! new_name!",
    "PATCH /registered-models/update": "name! description",
    "DELETE /registered-models/delete": "name!",
    "GET /registered-models/search": _SEARCH,
    "POST /registered-models/get-latest-versions": "name! stages:[string]",
    "GET /registered-models/get-latest-versions": "name! stages:[string]",
    "POST /registered-models/set-tag": "name! key! value",
    "DELETE /registered-models/delete-tag": "name! key!",
    "POST /registered-models/alias": "name! alias! version:id!",
    "DELETE /registered-models/alias": "name! alias!",
    "GET /registered-models/alias": "name! alias!",
    "POST /model-versions/create": ("name! source! run_id run_link description tags:[kv] model_id"),
    "GET /model-versions/get": _VERSION,
    "PATCH /model-versions/update": f"{_VERSION} description",
    "POST /model-versions/transition-stage": f"{_VERSION} stage! archive_existing_versions:bool",
    "DELETE /model-versions/delete": _VERSION,
    "GET /model-versions/search": _SEARCH,
    "GET /model-versions/get-download-uri": _VERSION,
    "POST /model-versions/set-tag": f"{_VERSION} key! value",
    "DELETE /model-versions/delete-tag": f"{_VERSION} key!",
    "GET /model-versions/history": _VERSION,
    # traces (MLflow 3's service.proto, and the v2 forms)
    "POST /traces": "trace:obj experiment_id:id timestamp_ms:int request_metadata:[kv] tags:[kv]",
    "GET /traces": f"experiment_ids:[id] {_SEARCH}",
    "GET /traces/get": "trace_id! allow_partial:bool",
    "GET /traces/batchGet": "trace_ids:[string] experiment_ids:[id]",
    "POST /traces/batchGetInfos": "trace_ids:[string] experiment_ids:[id]",
    "POST /traces/search": f"locations:[obj] experiment_ids:[id] {_SEARCH}",
    "POST /traces/delete-traces": (
        "experiment_id:id! max_timestamp_millis:int max_traces:int request_ids:[string]"
    ),
    "POST /traces/link-to-run": "run_id! trace_ids:[string]",
    "GET /traces/{trace_id}": "",
    "PATCH /traces/{trace_id}": (
        f"timestamp_ms:int status:{_TRACE_STATE} request_metadata:[kv] tags:[kv]"
    ),
    "GET /traces/{trace_id}/info": "",
    "PATCH /traces/{trace_id}/tags": "key! value",
    "DELETE /traces/{trace_id}/tags": "key!",
    "POST /traces/{trace_id}/assessments": "assessment:obj!",
    "GET /traces/{trace_id}/assessments/{assessment_id}": "",
    "PATCH /traces/{trace_id}/assessments/{assessment_id}": "assessment:obj! update_mask",
    "DELETE /traces/{trace_id}/assessments/{assessment_id}": "",
    # Cairn's own calls (the UI, storage, model files, import, maintenance)
    "GET /metrics/downsampled": f"run_ids:[string]! {_METRICS} x_axis:step|wall|relative",
    "GET /metrics/grouped": f"experiment_ids:[id]! run_ids:[string] group_by {_METRICS}",
    "GET /metrics/export": "run_id! key!",
    "GET /artifacts/get": "run_id! path!",
    "GET /experiments/run-counts": "experiment_ids:[id]",
    "GET /storage": "experiment_ids:[id] run_ids:[string]",
    "GET /registered-models/permission": "name!",
    "GET /model-versions/mlmodel": _VERSION,
    "GET /model-versions/artifact": f"{_VERSION} path!",
    "POST /import/experiment": "experiment:obj!",
    "POST /import/runs-of": "run_ids:[string]",
    "POST /import/run": "run:obj! experiment_id:id! artifact_uri",
    "POST /import/metric-points": "run_id! series:[obj]",
    "POST /import/datasets": "run_id! inputs:[dataset] outputs:[dataset]",
    "POST /import/model-outputs": "run_id! models:[obj]",
    "POST /import/finish-run": "run:obj! deleted_time:int",
    "POST /import/logged-model": "model:obj! experiment_id:id! artifact_uri",
    "POST /import/registered-model": "registered_model:obj!",
    "POST /import/model-version": "model_version:obj!",
    "POST /gc": (
        "older_than_ms:int experiment_ids:[id] run_ids:[string] dry_run:bool "
        "apply_retention:bool max_runs:int"
    ),
    "POST /runs/purge": "run_id!",
    "GET /openapi.json": "",
    "POST /v1/traces": None,  # OTLP's protobuf
}

_SCALARS: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "int": {"type": "integer", "format": "int64"},
    "num": {"type": "number", "format": "double"},
    "bool": {"type": "boolean"},
    "id": {"type": "string", "pattern": "^[0-9]{1,10}$"},
    "obj": {"type": "object"},
    "kv": _KV,
    "metric": {"$ref": "#/components/schemas/Metric"},
    "dataset": {"$ref": "#/components/schemas/DatasetInput"},
}

_COMPONENTS = {
    "schemas": {
        "Error": {
            "type": "object",
            "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
            "required": ["error_code", "message"],
        },
        "KeyValue": {
            "type": "object",
            "properties": {"key": {"type": "string"}, "value": {"type": "string"}},
            "required": ["key"],
        },
        "Metric": {
            "type": "object",
            "properties": {
                "key": {"type": "string"},
                "value": _SCALARS["num"],
                "timestamp": _SCALARS["int"],
                "step": _SCALARS["int"],
                "model_id": {"type": "string"},
                "dataset_name": {"type": "string"},
                "dataset_digest": {"type": "string"},
            },
            "required": ["key", "value", "timestamp"],
        },
        "DatasetInput": {
            "type": "object",
            "properties": {
                "tags": {"type": "array", "items": _KV},
                "dataset": {
                    "type": "object",
                    "properties": {
                        name: {"type": "string"}
                        for name in ("name", "digest", "source_type", "source", "schema", "profile")
                    },
                    "required": ["name", "digest", "source_type", "source"],
                },
            },
            "required": ["dataset"],
        },
    }
}


def api_path(path: str) -> str:
    """A route's path without its API prefix, in OpenAPI's spelling (`{name}`)."""
    return _PATH_FIELD.sub(r"{\1}", _PREFIX.sub("", path))


def describe(routes: Iterable[BaseRoute]) -> dict[str, Any]:
    """The OpenAPI 3 document of every endpoint route in `routes`; KeyError names an
    endpoint that declares no fields here (so none is served undescribed)."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, EndpointRoute):
            continue
        path = _PATH_FIELD.sub(r"{\1}", route.path)
        for method in sorted(route.accesses):
            fields = REQUEST_FIELDS[f"{method} {api_path(route.path)}"]
            if fields is None:
                continue
            paths.setdefault(path, {})[method.lower()] = _operation(method, route.path, fields)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Cairn tracking server",
            "version": __version__,
            "description": "MLflow's REST API as Cairn serves it, and Cairn's own calls.",
        },
        "paths": paths,
        "components": _COMPONENTS,
    }


def route(routes: Sequence[BaseRoute]) -> EndpointRoute:
    """`GET /openapi.json`: the description of `routes`, built once. Under `--auth` any
    authenticated user may read it (it lists every call, administrators' included)."""
    body: list[bytes] = []  # the description of `routes` and of this route itself

    async def serve(_request: Request) -> Response:
        return Response(body[0], media_type=JSON)

    own = EndpointRoute(OPENAPI_PATH, serve, {"GET": Access(ANY_USER)})
    body.append(orjson.dumps(describe([*routes, own])))
    return own


def _operation(method: str, path: str, fields: str) -> dict[str, Any]:
    declared = [_field(token) for token in fields.split()]
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_FIELD.findall(path)
    ]
    # A download answers the file's own type; every other call, JSON.
    answer = "*/*" if api_path(path) in {d.path for d in DOWNLOADS} else JSON
    operation: dict[str, Any] = {
        "operationId": f"{method.lower()}{re.sub(r'[^A-Za-z0-9]+', '_', path)}",
        "responses": {
            "200": {"description": "Done.", "content": {answer: {"schema": {}}}},
            "default": {"description": "MLflow's error.", "content": {JSON: {"schema": _ERROR}}},
        },
    }
    if method == "GET":
        parameters += [
            {"name": name, "in": "query", "required": required, "schema": schema}
            | ({"style": "form", "explode": True} if schema.get("type") == "array" else {})
            for name, schema, required in declared
        ]
    elif declared:
        body: dict[str, Any] = {
            "type": "object",
            "properties": {name: schema for name, schema, _ in declared},
        }
        required = [name for name, _, is_required in declared if is_required]
        if required:
            body["required"] = required
        operation["requestBody"] = {
            "required": bool(required),
            "content": {JSON: {"schema": body}},
        }
    if parameters:
        operation["parameters"] = parameters
    return operation


def _field(token: str) -> tuple[str, dict[str, Any], bool]:
    """`name:type!` as (name, JSON schema, required)."""
    required = token.endswith("!")
    name, _, kind = token.rstrip("!").partition(":")
    return name, _schema(kind or "string"), required


def _schema(kind: str) -> dict[str, Any]:
    if kind.startswith("["):
        return {"type": "array", "items": _schema(kind[1:-1])}
    if "|" in kind:
        return {"type": "string", "enum": kind.split("|")}
    return _SCALARS[kind]
