"""Entities to MLflow's JSON and back: the only place that knows the wire format.

Output follows MLflow's proto JSON: snake_case names, int64 as numbers, NaN as "NaN",
unset fields left out, {} for empty responses. Input is read liberally, as MLflow's server
reads it: int64 as numbers or strings, "NaN"/"Infinity" for doubles, `run_uuid` for `run_id`.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from cairn.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    ExperimentTag,
    FileInfo,
    InputTag,
    LoggedModel,
    LoggedModelMetric,
    Metric,
    ModelVersion,
    ModelVersionEvent,
    Param,
    RegisteredModel,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from cairn.exceptions import InvalidParameterValueError
from cairn.proto_json import encode_double as double
from cairn.proto_json import parse_double, parse_int
from cairn.store.downsample import DownsampledSeries, MetricBucket

JSON = "application/json"


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type=JSON)


def _key_values(mapping: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in mapping.items()]


def experiment(e: Experiment) -> dict[str, Any]:
    out: dict[str, Any] = {
        "experiment_id": e.experiment_id,
        "name": e.name,
        "artifact_location": e.artifact_location,
        "lifecycle_stage": e.lifecycle_stage,
        "last_update_time": e.last_update_time,
        "creation_time": e.creation_time,
        "tags": _key_values(e.tags),
    }
    return {k: v for k, v in out.items() if v is not None}


def run_info(info: RunInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "run_id": info.run_id,
        "run_uuid": info.run_id,
        "run_name": info.run_name,
        "experiment_id": info.experiment_id,
        "user_id": info.user_id,
        "status": info.status,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "artifact_uri": info.artifact_uri,
        "lifecycle_stage": info.lifecycle_stage,
    }
    return {k: v for k, v in out.items() if v is not None}


def metric(m: Metric) -> dict[str, Any]:
    return {"key": m.key, "value": double(m.value), "timestamp": m.timestamp, "step": m.step}


def dataset(d: Dataset) -> dict[str, Any]:
    out = {
        "name": d.name,
        "digest": d.digest,
        "source_type": d.source_type,
        "source": d.source,
        "schema": d.schema,
        "profile": d.profile,
    }
    return {k: v for k, v in out.items() if v is not None}


def dataset_input(i: DatasetInput) -> dict[str, Any]:
    return {
        "tags": [{"key": t.key, "value": t.value} for t in i.tags],
        "dataset": dataset(i.dataset),
    }


def run(r: Run) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if r.data.latest_metrics:
        data["metrics"] = [metric(m) for m in r.data.latest_metrics]
    if r.data.params:
        data["params"] = _key_values(r.data.params)
    if r.data.tags:
        data["tags"] = _key_values(r.data.tags)
    inputs: dict[str, Any] = {}
    if r.inputs.dataset_inputs:
        inputs["dataset_inputs"] = [dataset_input(i) for i in r.inputs.dataset_inputs]
    out = {"info": run_info(r.info), "data": data, "inputs": inputs}
    outputs: dict[str, Any] = {}
    if r.outputs.model_outputs:
        models = [{"model_id": o.model_id, "step": o.step} for o in r.outputs.model_outputs]
        outputs["model_outputs"] = models
    if r.outputs.dataset_outputs:  # Cairn's addition; MLflow's clients skip unknown fields
        outputs["dataset_outputs"] = [dataset_input(i) for i in r.outputs.dataset_outputs]
    if outputs:
        out["outputs"] = outputs
    return out


def logged_model(m: LoggedModel) -> dict[str, Any]:
    info: dict[str, Any] = {
        "model_id": m.model_id,
        "experiment_id": m.experiment_id,
        "name": m.name,
        "creation_timestamp_ms": m.creation_timestamp,
        "last_updated_timestamp_ms": m.last_updated_timestamp,
        "artifact_uri": m.artifact_uri,
        "status": m.status.value,
        "creator_id": m.creator_id,
        "model_type": m.model_type,
        "source_run_id": m.source_run_id,
        "status_message": m.status_message,
        "tags": _key_values(m.tags),
    }
    data: dict[str, Any] = {
        "params": _key_values(m.params),
        "metrics": [_model_metric(x, m.model_id) for x in m.metrics],
    }
    return {"info": {k: v for k, v in info.items() if v is not None}, "data": data}


def _model_metric(x: LoggedModelMetric, model_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "key": x.key,
        "value": double(x.value),
        "timestamp": x.timestamp,
        "step": x.step,
        "model_id": model_id,
        "run_id": x.run_id,
        "dataset_name": x.dataset_name,
        "dataset_digest": x.dataset_digest,
    }
    return {k: v for k, v in out.items() if v is not None}


def model_version(v: ModelVersion) -> dict[str, Any]:
    """MLflow's ModelVersion: `version` is a string and `aliases` a list of names."""
    out: dict[str, Any] = {
        "name": v.name,
        "version": str(v.version),
        "creation_timestamp": v.creation_timestamp,
        "last_updated_timestamp": v.last_updated_timestamp,
        "user_id": v.user_id,
        "current_stage": str(getattr(v.current_stage, "value", v.current_stage)),
        "description": v.description,
        "source": v.source,
        "run_id": v.run_id,
        "status": str(getattr(v.status, "value", v.status)),
        "status_message": v.status_message,
        "tags": _key_values(v.tags),
        "run_link": v.run_link,
        "aliases": list(v.aliases),
        "model_id": v.model_id,
    }
    return {k: x for k, x in out.items() if x is not None}


def registered_model(m: RegisteredModel) -> dict[str, Any]:
    """MLflow's RegisteredModel: `aliases` as `[{alias, version}]`, `latest_versions` the
    newest version in each stage."""
    out: dict[str, Any] = {
        "name": m.name,
        "creation_timestamp": m.creation_timestamp,
        "last_updated_timestamp": m.last_updated_timestamp,
        "user_id": m.user_id,
        "description": m.description,
        "latest_versions": [model_version(v) for v in m.latest_versions],
        "tags": _key_values(m.tags),
        "aliases": [{"alias": a, "version": str(v)} for a, v in m.aliases.items()],
    }
    return {k: x for k, x in out.items() if x is not None}


HISTORY_FIELD = "events"
"""`GET /model-versions/history` (Cairn's addition) answers `{"events": [...]}`, oldest first."""


def model_version_event(e: ModelVersionEvent) -> dict[str, Any]:
    """One stage transition or alias move: `kind` is created, stage, alias_set,
    alias_deleted or deleted; `from_value`/`to_value` are stages or versions."""
    out: dict[str, Any] = {
        "name": e.name,
        "version": str(e.version),
        "kind": str(getattr(e.kind, "value", e.kind)),
        "timestamp": e.timestamp,
        "user_id": e.user_id,
        "from_value": e.from_value,
        "to_value": e.to_value,
        "alias": e.alias,
    }
    return {k: x for k, x in out.items() if x is not None}


def file_info(f: FileInfo) -> dict[str, Any]:
    out: dict[str, Any] = {"path": f.path, "is_dir": f.is_dir}
    if f.file_size is not None:
        out["file_size"] = f.file_size
    return out


# -- reading requests ----------------------------------------------------------------------


def parse_dataset_input(item: Any) -> DatasetInput:
    if not isinstance(item, dict) or not isinstance(item.get("dataset"), dict):
        raise InvalidParameterValueError("Each dataset input needs a 'dataset' object.")
    d = item["dataset"]

    def text(field: str, required: bool) -> str | None:
        value = d.get(field)
        if value is not None and not isinstance(value, str):
            raise InvalidParameterValueError(f"Dataset field '{field}' must be a string.")
        if required and not value:
            raise InvalidParameterValueError(
                f"Missing value for required parameter 'dataset.{field}'."
            )
        return value

    tags = tuple(
        InputTag(str(t.get("key", "")), str(t.get("value", "")))
        for t in item.get("tags") or ()
        if isinstance(t, dict)
    )
    name, digest, source_type, source = (
        text(f, True) or "" for f in ("name", "digest", "source_type", "source")
    )
    found = Dataset(
        name, digest, source_type, source, text("schema", False), text("profile", False)
    )
    return DatasetInput(found, tags)


def page(field: str, items: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
    """One page of a search: `{field: [...], next_page_token}`, each left out when empty
    (MLflow omits empty lists, so an empty search answers `{}`)."""
    out: dict[str, Any] = {}
    if items:
        out[field] = items
    if token:
        out["next_page_token"] = token
    return out


def parse_id(name: str, value: Any) -> str:
    """An id (experiment ids are strings in MLflow's JSON; numbers are accepted too)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise InvalidParameterValueError(f"Invalid value {value!r} for parameter '{name}'.")


def parse_ids(name: str, values: list[Any]) -> list[str]:
    """A repeated id field (`experiment_ids`), each a string or a number."""
    return [parse_id(f"{name}[{i}]", v) for i, v in enumerate(values)]


def parse_strings(name: str, values: list[Any]) -> list[str]:
    """A repeated string field (`order_by`)."""
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise InvalidParameterValueError(
                f"Invalid value {value!r} for parameter '{name}[{i}]'."
            )
    return values


def _enum_number(value: Any) -> Any:
    """Proto JSON gives enums as names or numbers; a number may also arrive as a string."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value


def parse_run_status(value: Any) -> RunStatus:
    """`RunStatus` by name ("FINISHED") or proto number (3)."""
    return RunStatus.parse(_enum_number(value))


def parse_view_type(name: str, value: Any) -> ViewType:
    """`ViewType` by name ("ACTIVE_ONLY", "DELETED_ONLY", "ALL") or proto number (1, 2, 3)."""
    value = _enum_number(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if value in {v.value for v in ViewType}:
            return ViewType(value)
    elif isinstance(value, str) and value.upper() in ViewType.__members__:
        return ViewType[value.upper()]
    raise InvalidParameterValueError(
        f"Invalid value {value!r} for parameter '{name}': expected ACTIVE_ONLY, DELETED_ONLY "
        "or ALL."
    )


def _item(name: str, index: int, item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise InvalidParameterValueError(f"Parameter '{name}[{index}]' must be an object.")
    return item


def _field(path: str, item: dict[str, Any], field: str, required: bool) -> Any:
    value = item.get(field)
    if required and (value is None or value == ""):
        raise InvalidParameterValueError(f"Missing value for required parameter '{path}.{field}'.")
    return value


def _text(path: str, item: dict[str, Any], field: str, required: bool) -> str:
    """A string field of a list item; absent or null reads as "" (proto's default)."""
    value = _field(path, item, field, required)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidParameterValueError(f"Invalid value {value!r} for parameter '{path}.{field}'.")
    return value


def parse_metrics(items: list[Any], name: str = "metrics") -> list[Metric]:
    """log-batch's `metrics`: key, value and timestamp are required (as MLflow), step is 0
    when absent; doubles may be "NaN"/"Infinity" strings, int64s may be strings."""
    out = []
    for i, raw in enumerate(items):
        item, path = _item(name, i, raw), f"{name}[{i}]"
        step = item.get("step")
        out.append(
            Metric(
                _text(path, item, "key", True),
                parse_double(f"{path}.value", _field(path, item, "value", True)),
                parse_int(f"{path}.timestamp", _field(path, item, "timestamp", True)),
                0 if step is None else parse_int(f"{path}.step", step),
            )
        )
    return out


def parse_model_metrics(
    items: list[Any], run_id: str, name: str = "metrics"
) -> dict[str, list[LoggedModelMetric]]:
    """The metrics of a log-batch that name a `model_id` (MLflow 3 links a run's metrics to
    the models it logged this way), grouped by model."""
    linked: dict[str, list[LoggedModelMetric]] = {}
    for i, raw in enumerate(items):
        if not isinstance(raw, dict) or not raw.get("model_id"):
            continue  # the common case: a plain run metric, parsed once by parse_metrics
        path = f"{name}[{i}]"
        (point,) = parse_metrics([raw], path)
        linked.setdefault(_text(path, raw, "model_id", True), []).append(
            LoggedModelMetric(
                point.key,
                point.value,
                point.timestamp,
                point.step,
                run_id,
                _text(path, raw, "dataset_name", False) or None,
                _text(path, raw, "dataset_digest", False) or None,
            )
        )
    return linked


def _key_value_items(name: str, items: list[Any]) -> list[tuple[str, str]]:
    pairs = []
    for i, raw in enumerate(items):
        item, path = _item(name, i, raw), f"{name}[{i}]"
        pairs.append((_text(path, item, "key", True), _text(path, item, "value", False)))
    return pairs


def parse_tag_map(items: list[Any], name: str = "tags") -> dict[str, str]:
    """A list of `{key, value}` objects (registry tags) as a dict; a repeated key keeps its
    last value."""
    return dict(_key_value_items(name, items))


def parse_version(name: str, value: Any) -> str:
    """A model version: a string on MLflow's wire, a number accepted too."""
    return parse_id(name, value)


def parse_params(items: list[Any], name: str = "params") -> list[Param]:
    return [Param(k, v) for k, v in _key_value_items(name, items)]


def parse_run_tags(items: list[Any], name: str = "tags") -> list[RunTag]:
    return [RunTag(k, v) for k, v in _key_value_items(name, items)]


def parse_experiment_tags(items: list[Any], name: str = "tags") -> list[ExperimentTag]:
    return [ExperimentTag(k, v) for k, v in _key_value_items(name, items)]


def downsampled_series(series: DownsampledSeries, axis: str, x_unit: int = 1) -> dict[str, Any]:
    """Cairn's UI API: one downsampled history; the store's integer x divided by `x_unit`
    (1000 on the relative axis: the store counts milliseconds, the UI seconds)."""
    return {
        "run_id": series.run_id,
        "key": series.key,
        "x_axis": axis,
        "points": [_bucket(b, x_unit) for b in series.points],
        "total_points": series.total_points,
        "non_finite_points": series.non_finite_points,
        "downsampled": series.downsampled,
    }


def _bucket(b: MetricBucket, x_unit: int) -> dict[str, Any]:
    return {
        "x": b.x if x_unit == 1 else b.x / x_unit,
        "min": b.min,
        "max": b.max,
        "last": b.last,
        "step": b.step,
        "timestamp": b.timestamp,
        "count": b.count,
        "non_finite": b.non_finite,
    }
