"""The storage interface of MLflow 3 traces: their records, spans, tags and assessments.

Apart from TrackingStore because traces arrive by another path (OTLP span export and
StartTraceV3, both from the mlflow client's tracer) and are read by their own APIs; the SQL
implementation (cairn.store.sql.traces.SqlTraceStore) shares the tracking store's database,
and `SqlTrackingStore.traces` gives the one on the same engine.

Errors are CairnError subclasses: an absent trace, assessment, experiment or run is
ResourceDoesNotExistError; a bad id, filter, limit or an oversized value is
InvalidParameterValueError.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

from cairn.entities import PagedList
from cairn.entities.trace import Assessment, Span, Trace, TraceInfo

#: search_traces' default page and its cap (MLflow's SEARCH_TRACES_DEFAULT_MAX_RESULTS and
#: SEARCH_MAX_RESULTS_THRESHOLD).
SEARCH_TRACES_DEFAULT_MAX_RESULTS = 100
SEARCH_TRACES_MAX_RESULTS = 500
#: MLflow's cap on trace ids in one link_traces_to_run (MAX_TRACE_LINKS_PER_REQUEST).
MAX_TRACE_LINKS_PER_REQUEST = 100
#: Tag limits, as MLflow validates trace tags.
MAX_TRACE_TAG_KEY_LENGTH = 250
MAX_TRACE_TAG_VALUE_LENGTH = 8000
#: Metadata values are stored whole up to this length (MLflow's column is 8000 too).
MAX_TRACE_METADATA_VALUE_LENGTH = 8000
#: Request/response previews are cut to this many characters when stored.
MAX_PREVIEW_LENGTH = 10_000
#: One span's stored JSON may be at most this many bytes; a bigger one is refused.
MAX_SPAN_CONTENT_BYTES = 10 * 1024 * 1024


class TraceStore(abc.ABC):
    """Traces of an experiment: written by the tracer, read and annotated by users."""

    # -- writing traces -----------------------------------------------------------------

    @abc.abstractmethod
    def start_trace(self, info: TraceInfo) -> TraceInfo:
        """StartTraceV3 (the client calls it when the root span ends): create or complete
        the trace's record. A record made earlier by log_spans is merged: the client's
        request time, duration, state, previews and client request id replace the stored
        ones; tags and metadata are united, the client's values winning. When the store
        holds spans of the trace, the SPANS_LOCATION_TAG says so. Returns what is stored.
        The experiment must exist (else ResourceDoesNotExistError) and be active."""

    @abc.abstractmethod
    def log_spans(self, experiment_id: str, spans: Sequence[Span]) -> None:
        """OTLP ingest: store spans, of one or several traces, in one transaction. A span
        sent again replaces the stored one. A trace with no record gets one (IN_PROGRESS
        until its root span arrives); a span of a trace of another experiment is refused."""

    @abc.abstractmethod
    def delete_traces(
        self,
        experiment_id: str,
        *,
        max_timestamp_millis: int | None = None,
        max_traces: int | None = None,
        trace_ids: Sequence[str] | None = None,
    ) -> int:
        """Delete traces of the experiment, with their spans, tags, metadata and assessments:
        either those in `trace_ids`, or those started at or before `max_timestamp_millis`
        (the oldest `max_traces` of them when given). Returns how many were deleted."""

    # -- reading traces -----------------------------------------------------------------

    @abc.abstractmethod
    def get_trace_info(self, trace_id: str) -> TraceInfo:
        """The record with tags, metadata and assessments; ResourceDoesNotExistError if none."""

    @abc.abstractmethod
    def get_trace_infos(
        self, trace_ids: Sequence[str], experiment_ids: Sequence[str] | None = None
    ) -> list[TraceInfo]:
        """The records of those ids that exist (in the experiments, when given), in the
        order asked."""

    @abc.abstractmethod
    def get_traces(
        self, trace_ids: Sequence[str], experiment_ids: Sequence[str] | None = None
    ) -> list[Trace]:
        """As get_trace_infos, with each trace's spans ordered by start time."""

    @abc.abstractmethod
    def search_traces(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        max_results: int = SEARCH_TRACES_DEFAULT_MAX_RESULTS,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[TraceInfo]:
        """Records matching MLflow's trace filter, newest first unless `order_by` says
        otherwise (ties broken by trace id); `max_results` at most 500."""

    @abc.abstractmethod
    def trace_experiment_ids(self, trace_ids: Sequence[str]) -> dict[str, str]:
        """trace id → experiment id for those that exist (for permission checks)."""

    # -- tags and runs ------------------------------------------------------------------

    @abc.abstractmethod
    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        """Set a tag (key ≤ 250, value ≤ 8000 characters)."""

    @abc.abstractmethod
    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        """Delete a tag; ResourceDoesNotExistError when the trace has no such tag."""

    @abc.abstractmethod
    def link_traces_to_run(self, trace_ids: Sequence[str], run_id: str) -> None:
        """Record the run as each trace's source run (metadata `mlflow.sourceRun`);
        at most 100 traces a call, and the run and every trace must exist."""

    # -- assessments ----------------------------------------------------------------------

    @abc.abstractmethod
    def create_assessment(self, assessment: Assessment) -> Assessment:
        """Store a new assessment of an existing trace; the store assigns its id
        (`a-` and 32 hex digits) and both times (now), and returns it as stored."""

    @abc.abstractmethod
    def get_assessment(self, trace_id: str, assessment_id: str) -> Assessment:
        """ResourceDoesNotExistError when the trace has no such assessment."""

    @abc.abstractmethod
    def update_assessment(
        self, trace_id: str, assessment_id: str, body_changes: Mapping[str, Any]
    ) -> Assessment:
        """Merge `body_changes` into the body (top-level keys replaced; a change of `name`
        renames it), stamp the update time, return the result. Ids and times in the
        changes are ignored."""

    @abc.abstractmethod
    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        """Delete an assessment; ResourceDoesNotExistError when there is none."""
