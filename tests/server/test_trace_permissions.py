"""Traces under `cairn server --auth`: a trace has its experiment's permissions.

A real server process with users: `reader` may READ the shared experiment, `editor` may
EDIT it, `outsider` has no grant; the secret experiment is the admin's alone. OTLP ingest
(`/v1/traces`) is checked by its `x-mlflow-experiment-id` header.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from live_server import LiveServer, start_server

from local_processes import CLI

PASSWORD = "correct-horse-battery"
TIMEOUT = 30
HEADER = "x-mlflow-experiment-id"
DENIED = (403, "PERMISSION_DENIED")
pytestmark = pytest.mark.filterwarnings("ignore:.*Any type hint is inferred:UserWarning")


def _users(database: Path, *args: str, stdin: str | None = None) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CLI, "users", *args, "--backend-store-uri", f"sqlite:///{database}"],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def _basic(user: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()}


@dataclass
class Setup:
    server: LiveServer
    shared: str
    secret: str
    shared_run: str
    secret_run: str
    shared_trace: str
    secret_trace: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def call(
        self, user: str, method: str, path: str, body: Any = None, **params: Any
    ) -> requests.Response:
        # The trace calls under 3.0, where the mlflow client sends them; the rest only
        # exist under 2.0, as in MLflow.
        version = "3.0" if path.startswith("/traces") else "2.0"
        return requests.request(
            method,
            f"{self.url}/api/{version}/mlflow{path}",
            json=body,
            params=params or None,
            headers=_basic(user),
            timeout=TIMEOUT,
        )

    def status(self, user: str, method: str, path: str, body: Any = None, **params: Any) -> int:
        return self.call(user, method, path, body, **params).status_code

    def start_trace(self, user: str, experiment_id: str, trace_id: str | None = None) -> Any:
        info = {
            "trace_id": trace_id or f"tr-{uuid.uuid4().hex}",
            "trace_location": {
                "type": "MLFLOW_EXPERIMENT",
                "mlflow_experiment": {"experiment_id": experiment_id},
            },
            "request_time": "2025-01-02T03:04:05.678Z",
            "execution_duration": "0.250s",
            "state": "OK",
        }
        return self.call(user, "POST", "/traces", {"trace": {"trace_info": info}})


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    folder = tmp_path_factory.mktemp("trace-auth")
    server = start_server(folder, "--auth")
    try:
        _users(server.database, "create", "admin", "--password-stdin", "--admin", stdin=PASSWORD)
        for name in ("reader", "editor", "outsider"):
            _users(server.database, "create", name, "--password-stdin", stdin=PASSWORD)
        draft = Setup(server, "", "", "", "", "", "")
        made: dict[str, str] = {}
        for name in ("shared", "secret"):
            created = draft.call("admin", "POST", "/experiments/create", {"name": name})
            assert created.status_code == 200, created.text
            experiment_id = created.json()["experiment_id"]
            run = draft.call("admin", "POST", "/runs/create", {"experiment_id": experiment_id})
            trace = draft.start_trace("admin", experiment_id)
            assert trace.status_code == 200, trace.text
            made[name] = experiment_id
            made[f"{name}_run"] = run.json()["run"]["info"]["run_id"]
            made[f"{name}_trace"] = trace.json()["trace"]["trace_info"]["trace_id"]
        _users(server.database, "grant", "reader", made["shared"], "READ")
        _users(server.database, "grant", "editor", made["shared"], "EDIT")
        yield Setup(server, **made)
    finally:
        server.stop()


def _otlp_body(trace_id: bytes | None = None) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = trace_id or uuid.uuid4().bytes, b"\x03" * 8, "s"
    span.start_time_unix_nano, span.end_time_unix_nano = 10**18, 10**18 + 5
    return bytes(request.SerializeToString())


def _export(
    setup: Setup, user: str | None, experiment_id: str | None, trace_id: bytes | None = None
) -> requests.Response:
    headers = {"Content-Type": "application/x-protobuf", **(_basic(user) if user else {})}
    if experiment_id is not None:
        headers[HEADER] = experiment_id
    return requests.post(
        f"{setup.url}/v1/traces", data=_otlp_body(trace_id), headers=headers, timeout=TIMEOUT
    )


def _error(response: requests.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error_code"]


def test_otlp_ingest_needs_edit_on_the_headers_experiment(setup: Setup) -> None:
    assert _export(setup, "editor", setup.shared).status_code == 200
    assert _export(setup, "admin", setup.secret).status_code == 200
    assert _error(_export(setup, "reader", setup.shared)) == DENIED
    assert _error(_export(setup, "outsider", setup.shared)) == DENIED
    assert _error(_export(setup, "editor", setup.secret)) == DENIED
    assert _error(_export(setup, "editor", None)) == (400, "INVALID_PARAMETER_VALUE")
    assert _export(setup, None, setup.shared).status_code == 401
    # Spans of the admin's trace, sent to one's own experiment, are not added to it.
    secret = bytes.fromhex(setup.secret_trace.removeprefix("tr-"))
    assert _error(_export(setup, "editor", setup.shared, secret)) == (
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert (
        "spans"
        not in setup.call("admin", "GET", "/traces/get", trace_id=setup.secret_trace).json()[
            "trace"
        ]
    )


def test_reading_a_trace_needs_read_on_its_experiment(setup: Setup) -> None:
    shared, secret = setup.shared_trace, setup.secret_trace
    for user in ("reader", "editor"):
        assert setup.status(user, "GET", f"/traces/{shared}") == 200
        assert setup.status(user, "GET", "/traces/get", trace_id=shared) == 200
        assert setup.status(user, "GET", f"/traces/{secret}") == 403
        assert setup.status(user, "GET", "/traces/get", trace_id=secret) == 403
    assert _error(setup.call("outsider", "GET", f"/traces/{shared}")) == DENIED
    absent = f"tr-{'0' * 32}"
    assert _error(setup.call("reader", "GET", f"/traces/{absent}")) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )


def test_batch_reads_and_searches_answer_only_readable_experiments(setup: Setup) -> None:
    def located(*ids: str) -> dict[str, Any]:
        return {
            "locations": [
                {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": i}}
                for i in ids
            ]
        }

    found = setup.call("reader", "POST", "/traces/search", located(setup.shared))
    assert found.status_code == 200
    ids = {t["trace_id"] for t in found.json()["traces"]}
    assert setup.shared_trace in ids and setup.secret_trace not in ids
    assert setup.status("reader", "POST", "/traces/search", located(setup.secret)) == 403
    assert setup.status(
        "reader", "POST", "/traces/search", located(setup.shared, setup.secret)
    ) == (403)
    assert setup.status("reader", "GET", "/traces", experiment_ids=[setup.secret]) == 403
    assert setup.status("reader", "GET", "/traces/batchGet", trace_ids=[setup.shared_trace]) == 200
    both = [setup.shared_trace, setup.secret_trace]
    assert setup.status("reader", "GET", "/traces/batchGet", trace_ids=both) == 403
    assert setup.status("reader", "POST", "/traces/batchGetInfos", {"trace_ids": both}) == 403
    infos = setup.call("admin", "POST", "/traces/batchGetInfos", {"trace_ids": both})
    assert [i["trace_id"] for i in infos.json()["trace_infos"]] == both


def test_writing_to_a_trace_needs_edit(setup: Setup) -> None:
    trace = setup.shared_trace
    tag = {"key": "reviewed", "value": "yes"}
    assert _error(setup.call("reader", "PATCH", f"/traces/{trace}/tags", tag)) == DENIED
    assert setup.status("editor", "PATCH", f"/traces/{trace}/tags", tag) == 200
    assert setup.status("editor", "PATCH", f"/traces/{setup.secret_trace}/tags", tag) == 403
    assert setup.status("reader", "DELETE", f"/traces/{trace}/tags", {"key": "reviewed"}) == 403
    assert setup.status("editor", "DELETE", f"/traces/{trace}/tags", {"key": "reviewed"}) == 200

    feedback = {"assessment": {"assessment_name": "good", "feedback": {"value": True}}}
    assessments = f"/traces/{trace}/assessments"
    assert setup.status("reader", "POST", assessments, feedback) == 403
    created = setup.call("editor", "POST", assessments, feedback)
    assert created.status_code == 200, created.text
    one = f"{assessments}/{created.json()['assessment']['assessment_id']}"
    assert setup.status("reader", "GET", one) == 200
    assert setup.status("outsider", "GET", one) == 403
    change = {"assessment": {"rationale": "sure"}, "update_mask": "rationale"}
    assert setup.status("reader", "PATCH", one, change) == 403
    assert setup.status("editor", "PATCH", one, change) == 200
    assert setup.status("reader", "DELETE", one) == 403
    assert setup.status("editor", "DELETE", one) == 200


def test_starting_deleting_and_linking_traces(setup: Setup) -> None:
    assert setup.start_trace("editor", setup.shared).status_code == 200
    assert _error(setup.start_trace("reader", setup.shared)) == DENIED
    assert _error(setup.start_trace("editor", setup.secret)) == DENIED
    # Naming the admin's trace in a StartTrace of one's own experiment takes nothing over.
    assert _error(setup.start_trace("editor", setup.shared, setup.secret_trace)) == DENIED
    v2 = {"experiment_id": setup.secret, "timestamp_ms": 1}
    assert _error(setup.call("editor", "POST", "/traces", v2)) == DENIED

    def link(user: str, run: str, *traces: str) -> int:
        return setup.status(
            user, "POST", "/traces/link-to-run", {"trace_ids": traces, "run_id": run}
        )

    assert link("reader", setup.shared_run, setup.shared_trace) == 403
    assert link("editor", setup.secret_run, setup.shared_trace) == 403
    assert link("editor", setup.shared_run, setup.secret_trace) == 403
    assert link("editor", setup.shared_run, setup.shared_trace) == 200

    doomed = setup.start_trace("editor", setup.shared).json()["trace"]["trace_info"]["trace_id"]
    delete = {"experiment_id": setup.shared, "request_ids": [doomed]}
    assert setup.status("reader", "POST", "/traces/delete-traces", delete) == 403
    deleted = setup.call("editor", "POST", "/traces/delete-traces", delete)
    assert deleted.json() == {"traces_deleted": 1}
    # Another experiment's trace, named in a deletion of one's own, is not deleted.
    sneaky = {"experiment_id": setup.shared, "request_ids": [setup.secret_trace]}
    assert setup.call("editor", "POST", "/traces/delete-traces", sneaky).json() == {
        "traces_deleted": 0
    }
    assert setup.status("admin", "GET", f"/traces/{setup.secret_trace}") == 200


def test_the_mlflow_tracer_with_credentials(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", setup.url)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "editor")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", setup.shared)
    # An experiment another test set with mlflow.set_experiment would win over the variable.
    monkeypatch.setattr("mlflow.tracking.fluent._active_experiment_id", None)
    import mlflow
    from mlflow.tracing.provider import reset

    reset()
    try:

        @mlflow.trace
        def shout(text: str) -> str:
            return text.upper()

        assert shout("hi") == "HI"
        trace = mlflow.get_trace(mlflow.get_last_active_trace_id())
        assert trace.info.experiment_id == setup.shared
        assert [s.outputs for s in trace.data.spans] == ["HI"]
    finally:
        reset()
