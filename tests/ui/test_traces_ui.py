"""The Traces views, on the README's path first: `cairn ui` over the default local store
(./cairn-data), traces sent to it by the real mlflow client (nested spans, some inside a
run, one raising), then the experiment's and the run's Traces tabs, a trace's span tree and
waterfall, the filter box, and a span input that is HTML shown as text. Then the same list
against `cairn server` on PostgreSQL.

The client runs in its own process: mlflow's tracing keeps global state (a tracer provider,
an async exporter) that should not leak into the other tests' interpreter.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from ui_support import START_SECONDS, require_browser, screenshot

from local_processes import CLI, answers_health, cairn_server_command, free_port

XSS = "<img src=x onerror=alert(document.domain)>"
MANY = 53  # more than one page of the list (50)

# The mlflow client, as a user's script: three `answer` traces (retrieve + generate under
# it), two of them and one failing `explode` inside a run, one outside any run, and a
# second experiment of MANY one-span traces. Prints the ids it made, as JSON.
CLIENT_SCRIPT = r"""
import json, sys
import mlflow
from mlflow.entities import AssessmentSource, SpanType

mlflow.set_tracking_uri(sys.argv[1])
experiment = mlflow.set_experiment("agent")
XSS = sys.argv[2]

@mlflow.trace(span_type=SpanType.RETRIEVER)
def retrieve(question):
    return [f"doc about {question}"]

@mlflow.trace(span_type=SpanType.LLM)
def generate(question, docs):
    usage = {"input_tokens": 12, "output_tokens": 30, "total_tokens": 42}
    mlflow.get_current_active_span().set_attribute("mlflow.chat.tokenUsage", usage)
    return f"answer to {question}"

@mlflow.trace(span_type=SpanType.CHAIN)
def answer(question):
    return generate(question, retrieve(question))

@mlflow.trace
def explode(question):
    raise ValueError(f"boom: {question}")

ids = {}
answer("outside any run")
ids["outside"] = mlflow.get_last_active_trace_id()
with mlflow.start_run(run_name="with-traces") as run:
    answer("first in run")
    ids["first"] = mlflow.get_last_active_trace_id()
    answer(XSS)
    ids["xss"] = mlflow.get_last_active_trace_id()
    try:
        explode("bad input")
    except ValueError:
        pass
    ids["error"] = mlflow.get_last_active_trace_id()
mlflow.flush_trace_async_logging()
mlflow.log_feedback(trace_id=ids["first"], name="relevance", value=0.9,
    rationale="cites the retrieved doc",
    source=AssessmentSource(source_type="HUMAN", source_id="reviewer"))

many = mlflow.set_experiment("many")

@mlflow.trace
def step(i):
    return i * 2

for i in range(int(sys.argv[3])):
    step(i)
mlflow.flush_trace_async_logging()
print(json.dumps({"ids": ids, "run_id": run.info.run_id,
    "experiment_id": experiment.experiment_id, "many_id": many.experiment_id}))
"""


@dataclass
class TracedUi:
    url: str
    experiment_id: str
    many_id: str
    run_id: str
    ids: dict[str, str]


def _send_traces(url: str, folder: Path) -> TracedUi:
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-c", CLIENT_SCRIPT, url, XSS, str(MANY)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    sent = json.loads(done.stdout.strip().splitlines()[-1])
    return TracedUi(url, sent["experiment_id"], sent["many_id"], sent["run_id"], sent["ids"])


def _serve(command: list[str], folder: Path, port: int) -> subprocess.Popen[bytes]:
    with open(folder / "server.log", "wb") as log:
        process = subprocess.Popen(command, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(int(START_SECONDS / 0.1)):
        if answers_health(port) or process.poll() is not None:
            break
        try:
            process.wait(0.1)
        except subprocess.TimeoutExpired:
            pass
    if not answers_health(port):
        process.kill()
        raise RuntimeError((folder / "server.log").read_text())
    return process


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TracedUi]:
    """`cairn ui` in an empty folder (the README's path), with the client's traces in it."""
    require_browser()
    folder = tmp_path_factory.mktemp("traces-readme")
    port = free_port()
    process = _serve([sys.executable, "-c", CLI, "ui", "--port", str(port)], folder, port)
    try:
        ui = _send_traces(f"http://127.0.0.1:{port}", folder)
        assert (folder / "cairn-data").is_dir()
        yield ui
    finally:
        process.terminate()
        process.wait(15)


def _rows(page: Any) -> Any:
    return page.locator("#traces-table tr.trace-row")


def _row(page: Any, trace_id: str) -> Any:
    return page.locator(f'#traces-table tr[data-trace-id="{trace_id}"]')


def _ids(page: Any) -> set[str | None]:
    return {r.get_attribute("data-trace-id") for r in _rows(page).all()}


def _times(page: Any) -> list[str]:
    return [t.get_attribute("datetime") for t in _rows(page).locator("td.time time").all()]


def _open_experiment_traces(page: Any, ui: TracedUi) -> None:
    page.goto(f"{ui.url}/#/experiments/{ui.experiment_id}")
    page.locator('#experiment-tabs [role="tab"][data-tab="traces"]').click()
    expect(page.locator("#traces-status")).to_have_text("4 traces")


def test_the_experiments_traces_tab_lists_every_trace(page: Any, traced: TracedUi) -> None:
    ui = traced
    _open_experiment_traces(page, ui)
    assert page.url.endswith(f"#/experiments/{ui.experiment_id}?tab=traces")
    expect(page.locator("#panel-runs")).to_be_hidden()
    rows = _rows(page)
    expect(rows).to_have_count(4)
    assert {r.get_attribute("data-trace-id") for r in rows.all()} == set(ui.ids.values())
    assert _times(page) == sorted(_times(page), reverse=True)  # newest first
    failed = _row(page, ui.ids["error"])
    expect(failed.locator("td.name")).to_have_text("explode")
    expect(failed.locator("td.state")).to_have_text("ERROR")
    for key in ("first", "xss", "outside"):
        expect(_row(page, ui.ids[key]).locator("td.name")).to_have_text("answer")
        expect(_row(page, ui.ids[key]).locator("td.state")).to_have_text("OK")
    first = _row(page, ui.ids["first"])
    expect(first.locator("td.tokens")).to_have_text("42")
    expect(first.locator("td.request")).to_contain_text("first in run")
    expect(first.locator("td.response")).to_contain_text("answer to first in run")
    expect(failed.locator("td.tokens")).to_have_text("")
    assert failed.locator("td.duration").inner_text().endswith("ms")
    screenshot(page, "traces-list")
    # The runs tab is one click back, and its address has no trace state left in it.
    page.locator('#experiment-tabs [role="tab"][data-tab="runs"]').click()
    expect(page.locator("#runs-status")).to_have_text("1 run")
    assert page.url.endswith(f"#/experiments/{ui.experiment_id}")
    assert not page.errors


def test_a_runs_traces_tab_lists_only_that_runs_traces(page: Any, traced: TracedUi) -> None:
    ui = traced
    page.goto(f"{ui.url}/#/runs/{ui.run_id}")
    expect(page.locator("#run-name")).to_have_text("with-traces")
    page.locator('[role="tab"][data-tab="traces"]').click()
    expect(page.locator("#traces-status")).to_have_text("3 traces")
    assert _ids(page) == {ui.ids[k] for k in ("error", "xss", "first")}
    assert page.url.endswith("?tab=traces")
    # Opening a trace is a step of the history: Back returns to the run's list.
    _row(page, ui.ids["error"]).locator("td.name a").click()
    expect(page.locator("#trace-name")).to_have_text("explode")
    page.go_back()
    expect(page.locator("#traces-status")).to_have_text("3 traces")
    assert page.url.endswith("?tab=traces")
    assert not page.errors


def test_a_trace_shows_its_span_tree_waterfall_and_span_text(page: Any, traced: TracedUi) -> None:
    ui = traced
    _open_experiment_traces(page, ui)
    _row(page, ui.ids["first"]).locator("td.name a").click()
    expect(page.locator("#trace-id")).to_have_text(ui.ids["first"])
    assert f"trace={ui.ids['first']}" in page.url
    spans = page.locator("#span-tree .span-row")
    expect(spans.locator(".span-name")).to_have_text(["answer", "retrieve", "generate"])
    assert [s.get_attribute("data-depth") for s in spans.all()] == ["0", "1", "1"]
    expect(spans.locator(".span-type")).to_have_text(["CHAIN", "RETRIEVER", "LLM"])
    # The waterfall: the root spans the whole trace; the children start later, in order.
    bars = spans.locator(".span-bar")
    expect(bars).to_have_count(3)
    boxes = [b.bounding_box() for b in bars.all()]
    track = spans.first.locator(".span-track").bounding_box()
    assert abs(boxes[0]["x"] - track["x"]) < 2 and boxes[0]["width"] > 0.9 * track["width"]
    assert boxes[0]["x"] <= boxes[1]["x"] <= boxes[2]["x"]
    assert boxes[2]["x"] + boxes[2]["width"] <= boxes[0]["x"] + boxes[0]["width"] + 1
    # The root is selected first; a child's inputs and outputs show as JSON text.
    expect(page.locator("#span-title")).to_have_text("answer")
    spans.nth(2).click()
    expect(page.locator("#span-title")).to_have_text("generate")
    inputs = json.loads(page.locator("#span-inputs").inner_text())
    assert inputs == {"question": "first in run", "docs": ["doc about first in run"]}
    expect(page.locator("#span-outputs")).to_have_text("answer to first in run")
    expect(page.locator("#span-attributes")).to_contain_text("mlflow.chat.tokenUsage")
    expect(page.locator("#trace-assessments")).to_contain_text("relevance")
    expect(page.locator("#trace-assessments")).to_contain_text("0.9")
    expect(page.locator("#trace-assessments")).to_contain_text("cites the retrieved doc")
    expect(page.locator("#trace-tags")).to_contain_text("mlflow.traceName")
    run_link = page.locator("#trace-metadata a")
    expect(run_link).to_have_text(ui.run_id)
    expect(run_link).to_have_attribute("href", f"#/runs/{ui.run_id}")
    screenshot(page, "trace-detail")
    # Collapsing the root hides its children; expanding shows them again.
    spans.first.locator(".span-toggle").click()
    expect(spans).to_have_count(1)
    spans.first.locator(".span-toggle").click()
    expect(spans).to_have_count(3)
    # The keyboard: up and down move the selection, left and right fold the root.
    spans.nth(2).focus()
    page.keyboard.press("ArrowUp")
    expect(page.locator("#span-title")).to_have_text("retrieve")
    page.keyboard.press("ArrowUp")
    expect(page.locator("#span-title")).to_have_text("answer")
    page.keyboard.press("ArrowLeft")
    expect(spans).to_have_count(1)
    page.keyboard.press("ArrowRight")
    expect(spans).to_have_count(3)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#span-title")).to_have_text("generate")
    assert page.url.endswith(f"&span={spans.nth(2).get_attribute('data-span-id')}")
    # A reload (or the link) opens the same trace with the same span.
    page.reload()
    expect(page.locator("#trace-id")).to_have_text(ui.ids["first"])
    expect(page.locator("#span-title")).to_have_text("generate")
    # "All traces" goes back to the list.
    page.click("#trace-back")
    expect(_rows(page)).to_have_count(4)
    assert "trace=" not in page.url
    assert not page.errors


def test_a_failed_trace_shows_its_exception(page: Any, traced: TracedUi) -> None:
    ui = traced
    page.goto(f"{ui.url}/#/runs/{ui.run_id}?tab=traces&trace={ui.ids['error']}")
    expect(page.locator("#trace-name")).to_have_text("explode")
    expect(page.locator(".trace-head .status-badge")).to_have_text("ERROR")
    expect(page.locator(".span-bar.status-error")).to_have_count(1)
    expect(page.locator("#span-detail .status-badge")).to_have_text("ERROR")
    expect(page.locator("#span-events .exception")).to_contain_text("ValueError: boom: bad input")
    screenshot(page, "trace-error")
    assert not page.errors


def test_mlflows_trace_addresses_open_the_traces_tab(page: Any, traced: TracedUi) -> None:
    # Links copied from MLflow's UI: an experiment's traces (one selected) and a run's tab.
    ui = traced
    page.goto(
        f"{ui.url}/#/experiments/{ui.experiment_id}/traces?selectedEvaluationId={ui.ids['error']}"
    )
    expect(page.locator("#trace-name")).to_have_text("explode")
    page.goto(f"{ui.url}/#/experiments/{ui.experiment_id}/runs/{ui.run_id}/traces")
    expect(page.locator('a[role="tab"][data-tab="traces"]')).to_have_attribute(
        "aria-selected", "true"
    )
    assert not page.errors


def test_the_filter_box_narrows_the_list_and_shows_server_errors(
    page: Any, traced: TracedUi
) -> None:
    ui = traced
    _open_experiment_traces(page, ui)
    page.fill("#trace-filter", "trace.status = 'ERROR'")
    page.press("#trace-filter", "Enter")
    expect(page.locator("#traces-status")).to_have_text("1 trace")
    expect(_rows(page).locator("td.trace-id")).to_have_text([ui.ids["error"]])
    assert "trace_filter=trace.status" in page.url
    page.reload()  # the filter is in the address
    expect(page.locator("#trace-filter")).to_have_value("trace.status = 'ERROR'")
    expect(_rows(page)).to_have_count(1)

    page.fill("#trace-filter", "trace.status === nonsense")
    page.press("#trace-filter", "Enter")
    error = page.locator("#trace-filter-error .error")
    expect(error).to_contain_text("INVALID_PARAMETER_VALUE")
    expect(page.locator("#traces-table")).to_be_hidden()
    # Inside a run, the filter narrows that run's traces only.
    page.goto(f"{ui.url}/#/runs/{ui.run_id}?tab=traces&trace_filter=trace.status%20%3D%20%27OK%27")
    expect(page.locator("#traces-status")).to_have_text("2 traces")
    assert _ids(page) == {ui.ids["xss"], ui.ids["first"]}
    assert not page.errors


def test_span_inputs_that_are_html_show_as_text(page: Any, traced: TracedUi) -> None:
    ui = traced
    _open_experiment_traces(page, ui)
    row = _row(page, ui.ids["xss"])
    expect(row.locator("td.request")).to_contain_text(XSS)
    row.locator("td.name a").click()
    spans = page.locator("#span-tree .span-row")
    expect(spans).to_have_count(3)
    spans.nth(1).click()
    expect(page.locator("#span-title")).to_have_text("retrieve")
    assert json.loads(page.locator("#span-inputs").inner_text()) == {"question": XSS}
    expect(page.locator("#span-outputs")).to_contain_text(f"doc about {XSS}")
    # Shown literally: no element was made of it, and its handler never ran (no alert).
    assert page.locator("#traces img").count() == 0
    page.click("#trace-back")
    expect(_rows(page)).to_have_count(4)
    assert page.locator("#traces img").count() == 0
    assert not page.dialogs and not page.errors


def test_load_more_pages_through_the_traces(page: Any, traced: TracedUi) -> None:
    ui = traced
    page.goto(f"{ui.url}/#/experiments/{ui.many_id}?tab=traces")
    expect(page.locator("#traces-status")).to_have_text("50 traces, more to load")
    page.click("#traces-more")
    expect(page.locator("#traces-status")).to_have_text(f"{MANY} traces")
    expect(page.locator("#traces-more")).to_be_hidden()
    ids = [r.get_attribute("data-trace-id") for r in _rows(page).all()]
    assert len(set(ids)) == MANY
    assert not page.errors


@pytest.fixture(scope="module")
def postgres_ui(
    tmp_path_factory: pytest.TempPathFactory, new_server_database: Callable[[str, str], str]
) -> Iterator[TracedUi]:
    require_browser()
    uri = new_server_database("postgresql", "traces-ui")
    folder = tmp_path_factory.mktemp("traces-postgres")
    port = free_port()
    command = cairn_server_command(port, uri, str(folder / "artifacts"))
    process = _serve(command, folder, port)
    try:
        yield _send_traces(f"http://127.0.0.1:{port}", folder)
    finally:
        process.terminate()
        process.wait(15)


def test_the_list_and_a_trace_on_postgresql(page: Any, postgres_ui: TracedUi) -> None:
    ui = postgres_ui
    _open_experiment_traces(page, ui)
    expect(_row(page, ui.ids["error"]).locator("td.state")).to_have_text("ERROR")
    expect(_row(page, ui.ids["first"]).locator("td.tokens")).to_have_text("42")
    page.fill("#trace-filter", "trace.status = 'ERROR'")
    page.press("#trace-filter", "Enter")
    expect(_rows(page)).to_have_count(1)
    page.goto(f"{ui.url}/#/runs/{ui.run_id}?tab=traces&trace={ui.ids['first']}")
    names = page.locator("#span-tree .span-name")
    expect(names).to_have_text(["answer", "retrieve", "generate"])
    assert not page.errors


DECODE = """async ([snakeSpan, camelSpan, snakeInfo, camelInfo]) => {
  const m = await import("/static/traces.js");
  const text = (_k, v) => (typeof v === "bigint" ? String(v) : v);
  const plain = (x) => JSON.parse(JSON.stringify(x, text));
  const spans = [m.span(snakeSpan), m.span(camelSpan)];
  const infos = [m.traceInfo(snakeInfo), m.traceInfo(camelInfo)];
  return [spans.map(plain), infos.map(plain)];
}"""


def test_the_decoder_reads_either_json_printer(page: Any, traced: TracedUi) -> None:
    """Proto field names or camelCase, enums by name or number, ids base64 or hex: the
    views see the same trace whichever printer the server used."""
    inputs = json.dumps({"q": "<b>1</b>"})
    snake_span = {
        "span_id": base64.b64encode(bytes.fromhex("39d16ec0fad56d66")).decode(),
        "parent_span_id": base64.b64encode(bytes.fromhex("00000000000000aa")).decode(),
        "name": "llm",
        "start_time_unix_nano": "1765000000000000001",
        "end_time_unix_nano": "1765000000002000001",
        "status": {"code": "STATUS_CODE_ERROR", "message": "rate limited"},
        "attributes": [
            {"key": "mlflow.spanInputs", "value": {"string_value": inputs}},
            {"key": "mlflow.spanType", "value": {"string_value": '"LLM"'}},
            {"key": "retries", "value": {"int_value": "3"}},
        ],
        "events": [
            {"name": "exception", "time_unix_nano": "1765000000001000001", "attributes": []}
        ],
    }
    camel_span = {
        "spanId": "39d16ec0fad56d66",
        "parentSpanId": "00000000000000aa",
        "name": "llm",
        "startTimeUnixNano": "1765000000000000001",
        "endTimeUnixNano": "1765000000002000001",
        "status": {"code": 2, "message": "rate limited"},
        "attributes": [
            {"key": "mlflow.spanInputs", "value": {"stringValue": inputs}},
            {"key": "mlflow.spanType", "value": {"stringValue": '"LLM"'}},
            {"key": "retries", "value": {"intValue": "3"}},
        ],
        "events": [{"name": "exception", "timeUnixNano": "1765000000001000001"}],
    }
    usage = json.dumps({"input_tokens": 3, "output_tokens": 4, "total_tokens": 7})
    snake_info = {
        "trace_id": "tr-1",
        "request_time": "2026-12-06T00:31:46.562Z",
        "execution_duration": "1.5s",
        "state": "ERROR",
        "trace_metadata": {"mlflow.trace.tokenUsage": usage},
        "tags": {"mlflow.traceName": "agent"},
        "request_preview": "{}",
    }
    camel_info = {
        "traceId": "tr-1",
        "requestTime": "2026-12-06T00:31:46.562Z",
        "executionDuration": "1.500s",
        "state": 2,
        "traceMetadata": {"mlflow.trace.tokenUsage": usage},
        "tags": {"mlflow.traceName": "agent"},
        "requestPreview": "{}",
    }
    page.goto(f"{traced.url}/#/")
    spans, infos = page.evaluate(DECODE, [snake_span, camel_span, snake_info, camel_info])
    assert spans[0] == spans[1]
    assert spans[0]["id"] == "39d16ec0fad56d66" and spans[0]["parentId"] == "00000000000000aa"
    assert spans[0]["status"] == "ERROR" and spans[0]["type"] == "LLM"
    assert spans[0]["attributes"]["mlflow.spanInputs"] == {"q": "<b>1</b>"}
    assert spans[0]["attributes"]["retries"] == 3
    assert spans[0]["end"] == "1765000000002000001"
    assert infos[0] == infos[1]
    assert infos[0]["state"] == "ERROR" and infos[0]["durationMs"] == 1500
    assert infos[0]["name"] == "agent" and infos[0]["tokens"] == {
        "input": 3,
        "output": 4,
        "total": 7,
    }
    assert infos[0]["time"] == 1796517106562
