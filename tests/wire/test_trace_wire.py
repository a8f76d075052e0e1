"""cairn.wire.traces and cairn.wire.otlp against protobuf's own JSON mapping: Timestamps,
Durations and OTLP spans read and written as `google.protobuf.json_format` does."""

from __future__ import annotations

import json

import pytest
from google.protobuf import json_format
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from cairn.entities.trace import Assessment, TraceState
from cairn.exceptions import InvalidParameterValueError
from cairn.wire import otlp
from cairn.wire import traces as codec

MILLIS = [0, 1, 999, 1000, 1_700_000_000_123, 4_102_444_800_000, 1_234_567_890_005]


@pytest.mark.parametrize("ms", MILLIS)
def test_timestamps_and_durations_read_and_write_as_protobuf_does(ms: int) -> None:
    stamp = Timestamp()
    stamp.FromMilliseconds(ms)
    proto_text = json_format.MessageToJson(stamp).strip('"')
    assert codec.parse_timestamp("t", proto_text) == ms
    assert codec.parse_timestamp("t", codec.timestamp(ms)) == ms
    parsed = Timestamp()
    json_format.Parse(json.dumps(codec.timestamp(ms)), parsed)
    assert parsed.ToMilliseconds() == ms

    span = Duration()
    span.FromMilliseconds(ms)
    assert codec.parse_duration("d", json_format.MessageToJson(span).strip('"')) == ms
    back = Duration()
    json_format.Parse(json.dumps(codec.duration(ms)), back)
    assert back.ToMilliseconds() == ms


def test_other_rfc3339_forms_and_refusals() -> None:
    assert codec.parse_timestamp("t", "1970-01-01T01:00:00.5+01:00") == 500
    assert codec.parse_timestamp("t", "2023-11-14T22:13:20.123456789Z") == 1_700_000_000_123
    assert codec.parse_duration("d", "1.5s") == 1500
    assert codec.parse_duration("d", "-0.250s") == -250
    for bad in ("yesterday", "2023-13-01T00:00:00Z", "2023-11-14", 1_700_000_000, None):
        with pytest.raises(InvalidParameterValueError):
            codec.parse_timestamp("t", bad)
    for bad in ("1.5", "5m", "1.5 s", 3):
        with pytest.raises(InvalidParameterValueError):
            codec.parse_duration("d", bad)


def test_states_by_name_or_number() -> None:
    assert codec.parse_state("s", "OK") is TraceState.OK
    assert codec.parse_state("s", 2) is TraceState.ERROR
    assert codec.parse_state("s", "TRACE_STATUS_UNSPECIFIED") is TraceState.UNSPECIFIED
    assert codec.parse_state("s", "STATE_UNSPECIFIED") is TraceState.UNSPECIFIED
    assert codec.parse_state("s", None) is TraceState.UNSPECIFIED
    for bad in ("GREAT", 9, True):
        with pytest.raises(InvalidParameterValueError):
            codec.parse_state("s", bad)


def test_an_assessment_keeps_its_body_and_the_stores_fields_win() -> None:
    sent = {
        "assessmentName": "q",
        "trace_id": "tr-other",
        "feedback": {"value": 0.5},
        "metadata": {"a": "b"},
    }
    parsed = codec.parse_assessment(sent, "tr-1")
    assert parsed.name == "q" and parsed.trace_id == "tr-1"
    assert parsed.body == {
        "assessment_name": "q",
        "feedback": {"value": 0.5},
        "metadata": {"a": "b"},
    }
    stored = Assessment("a-1", "tr-1", "q", 1000, 2000, {**parsed.body, "rationale": None})
    assert codec.assessment(stored) == {
        "assessment_id": "a-1",
        "assessment_name": "q",
        "trace_id": "tr-1",
        "feedback": {"value": 0.5},
        "metadata": {"a": "b"},
        "create_time": "1970-01-01T00:00:01.000Z",
        "last_update_time": "1970-01-01T00:00:02.000Z",
    }
    changes = codec.parse_assessment_changes({"assessmentName": "n"}, "rationale,assessmentName")
    assert changes == {"rationale": None, "assessment_name": "n"}  # a masked absent field clears
    with pytest.raises(InvalidParameterValueError):  # a name cannot be cleared
        codec.parse_assessment_changes({"rationale": "r"}, "rationale,assessmentName")
    with pytest.raises(InvalidParameterValueError):
        codec.parse_assessment_changes({"rationale": "r"}, {"paths": ["trace_id"]})


def _request() -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
    span.span_id = bytes.fromhex("b7ad6b7169203331")
    span.parent_span_id = bytes.fromhex("00f067aa0ba902b7")
    span.name = "call"
    span.kind = 3
    span.start_time_unix_nano, span.end_time_unix_nano = 5, 9
    span.status.code = Status.STATUS_CODE_ERROR
    attribute = span.attributes.add()
    attribute.key, attribute.value.string_value = "mlflow.spanType", '"LLM"'
    return request


def test_otlp_protobuf_and_json_give_the_same_spans() -> None:
    request = _request()
    from_proto = otlp.spans_of(
        otlp.parse_export_request(request.SerializeToString(), otlp.PROTOBUF)
    )
    # OTLP/JSON: lowerCamel names, hex ids, enums as numbers, int64s as strings.
    as_json = json_format.MessageToDict(request, use_integers_for_enums=True)
    span_json = as_json["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span_json.update(
        traceId="0af7651916cd43dd8448eb211c80319c",
        spanId="b7ad6b7169203331",
        parentSpanId="00f067aa0ba902b7",
    )
    from_json = otlp.spans_of(otlp.parse_export_request(json.dumps(as_json).encode(), otlp.JSON))
    assert from_json == from_proto
    (span,) = from_proto
    assert span.trace_id == "tr-0af7651916cd43dd8448eb211c80319c"
    assert (span.span_id, span.parent_span_id) == ("b7ad6b7169203331", "00f067aa0ba902b7")
    assert (span.span_type, span.status, span.start_time_ns, span.end_time_ns) == (
        "LLM",
        TraceState.ERROR,
        5,
        9,
    )
    assert span.content["kind"] == "SPAN_KIND_CLIENT"
    assert span.content["start_time_unix_nano"] == "5"
    assert (
        json_format.ParseDict(
            span.content, type(request.resource_spans[0].scope_spans[0].spans[0])()
        )
        == (request.resource_spans[0].scope_spans[0].spans[0])
    )


@pytest.mark.parametrize(
    "body, media_type",
    [
        (b"\xff\xfe\x00", otlp.PROTOBUF),
        (b"", otlp.PROTOBUF),
        (b"[]", otlp.JSON),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz"}]}]}]}', otlp.JSON),
        (b'{"resourceSpans": "no"}', otlp.JSON),
    ],
)
def test_what_is_not_an_otlp_export_is_refused(body: bytes, media_type: str) -> None:
    with pytest.raises(InvalidParameterValueError):
        otlp.spans_of(otlp.parse_export_request(body, media_type))
