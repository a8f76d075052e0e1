"""SqlTraceStore on SQLite, PostgreSQL and MariaDB: what the mlflow client's tracer writes
(spans by OTLP, then StartTraceV3) and what search, tags, links and assessments read."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cairn.entities.trace import (
    SOURCE_RUN_METADATA,
    SPANS_IN_TRACKING_STORE,
    SPANS_LOCATION_TAG,
    Assessment,
    Span,
    TraceInfo,
    TraceState,
)
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError
from cairn.store.sql import engine, migrate
from cairn.store.sql.schema import (
    trace_assessments,
    trace_info,
    trace_metadata,
    trace_spans,
    trace_tags,
)
from cairn.store.sql.traces import SqlTraceStore
from cairn.store.sql.tracking import SqlTrackingStore
from cairn.store.traces import MAX_SPAN_CONTENT_BYTES

MS = 1_000_000  # ns per ms


@dataclass
class Stores:
    tracking: SqlTrackingStore
    traces: SqlTraceStore
    experiment: str


@pytest.fixture
def stores(store: SqlTrackingStore) -> Stores:
    """The trace store beside the `store` fixture's (once per database)."""
    return Stores(store, store.traces, store.create_experiment("traced"))


def new_trace_id() -> str:
    return f"tr-{uuid.uuid4().hex}"


def span(
    trace_id: str,
    span_id: str,
    parent: str | None = None,
    *,
    name: str = "step",
    start_ms: int = 1000,
    end_ms: int | None = 1010,
    status: TraceState = TraceState.OK,
    span_type: str = "UNKNOWN",
    attributes: dict[str, str] | None = None,
) -> Span:
    content = {
        "trace_id": trace_id,
        "span_id": span_id,
        "name": name,
        "attributes": [
            {"key": k, "value": {"string_value": v}} for k, v in (attributes or {}).items()
        ],
    }
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        span_type=span_type,
        status=status,
        start_time_ns=start_ms * MS,
        end_time_ns=None if end_ms is None else end_ms * MS,
        content=content,
    )


def finished_trace(
    s: Stores, *, start_ms: int = 1000, duration_ms: int = 10, name: str = "root", **root: Any
) -> str:
    """A trace as the tracer sends it: a child, then the root span."""
    trace_id = new_trace_id()
    end = start_ms + duration_ms
    s.traces.log_spans(
        s.experiment,
        [
            span(trace_id, "c1", "r1", name="child", start_ms=start_ms + 1, end_ms=end - 1),
            span(trace_id, "r1", None, name=name, start_ms=start_ms, end_ms=end, **root),
        ],
    )
    return trace_id


def count(s: Stores, table: sa.Table, trace_id: str) -> int:
    with s.traces.engine.connect() as conn:
        query = sa.select(sa.func.count()).where(table.c.trace_id == trace_id)
        return int(conn.execute(query).scalar() or 0)


# -- log_spans ---------------------------------------------------------------------------------


def test_spans_before_the_root_make_an_open_trace_the_root_completes(stores: Stores) -> None:
    s, trace_id = stores, new_trace_id()
    s.traces.log_spans(s.experiment, [span(trace_id, "c1", "r1", start_ms=1005, end_ms=1008)])
    info = s.traces.get_trace_info(trace_id)
    assert info.state == TraceState.IN_PROGRESS
    assert info.request_time_ms == 1005
    assert info.experiment_id == s.experiment
    assert info.tags[SPANS_LOCATION_TAG] == SPANS_IN_TRACKING_STORE

    root = span(
        trace_id,
        "r1",
        None,
        name="predict",
        start_ms=1000,
        end_ms=1050,
        status=TraceState.ERROR,
        attributes={
            "mlflow.spanInputs": '{"x": 1}',
            "mlflow.spanOutputs": "x" * 20_000,
            "mlflow.traceTag.team": '"search"',
        },
    )
    s.traces.log_spans(s.experiment, [root])
    info = s.traces.get_trace_info(trace_id)
    assert info.state == TraceState.ERROR
    assert (info.request_time_ms, info.execution_duration_ms) == (1000, 50)
    assert info.tags["mlflow.traceName"] == "predict"
    assert info.tags["team"] == "search"
    assert info.request_preview == '{"x": 1}'
    assert info.response_preview == "x" * 10_000


def test_a_span_sent_again_replaces_the_stored_one(stores: Stores) -> None:
    s, trace_id = stores, new_trace_id()
    s.traces.log_spans(
        s.experiment,
        [span(trace_id, "a", name="first"), span(trace_id, "a", name="second in batch")],
    )
    s.traces.log_spans(s.experiment, [span(trace_id, "a", name="third", end_ms=None)])
    (trace,) = s.traces.get_traces([trace_id])
    assert [(x.name, x.end_time_ns) for x in trace.spans] == [("third", None)]
    assert trace.spans[0].content["name"] == "third"


def test_one_call_may_carry_several_traces(stores: Stores) -> None:
    s = stores
    ids = [new_trace_id() for _ in range(30)]
    spans = [span(t, f"{i:016x}", None if i == 0 else "0" * 16) for t in ids for i in range(5)]
    s.traces.log_spans(s.experiment, spans)
    traces = s.traces.get_traces(ids)
    assert [t.info.trace_id for t in traces] == ids
    assert all(len(t.spans) == 5 and t.info.state == TraceState.OK for t in traces)


def test_spans_of_another_experiments_trace_are_refused_whole(stores: Stores) -> None:
    s = stores
    trace_id = finished_trace(s)
    other = s.tracking.create_experiment("other")
    fresh = new_trace_id()
    with pytest.raises(InvalidParameterValueError, match=s.experiment):
        s.traces.log_spans(other, [span(fresh, "x"), span(trace_id, "y")])
    assert s.traces.get_traces([fresh]) == []
    assert count(s, trace_spans, trace_id) == 2


def test_spans_need_an_active_experiment(stores: Stores) -> None:
    s = stores
    with pytest.raises(ResourceDoesNotExistError):
        s.traces.log_spans("987654", [span(new_trace_id(), "a")])
    s.tracking.delete_experiment(s.experiment)
    with pytest.raises(InvalidParameterValueError, match="active"):
        s.traces.log_spans(s.experiment, [span(new_trace_id(), "a")])


def test_a_span_over_the_size_limit_is_refused_naming_it(stores: Stores) -> None:
    s, trace_id = stores, new_trace_id()
    big = dataclasses.replace(span(trace_id, "a"), content={"blob": "x" * MAX_SPAN_CONTENT_BYTES})
    with pytest.raises(InvalidParameterValueError, match=str(MAX_SPAN_CONTENT_BYTES)):
        s.traces.log_spans(s.experiment, [big])
    assert s.traces.get_traces([trace_id]) == []


def test_a_large_span_round_trips(stores: Stores) -> None:
    s, trace_id = stores, new_trace_id()
    text = "ü" * 300_000  # 600 kB of UTF-8: past TEXT's 64 kB on MySQL
    s.traces.log_spans(s.experiment, [span(trace_id, "a", attributes={"big": text})])
    (trace,) = s.traces.get_traces([trace_id])
    assert trace.spans[0].content["attributes"][0]["value"]["string_value"] == text


# -- start_trace ---------------------------------------------------------------------------------


def test_start_trace_completes_what_spans_made(stores: Stores) -> None:
    s = stores
    trace_id = finished_trace(s, start_ms=1000, duration_ms=10, name="from-spans")
    stored = s.traces.start_trace(
        TraceInfo(
            trace_id=trace_id,
            experiment_id=s.experiment,
            request_time_ms=999,
            execution_duration_ms=12,
            state=TraceState.OK,
            request_preview="in",
            response_preview="out",
            client_request_id="req-1",
            trace_metadata={"mlflow.user": "ann", "mlflow.traceInputs": "{}"},
            tags={"mlflow.traceName": "from-client", "k": "v"},
        )
    )
    assert (stored.request_time_ms, stored.execution_duration_ms) == (999, 12)
    assert (stored.request_preview, stored.response_preview) == ("in", "out")
    assert stored.client_request_id == "req-1"
    assert stored.tags["mlflow.traceName"] == "from-client"
    assert stored.tags["k"] == "v"
    assert stored.tags[SPANS_LOCATION_TAG] == SPANS_IN_TRACKING_STORE
    assert stored.trace_metadata == {"mlflow.user": "ann", "mlflow.traceInputs": "{}"}
    assert s.traces.get_trace_info(trace_id) == stored


def test_start_trace_first_then_spans(stores: Stores) -> None:
    s, trace_id = stores, new_trace_id()
    info = TraceInfo(trace_id, s.experiment, 500, 20, TraceState.OK, tags={"a": "1"})
    stored = s.traces.start_trace(info)
    assert SPANS_LOCATION_TAG not in stored.tags
    s.traces.log_spans(s.experiment, [span(trace_id, "r", start_ms=400, end_ms=900)])
    after = s.traces.get_trace_info(trace_id)
    # The client's record is final: spans after it add only their location.
    assert (after.request_time_ms, after.execution_duration_ms) == (500, 20)
    assert after.tags[SPANS_LOCATION_TAG] == SPANS_IN_TRACKING_STORE
    assert after.tags["a"] == "1"


def test_start_trace_checks_its_experiment(stores: Stores) -> None:
    s = stores
    with pytest.raises(ResourceDoesNotExistError):
        s.traces.start_trace(TraceInfo(new_trace_id(), "424242", 1))
    trace_id = finished_trace(s)
    other = s.tracking.create_experiment("elsewhere")
    with pytest.raises(InvalidParameterValueError):
        s.traces.start_trace(TraceInfo(trace_id, other, 1))
    with pytest.raises(InvalidParameterValueError, match="8000"):
        s.traces.start_trace(TraceInfo(new_trace_id(), s.experiment, 1, tags={"k": "v" * 8001}))


# -- reading -------------------------------------------------------------------------------------


def test_get_traces_orders_spans_by_start_and_skips_missing_ids(stores: Stores) -> None:
    s, trace_id = stores, new_trace_id()
    s.traces.log_spans(
        s.experiment,
        [
            span(trace_id, "c", "r", start_ms=30),
            span(trace_id, "r", None, start_ms=10),
            span(trace_id, "b", "r", start_ms=20),
        ],
    )
    traces = s.traces.get_traces(["tr-missing", trace_id, "x" * 300])
    assert [[x.span_id for x in t.spans] for t in traces] == [["r", "b", "c"]]
    assert s.traces.get_traces([trace_id], experiment_ids=["0"]) == []
    assert [i.trace_id for i in s.traces.get_trace_infos([trace_id], [s.experiment])] == [trace_id]
    assert s.traces.trace_experiment_ids([trace_id, "tr-none"]) == {trace_id: s.experiment}
    with pytest.raises(ResourceDoesNotExistError):
        s.traces.get_trace_info("tr-missing")


# -- search ----------------------------------------------------------------------------------------


def test_search_pages_newest_first_with_a_stable_tie_break(stores: Stores) -> None:
    s = stores
    ids = [finished_trace(s, start_ms=1000 + i // 2) for i in range(7)]
    seen: list[str] = []
    token = None
    while True:
        page = s.traces.search_traces([s.experiment], max_results=3, page_token=token)
        seen.extend(i.trace_id for i in page)
        token = page.token
        if token is None:
            break
    expected = sorted(ids, key=lambda t: (1000 + ids.index(t) // 2, t), reverse=True)
    assert seen == expected
    oldest = s.traces.search_traces([s.experiment], order_by=["timestamp_ms ASC"])
    assert [i.trace_id for i in oldest] == expected[::-1]


def test_search_orders_by_duration_status_and_name(stores: Stores) -> None:
    s = stores
    slow = finished_trace(s, duration_ms=50, name="b")
    fast = finished_trace(s, duration_ms=5, name="c", status=TraceState.ERROR)
    mid = finished_trace(s, duration_ms=20, name="a")

    def order(*clauses: str) -> list[str]:
        return [i.trace_id for i in s.traces.search_traces([s.experiment], order_by=clauses)]

    assert order("execution_time_ms DESC") == [slow, mid, fast]
    assert order("trace.name") == [mid, slow, fast]
    assert order("status", "execution_time_ms") == [fast, mid, slow]


def test_search_filters(stores: Stores) -> None:
    s = stores
    run = s.tracking.create_run(s.experiment, "u", 0, [], "r")
    a = finished_trace(s, start_ms=1000, duration_ms=10, name="chat", span_type="LLM")
    b = finished_trace(s, start_ms=2000, duration_ms=90, name="Chat bot", status=TraceState.ERROR)
    c = finished_trace(s, start_ms=3000, duration_ms=30, name="retrieve")
    s.traces.set_trace_tag(a, "env", "prod")
    s.traces.set_trace_tag(b, "env", "dev")
    s.traces.set_trace_tag(c, "odd key", "x")
    s.traces.start_trace(
        TraceInfo(c, s.experiment, 3000, 30, TraceState.OK, trace_metadata={"user": "ann"})
    )
    s.traces.link_traces_to_run([a, b], run.info.run_id)

    def found(filter_string: str) -> set[str]:
        page = s.traces.search_traces([s.experiment], filter_string=filter_string)
        return {i.trace_id for i in page}

    assert found("trace.status = 'ERROR'") == {b}
    assert found("status IN ('OK', 'ERROR')") == {a, b, c}
    assert found("status != 'ERROR'") == {a, c}
    assert found("trace.timestamp_ms >= 2000") == {b, c}
    assert found("timestamp < 2000") == {a}
    assert found("execution_time_ms > 20 AND execution_time_ms <= 90") == {b, c}
    assert found("trace.name = 'chat'") == {a}
    assert found("name ILIKE 'chat%'") == {a, b}
    assert found("name LIKE 'chat%'") == {a}
    assert found("tags.env = 'prod'") == {a}
    assert found("tag.env != 'prod'") == {b}
    assert found("tags.`odd key` = 'x'") == {c}
    assert found("tags.env IS NULL") == {c}
    assert found("metadata.user = 'ann'") == {c}
    assert found("request_metadata.user IS NOT NULL") == {c}
    assert found(f"run_id = '{run.info.run_id}'") == {a, b}
    assert found("span.name = 'child'") == {a, b, c}
    assert found("span.type = 'LLM'") == {a}
    assert found("span.status = 'ERROR'") == {b}
    assert found("span.status IN ('STATUS_CODE_ERROR', 'UNSET')") == {b}
    assert found("span.name LIKE 'retr%' AND trace.status = 'OK'") == {c}
    assert found(f"trace.trace_id IN ('{a}', '{c}')") == {a, c}


@pytest.mark.parametrize(
    "bad",
    [
        "nope.x = 'a'",
        "status = 'OK' OR status = 'ERROR'",
        "timestamp_ms = 'yesterday'",
        "tags.x IN ('a')",
        "span.content = 'x'",
        "status ~ 'OK'",
        "feedback.score > 'high'",
    ],
)
def test_bad_filters_are_invalid_parameters(sqlite_store: SqlTrackingStore, bad: str) -> None:
    with pytest.raises(InvalidParameterValueError):
        sqlite_store.traces.search_traces(["0"], filter_string=bad)


def test_search_limits(sqlite_store: SqlTrackingStore) -> None:
    traces = sqlite_store.traces
    assert traces.search_traces(["0"], max_results=500) == []
    for bad in (0, 501):
        with pytest.raises(InvalidParameterValueError):
            traces.search_traces(["0"], max_results=bad)
    with pytest.raises(InvalidParameterValueError):
        traces.search_traces(["0"], order_by=["run_id"])
    with pytest.raises(InvalidParameterValueError):
        traces.search_traces(["0"], page_token="not a token")


# -- delete, tags, links -------------------------------------------------------------------------


def test_delete_traces_by_id_and_oldest_first(stores: Stores) -> None:
    s = stores
    ids = [finished_trace(s, start_ms=1000 + i) for i in range(5)]
    s.traces.set_trace_tag(ids[0], "k", "v")
    s.traces.create_assessment(Assessment("", ids[0], "good", 0, 0, {"feedback": {"value": True}}))
    other = s.tracking.create_experiment("keep")
    keep = new_trace_id()
    s.traces.log_spans(other, [span(keep, "a", start_ms=1)])

    assert s.traces.delete_traces(s.experiment, trace_ids=[ids[4], keep, "tr-none"]) == 1
    assert s.traces.delete_traces(s.experiment, max_timestamp_millis=1003, max_traces=2) == 2
    left = s.traces.search_traces([s.experiment, other])
    assert {i.trace_id for i in left} == {ids[2], ids[3], keep}
    for table in (trace_info, trace_tags, trace_spans, trace_metadata, trace_assessments):
        assert count(s, table, ids[0]) == 0, table.name
    assert s.traces.delete_traces(s.experiment, max_timestamp_millis=10**13) == 2
    with pytest.raises(InvalidParameterValueError):
        s.traces.delete_traces(s.experiment)
    with pytest.raises(InvalidParameterValueError):
        s.traces.delete_traces(s.experiment, max_timestamp_millis=1, trace_ids=[keep])


def test_trace_tags(stores: Stores) -> None:
    s = stores
    trace_id = finished_trace(s)
    s.traces.set_trace_tag(trace_id, "k", "v1")
    s.traces.set_trace_tag(trace_id, "k", "v2")
    assert s.traces.get_trace_info(trace_id).tags["k"] == "v2"
    s.traces.delete_trace_tag(trace_id, "k")
    assert "k" not in s.traces.get_trace_info(trace_id).tags
    with pytest.raises(ResourceDoesNotExistError):
        s.traces.delete_trace_tag(trace_id, "k")
    with pytest.raises(ResourceDoesNotExistError):
        s.traces.set_trace_tag("tr-none", "k", "v")
    with pytest.raises(InvalidParameterValueError, match="250"):
        s.traces.set_trace_tag(trace_id, "k" * 251, "v")
    with pytest.raises(InvalidParameterValueError, match="8000"):
        s.traces.set_trace_tag(trace_id, "k", "v" * 8001)
    s.traces.set_trace_tag(trace_id, "k" * 250, "v" * 8000)
    assert s.traces.get_trace_info(trace_id).tags["k" * 250] == "v" * 8000


def test_link_traces_to_run(stores: Stores) -> None:
    s = stores
    run = s.tracking.create_run(s.experiment, "u", 0, [], "r")
    trace_id = finished_trace(s)
    s.traces.link_traces_to_run([trace_id], run.info.run_id)
    metadata = s.traces.get_trace_info(trace_id).trace_metadata
    assert metadata[SOURCE_RUN_METADATA] == run.info.run_id
    with pytest.raises(ResourceDoesNotExistError):
        s.traces.link_traces_to_run([trace_id], uuid.uuid4().hex)
    with pytest.raises(ResourceDoesNotExistError):
        s.traces.link_traces_to_run(["tr-none"], run.info.run_id)
    with pytest.raises(InvalidParameterValueError, match="100"):
        s.traces.link_traces_to_run([new_trace_id() for _ in range(101)], run.info.run_id)


# -- assessments -----------------------------------------------------------------------------------


def test_assessment_lifecycle_and_filters(stores: Stores) -> None:
    s = stores
    good, bad = finished_trace(s), finished_trace(s)
    source = {"source_type": "HUMAN", "source_id": "ann"}

    def feedback(trace_id: str, name: str, value: Any, **more: Any) -> Assessment:
        body = {"source": source, "feedback": {"value": value}, **more}
        return s.traces.create_assessment(Assessment("", trace_id, name, 0, 0, body))

    first = feedback(good, "correct", True, rationale="fine")
    assert first.assessment_id.startswith("a-") and len(first.assessment_id) == 34
    assert first.create_time_ms == first.last_update_time_ms > 0
    assert s.traces.get_assessment(good, first.assessment_id) == first
    feedback(good, "score", 4.5)
    feedback(bad, "score", 2)
    feedback(bad, "tone", "rude")
    s.traces.create_assessment(
        Assessment("", bad, "answer", 0, 0, {"expectation": {"value": "42"}})
    )

    def found(filter_string: str) -> set[str]:
        return {i.trace_id for i in s.traces.search_traces([s.experiment], filter_string)}

    assert found("feedback.correct = 'true'") == {good}
    assert found("feedback.score > 3") == {good}
    assert found("feedback.score = 2") == {bad}
    assert found("feedback.score > '3'") == {good}
    assert found("name != 'feedback.score > 3' AND feedback.score >= 4.5") == {good}
    assert found("feedback.score <= '2'") == {bad}
    assert found("feedback.tone = 'rude'") == {bad}
    assert found("feedback.tone LIKE '%ru%'") == {bad}
    assert found("feedback.correct IS NULL") == {bad}
    assert found("expectation.answer = '42'") == {bad}
    assert found("feedback.answer IS NOT NULL") == set()

    updated = s.traces.update_assessment(
        good, first.assessment_id, {"feedback": {"value": False}, "assessment_id": "ignored"}
    )
    assert updated.assessment_id == first.assessment_id
    assert updated.body["feedback"] == {"value": False}
    assert updated.body["rationale"] == "fine"
    assert found("feedback.correct = 'false'") == {good}
    with pytest.raises(InvalidParameterValueError):
        s.traces.update_assessment(good, first.assessment_id, {"expectation": {"value": 1}})

    # An override hides the earlier assessment from filters until the override goes.
    override = feedback(good, "correct", True, overrides=first.assessment_id)
    assert found("feedback.correct = 'false'") == set()
    assert s.traces.get_assessment(good, first.assessment_id).body["valid"] is False
    s.traces.delete_assessment(good, override.assessment_id)
    assert found("feedback.correct = 'false'") == {good}

    info = s.traces.get_trace_info(good)
    assert [a.name for a in info.assessments] == ["correct", "score"]
    with pytest.raises(ResourceDoesNotExistError):
        s.traces.get_assessment(bad, first.assessment_id)
    with pytest.raises(ResourceDoesNotExistError):
        s.traces.delete_assessment(good, override.assessment_id)
    with pytest.raises(ResourceDoesNotExistError):
        s.traces.create_assessment(Assessment("", "tr-none", "x", 0, 0, {"feedback": {}}))
    with pytest.raises(InvalidParameterValueError):
        s.traces.create_assessment(Assessment("", good, "x", 0, 0, {"neither": 1}))


# -- schema and speed ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mysql"])
def test_migration_0007_goes_up_and_down(
    backend: str, tmp_path: Path, new_server_database: Callable[[str, str], str]
) -> None:
    if backend == "sqlite":
        uri = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        uri = new_server_database(backend, f"{backend}-0007-{uuid.uuid4().hex[:6]}")
    db = engine.create(uri)
    try:
        migrate.upgrade(db, "0006")
        assert "trace_info" not in sa.inspect(db).get_table_names()
        migrate.upgrade(db, "0007")
        assert migrate.current_revision(db) == "0007"
        names = set(sa.inspect(db).get_table_names())
        assert {"trace_info", "trace_tags", "trace_metadata", "trace_spans"} <= names
        _downgrade(db, "0006")
        assert "trace_info" not in sa.inspect(db).get_table_names()
    finally:
        db.dispose()


def _downgrade(db: sa.Engine, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(migrate.__file__).parent / "migrations"))
    with db.connect().execution_options(cairn_write=True) as conn, conn.begin():
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


@pytest.fixture
def ten_thousand(sqlite_store: SqlTrackingStore) -> Iterator[SqlTraceStore]:
    """10,000 traces with two tags each, written straight into the tables. (The search's
    speed among 100,000 is benchmarks/traces.py's: no timings in tests.)"""
    experiment = int(sqlite_store.create_experiment("big"))
    ids = [f"tr-{i:032x}" for i in range(10_000)]
    with sqlite_store.engine.begin() as conn:
        conn.execute(
            sa.insert(trace_info),
            [
                dict(trace_id=t, experiment_id=experiment, request_time=i, state="OK")
                for i, t in enumerate(ids)
            ],
        )
        conn.execute(
            sa.insert(trace_tags),
            [dict(trace_id=t, key=k, value="v") for t in ids for k in ("a", "mlflow.traceName")],
        )
    yield sqlite_store.traces


def test_a_page_of_100_among_many_traces_is_the_newest_with_their_tags(
    ten_thousand: SqlTraceStore,
) -> None:
    experiment = next(iter(ten_thousand.trace_experiment_ids(["tr-" + "0" * 32]).values()))
    page = ten_thousand.search_traces([experiment], max_results=100)
    assert [t.trace_id for t in page] == [f"tr-{i:032x}" for i in range(9_999, 9_899, -1)]
    assert all(t.tags == {"a": "v", "mlflow.traceName": "v"} for t in page)
    assert page.token is not None
