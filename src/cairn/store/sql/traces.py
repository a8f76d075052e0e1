"""SqlTraceStore: MLflow 3 traces in the tracking database (tables of migration 0007).

Interface: cairn.store.traces.TraceStore. Build it with `SqlTraceStore(store_uri)` (own
engine, migrates the schema) or `SqlTraceStore.from_engine(engine)` (shares a store's
engine: `SqlTrackingStore.traces` is that). Limits: cairn.store.traces.

Spans are the hot path (OTLP export of every traced call): `log_spans` reads the records
of the batch's traces in one query and writes spans, new records and tags with one
executemany each, all in one transaction; nothing is read or written per span.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Engine, String, Text, bindparam, delete, func, select, update
from sqlalchemy.engine import Connection

from cairn.entities import LifecycleStage, PagedList
from cairn.entities.trace import (
    SOURCE_RUN_METADATA,
    SPANS_IN_TRACKING_STORE,
    SPANS_LOCATION_TAG,
    Span,
    Trace,
    TraceInfo,
    TraceState,
)
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError
from cairn.store import page_token as tokens
from cairn.store import validation as check
from cairn.store.sql import dialects, migrate, trace_search
from cairn.store.sql.prepared import Prepared
from cairn.store.sql.schema import (
    experiments,
    runs,
    trace_assessments,
    trace_info,
    trace_metadata,
    trace_spans,
    trace_tags,
)
from cairn.store.sql.trace_assessments import SqlTraceAssessments, load_assessments
from cairn.store.sql.trace_rows import CHUNK, RowsById
from cairn.store.sql.transactions import SqlTransactions
from cairn.store.traces import (
    MAX_PREVIEW_LENGTH,
    MAX_SPAN_CONTENT_BYTES,
    MAX_TRACE_LINKS_PER_REQUEST,
    MAX_TRACE_METADATA_VALUE_LENGTH,
    MAX_TRACE_TAG_KEY_LENGTH,
    MAX_TRACE_TAG_VALUE_LENGTH,
    SEARCH_TRACES_MAX_RESULTS,
    TraceStore,
)

_MAX_TRACE_ID_LENGTH = 50
_MAX_SPAN_ID_LENGTH = 32
_MAX_SPAN_TYPE_LENGTH = 500
_MAX_CLIENT_REQUEST_ID_LENGTH = 250
# The root span's attributes that MLflow's tracer fills (SpanAttributeKey).
_INPUTS = "mlflow.spanInputs"
_OUTPUTS = "mlflow.spanOutputs"
_TRACE_TAG_PREFIX = "mlflow.traceTag."
_OPEN_STATES = (TraceState.IN_PROGRESS.value, TraceState.UNSPECIFIED.value)


class _Record(NamedTuple):
    """A trace_info row, in the order of _INFO_COLUMNS."""

    trace_id: str
    experiment_id: int
    request_time: int
    execution_duration: int | None
    state: str
    request_preview: str | None
    response_preview: str | None
    client_request_id: str | None


_INFO_COLUMNS = (
    trace_info.c.trace_id,
    trace_info.c.experiment_id,
    trace_info.c.request_time,
    trace_info.c.execution_duration,
    trace_info.c.state,
    trace_info.c.request_preview,
    trace_info.c.response_preview,
    trace_info.c.client_request_id,
)


_RECORDS = RowsById(select(*_INFO_COLUMNS), trace_info.c.trace_id)
_TAGS = RowsById(
    select(trace_tags.c.trace_id, trace_tags.c.key, trace_tags.c.value), trace_tags.c.trace_id
)
_METADATA = RowsById(
    select(trace_metadata.c.trace_id, trace_metadata.c.key, trace_metadata.c.value),
    trace_metadata.c.trace_id,
)
_EXPERIMENT_STAGE = Prepared(
    select(experiments.c.lifecycle_stage).where(experiments.c.experiment_id == bindparam("e"))
)
_OWNER = Prepared(select(trace_info.c.experiment_id).where(trace_info.c.trace_id == bindparam("t")))
_HAS_SPANS = Prepared(
    select(trace_spans.c.span_id).where(trace_spans.c.trace_id == bindparam("t")).limit(1)
)
_FINISH_RECORD = Prepared(
    update(trace_info)
    .where(trace_info.c.trace_id == bindparam("t"))
    .values(
        request_time=bindparam("request_time"),
        execution_duration=bindparam("execution_duration"),
        state=bindparam("state"),
        request_preview=func.coalesce(
            bindparam("request_preview", type_=Text), trace_info.c.request_preview
        ),
        response_preview=func.coalesce(
            bindparam("response_preview", type_=Text), trace_info.c.response_preview
        ),
        client_request_id=func.coalesce(
            bindparam("client_request_id", type_=String), trace_info.c.client_request_id
        ),
    )
)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


def trace_id_arg(value: object) -> str:
    """A trace id as a write names it: a non-empty string of at most 50 characters."""
    if not isinstance(value, str) or not value or len(value) > _MAX_TRACE_ID_LENGTH:
        raise InvalidParameterValueError(
            f"Invalid trace id {value!r}: expected a string of 1 to {_MAX_TRACE_ID_LENGTH} "
            "characters."
        )
    return check.no_nul("Trace id", value)


def _lookup_ids(values: Sequence[str]) -> list[str]:
    """The ids a read may find; others (too long, not strings) name no trace."""
    return list(
        dict.fromkeys(
            v
            for v in values
            if isinstance(v, str) and 0 < len(v) <= _MAX_TRACE_ID_LENGTH and "\x00" not in v
        )
    )


def _preview(value: str | None) -> str | None:
    if value is None:
        return None
    return check.no_nul("Trace preview", str(value))[:MAX_PREVIEW_LENGTH]


def _tag(key: object, value: object) -> tuple[str, str]:
    """MLflow's limits on a trace tag."""
    if not isinstance(key, str) or not key.strip():
        raise InvalidParameterValueError(f"Invalid trace tag key {key!r}.")
    if len(key) > MAX_TRACE_TAG_KEY_LENGTH:
        raise InvalidParameterValueError(
            f"Trace tag key {key[:40]!r}… has {len(key)} characters; the limit is "
            f"{MAX_TRACE_TAG_KEY_LENGTH}."
        )
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_TRACE_TAG_VALUE_LENGTH:
        raise InvalidParameterValueError(
            f"Trace tag {key!r} has a value of {len(text)} characters; the limit is "
            f"{MAX_TRACE_TAG_VALUE_LENGTH}."
        )
    return check.no_nul("Trace tag key", key), check.no_nul("Trace tag value", text)


def _metadata(key: object, value: object) -> tuple[str, str]:
    if not isinstance(key, str) or not key or len(key) > MAX_TRACE_TAG_KEY_LENGTH:
        raise InvalidParameterValueError(f"Invalid trace metadata key {key!r}.")
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_TRACE_METADATA_VALUE_LENGTH:
        raise InvalidParameterValueError(
            f"Trace metadata {key!r} has a value of {len(text)} characters; the limit is "
            f"{MAX_TRACE_METADATA_VALUE_LENGTH}."
        )
    return check.no_nul("Trace metadata key", key), check.no_nul("Trace metadata value", text)


def _root_status(state: TraceState) -> str:
    """A finished root span makes the trace ERROR or OK (an unset status is success)."""
    return TraceState.ERROR.value if state == TraceState.ERROR else TraceState.OK.value


def _attribute(content: Mapping[str, Any], key: str) -> str | None:
    """A string attribute of a span's OTLP JSON (AnyValue objects or plain values)."""
    for item in content.get("attributes") or ():
        if isinstance(item, Mapping) and item.get("key") == key:
            value = item.get("value")
            if isinstance(value, Mapping):
                value = value.get("string_value", value.get("stringValue"))
            return None if value is None else str(value)
    return None


def _unquoted(text: str) -> str:
    """MLflow's attributes hold JSON: a tag value "x" is stored as "\"x\""."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, str) else text


class _SpanBatch:
    """One log_spans call, reduced to rows per table and what each trace's record needs."""

    def __init__(self, spans: Sequence[Span]) -> None:
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        roots: dict[str, tuple[Span, str]] = {}
        self.first_start_ms: dict[str, int] = {}
        self.last_end_ms: dict[str, int] = {}
        for span in spans:
            row = self._row(span)
            rows[(row["trace_id"], row["span_id"])] = row  # a repeat in one batch: last wins
            trace_id = row["trace_id"]
            start_ms = span.start_time_ns // 1_000_000
            if start_ms < self.first_start_ms.get(trace_id, start_ms + 1):
                self.first_start_ms[trace_id] = start_ms
            if span.end_time_ns is not None:
                end_ms = span.end_time_ns // 1_000_000
                self.last_end_ms[trace_id] = max(end_ms, self.last_end_ms.get(trace_id, end_ms))
            if span.parent_span_id is None:
                roots[trace_id] = (span, row["content"])
        self.span_rows = list(rows.values())
        self.roots = {trace_id: span for trace_id, (span, _) in roots.items()}
        self.trace_ids = list(self.first_start_ms)

    @staticmethod
    def _row(span: Span) -> dict[str, Any]:
        trace_id = trace_id_arg(span.trace_id)
        if not isinstance(span.span_id, str) or not 0 < len(span.span_id) <= _MAX_SPAN_ID_LENGTH:
            raise InvalidParameterValueError(f"Invalid span id {span.span_id!r}.")
        parent = span.parent_span_id
        if parent is not None and (not isinstance(parent, str) or len(parent) > 32):
            raise InvalidParameterValueError(f"Invalid parent span id {parent!r}.")
        start = check.integer("Span start time", span.start_time_ns, minimum=0)
        end = None if span.end_time_ns is None else check.integer("Span end", span.end_time_ns)
        content = json.dumps(span.content, ensure_ascii=False, separators=(",", ":"))
        if len(content) * 4 > MAX_SPAN_CONTENT_BYTES and (
            len(content.encode()) > MAX_SPAN_CONTENT_BYTES
        ):
            raise InvalidParameterValueError(
                f"Span {span.span_id} of trace {trace_id} is larger than the limit of "
                f"{MAX_SPAN_CONTENT_BYTES} bytes ({MAX_SPAN_CONTENT_BYTES // 2**20} MiB)."
            )
        span_type = span.span_type
        if span_type is not None and len(span_type) > _MAX_SPAN_TYPE_LENGTH:
            raise InvalidParameterValueError(f"Span type of span {span.span_id} is too long.")
        return {
            "trace_id": trace_id,
            "span_id": span.span_id,
            "parent_span_id": parent or None,
            "name": check.no_nul("Span name", span.name or ""),
            "span_type": span_type,
            "status": TraceState(span.status).value,
            "start_time_ns": start,
            "end_time_ns": end,
            "content": check.no_nul("Span", content),
        }

    def duration_ms(self, trace_id: str) -> int | None:
        root = self.roots.get(trace_id)
        if root is not None and root.end_time_ns is not None:
            return max(0, (root.end_time_ns - root.start_time_ns) // 1_000_000)
        return None

    def root_tags(self, trace_id: str) -> dict[str, str]:
        """The tags a root span carries: its name, and `mlflow.traceTag.<k>` attributes."""
        root = self.roots.get(trace_id)
        if root is None:
            return {}
        found = {trace_search.TRACE_NAME_TAG: (root.name or "")[:MAX_TRACE_TAG_VALUE_LENGTH]}
        for item in root.content.get("attributes") or ():
            key = item.get("key") if isinstance(item, Mapping) else None
            if isinstance(key, str) and key.startswith(_TRACE_TAG_PREFIX):
                value = _attribute(root.content, key)
                tag = key[len(_TRACE_TAG_PREFIX) :]
                if value is not None and 0 < len(tag) <= MAX_TRACE_TAG_KEY_LENGTH:
                    found[tag] = _unquoted(value)[:MAX_TRACE_TAG_VALUE_LENGTH]
        return found

    def previews(self, trace_id: str) -> tuple[str | None, str | None]:
        root = self.roots.get(trace_id)
        if root is None:
            return None, None
        return (
            _preview(_attribute(root.content, _INPUTS)),
            _preview(_attribute(root.content, _OUTPUTS)),
        )


class SqlTraceStore(SqlTraceAssessments, SqlTransactions, TraceStore):
    """Traces in one SQL database, beside the runs of the tracking store."""

    def __init__(self, store_uri: str) -> None:
        self.engine: Engine = migrate.migrated_engine(store_uri)
        self._owns_engine = True

    @classmethod
    def from_engine(cls, shared: Engine) -> SqlTraceStore:
        """A store on an engine someone else made, migrated and will dispose of."""
        store = cls.__new__(cls)
        store.engine = shared
        store._owns_engine = False
        return store

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    # -- writing ---------------------------------------------------------------------------

    def start_trace(self, info: TraceInfo) -> TraceInfo:
        trace_id = trace_id_arg(info.trace_id)
        experiment_id = int(check.experiment_id(info.experiment_id))
        request_time = check.integer("Trace request time", info.request_time_ms, minimum=0)
        duration = info.execution_duration_ms
        if duration is not None:
            duration = check.integer("Trace execution duration", duration, minimum=0)
        client_request_id = info.client_request_id
        if client_request_id is not None:
            client_request_id = check.no_nul("Client request id", str(client_request_id))
            if len(client_request_id) > _MAX_CLIENT_REQUEST_ID_LENGTH:
                raise InvalidParameterValueError("The client request id is too long.")
        tag_rows = [
            dict(trace_id=trace_id, key=k, value=v)
            for k, v in (_tag(key, value) for key, value in info.tags.items())
        ]
        metadata_rows = [
            dict(trace_id=trace_id, key=k, value=v)
            for k, v in (_metadata(key, value) for key, value in info.trace_metadata.items())
        ]
        record = {
            "trace_id": trace_id,
            "experiment_id": experiment_id,
            "request_time": request_time,
            "execution_duration": duration,
            "state": TraceState(info.state).value,
            "request_preview": _preview(info.request_preview),
            "response_preview": _preview(info.response_preview),
            "client_request_id": client_request_id,
        }

        def work(conn: Connection) -> TraceInfo:
            _active_experiment(conn, experiment_id)
            owner = _owner(conn, trace_id)
            if owner is None:
                dialects.insert_ignore(conn, trace_info, [record])
                owner = _owner(conn, trace_id)  # ours, or a concurrent log_spans' record
            if owner != experiment_id:
                raise InvalidParameterValueError(
                    f"Trace {trace_id} belongs to experiment {owner}, not {experiment_id}."
                )
            finish = {k: v for k, v in record.items() if k not in ("trace_id", "experiment_id")}
            _FINISH_RECORD.executemany(conn, [{**finish, "t": trace_id}])
            dialects.upsert(conn, trace_tags, tag_rows, ("trace_id", "key"))
            dialects.upsert(conn, trace_metadata, metadata_rows, ("trace_id", "key"))
            if _HAS_SPANS.first(conn, {"t": trace_id}) is not None:
                _mark_spans_here(conn, [trace_id])
            self._insert_assessments(conn, trace_id, info.assessments)
            return _load_infos(conn, [trace_id])[0]

        return self._retrying(work)

    def log_spans(self, experiment_id: str, spans: Sequence[Span]) -> None:
        experiment = int(check.experiment_id(experiment_id))
        if not spans:
            return
        batch = _SpanBatch(spans)

        def work(conn: Connection) -> None:
            stored = _records(conn, batch.trace_ids)
            foreign = [t for t, row in stored.items() if row.experiment_id != experiment]
            if foreign:
                raise InvalidParameterValueError(
                    f"Trace {foreign[0]} belongs to experiment {stored[foreign[0]].experiment_id}, "
                    f"not {experiment}."
                )
            missing = [t for t in batch.trace_ids if t not in stored]
            if missing:
                _active_experiment(conn, experiment)
                new = [_new_record(batch, experiment, t) for t in missing]
                inserted = dialects.insert_ignore(conn, trace_info, new)
                # MySQL counts a kept row as changed, so there a race shows only on reading.
                if inserted < len(new) or conn.dialect.name == "mysql":
                    stored = _records(conn, batch.trace_ids)  # a concurrent writer made some
                    if any(row.experiment_id != experiment for row in stored.values()):
                        raise InvalidParameterValueError(
                            "A trace of this batch belongs to another experiment "
                            f"than {experiment}."
                        )
            _update_records(conn, batch, stored)
            tags = [(t, SPANS_LOCATION_TAG, SPANS_IN_TRACKING_STORE) for t in batch.trace_ids]
            for trace_id in batch.roots:
                tags.extend((trace_id, k, v) for k, v in batch.root_tags(trace_id).items())
            dialects.insert_ignore(
                conn, trace_tags, [dict(trace_id=t, key=k, value=v) for t, k, v in tags]
            )
            dialects.upsert(conn, trace_spans, batch.span_rows, ("trace_id", "span_id"))

        self._retrying(work)

    def delete_traces(
        self,
        experiment_id: str,
        *,
        max_timestamp_millis: int | None = None,
        max_traces: int | None = None,
        trace_ids: Sequence[str] | None = None,
    ) -> int:
        experiment = int(check.experiment_id(experiment_id))
        if (max_timestamp_millis is None) == (trace_ids is None):
            raise InvalidParameterValueError(
                "Either max_timestamp_millis or trace_ids must be given, and not both."
            )
        if max_traces is not None:
            max_traces = check.integer("max_traces", max_traces, minimum=1)
            if trace_ids is not None:
                raise InvalidParameterValueError("max_traces goes with max_timestamp_millis only.")
        if max_timestamp_millis is not None:
            max_timestamp_millis = check.integer("max_timestamp_millis", max_timestamp_millis)

        def work(conn: Connection) -> int:
            if trace_ids is not None:
                ids = list(_experiment_of(conn, _lookup_ids(trace_ids), [experiment]).keys())
            else:
                query = (
                    select(trace_info.c.trace_id)
                    .where(
                        trace_info.c.experiment_id == experiment,
                        trace_info.c.request_time <= max_timestamp_millis,
                    )
                    .order_by(trace_info.c.request_time, trace_info.c.trace_id)
                )
                if max_traces is not None:
                    query = query.limit(max_traces)
                ids = list(conn.execute(query).scalars())
            for chunk in _chunks(ids):
                for table in (trace_assessments, trace_spans, trace_metadata, trace_tags):
                    conn.execute(delete(table).where(table.c.trace_id.in_(chunk)))
                conn.execute(delete(trace_info).where(trace_info.c.trace_id.in_(chunk)))
            return len(ids)

        return self._retrying(work)

    # -- reading ---------------------------------------------------------------------------

    def get_trace_info(self, trace_id: str) -> TraceInfo:
        found = self.get_trace_infos([trace_id])
        if not found:
            raise ResourceDoesNotExistError(f"Trace with ID {trace_id!r} not found.")
        return found[0]

    def get_trace_infos(
        self, trace_ids: Sequence[str], experiment_ids: Sequence[str] | None = None
    ) -> list[TraceInfo]:
        with self._read() as conn:
            return _load_infos(conn, _wanted(conn, trace_ids, experiment_ids))

    def get_traces(
        self, trace_ids: Sequence[str], experiment_ids: Sequence[str] | None = None
    ) -> list[Trace]:
        with self._read() as conn:
            infos = _load_infos(conn, _wanted(conn, trace_ids, experiment_ids))
            spans = _load_spans(conn, [info.trace_id for info in infos])
        return [Trace(info, tuple(spans.get(info.trace_id, ()))) for info in infos]

    def search_traces(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[TraceInfo]:
        limit = tokens.max_results(max_results, SEARCH_TRACES_MAX_RESULTS)
        offset = tokens.decode(page_token)
        numbers = _experiment_numbers(experiment_ids)
        clauses, order = trace_search.parse(filter_string, order_by)
        if not numbers:
            return PagedList([], None)
        query = trace_search.trace_search(numbers, clauses, order)
        with self._search_read() as conn:
            ids = list(conn.execute(query.limit(limit + 1).offset(offset)).scalars())
            infos = _load_infos(conn, ids[:limit])
        return PagedList(infos, tokens.next_token(offset, limit, len(ids)))

    def trace_experiment_ids(self, trace_ids: Sequence[str]) -> dict[str, str]:
        ids = _lookup_ids(trace_ids)
        with self._read() as conn:
            return {t: str(e) for t, e in _experiment_of(conn, ids, None).items()}

    # -- tags and runs -----------------------------------------------------------------------

    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        key, value = _tag(key, value)
        row = dict(trace_id=trace_id, key=key, value=value)

        def work(conn: Connection) -> None:
            _require_traces(conn, [trace_id])
            dialects.upsert(conn, trace_tags, [row], ("trace_id", "key"))

        self._retrying(work)

    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        def work(conn: Connection) -> None:
            _require_traces(conn, [trace_id])
            deleted = conn.execute(
                delete(trace_tags).where(trace_tags.c.trace_id == trace_id, trace_tags.c.key == key)
            ).rowcount
            if not deleted:
                raise ResourceDoesNotExistError(f"No tag {key!r} on trace {trace_id}.")

        self._retrying(work)

    def link_traces_to_run(self, trace_ids: Sequence[str], run_id: str) -> None:
        if len(trace_ids) > MAX_TRACE_LINKS_PER_REQUEST:
            raise InvalidParameterValueError(
                f"Cannot link more than {MAX_TRACE_LINKS_PER_REQUEST} traces to a run in a "
                f"single request; got {len(trace_ids)}."
            )
        ids = list(dict.fromkeys(trace_ids))
        if not ids:
            return
        check.run_id(run_id)

        def work(conn: Connection) -> None:
            if (
                conn.execute(select(runs.c.run_uuid).where(runs.c.run_uuid == run_id)).first()
                is None
            ):
                raise ResourceDoesNotExistError(f"Run '{run_id}' not found.")
            _require_traces(conn, ids)
            rows = [dict(trace_id=t, key=SOURCE_RUN_METADATA, value=run_id) for t in ids]
            dialects.upsert(conn, trace_metadata, rows, ("trace_id", "key"))

        self._retrying(work)


# -- helpers shared by the methods above ------------------------------------------------------


def _experiment_numbers(experiment_ids: Sequence[str]) -> list[int]:
    return [int(check.experiment_id(e)) for e in dict.fromkeys(experiment_ids)]


def _active_experiment(conn: Connection, experiment_id: int) -> None:
    found = _EXPERIMENT_STAGE.first(conn, {"e": experiment_id})
    stage = None if found is None else found[0]
    if stage is None:
        raise ResourceDoesNotExistError(f"No experiment with id={experiment_id}.")
    if stage != LifecycleStage.ACTIVE:
        raise InvalidParameterValueError(
            f"The experiment {experiment_id} must be in the 'active' state; it is {stage!r}."
        )


def _wanted(
    conn: Connection, trace_ids: Sequence[str], experiment_ids: Sequence[str] | None
) -> list[str]:
    """The ids asked for, kept only where they lie in `experiment_ids` (when given)."""
    ids = _lookup_ids(trace_ids)
    if ids and experiment_ids is not None:
        ids = list(_experiment_of(conn, ids, _experiment_numbers(experiment_ids)))
    return ids


def _experiment_of(
    conn: Connection, ids: Sequence[str], experiment_ids: Sequence[int] | None
) -> dict[str, int]:
    """trace id → experiment id of the existing ones among `ids`, in the order of `ids`."""
    found: dict[str, int] = {}
    for chunk in _chunks(ids):
        query = select(trace_info.c.trace_id, trace_info.c.experiment_id).where(
            trace_info.c.trace_id.in_(chunk)
        )
        if experiment_ids is not None:
            query = query.where(trace_info.c.experiment_id.in_(experiment_ids))
        found.update({t: int(e) for t, e in conn.execute(query)})
    return {t: found[t] for t in ids if t in found}


def _require_traces(conn: Connection, trace_ids: Sequence[str]) -> None:
    found = _experiment_of(conn, _lookup_ids(trace_ids), None)
    for trace_id in trace_ids:
        if trace_id not in found:
            raise ResourceDoesNotExistError(f"Trace with ID {trace_id!r} not found.")


def _owner(conn: Connection, trace_id: str) -> int | None:
    found = _OWNER.first(conn, {"t": trace_id})
    return None if found is None else int(found[0])


def _records(conn: Connection, ids: Sequence[str]) -> dict[str, _Record]:
    return {row[0]: _Record(*row) for row in _RECORDS.rows(conn, ids)}


def _new_record(batch: _SpanBatch, experiment: int, trace_id: str) -> dict[str, Any]:
    root = batch.roots.get(trace_id)
    request_preview, response_preview = batch.previews(trace_id)
    return {
        "trace_id": trace_id,
        "experiment_id": experiment,
        "request_time": batch.first_start_ms[trace_id],
        "execution_duration": batch.duration_ms(trace_id),
        "state": TraceState.IN_PROGRESS.value if root is None else _root_status(root.status),
        "request_preview": request_preview,
        "response_preview": response_preview,
        "client_request_id": None,
    }


_UPDATE_RECORD = Prepared(
    update(trace_info)
    .where(trace_info.c.trace_id == bindparam("t"))
    .values(
        request_time=bindparam("request_time"),
        execution_duration=bindparam("execution_duration"),
        state=bindparam("state"),
        request_preview=bindparam("request_preview"),
        response_preview=bindparam("response_preview"),
    )
)


def _update_records(conn: Connection, batch: _SpanBatch, stored: Mapping[str, _Record]) -> None:
    """Complete records that spans arrived for: until start_trace finalised a trace (its
    state is no longer open), its start is the earliest span's and its end the root's."""
    changes = []
    for trace_id, row in stored.items():
        if row.state not in _OPEN_STATES:
            continue
        root = batch.roots.get(trace_id)
        request_time = min(row.request_time, batch.first_start_ms[trace_id])
        state, duration = row.state, row.execution_duration
        request_preview, response_preview = row.request_preview, row.response_preview
        if root is not None:
            state = _root_status(root.status)
            duration = batch.duration_ms(trace_id)
            inputs, outputs = batch.previews(trace_id)
            request_preview = request_preview if request_preview is not None else inputs
            response_preview = response_preview if response_preview is not None else outputs
        new = (request_time, duration, state, request_preview, response_preview)
        old = (row.request_time, row.execution_duration, row.state)
        if new[:3] != old or root is not None:
            changes.append(
                dict(
                    t=trace_id,
                    request_time=request_time,
                    execution_duration=duration,
                    state=state,
                    request_preview=request_preview,
                    response_preview=response_preview,
                )
            )
    if changes:
        _UPDATE_RECORD.executemany(conn, changes)


def _mark_spans_here(conn: Connection, trace_ids: Sequence[str]) -> None:
    rows = [
        dict(trace_id=t, key=SPANS_LOCATION_TAG, value=SPANS_IN_TRACKING_STORE) for t in trace_ids
    ]
    dialects.upsert(conn, trace_tags, rows, ("trace_id", "key"))


def _key_values(conn: Connection, rows: RowsById, ids: Sequence[str]) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = defaultdict(dict)
    for trace_id, key, value in rows.rows(conn, ids):
        found[trace_id][key] = value
    return found


def _load_infos(conn: Connection, ids: Sequence[str]) -> list[TraceInfo]:
    """The records of `ids` that exist, in that order, with tags, metadata, assessments."""
    if not ids:
        return []
    records = _records(conn, ids)
    present = [t for t in ids if t in records]
    if not present:
        return []
    tags = _key_values(conn, _TAGS, present)
    metadata = _key_values(conn, _METADATA, present)
    assessments = load_assessments(conn, present)
    infos = []
    for trace_id in present:
        row = records[trace_id]
        infos.append(
            TraceInfo(
                trace_id=trace_id,
                experiment_id=str(row.experiment_id),
                request_time_ms=int(row.request_time),
                execution_duration_ms=(
                    None if row.execution_duration is None else int(row.execution_duration)
                ),
                state=TraceState(row.state),
                request_preview=row.request_preview,
                response_preview=row.response_preview,
                client_request_id=row.client_request_id,
                trace_metadata=metadata.get(trace_id, {}),
                tags=tags.get(trace_id, {}),
                assessments=tuple(assessments.get(trace_id, ())),
            )
        )
    return infos


def _load_spans(conn: Connection, ids: Sequence[str]) -> dict[str, list[Span]]:
    found: dict[str, list[Span]] = defaultdict(list)
    s = trace_spans.c
    for chunk in _chunks(ids):
        query = (
            select(trace_spans)
            .where(s.trace_id.in_(chunk))
            .order_by(s.trace_id, s.start_time_ns, func.coalesce(s.end_time_ns, 0), s.span_id)
        )
        for row in conn.execute(query):
            found[row.trace_id].append(
                Span(
                    trace_id=row.trace_id,
                    span_id=row.span_id,
                    parent_span_id=row.parent_span_id,
                    name=row.name or "",
                    span_type=row.span_type,
                    status=TraceState(row.status),
                    start_time_ns=int(row.start_time_ns),
                    end_time_ns=None if row.end_time_ns is None else int(row.end_time_ns),
                    content=json.loads(row.content),
                )
            )
    return found
