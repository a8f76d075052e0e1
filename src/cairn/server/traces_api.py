"""Handlers of MLflow 3's trace calls (`/traces…`) and the v2 forms older clients fall back to.

The mlflow client's tracer sends each finished span over OTLP (cairn.server.otlp), then,
when the root span ends, StartTraceV3 with the trace's record. Every answer tags the record
`mlflow.trace.spansLocation: TRACKING_STORE`: this server keeps spans only in its store, so
the client neither uploads them as an artifact nor looks for them there; `get_trace` reads
them back through `/traces/get` or `/traces/batchGet`.

Paths with a fixed last segment (`/traces/get`, `/traces/search`…) are declared before
`/traces/{trace_id}`, so the router, which takes the first match, never reads them as ids.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from cairn import wire
from cairn.entities import PagedList
from cairn.entities.trace import (
    SPANS_IN_TRACKING_STORE,
    SPANS_LOCATION_TAG,
    TRACE_ID_PREFIX,
    TraceInfo,
    TraceState,
)
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError
from cairn.server.access import EDIT, READ, Access, Reference, Refers, Source
from cairn.server.context import Context
from cairn.server.messages import Message
from cairn.server.routes import Endpoint
from cairn.store.traces import SEARCH_TRACES_DEFAULT_MAX_RESULTS
from cairn.wire import traces as codec

#: The most trace ids one batch read takes (the client asks in pages of at most 100).
MAX_BATCH_TRACE_IDS = 1000


# -- what a call names (also read by the auth middleware) -------------------------------------


def trace_id_of(msg: Message) -> str:
    """The trace a call is about: `trace_id` (v3), or the v2 API's `request_id`."""
    value = msg.get("trace_id") or msg.get("request_id")
    if not value:
        raise InvalidParameterValueError("Missing value for required parameter 'trace_id'.")
    if not isinstance(value, str):
        raise InvalidParameterValueError(f"Invalid value {value!r} for parameter 'trace_id'.")
    return value


def trace_ids_of(msg: Message) -> list[str]:
    """`trace_ids` (a batch read, link-to-run), each a string."""
    ids = wire.parse_strings("trace_ids", msg.repeated("trace_ids"))
    if len(ids) > MAX_BATCH_TRACE_IDS:
        raise InvalidParameterValueError(
            f"Too many trace ids: at most {MAX_BATCH_TRACE_IDS} in one call, got {len(ids)}."
        )
    return ids


def new_trace_of(msg: Message) -> TraceInfo:
    """The record a StartTrace call creates: v3's `trace.trace_info`, or the v2 form
    (`experiment_id`, `timestamp_ms`, `request_metadata`, `tags`) with a new id."""
    body = msg.get("trace")
    if body is not None:
        if not isinstance(body, dict):
            raise InvalidParameterValueError("Parameter 'trace' must be an object.")
        info = body.get("trace_info", body.get("traceInfo"))
        if not isinstance(info, dict):
            raise InvalidParameterValueError(
                "Missing value for required parameter 'trace.trace_info'."
            )
        return codec.parse_trace_info(info)
    return TraceInfo(
        trace_id=TRACE_ID_PREFIX + uuid.uuid4().hex,
        experiment_id=wire.parse_id("experiment_id", msg.required("experiment_id")),
        request_time_ms=codec.parse_v2_time("timestamp_ms", msg.get("timestamp_ms")),
        state=TraceState.IN_PROGRESS,
        trace_metadata=codec.parse_v2_pairs("request_metadata", msg.get("request_metadata")),
        tags=codec.parse_v2_pairs("tags", msg.get("tags")),
    )


def searched_experiment_ids(msg: Message) -> list[str]:
    """The experiments a trace search covers: v3's `locations` or v2's `experiment_ids`."""
    ids = codec.location_experiment_ids("locations", msg.get("locations"))
    ids += wire.parse_ids("experiment_ids", msg.repeated("experiment_ids"))
    if not ids:
        raise InvalidParameterValueError(
            "Missing value for required parameter 'locations': name at least one experiment."
        )
    return ids


# -- writing traces -------------------------------------------------------------------------


def _in_store(info: TraceInfo) -> TraceInfo:
    return replace(info, tags={**info.tags, SPANS_LOCATION_TAG: SPANS_IN_TRACKING_STORE})


def start_trace(ctx: Context, msg: Message) -> dict[str, Any]:
    """StartTraceV3, or the v2 StartTrace when the body has no `trace`."""
    v3 = msg.get("trace") is not None
    stored = ctx.trace_store.start_trace(_in_store(new_trace_of(msg)))
    if v3:
        return {"trace": {"trace_info": codec.trace_info(stored)}}
    return {"trace_info": codec.trace_info_v2(stored)}


def end_trace(ctx: Context, msg: Message) -> dict[str, Any]:
    """The v2 EndTrace: the end time, status and any further metadata and tags."""
    store = ctx.trace_store
    current = store.get_trace_info(trace_id_of(msg))
    end_ms = codec.parse_v2_time("timestamp_ms", msg.get("timestamp_ms"))
    ended = replace(
        current,
        execution_duration_ms=max(0, end_ms - current.request_time_ms),
        state=codec.parse_state("status", msg.get("status")),
        trace_metadata={
            **current.trace_metadata,
            **codec.parse_v2_pairs("request_metadata", msg.get("request_metadata")),
        },
        tags={**current.tags, **codec.parse_v2_pairs("tags", msg.get("tags"))},
        assessments=(),
    )
    return {"trace_info": codec.trace_info_v2(store.start_trace(_in_store(ended)))}


def delete_traces(ctx: Context, msg: Message) -> dict[str, Any]:
    experiment_id = wire.parse_id("experiment_id", msg.required("experiment_id"))
    max_timestamp = msg.integer("max_timestamp_millis")
    max_traces = msg.integer("max_traces")
    trace_ids = wire.parse_strings("request_ids", msg.repeated("request_ids"))
    if (max_timestamp is None) == (not trace_ids):
        raise InvalidParameterValueError(
            "Exactly one of 'max_timestamp_millis' and 'request_ids' must be specified."
        )
    if trace_ids and max_traces is not None:
        raise InvalidParameterValueError(
            "'max_traces' can't be specified if 'request_ids' is specified."
        )
    if max_traces is not None and max_traces <= 0:
        raise InvalidParameterValueError(
            f"Invalid value {max_traces} for parameter 'max_traces': it must be positive."
        )
    deleted = ctx.trace_store.delete_traces(
        experiment_id,
        max_timestamp_millis=max_timestamp,
        max_traces=max_traces,
        trace_ids=trace_ids or None,
    )
    return {"traces_deleted": deleted}


def set_trace_tag(ctx: Context, msg: Message) -> dict[str, Any]:
    key = msg.string("key", required=True) or ""
    value = msg.string("value") or ""
    ctx.trace_store.set_trace_tag(trace_id_of(msg), key, value)
    return {}


def delete_trace_tag(ctx: Context, msg: Message) -> dict[str, Any]:
    ctx.trace_store.delete_trace_tag(trace_id_of(msg), msg.string("key", required=True) or "")
    return {}


def link_traces_to_run(ctx: Context, msg: Message) -> dict[str, Any]:
    trace_ids = trace_ids_of(msg)
    if not trace_ids:
        raise InvalidParameterValueError("Missing value for required parameter 'trace_ids'.")
    ctx.trace_store.link_traces_to_run(trace_ids, msg.run_id())
    return {}


# -- reading traces -------------------------------------------------------------------------


def get_trace_info(ctx: Context, msg: Message) -> dict[str, Any]:
    """GetTraceInfoV3: the record, as `{"trace": {"trace_info"}}`."""
    info = ctx.trace_store.get_trace_info(trace_id_of(msg))
    return {"trace": {"trace_info": codec.trace_info(info)}}


def get_trace_info_v2(ctx: Context, msg: Message) -> dict[str, Any]:
    return {"trace_info": codec.trace_info_v2(ctx.trace_store.get_trace_info(trace_id_of(msg)))}


def get_trace(ctx: Context, msg: Message) -> dict[str, Any]:
    """GetTrace: the record and its spans (`allow_partial` is moot: spans are read as
    stored, however many have arrived)."""
    trace_id = trace_id_of(msg)
    found = ctx.trace_store.get_traces([trace_id])
    if not found:
        raise ResourceDoesNotExistError(f"Trace with ID '{trace_id}' not found.")
    return {"trace": codec.trace(found[0])}


def _experiment_scope(msg: Message) -> list[str] | None:
    ids = wire.parse_ids("experiment_ids", msg.repeated("experiment_ids"))
    return ids or None


def batch_get_traces(ctx: Context, msg: Message) -> dict[str, Any]:
    found = ctx.trace_store.get_traces(trace_ids_of(msg), _experiment_scope(msg))
    return {"traces": [codec.trace(t) for t in found]} if found else {}


def batch_get_trace_infos(ctx: Context, msg: Message) -> dict[str, Any]:
    found = ctx.trace_store.get_trace_infos(trace_ids_of(msg), _experiment_scope(msg))
    return {"trace_infos": [codec.trace_info(i) for i in found]} if found else {}


def _search(ctx: Context, msg: Message) -> PagedList[TraceInfo]:
    return ctx.trace_store.search_traces(
        searched_experiment_ids(msg),
        filter_string=msg.string("filter") or None,
        max_results=msg.integer("max_results") or SEARCH_TRACES_DEFAULT_MAX_RESULTS,
        order_by=wire.parse_strings("order_by", msg.repeated("order_by")),
        page_token=msg.string("page_token") or None,
    )


def search_traces(ctx: Context, msg: Message) -> dict[str, Any]:
    """SearchTracesV3: records of the experiments in `locations`."""
    found = _search(ctx, msg)
    return wire.page("traces", [codec.trace_info(i) for i in found], found.token)


def search_traces_v2(ctx: Context, msg: Message) -> dict[str, Any]:
    found = _search(ctx, msg)
    return wire.page("traces", [codec.trace_info_v2(i) for i in found], found.token)


# -- assessments ----------------------------------------------------------------------------


def _assessment_id(msg: Message) -> str:
    return msg.string("assessment_id", required=True) or ""


def create_assessment(ctx: Context, msg: Message) -> dict[str, Any]:
    trace_id = trace_id_of(msg)
    body = msg.get("assessment")
    if isinstance(body, dict) and body.get("trace_id") not in (None, "", trace_id):
        raise InvalidParameterValueError(
            f"The assessment names trace {body['trace_id']!r}, not the path's {trace_id!r}."
        )
    created = ctx.trace_store.create_assessment(codec.parse_assessment(body, trace_id))
    return {"assessment": codec.assessment(created)}


def get_assessment(ctx: Context, msg: Message) -> dict[str, Any]:
    found = ctx.trace_store.get_assessment(trace_id_of(msg), _assessment_id(msg))
    return {"assessment": codec.assessment(found)}


def update_assessment(ctx: Context, msg: Message) -> dict[str, Any]:
    changes = codec.parse_assessment_changes(msg.get("assessment"), msg.get("update_mask"))
    updated = ctx.trace_store.update_assessment(trace_id_of(msg), _assessment_id(msg), changes)
    return {"assessment": codec.assessment(updated)}


def delete_assessment(ctx: Context, msg: Message) -> dict[str, Any]:
    ctx.trace_store.delete_assessment(trace_id_of(msg), _assessment_id(msg))
    return {}


# What each call needs under `--auth` (cairn.server.access): the trace's experiment.
_READ_TRACE = Access(READ, Source.TRACE)
_EDIT_TRACE = Access(EDIT, Source.TRACE)
# A trace's `mlflow.sourceRun` metadata links it to a run, as link-to-run does: EDIT there.
_LINKS_RUN = (Refers(EDIT, Reference.TRACE_RUN),)
_ASSESSMENT = "/traces/{trace_id}/assessments/{assessment_id}"

ENDPOINTS = [
    # Fixed paths first: `/traces/{trace_id}` would match them too.
    Endpoint(
        "POST", "/traces", start_trace, access=Access(EDIT, Source.NEW_TRACE, refers=_LINKS_RUN)
    ),
    Endpoint("GET", "/traces", search_traces_v2, access=Access(READ, Source.EXPERIMENT_IDS)),
    Endpoint("GET", "/traces/get", get_trace, access=_READ_TRACE),
    Endpoint("GET", "/traces/batchGet", batch_get_traces, access=Access(READ, Source.TRACE_IDS)),
    Endpoint(
        "POST",
        "/traces/batchGetInfos",
        batch_get_trace_infos,
        access=Access(READ, Source.TRACE_IDS),
    ),
    Endpoint("POST", "/traces/search", search_traces, access=Access(READ, Source.TRACE_LOCATIONS)),
    Endpoint(
        "POST", "/traces/delete-traces", delete_traces, access=Access(EDIT, Source.EXPERIMENT)
    ),
    Endpoint(
        "POST",
        "/traces/link-to-run",
        link_traces_to_run,
        access=Access(EDIT, Source.RUN_AND_TRACES),
    ),
    Endpoint("GET", "/traces/{trace_id}", get_trace_info, access=_READ_TRACE),
    Endpoint(
        "PATCH",
        "/traces/{trace_id}",
        end_trace,
        access=Access(EDIT, Source.TRACE, refers=_LINKS_RUN),
    ),
    Endpoint("GET", "/traces/{trace_id}/info", get_trace_info_v2, access=_READ_TRACE),
    Endpoint("PATCH", "/traces/{trace_id}/tags", set_trace_tag, access=_EDIT_TRACE),
    Endpoint("DELETE", "/traces/{trace_id}/tags", delete_trace_tag, access=_EDIT_TRACE),
    Endpoint("POST", "/traces/{trace_id}/assessments", create_assessment, access=_EDIT_TRACE),
    Endpoint("GET", _ASSESSMENT, get_assessment, access=_READ_TRACE),
    Endpoint("PATCH", _ASSESSMENT, update_assessment, access=_EDIT_TRACE),
    Endpoint("DELETE", _ASSESSMENT, delete_assessment, access=_EDIT_TRACE),
]
