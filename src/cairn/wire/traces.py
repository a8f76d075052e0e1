"""MLflow 3's traces on the wire: TraceInfoV3 (and the v2 TraceInfo of the older API), a
trace with its spans, assessments, and the proto3 JSON forms they use.

Proto3 JSON writes a `Timestamp` as an RFC 3339 string (`2025-01-02T03:04:05.678Z`), a
`Duration` as seconds with an `s` (`1.500s`), a map as an object and an enum by its name (a
client may send its number). Spans go out as stored: each is already the proto3 JSON of an
OpenTelemetry span (cairn.wire.otlp makes it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from cairn.entities.trace import Assessment, Trace, TraceInfo, TraceState
from cairn.exceptions import InvalidParameterValueError
from cairn.wire.fields import as_list, as_object, present, text
from cairn.wire.scalars import parse_id, parse_int

#: The only trace location this server keeps traces in.
EXPERIMENT_LOCATION = "MLFLOW_EXPERIMENT"
#: An assessment's fields that the store owns: a client's values for them are ignored.
_ASSESSMENT_OWN_FIELDS = ("assessment_id", "trace_id", "create_time", "last_update_time")
#: What an assessment update may change (UpdateAssessment's `update_mask` paths).
ASSESSMENT_MUTABLE_FIELDS = frozenset(
    {"assessment_name", "feedback", "expectation", "rationale", "metadata", "valid"}
)
_ASSESSMENT_VALUES = ("feedback", "expectation", "issue")
# TraceInfoV3.State and the v2 TraceStatus share their numbers.
_STATE_NUMBERS = {
    0: TraceState.UNSPECIFIED,
    1: TraceState.OK,
    2: TraceState.ERROR,
    3: TraceState.IN_PROGRESS,
}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_TIMESTAMP = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})$"
)
_DURATION = re.compile(r"^(-)?(\d+)(?:\.(\d{1,9}))?s$")


# -- proto3 JSON scalars -------------------------------------------------------------------


def timestamp(ms: int) -> str:
    """Epoch milliseconds as a proto3 JSON Timestamp."""
    moment = _EPOCH + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_timestamp(name: str, value: Any) -> int:
    """A proto3 JSON Timestamp (RFC 3339) as epoch milliseconds."""
    match = _TIMESTAMP.match(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidParameterValueError(
            f"Invalid value {value!r} for parameter '{name}': expected an RFC 3339 timestamp."
        )
    day, clock, fraction, offset = match.groups()
    zone = "+00:00" if offset in ("Z", "z") else offset
    try:
        moment = datetime.fromisoformat(f"{day}T{clock}{zone}")
    except ValueError:
        raise InvalidParameterValueError(
            f"Invalid value {value!r} for parameter '{name}'."
        ) from None
    millis = int(((fraction or "") + "000")[:3])
    return (moment - _EPOCH) // timedelta(seconds=1) * 1000 + millis


def duration(ms: int) -> str:
    """Milliseconds as a proto3 JSON Duration."""
    sign = "-" if ms < 0 else ""
    whole, millis = divmod(abs(ms), 1000)
    return f"{sign}{whole}.{millis:03d}s"


def parse_duration(name: str, value: Any) -> int:
    """A proto3 JSON Duration (`1.5s`) as whole milliseconds."""
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidParameterValueError(
            f"Invalid value {value!r} for parameter '{name}': expected a duration like '1.5s'."
        )
    sign, seconds, fraction = match.groups()
    millis = int(seconds) * 1000 + int(((fraction or "") + "000")[:3])
    return -millis if sign else millis


def parse_state(name: str, value: Any) -> TraceState:
    """TraceInfoV3.State or the v2 TraceStatus, by name or number; unset is UNSPECIFIED."""
    if value is None:
        return TraceState.UNSPECIFIED
    if isinstance(value, int) and not isinstance(value, bool):
        if value in _STATE_NUMBERS:
            return _STATE_NUMBERS[value]
    elif isinstance(value, str):
        try:
            return TraceState.parse(value)
        except ValueError:
            pass
    raise InvalidParameterValueError(f"Invalid value {value!r} for parameter '{name}'.")


def string_map(name: str, value: Any) -> dict[str, str]:
    """A proto `map<string, string>`: a JSON object of strings (absent reads as empty)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidParameterValueError(f"Parameter '{name}' must be an object.")
    for key, item in value.items():
        if not isinstance(item, str):
            raise InvalidParameterValueError(
                f"Invalid value {item!r} for parameter '{name}.{key}': expected a string."
            )
    return dict(value)


# -- trace info ------------------------------------------------------------------------------


def trace_info(info: TraceInfo) -> dict[str, Any]:
    """TraceInfoV3."""
    out: dict[str, Any] = {
        "trace_id": info.trace_id,
        "client_request_id": info.client_request_id,
        "trace_location": experiment_location(info.experiment_id),
        "request_preview": info.request_preview,
        "response_preview": info.response_preview,
        "request_time": timestamp(info.request_time_ms),
        "execution_duration": (
            None if info.execution_duration_ms is None else duration(info.execution_duration_ms)
        ),
        "state": "STATE_UNSPECIFIED" if info.state is TraceState.UNSPECIFIED else info.state.value,
        "trace_metadata": dict(info.trace_metadata),
        "tags": dict(info.tags),
    }
    if info.assessments:
        out["assessments"] = [assessment(a) for a in info.assessments]
    return present(out)


def trace_info_v2(info: TraceInfo) -> dict[str, Any]:
    """The v2 TraceInfo (`request_id`, `timestamp_ms`, `status`, key/value lists)."""
    status = (
        "TRACE_STATUS_UNSPECIFIED" if info.state is TraceState.UNSPECIFIED else info.state.value
    )
    return present(
        {
            "request_id": info.trace_id,
            "experiment_id": info.experiment_id,
            "timestamp_ms": info.request_time_ms,
            "execution_time_ms": info.execution_duration_ms,
            "status": status,
            "request_metadata": [{"key": k, "value": v} for k, v in info.trace_metadata.items()],
            "tags": [{"key": k, "value": v} for k, v in info.tags.items()],
        }
    )


def trace(t: Trace) -> dict[str, Any]:
    """MLflow's Trace: the info and the spans, each an OpenTelemetry span in proto3 JSON."""
    out: dict[str, Any] = {"trace_info": trace_info(t.info)}
    if t.spans:
        out["spans"] = [s.content for s in t.spans]
    return out


def experiment_location(experiment_id: str) -> dict[str, Any]:
    return {"type": EXPERIMENT_LOCATION, "mlflow_experiment": {"experiment_id": experiment_id}}


def location_experiment_id(name: str, location: Any) -> str:
    """The experiment of a TraceLocation; other kinds of location are refused."""
    if not isinstance(location, dict):
        raise InvalidParameterValueError(f"Parameter '{name}' must be an object.")
    kind = location.get("type", EXPERIMENT_LOCATION)
    if kind not in (EXPERIMENT_LOCATION, 1):
        raise InvalidParameterValueError(
            f"Invalid value {kind!r} for parameter '{name}.type': this server keeps traces "
            f"only in experiments ({EXPERIMENT_LOCATION})."
        )
    experiment = location.get("mlflow_experiment") or location.get("mlflowExperiment") or {}
    if not isinstance(experiment, dict):
        raise InvalidParameterValueError(f"Parameter '{name}.mlflow_experiment' must be an object.")
    raw = experiment.get("experiment_id", experiment.get("experimentId"))
    if raw is None or raw == "":
        raise InvalidParameterValueError(
            f"Missing value for required parameter '{name}.mlflow_experiment.experiment_id'."
        )
    return parse_id(f"{name}.mlflow_experiment.experiment_id", raw)


def location_experiment_ids(name: str, locations: Any) -> list[str]:
    """The experiments of SearchTracesV3's `locations`."""
    return [
        location_experiment_id(f"{name}[{i}]", x) for i, x in enumerate(as_list(name, locations))
    ]


def parse_trace_info(item: Mapping[str, Any], path: str = "trace.trace_info") -> TraceInfo:
    """TraceInfoV3 as StartTraceV3 sends it, with any assessments it carries (an exported
    trace's keep their ids and times)."""
    location = item.get("trace_location", item.get("traceLocation"))
    duration_value = _get(item, "execution_duration")
    trace_id = text(path, item, "trace_id", True)
    carried = as_list(f"{path}.assessments", item.get("assessments"))
    return TraceInfo(
        trace_id=trace_id,
        experiment_id=location_experiment_id(f"{path}.trace_location", location),
        request_time_ms=parse_timestamp(
            f"{path}.request_time", _required(item, path, "request_time")
        ),
        execution_duration_ms=(
            None
            if duration_value is None
            else parse_duration(f"{path}.execution_duration", duration_value)
        ),
        state=parse_state(f"{path}.state", item.get("state")),
        request_preview=_optional_string(path, item, "request_preview"),
        response_preview=_optional_string(path, item, "response_preview"),
        client_request_id=_optional_string(path, item, "client_request_id"),
        trace_metadata=string_map(f"{path}.trace_metadata", _get(item, "trace_metadata")),
        tags=string_map(f"{path}.tags", item.get("tags")),
        assessments=tuple(
            _carried_assessment(x, trace_id, f"{path}.assessments[{i}]")
            for i, x in enumerate(carried)
        ),
    )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _get(item: Mapping[str, Any], name: str) -> Any:
    """A field by its proto name, or the lowerCamel name proto3 JSON also allows."""
    value = item.get(name)
    return item.get(_camel(name)) if value is None else value


def _required(item: Mapping[str, Any], path: str, name: str) -> Any:
    value = _get(item, name)
    if value is None or value == "":
        raise InvalidParameterValueError(f"Missing value for required parameter '{path}.{name}'.")
    return value


def _optional_string(path: str, item: Mapping[str, Any], name: str) -> str | None:
    value = _get(item, name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidParameterValueError(f"Invalid value {value!r} for parameter '{path}.{name}'.")
    return value


def parse_v2_pairs(name: str, items: Any) -> dict[str, str]:
    """The v2 API's `[{key, value}]` lists (request_metadata, tags) as a dict."""
    found: dict[str, str] = {}
    for i, raw in enumerate(as_list(name, items)):
        item, path = as_object(name, i, raw), f"{name}[{i}]"
        found[text(path, item, "key", True)] = text(path, item, "value")
    return found


def parse_v2_time(name: str, value: Any) -> int:
    """A v2 `timestamp_ms`: required, epoch milliseconds."""
    if value is None or value == "":
        raise InvalidParameterValueError(f"Missing value for required parameter '{name}'.")
    return parse_int(name, value)


# -- assessments -----------------------------------------------------------------------------


def assessment(a: Assessment) -> dict[str, Any]:
    """An Assessment as MLflow's JSON: the stored body with the fields the store owns."""
    return {
        **{k: v for k, v in a.body.items() if v is not None},
        "assessment_id": a.assessment_id,
        "assessment_name": a.name,
        "trace_id": a.trace_id,
        "create_time": timestamp(a.create_time_ms),
        "last_update_time": timestamp(a.last_update_time_ms),
    }


def parse_assessment(item: Any, trace_id: str, path: str = "assessment") -> Assessment:
    """A new assessment of `trace_id` (CreateAssessment); its id and times are the store's."""
    if not isinstance(item, dict):
        raise InvalidParameterValueError(f"Missing value for required parameter '{path}'.")
    name = _required(item, path, "assessment_name")
    if not isinstance(name, str):
        raise InvalidParameterValueError(
            f"Invalid value {name!r} for parameter '{path}.assessment_name'."
        )
    body = _snake_keys(item)
    for own in _ASSESSMENT_OWN_FIELDS:
        body.pop(own, None)
    if not any(body.get(v) is not None for v in _ASSESSMENT_VALUES):
        raise InvalidParameterValueError(
            f"An assessment needs a value: one of {', '.join(_ASSESSMENT_VALUES)} in '{path}'."
        )
    _check_body(path, body)
    return Assessment(
        assessment_id="",
        trace_id=trace_id,
        name=name,
        create_time_ms=0,
        last_update_time_ms=0,
        body=body,
    )


def _carried_assessment(item: Any, trace_id: str, path: str) -> Assessment:
    new = parse_assessment(item, trace_id, path)
    fields = _snake_keys(item)
    assessment_id = fields.get("assessment_id")
    created, updated = fields.get("create_time"), fields.get("last_update_time")
    return replace(
        new,
        assessment_id=assessment_id if isinstance(assessment_id, str) else "",
        create_time_ms=0 if created is None else parse_timestamp(f"{path}.create_time", created),
        last_update_time_ms=(
            0 if updated is None else parse_timestamp(f"{path}.last_update_time", updated)
        ),
    )


def parse_assessment_changes(item: Any, update_mask: Any) -> dict[str, Any]:
    """UpdateAssessment: the masked fields of `item`, by their proto names. A field the mask
    names but `item` leaves out is cleared (set to None), as a field mask means."""
    if not isinstance(item, dict):
        raise InvalidParameterValueError("Missing value for required parameter 'assessment'.")
    paths = _mask_paths(update_mask)
    if not paths:
        raise InvalidParameterValueError("Missing value for required parameter 'update_mask'.")
    unknown = sorted(set(paths) - ASSESSMENT_MUTABLE_FIELDS)
    if unknown:
        raise InvalidParameterValueError(
            f"Invalid value {','.join(unknown)!r} for parameter 'update_mask': an update may "
            f"change only {', '.join(sorted(ASSESSMENT_MUTABLE_FIELDS))}."
        )
    fields = _snake_keys(item)
    changes = {p: fields.get(p) for p in paths}
    if "assessment_name" in changes and not (
        isinstance(changes["assessment_name"], str) and changes["assessment_name"]
    ):
        raise InvalidParameterValueError(
            "Invalid value for parameter 'assessment.assessment_name': a name is required."
        )
    _check_body("assessment", {k: v for k, v in changes.items() if v is not None})
    return changes


def _mask_paths(update_mask: Any) -> list[str]:
    """A FieldMask as proto3 JSON writes it (`"a,bC"`) or as an object with `paths`."""
    if isinstance(update_mask, dict):
        update_mask = update_mask.get("paths")
    if isinstance(update_mask, str):
        raw = [p for p in update_mask.split(",") if p.strip()]
    elif isinstance(update_mask, list) and all(isinstance(p, str) for p in update_mask):
        raw = list(update_mask)
    elif update_mask is None:
        raw = []
    else:
        raise InvalidParameterValueError(
            f"Invalid value {update_mask!r} for parameter 'update_mask'."
        )
    return [_snake(p.strip()) for p in raw]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _snake_keys(item: Mapping[str, Any]) -> dict[str, Any]:
    """An assessment's top-level fields under their proto names (a client may send either)."""
    return {_snake(k): v for k, v in item.items()}


def _check_body(path: str, body: Mapping[str, Any]) -> None:
    """The shapes the store and the client rely on; values themselves are free JSON."""
    for name in ("source", "feedback", "expectation", "issue", "error"):
        if body.get(name) is not None and not isinstance(body[name], dict):
            raise InvalidParameterValueError(f"Parameter '{path}.{name}' must be an object.")
    string_map(f"{path}.metadata", body.get("metadata"))
    for name in ("rationale", "span_id", "overrides"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise InvalidParameterValueError(
                f"Invalid value {body[name]!r} for parameter '{path}.{name}'."
            )
    if body.get("valid") is not None and not isinstance(body["valid"], bool):
        raise InvalidParameterValueError(
            f"Invalid value {body['valid']!r} for parameter '{path}.valid'."
        )
