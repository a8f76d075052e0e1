"""MLflow 3 tracing against a live `cairn server` (SQLite and PostgreSQL), with the real
mlflow client: its tracer exports each span over OTLP (`/v1/traces`) and the trace's record
through StartTraceV3, then reads everything back through the trace API.

The tracer exports synchronously here (MLFLOW_ENABLE_ASYNC_TRACE_LOGGING=false), so a trace
is on the server when the traced call returns; one test runs the asynchronous exporter and
flushes its queue. The tracer provider is reset around each test, since it remembers the
tracking URI it was set up with.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from conftest import TrackingServer

TIMEOUT = 30
# mlflow 3.17.2 warns about its own type hints when the tracer first starts a span
# (filterwarnings=error would turn that into a silently disabled tracer).
pytestmark = pytest.mark.filterwarnings("ignore:.*Any type hint is inferred:UserWarning")


@pytest.fixture
def tracing(mlflow: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """mlflow, exporting traces synchronously to the live server, in a fresh experiment."""
    from mlflow.tracing.provider import reset

    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")
    # set_experiment sets a module global too; monkeypatch puts the old value back after.
    monkeypatch.setattr("mlflow.tracking.fluent._active_experiment_id", None)
    reset()
    mlflow.set_experiment(f"tracing-{uuid.uuid4().hex[:12]}")
    yield mlflow
    reset()


class Rest:
    """Raw calls to the server's trace API, for what the client never sends."""

    def __init__(self, url: str) -> None:
        self.url = url

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> requests.Response:
        return requests.request(
            method,
            f"{self.url}/api/3.0/mlflow{path}" if path.startswith("/") else f"{self.url}/{path}",
            json=body,
            params=params or None,
            timeout=TIMEOUT,
        )

    def error(self, method: str, path: str, body: Any = None, **params: Any) -> tuple[int, str]:
        response = self.call(method, path, body, **params)
        return response.status_code, response.json()["error_code"]


@pytest.fixture
def rest(tracking_server: TrackingServer) -> Rest:
    return Rest(tracking_server.url)


def _experiment_id(mlflow: Any) -> str:
    from mlflow.tracking.fluent import _get_experiment_id

    experiment_id: str = _get_experiment_id()
    return experiment_id


# -- what the tracer sends, read back ---------------------------------------------------------


def test_decorated_and_manual_spans_come_back_as_created(tracing: Any) -> None:
    mlflow = tracing
    seen: dict[str, Any] = {}

    @mlflow.trace(span_type="LLM", attributes={"model": "tiny", "temperature": 0.5})
    def complete(prompt: str) -> dict[str, Any]:
        seen["llm"] = mlflow.get_current_active_span().span_id
        return {"text": prompt.upper(), "tokens": [1, 2, 3]}

    @mlflow.trace(name="agent", span_type="CHAIN")
    def agent(question: str, depth: int) -> str:
        span = mlflow.get_current_active_span()
        seen["root"], seen["trace"] = span.span_id, span.trace_id
        with mlflow.start_span("lookup", span_type="TOOL") as tool:
            seen["tool"] = tool.span_id
            tool.set_inputs({"query": question, "limit": depth})
            tool.set_attributes({"hits": 2, "exact": True, "sources": ["a", "b"]})
            with mlflow.start_span("parse") as parse:
                seen["parse"] = parse.span_id
                parse.set_outputs({"nested": {"k": [1.5, None]}})
            tool.set_outputs(["doc-1", "doc-2"])
        return str(complete(question)["text"])

    assert agent("why?", depth=3) == "WHY?"
    trace = mlflow.get_trace(seen["trace"])
    assert trace is not None
    info = trace.info
    assert info.trace_id == seen["trace"] == mlflow.get_last_active_trace_id()
    assert info.experiment_id == _experiment_id(mlflow)
    assert info.state.value == "OK"
    assert info.execution_duration is not None and info.execution_duration >= 0
    assert info.request_time > 0
    assert info.tags["mlflow.trace.spansLocation"] == "TRACKING_STORE"
    assert info.tags["mlflow.traceName"] == "agent"
    assert '"why?"' in (info.request_preview or "")
    assert info.response_preview == '"WHY?"'

    spans = {s.name: s for s in trace.data.spans}
    assert set(spans) == {"agent", "lookup", "parse", "complete"}
    root, tool, parse, llm = spans["agent"], spans["lookup"], spans["parse"], spans["complete"]
    assert [root.span_id, tool.span_id, parse.span_id, llm.span_id] == [
        seen["root"],
        seen["tool"],
        seen["parse"],
        seen["llm"],
    ]
    assert root.parent_id is None
    assert tool.parent_id == root.span_id and llm.parent_id == root.span_id
    assert parse.parent_id == tool.span_id
    assert {s.trace_id for s in trace.data.spans} == {seen["trace"]}
    assert [root.span_type, tool.span_type, parse.span_type, llm.span_type] == [
        "CHAIN",
        "TOOL",
        "UNKNOWN",
        "LLM",
    ]
    assert root.inputs == {"question": "why?", "depth": 3} and root.outputs == "WHY?"
    assert tool.inputs == {"query": "why?", "limit": 3}
    assert tool.outputs == ["doc-1", "doc-2"]
    assert tool.get_attribute("hits") == 2
    assert tool.get_attribute("exact") is True
    assert tool.get_attribute("sources") == ["a", "b"]
    assert parse.outputs == {"nested": {"k": [1.5, None]}}
    assert llm.inputs == {"prompt": "why?"}
    assert llm.outputs == {"text": "WHY?", "tokens": [1, 2, 3]}
    assert llm.get_attribute("model") == "tiny" and llm.get_attribute("temperature") == 0.5
    for span in trace.data.spans:
        assert span.status.status_code.value == "OK"
        assert span.start_time_ns <= span.end_time_ns
    assert root.start_time_ns <= tool.start_time_ns and tool.end_time_ns <= root.end_time_ns


def test_a_failing_call_is_an_error_trace_with_its_exception(tracing: Any) -> None:
    mlflow = tracing

    @mlflow.trace
    def explode(n: int) -> None:
        raise ValueError(f"bad {n}")

    with pytest.raises(ValueError):
        explode(7)
    trace = mlflow.get_trace(mlflow.get_last_active_trace_id())
    assert trace.info.state.value == "ERROR"
    (span,) = trace.data.spans
    assert span.status.status_code.value == "ERROR"
    assert span.inputs == {"n": 7}
    (event,) = [e for e in span.events if e.name == "exception"]
    assert event.attributes["exception.message"] == "bad 7"
    assert event.attributes["exception.type"] == "ValueError"


def test_the_asynchronous_exporter_after_a_flush(
    tracing: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracing.provider import reset

    mlflow = tracing
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "true")
    reset()

    @mlflow.trace
    def double(x: int) -> int:
        return 2 * x

    assert [double(i) for i in range(5)] == [0, 2, 4, 6, 8]
    mlflow.flush_trace_async_logging()
    found = mlflow.search_traces(return_type="list")
    calls = sorted((t.data.spans[0].inputs["x"], t.data.spans[0].outputs) for t in found)
    assert calls == [(i, 2 * i) for i in range(5)]
    assert {t.info.state.value for t in found} == {"OK"}


def test_traces_inside_a_run_are_found_by_run_id(tracing: Any) -> None:
    mlflow = tracing

    @mlflow.trace
    def step(i: int) -> int:
        return i + 1

    with mlflow.start_run() as run:
        step(1)
        step(2)
        inside = {mlflow.get_last_active_trace_id()}
    step(3)
    outside = mlflow.get_last_active_trace_id()

    found = mlflow.search_traces(run_id=run.info.run_id, return_type="list")
    assert len(found) == 2
    assert inside < {t.info.trace_id for t in found}
    assert outside not in {t.info.trace_id for t in found}
    assert {t.info.trace_metadata["mlflow.sourceRun"] for t in found} == {run.info.run_id}
    assert sorted(t.data.spans[0].inputs["i"] for t in found) == [1, 2]


# -- search ----------------------------------------------------------------------------------


def _make_traces(mlflow: Any) -> list[Any]:
    """Five traces: alternately OK and ERROR, tagged by group, with metadata and names."""

    @mlflow.trace(name="even")
    def even(i: int) -> int:
        mlflow.update_current_trace(tags={"group": "a", "index": str(i)}, metadata={"m": "x"})
        return i

    @mlflow.trace(name="odd")
    def odd(i: int) -> int:
        mlflow.update_current_trace(tags={"group": "b", "index": str(i)}, metadata={"m": "y"})
        raise RuntimeError(str(i))

    ids = []
    for i in range(5):
        if i % 2 == 0:
            even(i)
        else:
            with pytest.raises(RuntimeError):
                odd(i)
        ids.append(mlflow.get_last_active_trace_id())
    return [mlflow.get_trace(t).info for t in ids]


def _ids(found: list[Any]) -> list[str]:
    return [t.info.trace_id for t in found]


def test_search_filters_order_and_pages(tracing: Any) -> None:
    mlflow = tracing
    infos = _make_traces(mlflow)
    ids = [i.trace_id for i in infos]
    by_time = [i.trace_id for i in sorted(infos, key=lambda i: (i.request_time, i.trace_id))]

    def search(filter_string: str | None = None, **kwargs: Any) -> list[str]:
        return _ids(mlflow.search_traces(filter_string=filter_string, return_type="list", **kwargs))

    assert set(search()) == set(ids)
    assert search(order_by=["timestamp_ms ASC"]) == by_time
    assert search(order_by=["timestamp_ms DESC"]) == by_time[::-1]
    assert set(search("trace.status = 'OK'")) == {ids[0], ids[2], ids[4]}
    assert set(search("trace.status = 'ERROR'")) == {ids[1], ids[3]}
    assert set(search("tags.group = 'b'")) == {ids[1], ids[3]}
    assert search("tags.index = '2'") == [ids[2]]
    assert set(search("metadata.m = 'x'")) == {ids[0], ids[2], ids[4]}
    assert set(search("trace.name = 'odd'")) == {ids[1], ids[3]}
    assert set(search("trace.status = 'OK' AND tags.group = 'a' AND tags.index != '0'")) == {
        ids[2],
        ids[4],
    }
    cutoff = infos[2].request_time
    later = {i.trace_id for i in infos if i.request_time >= cutoff}
    assert set(search(f"trace.timestamp_ms >= {cutoff}")) == later
    assert search("tags.group = 'nobody'") == []

    client = mlflow.MlflowClient()
    experiment_id = _experiment_id(mlflow)
    pages, token = [], None
    while True:
        page = client.search_traces(
            locations=[experiment_id],
            max_results=2,
            order_by=["timestamp_ms ASC"],
            page_token=token,
            include_spans=False,
        )
        pages.append(_ids(page))
        token = page.token
        if not token:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [t for p in pages for t in p] == by_time


def test_search_refuses_bad_filters_and_locations(tracing: Any, rest: Rest) -> None:
    mlflow = tracing
    experiment_id = _experiment_id(mlflow)
    location = {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}}
    for body in (
        {"locations": [location], "filter": "trace.nonsense = 'x'"},
        {"locations": [location], "filter": "tags.a = "},
        {"locations": [location], "order_by": ["nonsense DESC"]},
        {"locations": [location], "max_results": 100_000},
        {"locations": [{"type": "INFERENCE_TABLE"}]},
        {"locations": []},
        {"locations": [location], "page_token": "not-a-token"},
    ):
        assert rest.error("POST", "/traces/search", body) == (400, "INVALID_PARAMETER_VALUE"), body
    with pytest.raises(mlflow.exceptions.MlflowException) as error:
        mlflow.search_traces(filter_string="trace.status ~ 'OK'")
    assert error.value.error_code == "INVALID_PARAMETER_VALUE"


# -- tags, deletion, runs ----------------------------------------------------------------------


def test_set_and_delete_a_trace_tag(tracing: Any) -> None:
    mlflow = tracing

    @mlflow.trace
    def f() -> int:
        return 1

    f()
    trace_id = mlflow.get_last_active_trace_id()
    mlflow.set_trace_tag(trace_id, "reviewed", "yes")
    assert mlflow.get_trace(trace_id).info.tags["reviewed"] == "yes"
    assert _ids(
        mlflow.search_traces(filter_string="tags.reviewed = 'yes'", return_type="list")
    ) == [trace_id]
    mlflow.delete_trace_tag(trace_id, "reviewed")
    assert "reviewed" not in mlflow.get_trace(trace_id).info.tags
    with pytest.raises(mlflow.exceptions.MlflowException) as error:
        mlflow.delete_trace_tag(trace_id, "reviewed")
    assert error.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_delete_traces_by_id_and_by_age(tracing: Any) -> None:
    mlflow = tracing
    client = mlflow.MlflowClient()
    experiment_id = _experiment_id(mlflow)

    @mlflow.trace
    def f(i: int) -> int:
        return i

    ids = []
    for i in range(4):
        f(i)
        ids.append(mlflow.get_last_active_trace_id())
    assert client.delete_traces(experiment_id, trace_ids=ids[:1]) == 1
    with pytest.raises(mlflow.exceptions.MlflowException) as error:
        client.get_trace(ids[0])
    assert error.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    newest = max(client.get_trace(t).info.request_time for t in ids[1:])
    assert client.delete_traces(experiment_id, max_timestamp_millis=newest, max_traces=2) == 2
    assert len(mlflow.search_traces(return_type="list")) == 1
    assert client.delete_traces(experiment_id, max_timestamp_millis=newest) == 1
    assert mlflow.search_traces(return_type="list") == []


def test_link_traces_to_a_run(tracing: Any) -> None:
    mlflow = tracing

    @mlflow.trace
    def f(i: int) -> int:
        return i

    ids = []
    for i in range(3):
        f(i)
        ids.append(mlflow.get_last_active_trace_id())
    run = mlflow.MlflowClient().create_run(_experiment_id(mlflow))
    run_id = run.info.run_id
    assert mlflow.search_traces(run_id=run_id, return_type="list") == []
    mlflow.MlflowClient().link_traces_to_run(ids[:2], run_id=run_id)
    assert set(_ids(mlflow.search_traces(run_id=run_id, return_type="list"))) == set(ids[:2])
    with pytest.raises(mlflow.exceptions.MlflowException) as error:
        mlflow.MlflowClient().link_traces_to_run(ids, run_id="0" * 32)
    assert error.value.error_code == "RESOURCE_DOES_NOT_EXIST"


# -- assessments -----------------------------------------------------------------------------


def test_feedback_and_expectations_on_a_trace(tracing: Any) -> None:
    mlflow = tracing
    from mlflow.entities import AssessmentSource, Feedback

    @mlflow.trace
    def answer(q: str) -> str:
        return q[::-1]

    answer("abc")
    trace_id = mlflow.get_last_active_trace_id()
    human = AssessmentSource(source_type="HUMAN", source_id="reviewer@example.com")
    feedback = mlflow.log_feedback(
        trace_id=trace_id,
        name="correct",
        value=True,
        rationale="reversed as asked",
        source=human,
        metadata={"round": "1"},
    )
    expectation = mlflow.log_expectation(
        trace_id=trace_id, name="expected", value={"text": "cba", "scores": [1, 2]}
    )
    assert feedback.assessment_id.startswith("a-") and feedback.trace_id == trace_id

    assessments = {a.name: a for a in mlflow.get_trace(trace_id).info.assessments}
    assert set(assessments) == {"correct", "expected"}
    got = assessments["correct"]
    assert got.assessment_id == feedback.assessment_id
    assert got.value is True and got.rationale == "reversed as asked"
    assert got.source.source_type == "HUMAN" and got.source.source_id == "reviewer@example.com"
    assert got.metadata == {"round": "1"}
    assert got.create_time_ms == feedback.create_time_ms
    assert assessments["expected"].value == {"text": "cba", "scores": [1, 2]}

    fetched = mlflow.get_assessment(trace_id, feedback.assessment_id)
    assert fetched.value is True and fetched.name == "correct"
    updated = mlflow.update_assessment(
        trace_id=trace_id,
        assessment_id=feedback.assessment_id,
        assessment=Feedback(name="correct", value=False, rationale="on second thought"),
    )
    assert updated.value is False and updated.rationale == "on second thought"
    assert updated.last_update_time_ms >= updated.create_time_ms
    assert mlflow.get_assessment(trace_id, feedback.assessment_id).value is False
    assert _ids(
        mlflow.search_traces(filter_string="feedback.correct = 'false'", return_type="list")
    ) == [trace_id]

    mlflow.delete_assessment(trace_id=trace_id, assessment_id=expectation.assessment_id)
    names = [a.name for a in mlflow.get_trace(trace_id).info.assessments]
    assert names == ["correct"]
    with pytest.raises(mlflow.exceptions.MlflowException) as error:
        mlflow.get_assessment(trace_id, expectation.assessment_id)
    assert error.value.error_code == "RESOURCE_DOES_NOT_EXIST"


# -- the API's errors and its v2 forms ---------------------------------------------------------


def test_unknown_traces_are_not_found(tracing: Any, rest: Rest) -> None:
    mlflow = tracing
    absent = "tr-" + "0" * 32
    not_found = (404, "RESOURCE_DOES_NOT_EXIST")
    assert rest.error("GET", f"/traces/{absent}") == not_found
    assert rest.error("GET", "/traces/get", trace_id=absent) == not_found
    assert rest.error("GET", f"/traces/{absent}/info") == not_found
    assert rest.error("PATCH", f"/traces/{absent}/tags", {"key": "k", "value": "v"}) == not_found
    assert rest.error("GET", f"/traces/{absent}/assessments/a-{'0' * 32}") == not_found
    feedback = {"assessment_name": "x", "feedback": {"value": 1}}
    assert rest.error("POST", f"/traces/{absent}/assessments", {"assessment": feedback}) == (
        not_found
    )
    batch = rest.call("GET", "/traces/batchGet", trace_ids=[absent])
    assert batch.status_code == 200 and batch.json() == {}
    with pytest.raises(mlflow.exceptions.MlflowException) as error:
        mlflow.MlflowClient().get_trace(absent)
    assert error.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_bad_requests_are_invalid_parameter_values(tracing: Any, rest: Rest) -> None:
    mlflow = tracing
    experiment_id = _experiment_id(mlflow)

    @mlflow.trace
    def f() -> int:
        return 1

    f()
    trace_id = mlflow.get_last_active_trace_id()
    location = {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}}
    info = {
        "trace_id": "tr-" + uuid.uuid4().hex,
        "trace_location": location,
        "request_time": "2025-01-02T03:04:05.678Z",
        "state": "OK",
    }
    invalid = (400, "INVALID_PARAMETER_VALUE")
    for bad in (
        {**info, "request_time": "yesterday"},
        {**info, "execution_duration": "5 minutes"},
        {**info, "state": "SUPERB"},
        {**info, "tags": {"k": 5}},
        {**info, "trace_location": {"type": "INFERENCE_TABLE"}},
        {key: value for key, value in info.items() if key != "request_time"},
    ):
        assert rest.error("POST", "/traces", {"trace": {"trace_info": bad}}) == invalid, bad
    assert rest.error("POST", "/traces", {"trace": "nope"}) == invalid
    elsewhere = {**location, "mlflow_experiment": {"experiment_id": "987654321"}}
    unknown = {"trace": {"trace_info": {**info, "trace_location": elsewhere}}}
    assert rest.error("POST", "/traces", unknown) == (404, "RESOURCE_DOES_NOT_EXIST")

    delete = "/traces/delete-traces"
    assert rest.error("POST", delete, {"experiment_id": experiment_id}) == invalid
    both = {"experiment_id": experiment_id, "max_timestamp_millis": 1, "request_ids": [trace_id]}
    assert rest.error("POST", delete, both) == invalid
    assert rest.error("PATCH", f"/traces/{trace_id}/tags", {"value": "v"}) == invalid
    assert rest.error("PATCH", f"/traces/{trace_id}/tags", {"key": "k" * 300, "value": "v"}) == (
        invalid
    )
    assessments = f"/traces/{trace_id}/assessments"
    assert rest.error("POST", assessments, {"assessment": {"assessment_name": "x"}}) == invalid
    assert rest.error("POST", assessments, {"assessment": {"feedback": {"value": 1}}}) == invalid
    created = rest.call(
        "POST", assessments, {"assessment": {"assessment_name": "x", "feedback": {"value": 1}}}
    )
    assert created.status_code == 200, created.text
    assessment_id = created.json()["assessment"]["assessment_id"]
    change = {"assessment": {"rationale": "r"}, "update_mask": "rationale,createTime"}
    assert rest.error("PATCH", f"{assessments}/{assessment_id}", change) == invalid
    assert rest.error("POST", "/traces/link-to-run", {"trace_ids": [], "run_id": "x"}) == invalid


def test_the_v2_trace_api(tracing: Any, rest: Rest) -> None:
    """StartTrace / EndTrace / GetTraceInfo / SearchTraces of MLflow 2.x clients."""
    mlflow = tracing
    experiment_id = _experiment_id(mlflow)
    started = rest.call(
        "POST",
        "/traces",
        {
            "experiment_id": experiment_id,
            "timestamp_ms": 1_700_000_000_000,
            "request_metadata": [{"key": "mlflow.traceInputs", "value": '{"q": 1}'}],
            "tags": [{"key": "stage", "value": "start"}],
        },
    )
    assert started.status_code == 200, started.text
    info = started.json()["trace_info"]
    trace_id = info["request_id"]
    assert trace_id.startswith("tr-") and info["status"] == "IN_PROGRESS"
    assert info["experiment_id"] == experiment_id
    ended = rest.call(
        "PATCH",
        f"/traces/{trace_id}",
        {
            "timestamp_ms": 1_700_000_000_250,
            "status": "OK",
            "tags": [{"key": "stage", "value": "end"}],
        },
    )
    assert ended.status_code == 200, ended.text
    v2 = rest.call("GET", f"/traces/{trace_id}/info").json()["trace_info"]
    assert v2["status"] == "OK" and v2["execution_time_ms"] == 250
    assert v2["timestamp_ms"] == 1_700_000_000_000
    assert {"key": "stage", "value": "end"} in v2["tags"]
    assert {"key": "mlflow.traceInputs", "value": '{"q": 1}'} in v2["request_metadata"]
    found = rest.call("GET", "/traces", experiment_ids=[experiment_id]).json()["traces"]
    assert [t["request_id"] for t in found] == [trace_id]
    v3 = mlflow.MlflowClient().get_trace(trace_id).info
    assert v3.state.value == "OK" and v3.execution_duration == 250
    assert v3.request_time == 1_700_000_000_000


def test_an_exported_trace_keeps_the_assessments_it_carries(tracing: Any, rest: Rest) -> None:
    mlflow = tracing
    trace_id = f"tr-{uuid.uuid4().hex}"
    carried = {
        "assessment_id": "a-" + "1" * 32,
        "assessment_name": "label",
        "trace_id": trace_id,
        "source": {"source_type": "HUMAN", "source_id": "importer"},
        "create_time": "2025-01-02T03:04:05.000Z",
        "last_update_time": "2025-01-02T03:04:06.000Z",
        "expectation": {"value": "cat"},
    }
    info = {
        "trace_id": trace_id,
        "trace_location": {
            "type": "MLFLOW_EXPERIMENT",
            "mlflow_experiment": {"experiment_id": _experiment_id(mlflow)},
        },
        "request_time": "2025-01-02T03:04:05.000Z",
        "execution_duration": "1.5s",
        "state": "OK",
        "assessments": [carried],
    }
    started = rest.call("POST", "/traces", {"trace": {"trace_info": info}})
    assert started.status_code == 200, started.text
    answered = started.json()["trace"]["trace_info"]
    assert answered["execution_duration"] == "1.500s"
    assert answered["tags"]["mlflow.trace.spansLocation"] == "TRACKING_STORE"
    (assessment,) = mlflow.get_trace(trace_id).info.assessments
    assert (assessment.assessment_id, assessment.name, assessment.value) == (
        carried["assessment_id"],
        "label",
        "cat",
    )
    assert assessment.create_time_ms == 1_735_787_045_000
    assert assessment.source.source_id == "importer"
