"""OTLP/HTTP span ingest (`POST /v1/traces`) from a plain OpenTelemetry SDK, against a live
`cairn server` (SQLite and PostgreSQL), read back through the mlflow client.

The SDK's own OTLPSpanExporter sends protobuf (plain, gzip, deflate); OTLP's JSON form is
sent by hand, as a collector would. Spans go through a SimpleSpanProcessor, so each is on
the server when `span.end()` returns. Under `--auth`, see test_trace_permissions.py.
"""

from __future__ import annotations

import gzip
import json
import uuid
from typing import Any

import pytest
import requests
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from conftest import TrackingServer

TIMEOUT = 30
HEADER = "x-mlflow-experiment-id"


def _experiment(tracking_server: TrackingServer) -> str:
    response = requests.post(
        f"{tracking_server.api}/experiments/create",
        json={"name": f"otlp-{uuid.uuid4().hex[:12]}"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    experiment_id: str = response.json()["experiment_id"]
    return experiment_id


@pytest.fixture
def experiment_id(tracking_server: TrackingServer) -> str:
    return _experiment(tracking_server)


def _provider(url: str, experiment_id: str, compression: Compression) -> TracerProvider:
    """An SDK tracer provider of its own (not the global one), exporting each span at once."""
    exporter = OTLPSpanExporter(
        endpoint=f"{url}/v1/traces",
        headers={HEADER: experiment_id},
        compression=compression,
        timeout=TIMEOUT,
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "otlp-test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def _post(url: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{url}/v1/traces", data=body, headers=headers, timeout=TIMEOUT)


@pytest.mark.parametrize(
    "compression", [Compression.NoCompression, Compression.Gzip, Compression.Deflate]
)
def test_an_opentelemetry_sdk_exports_spans_the_mlflow_client_reads(
    mlflow: Any, tracking_server: TrackingServer, experiment_id: str, compression: Compression
) -> None:
    provider = _provider(tracking_server.url, experiment_id, compression)
    tracer = provider.get_tracer("cairn-test")
    try:
        with tracer.start_as_current_span("handle", attributes={"route": "/ask"}) as root:
            with tracer.start_as_current_span("llm") as llm:
                llm.set_attribute("mlflow.spanType", "LLM")
                llm.set_attribute("tokens", 42)
                llm.set_attribute("stops", ["\n", "."])
                llm.add_event("first-token", {"at": 3})
            with tracer.start_as_current_span("tool") as tool:
                tool.set_status(Status(StatusCode.ERROR, "timed out"))
            root.set_status(Status(StatusCode.OK))
        context = root.get_span_context()
    finally:
        provider.shutdown()

    trace_id = f"tr-{context.trace_id:032x}"
    trace = mlflow.MlflowClient().get_trace(trace_id)
    assert trace.info.trace_id == trace_id
    assert trace.info.experiment_id == experiment_id
    assert trace.info.state.value == "OK"
    assert trace.info.tags["mlflow.trace.spansLocation"] == "TRACKING_STORE"
    spans = {s.name: s for s in trace.data.spans}
    assert set(spans) == {"handle", "llm", "tool"}
    handle, llm_span, tool_span = spans["handle"], spans["llm"], spans["tool"]
    assert handle.span_id == f"{context.span_id:016x}" and handle.parent_id is None
    assert llm_span.parent_id == handle.span_id and tool_span.parent_id == handle.span_id
    assert handle.get_attribute("route") == "/ask"
    assert llm_span.span_type == "LLM"
    assert llm_span.get_attribute("tokens") == 42
    assert llm_span.get_attribute("stops") == ["\n", "."]
    assert [(e.name, e.attributes) for e in llm_span.events] == [("first-token", {"at": 3})]
    assert tool_span.status.status_code.value == "ERROR"
    assert tool_span.status.description == "timed out"
    assert handle.start_time_ns <= llm_span.start_time_ns <= llm_span.end_time_ns

    found = mlflow.MlflowClient().search_traces(locations=[experiment_id])
    assert [t.info.trace_id for t in found] == [trace_id]


def _json_span(trace_hex: str, span_hex: str, parent_hex: str, name: str) -> dict[str, Any]:
    """A span as OTLP/JSON writes it: hex ids, enums as numbers, int64s as strings."""
    span: dict[str, Any] = {
        "traceId": trace_hex,
        "spanId": span_hex,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000500000000",
        "attributes": [{"key": "mlflow.spanType", "value": {"stringValue": "RETRIEVER"}}],
        "status": {"code": 1},
    }
    if parent_hex:
        span["parentSpanId"] = parent_hex
    return span


def test_an_otlp_json_export(
    mlflow: Any, tracking_server: TrackingServer, experiment_id: str
) -> None:
    trace_hex, root_hex, child_hex = uuid.uuid4().hex, "00f067aa0ba902b7", "a1b2c3d4e5f60718"
    body = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "c"}}]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "collector"},
                        "spans": [
                            _json_span(trace_hex, child_hex, root_hex, "child"),
                            _json_span(trace_hex, root_hex, "", "root"),
                        ],
                    }
                ],
            }
        ]
    }
    headers = {"Content-Type": "application/json", HEADER: experiment_id}
    response = _post(tracking_server.url, json.dumps(body).encode(), headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {}

    trace = mlflow.MlflowClient().get_trace(f"tr-{trace_hex}")
    assert trace.info.request_time == 1_700_000_000_000
    assert trace.info.execution_duration == 500
    spans = {s.name: s for s in trace.data.spans}
    assert spans["root"].span_id == root_hex and spans["child"].parent_id == root_hex
    assert spans["child"].span_type == "RETRIEVER"
    assert spans["child"].status.status_code.value == "OK"


def test_a_protobuf_export_is_answered_in_protobuf(
    tracking_server: TrackingServer, experiment_id: str
) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = uuid.uuid4().bytes, b"\x01" * 8, "lonely"
    span.start_time_unix_nano, span.end_time_unix_nano = 10**18, 10**18 + 1
    headers = {"Content-Type": "application/x-protobuf", HEADER: experiment_id}
    response = _post(tracking_server.url, request.SerializeToString(), headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-protobuf"
    answer = ExportTraceServiceResponse()
    answer.ParseFromString(response.content)
    assert not answer.HasField("partial_success")


def _error(response: requests.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error_code"]


def test_refused_exports(tracking_server: TrackingServer, experiment_id: str) -> None:
    url = tracking_server.url
    proto = {"Content-Type": "application/x-protobuf", HEADER: experiment_id}
    invalid = (400, "INVALID_PARAMETER_VALUE")
    assert _error(_post(url, b"\x0a\x02", {"Content-Type": "application/x-protobuf"})) == invalid
    assert _error(_post(url, b"\xff\xfe garbage \x00\x01", proto)) == invalid
    assert _error(_post(url, b"", proto)) == invalid  # no spans at all
    json_headers = {**proto, "Content-Type": "application/json"}
    assert _error(_post(url, b"{not json", json_headers)) == invalid
    bad_id = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz", "spanId": "01"}]}]}]}
    assert _error(_post(url, json.dumps(bad_id).encode(), json_headers)) == invalid
    short = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "ab", "spanId": "cd"}]}]}]}
    assert _error(_post(url, json.dumps(short).encode(), json_headers)) == invalid
    assert _error(_post(url, b"{}", {**proto, "Content-Type": "text/plain"})) == invalid
    gzipped = {**proto, "Content-Encoding": "gzip"}
    assert _error(_post(url, b"not gzip at all", gzipped)) == invalid
    assert _error(_post(url, b"x", {**proto, "Content-Encoding": "br"})) == invalid

    request = _one_span_request()
    unknown = {**proto, HEADER: "987654321"}
    assert _error(_post(url, request, unknown)) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert _error(_post(url, request, {**proto, HEADER: "not-a-number"})) == invalid


def test_a_body_that_inflates_past_the_cap_is_refused(
    tracking_server: TrackingServer, experiment_id: str
) -> None:
    from cairn.server.otlp import MAX_OTLP_BODY_BYTES

    bomb = gzip.compress(b"\0" * (MAX_OTLP_BODY_BYTES + 1024), compresslevel=1)
    assert len(bomb) < 1024 * 1024
    headers = {
        "Content-Type": "application/x-protobuf",
        "Content-Encoding": "gzip",
        HEADER: experiment_id,
    }
    response = _post(tracking_server.url, bomb, headers)
    assert response.status_code == 413
    assert str(MAX_OTLP_BODY_BYTES) in response.json()["message"]


def _one_span_request() -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = uuid.uuid4().bytes, b"\x02" * 8, "one"
    return bytes(request.SerializeToString())
