"""OTLP/HTTP trace export (`ExportTraceServiceRequest`) to the spans Cairn stores.

OpenTelemetry exporters send protobuf (`application/x-protobuf`) or OTLP's JSON
(`application/json`). OTLP's JSON is proto3 JSON except that trace and span ids are hex
strings, not base64, and enums may be numbers; the ids are turned to base64 here so one
protobuf parser reads both. Each span is kept whole as the proto3 JSON of
`opentelemetry.proto.trace.v1.Span` with proto field names, which is what MLflow's
`Trace.spans` carries back to the client.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from cairn.entities.trace import TRACE_ID_PREFIX, Span, TraceState
from cairn.exceptions import InvalidParameterValueError

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
MEDIA_TYPES = (PROTOBUF, JSON)
#: The span attribute in which MLflow's tracer names the span's type (LLM, TOOL, …).
SPAN_TYPE_ATTRIBUTE = "mlflow.spanType"
_HEX_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")
_STATES = {
    Status.STATUS_CODE_OK: TraceState.OK,
    Status.STATUS_CODE_ERROR: TraceState.ERROR,
}


def parse_export_request(body: bytes, media_type: str) -> ExportTraceServiceRequest:
    """The request in `body` (already decompressed); InvalidParameterValueError for anything
    that is not an OTLP trace export with at least one span."""
    request = ExportTraceServiceRequest()
    try:
        if media_type == JSON:
            json_format.ParseDict(
                _ids_as_base64(json.loads(body)), request, ignore_unknown_fields=True
            )
        else:
            request.ParseFromString(body)
    except (DecodeError, json_format.ParseError, ValueError, TypeError, RecursionError):
        raise InvalidParameterValueError(
            "The request body is not a valid OTLP trace export (ExportTraceServiceRequest)."
        ) from None
    if not any(s.spans for r in request.resource_spans for s in r.scope_spans):
        raise InvalidParameterValueError("The OTLP trace export holds no spans.")
    return request


def export_response(media_type: str) -> bytes:
    """An empty (fully successful) ExportTraceServiceResponse in the request's encoding."""
    if media_type == JSON:
        return b"{}"
    return bytes(ExportTraceServiceResponse().SerializeToString())


def spans_of(request: ExportTraceServiceRequest) -> list[Span]:
    """Every span of the request, as stored."""
    return [
        span_of(span)
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    ]


def span_of(span: OtlpSpan) -> Span:
    """One OTLP span as Cairn's Span; its trace id becomes MLflow's (`tr-` + 32 hex)."""
    if len(span.trace_id) != 16:
        raise InvalidParameterValueError("An OTLP span's trace_id must be 16 bytes.")
    if len(span.span_id) != 8:
        raise InvalidParameterValueError("An OTLP span's span_id must be 8 bytes.")
    if span.parent_span_id and len(span.parent_span_id) != 8:
        raise InvalidParameterValueError("An OTLP span's parent_span_id must be 8 bytes.")
    content: dict[str, Any] = json_format.MessageToDict(span, preserving_proto_field_name=True)
    return Span(
        trace_id=TRACE_ID_PREFIX + span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=span.parent_span_id.hex() or None,
        name=span.name,
        span_type=_span_type(span),
        status=_STATES.get(span.status.code, TraceState.UNSPECIFIED),
        start_time_ns=span.start_time_unix_nano,
        end_time_ns=span.end_time_unix_nano or None,
        content=content,
    )


def _span_type(span: OtlpSpan) -> str | None:
    for attribute in span.attributes:
        if attribute.key == SPAN_TYPE_ATTRIBUTE:
            return _text(attribute.value)
    return None


def _text(value: AnyValue) -> str | None:
    """A string attribute; MLflow's tracer may JSON-encode it (`"\\"LLM\\""`)."""
    if value.WhichOneof("value") != "string_value":
        return None
    raw = value.string_value
    if raw.startswith('"'):
        try:
            decoded = json.loads(raw)
        except ValueError:
            return raw
        return decoded if isinstance(decoded, str) else raw
    return raw


def _ids_as_base64(payload: Any) -> Any:
    """OTLP/JSON's hex trace and span ids (in spans and their links) as proto3 JSON's base64."""
    if not isinstance(payload, dict):
        raise ValueError("not an object")
    for resource_spans in _items(payload, "resourceSpans", "resource_spans"):
        for scope_spans in _items(resource_spans, "scopeSpans", "scope_spans"):
            for span in _items(scope_spans, "spans", "spans"):
                _convert_ids(span)
                for link in _items(span, "links", "links"):
                    _convert_ids(link)
    return payload


def _items(item: Any, camel: str, snake: str) -> list[Any]:
    if not isinstance(item, dict):
        return []
    found = item.get(camel, item.get(snake))
    return found if isinstance(found, list) else []


def _convert_ids(item: Any) -> None:
    if not isinstance(item, dict):
        return
    for name in _HEX_ID_FIELDS:
        value = item.get(name)
        if isinstance(value, str) and value:
            try:
                item[name] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
            except ValueError:
                raise ValueError(f"{name} is not hex") from None
