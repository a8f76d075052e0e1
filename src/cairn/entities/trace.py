"""Traces (MLflow 3's GenAI tracing): a trace's record, its spans and the assessments of it.

A trace is what one call of an instrumented function did, as a tree of spans. Ids follow
MLflow: a trace id is `tr-<32 hex>` (the OpenTelemetry trace id), a span id is 16 hex digits.
Times are epoch milliseconds on the trace and nanoseconds on spans, as the two protocols
(MLflow's REST API and OTLP) send them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

#: The prefix MLflow gives trace ids made from an OpenTelemetry trace id.
TRACE_ID_PREFIX = "tr-"
#: The tag that tells the mlflow client where a trace's spans are (we keep them in the store).
SPANS_LOCATION_TAG = "mlflow.trace.spansLocation"
SPANS_IN_TRACKING_STORE = "TRACKING_STORE"
#: The trace metadata key that links a trace to a run (`mlflow.search_traces(run_id=…)`).
SOURCE_RUN_METADATA = "mlflow.sourceRun"


class TraceState(str, enum.Enum):
    """MLflow's TraceInfoV3.State; the v2 API calls the same thing a status."""

    UNSPECIFIED = "STATE_UNSPECIFIED"
    OK = "OK"
    ERROR = "ERROR"
    IN_PROGRESS = "IN_PROGRESS"

    @classmethod
    def parse(cls, value: str | None) -> TraceState:
        """MLflow's names, the v2 status names (`TRACE_STATUS_…`) and OTLP's (`STATUS_CODE_…`)."""
        text = str(value or "").upper()
        for prefix in ("TRACE_STATUS_", "STATUS_CODE_"):
            text = text.removeprefix(prefix)
        if text in ("", "UNSET", "UNSPECIFIED"):
            return cls.UNSPECIFIED
        for state in cls:
            if text in (state.value, state.name):
                return state
        raise ValueError(value)


@dataclass(frozen=True, slots=True)
class Span:
    """One span as stored: the fields a query needs, and the whole span as OTLP's JSON.

    `content` is the span in the proto3 JSON form of `opentelemetry.proto.trace.v1.Span`
    with proto field names (what MLflow's `Trace.spans` carries): ids base64, attribute
    values as `AnyValue` objects (MLflow's own attributes hold JSON-encoded strings).
    """

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    span_type: str | None
    status: TraceState
    start_time_ns: int
    end_time_ns: int | None
    content: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Assessment:
    """Feedback or an expectation on a trace (`mlflow.log_feedback`, `log_expectation`).

    `body` is the assessment in MLflow's JSON form; the named fields are what the store
    indexes and what a client may not change (id, trace, times).
    """

    assessment_id: str
    trace_id: str
    name: str
    create_time_ms: int
    last_update_time_ms: int
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TraceInfo:
    """A trace's record, without its spans."""

    trace_id: str
    experiment_id: str
    request_time_ms: int
    execution_duration_ms: int | None = None
    state: TraceState = TraceState.UNSPECIFIED
    request_preview: str | None = None
    response_preview: str | None = None
    client_request_id: str | None = None
    trace_metadata: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    assessments: tuple[Assessment, ...] = ()


@dataclass(frozen=True, slots=True)
class Trace:
    info: TraceInfo
    spans: tuple[Span, ...] = ()
