"""The import endpoints (cairn.server.imports) through RestImports, against live `cairn
server` processes on 127.0.0.1: what an import writes keeps its identity (experiment and run
ids, times, users, histories with NaN and ±inf, logged model ids, version numbers, aliases)
as Cairn's client and the real mlflow client read it back; repeats change nothing; under
`--auth` only administrators may import; malformed calls are 400s that name the problem."""

from __future__ import annotations

import json
import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from live_server import LiveServer, start_server

from cairn.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    InputTag,
    LoggedModel,
    LoggedModelMetric,
    LoggedModelOutput,
    LoggedModelStatus,
    ModelVersion,
    RegisteredModel,
    Run,
    RunData,
    RunInfo,
)
from cairn.exceptions import PermissionDeniedError
from cairn.server import imports as server_imports
from cairn.server.auth_store import AuthStore
from cairn.store.rest.http import HttpSession, RetryPolicy
from cairn.store.rest.imports import POINTS_PER_REQUEST, RUNS_PER_REQUEST, RestImports
from cairn.store.sql.tracking import SqlTrackingStore
from cairn.store.validation import FLOAT_MAX
from cairn.tracking.client import Client

pytestmark = [
    # Stages are deprecated in MLflow (since 2.9) but still served; imports keep them.
    pytest.mark.filterwarnings("ignore:.*Model registry stages will be removed:FutureWarning"),
]

CREATED = 1_600_000_000_000  # times an import must keep, far from "now"
START = 1_650_000_000_000
PASSWORD = "correct-horse-battery"
API = "/api/2.0/cairn/import"
NO_RETRIES = RetryPolicy(max_retries=0)  # a server error fails the test now


def _name(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


def _imports(url: str) -> RestImports:
    return RestImports(url, session=HttpSession(url, retry=NO_RETRIES))


@pytest.fixture
def imports(tracking_server: Any) -> Iterator[RestImports]:
    writes = _imports(tracking_server.url)
    yield writes
    writes.close()


def test_the_client_splits_as_the_server_bounds() -> None:
    assert POINTS_PER_REQUEST == server_imports.MAX_POINTS
    assert RUNS_PER_REQUEST == server_imports.MAX_RUNS


# -- identity, read back through both clients ----------------------------------------------


def _experiment(imports: RestImports, client: Any) -> str:
    """An experiment imported with an id of its own choosing, which it keeps."""
    wanted = str(random.randrange(10**6, 10**9))
    experiment = Experiment(wanted, _name("imported"), "", "active", {"team": "vision"})
    experiment = replace(experiment, creation_time=CREATED, last_update_time=CREATED + 5)
    assert imports.put_experiment(experiment) == (wanted, True)
    assert imports.put_experiment(experiment) == (wanted, False)
    # Its id taken, another experiment gets a new one; so does one the server makes later.
    other, created = imports.put_experiment(replace(experiment, name=_name("other")))
    assert created and other != wanted
    assert client.create_experiment(_name("after")) not in (wanted, other)
    seen = client.get_experiment(wanted)
    assert (seen.name, seen.tags["team"]) == (experiment.name, "vision")
    assert (seen.creation_time, seen.last_update_time) == (CREATED, CREATED + 5)
    return wanted


def _run(experiment_id: str, **info: Any) -> Run:
    fields: dict[str, Any] = {
        "run_id": uuid.uuid4().hex,
        "experiment_id": experiment_id,
        "run_name": "imported-run",
        "user_id": "alice",
        "status": "FINISHED",
        "start_time": START,
        "end_time": START + 60_000,
        "artifact_uri": "",
        "lifecycle_stage": "active",
        **info,
    }
    return Run(RunInfo(**fields), RunData(params={"lr": "0.1"}, tags={"team": "vision"}))


def test_an_import_keeps_identity_through_both_clients(
    imports: RestImports, client: Any, tracking_server: Any
) -> None:
    experiment_id = _experiment(imports, client)
    run = _run(experiment_id)
    run_id = run.info.run_id
    artifact_uri, conflicts = imports.put_run(run, experiment_id, None)
    assert conflicts == [] and run_id in artifact_uri
    assert imports.put_run(run, experiment_id, None) == (artifact_uri, [])
    other_lr = replace(run, data=RunData(params={"lr": "0.2"}))
    assert imports.put_run(other_lr, experiment_id, None) == (artifact_uri, ["lr"])
    held = imports.runs_of([run_id, uuid.uuid4().hex])
    assert list(held) == [run_id] and held[run_id].info.status == "RUNNING"

    values = [0.5, math.nan, math.inf, -math.inf, 0.25]
    history = [(run_id, "loss", v, START + i, i) for i, v in enumerate(values)]
    imports.put_metric_points(history)
    imports.put_metric_points(history)  # exact repeats are stored once
    long = [(run_id, "long", float(i), START + i, i) for i in range(POINTS_PER_REQUEST + 10)]
    imports.put_metric_points(long)  # two requests
    dataset = Dataset("train", "d1g3st", "local", '{"uri": "/data"}')
    used = DatasetInput(dataset, (InputTag("mlflow.data.context", "training"),))
    imports.put_datasets(run_id, [used], [])
    imports.finish_run(run, None)
    assert imports.runs_of([run_id])[run_id].info == replace(run.info, artifact_uri=artifact_uri)

    seen = client.get_run(run_id)
    assert (seen.info.run_id, seen.info.experiment_id) == (run_id, experiment_id)
    assert (seen.info.start_time, seen.info.end_time) == (START, START + 60_000)
    assert (seen.info.user_id, seen.info.run_name) == ("alice", "imported-run")
    assert (seen.info.status, seen.info.lifecycle_stage) == ("FINISHED", "active")
    assert seen.data.params == {"lr": "0.1"} and seen.data.tags["team"] == "vision"
    assert seen.inputs.dataset_inputs[0].dataset.digest == "d1g3st"
    points = sorted(client.get_metric_history(run_id, "loss"), key=lambda m: m.step)
    assert [(m.step, m.timestamp) for m in points] == [(i, START + i) for i in range(5)]
    read = [m.value for m in points]
    # ±inf arrive as such and are stored clamped, as MLflow stores them.
    assert read[0] == 0.5 and math.isnan(read[1]) and read[2:] == [FLOAT_MAX, -FLOAT_MAX, 0.25]

    cairn_client = Client(tracking_server.url)
    again = cairn_client.get_run(run_id)
    assert again.info == replace(run.info, artifact_uri=artifact_uri)
    assert [m.value for m in cairn_client.get_metric_history(run_id, "long")] == [
        p[2] for p in long
    ]


def test_a_deleted_run_is_imported_deleted_with_its_history(
    imports: RestImports, client: Any, tracking_server: Any
) -> None:
    experiment_id = _experiment(imports, client)
    run = _run(experiment_id, status="KILLED", lifecycle_stage="deleted")
    run_id = run.info.run_id
    imports.put_run(run, experiment_id, None)
    imports.put_metric_points([(run_id, "x", 1.0, START, 0)])
    imports.finish_run(run, START + 120_000)
    imports.put_metric_points([(run_id, "x", 2.0, START + 1, 1)])  # no lifecycle check
    seen = client.get_run(run_id)
    assert (seen.info.lifecycle_stage, seen.info.status) == ("deleted", "KILLED")
    history = Client(tracking_server.url).get_metric_history(run_id, "x")
    assert sorted((m.step, m.value) for m in history) == [(0, 1.0), (1, 2.0)]


def test_logged_models_and_the_registry_keep_ids_and_version_numbers(
    imports: RestImports, client: Any, tracking_server: Any
) -> None:
    experiment_id = _experiment(imports, client)
    run = _run(experiment_id)
    run_id = run.info.run_id
    imports.put_run(run, experiment_id, None)
    model_id = f"m-{uuid.uuid4().hex}"
    model = LoggedModel(
        model_id,
        experiment_id,
        "net",
        "",
        CREATED,
        CREATED + 1,
        LoggedModelStatus.READY,
        model_type="sklearn",
        source_run_id=run_id,
        tags={"k": "v"},
        params={"alpha": "1"},
        metrics=(LoggedModelMetric("acc", 0.9, START, 2, run_id),),
    )
    model_uri, created = imports.put_logged_model(model, experiment_id, None)
    assert created and model_id in model_uri
    assert imports.put_logged_model(model, experiment_id, None) == (model_uri, False)
    imports.put_model_outputs(run_id, [LoggedModelOutput(model_id, 2)])
    imports.finish_run(run, None)

    name = _name("imported-model")
    registered = RegisteredModel(name, CREATED, CREATED + 2, "imported", tags={"owner": "ml"})
    assert imports.put_registered_model(registered) is True
    assert imports.put_registered_model(registered) is False
    first = ModelVersion(
        name,
        "1",
        CREATED,
        CREATED + 3,
        current_stage="Production",
        description="first",
        source=f"models:/{model_id}",
        run_id=run_id,
        user_id="alice",
        model_id=model_id,
        tags={"t": "1"},
        aliases=("champion",),
    )
    third = replace(first, version="3", current_stage="None", aliases=("challenger",))
    for version in (first, third):
        assert imports.put_model_version(version) is True
        assert imports.put_model_version(version) is False

    from mlflow.exceptions import MlflowException

    seen = client.get_logged_model(model_id)
    assert (seen.model_id, seen.name, seen.experiment_id) == (model_id, "net", experiment_id)
    assert (seen.creation_timestamp, str(seen.status)) == (CREATED, "READY")
    assert seen.params == {"alpha": "1"} and seen.tags["k"] == "v"
    assert [(m.key, m.value, m.step) for m in seen.metrics] == [("acc", 0.9, 2)]
    outputs = client.get_run(run_id).outputs.model_outputs
    assert [(o.model_id, o.step) for o in outputs] == [(model_id, 2)]
    v1, v3 = client.get_model_version(name, "1"), client.get_model_version(name, "3")
    assert (v1.version, v1.current_stage, v1.creation_timestamp) == ("1", "Production", CREATED)
    assert (v1.source, v1.run_id, v1.user_id) == (f"models:/{model_id}", run_id, "alice")
    assert (v3.version, v3.current_stage) == ("3", "None")
    with pytest.raises(MlflowException):
        client.get_model_version(name, "2")
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    held = client.get_registered_model(name)
    assert held.aliases == {"champion": "1", "challenger": "3"}
    assert (held.description, held.creation_timestamp) == ("imported", CREATED)
    made = client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
    assert made.version == "4"  # numbering goes on above every imported version

    cairn_client = Client(tracking_server.url)
    assert cairn_client.get_logged_model(model_id).creation_timestamp == CREATED
    assert cairn_client.get_model_version(name, "3").aliases == ("challenger",)


# -- who may import --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("imports-auth")
    server = start_server(folder, "--auth")
    store = SqlTrackingStore(f"sqlite:///{server.database}", str(folder / "unused"))
    try:
        users = AuthStore(store.engine)
        users.create_user("admin", PASSWORD, is_admin=True)
        users.create_user("plain", PASSWORD)
        yield server
    finally:
        store.close()
        server.stop()


def _post(
    server: LiveServer, path: str, body: bytes, user: str | None = None, prefix: str = API
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if user is not None:
        import base64

        headers["Authorization"] = "Basic " + base64.b64encode(
            f"{user}:{PASSWORD}".encode()
        ).decode("ascii")
    reply = server.request("POST", prefix + path, body=body, headers=headers)
    return reply.status, reply.json() if reply.body else None


def _paths() -> list[str]:
    return [e.path.removeprefix("/import") for e in server_imports.ENDPOINTS]


def test_only_administrators_may_import(auth_server: LiveServer) -> None:
    assert len(_paths()) == 10
    for path in _paths():
        for prefix in (API, API.replace("/api/", "/ajax-api/")):
            status, answer = _post(auth_server, path, b"{}", "plain", prefix)
            assert (status, answer["error_code"]) == (403, "PERMISSION_DENIED"), path
        assert _post(auth_server, path, b"{}")[0] == 401
        # Past the check, the call itself: some take an empty body, the others refuse it.
        status, answer = _post(auth_server, path, b"{}", "admin")
        assert status == 200 or (status, answer["error_code"]) == (400, BAD), path

    url = f"127.0.0.1:{auth_server.port}"
    experiment = Experiment("77", _name("by-admin"), "", "active")
    plain = _imports(f"http://plain:{PASSWORD}@{url}")
    with pytest.raises(PermissionDeniedError):
        plain.put_experiment(experiment)
    admin = _imports(f"http://admin:{PASSWORD}@{url}")
    assert admin.put_experiment(experiment) == ("77", True)
    assert admin.put_experiment(experiment) == ("77", False)


# -- malformed calls ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    """A server without --auth, holding one imported run (in the Default experiment)."""
    server = start_server(tmp_path_factory.mktemp("imports-open"))
    try:
        run = _run("0")
        _imports(f"http://127.0.0.1:{server.port}").put_run(run, "0", None)
        yield server, run.info.run_id
    finally:
        server.stop()


HELD = "held"  # stands for the id of the run `open_server` holds
UNKNOWN = "f" * 32
INFO = {"run_id": HELD, "experiment_id": "0", "start_time": 1, "status": "FINISHED"}
EXPERIMENT = {"experiment_id": "5", "name": "n"}
READY_MODEL = {"model_id": "m-1", "status": "LOGGED_MODEL_READY"}


def _points(run_id: str = HELD, **series: Any) -> dict[str, Any]:
    one = {"run_id": run_id, "key": "k", "values": [1.0], "timestamps": [1], "steps": [0]}
    return {"series": [{**one, **series}]}


BAD = "INVALID_PARAMETER_VALUE"
MISSING = "RESOURCE_DOES_NOT_EXIST"
MALFORMED: list[tuple[str, dict[str, Any], str]] = [
    ("/experiment", {}, BAD),
    ("/experiment", {"experiment": []}, BAD),
    ("/experiment", {"experiment": {"experiment_id": "x1", "name": "n"}}, BAD),
    ("/experiment", {"experiment": {**EXPERIMENT, "creation_time": "soon"}}, BAD),
    ("/experiment", {"experiment": {**EXPERIMENT, "creation_time": 2**70}}, BAD),
    ("/experiment", {"experiment": {**EXPERIMENT, "tags": [{"key": "k" * 300}]}}, BAD),
    ("/experiment", {"experiment": {**EXPERIMENT, "artifact_location": "/etc"}}, BAD),
    ("/experiment", {"experiment": {**EXPERIMENT, "lifecycle_stage": "zombie"}}, BAD),
    ("/runs-of", {"run_ids": "abc"}, BAD),
    ("/runs-of", {"run_ids": [5]}, BAD),
    ("/runs-of", {"run_ids": [UNKNOWN] * (server_imports.MAX_RUNS + 1)}, BAD),
    ("/run", {"run": {"info": []}, "experiment_id": "0"}, BAD),
    ("/run", {"run": {"info": INFO, "data": [1]}, "experiment_id": "0"}, BAD),
    ("/run", {"run": {"info": {**INFO, "run_id": "xyz"}}, "experiment_id": "0"}, BAD),
    ("/run", {"run": {"info": INFO}}, BAD),
    ("/run", {"run": {"info": INFO}, "experiment_id": "999999"}, MISSING),
    ("/run", {"run": {"info": INFO}, "experiment_id": "0", "artifact_uri": "/etc"}, BAD),
    (
        "/run",
        {
            "run": {"info": INFO, "data": {"params": [{"key": "p", "value": "a\x00b"}]}},
            "experiment_id": "0",
        },
        BAD,
    ),
    ("/metric-points", {"series": "x"}, BAD),
    ("/metric-points", {"series": [7]}, BAD),
    ("/metric-points", _points(timestamps=[]), BAD),
    ("/metric-points", _points(values=["abc"]), BAD),
    ("/metric-points", _points(timestamps=[2**64]), BAD),
    ("/metric-points", _points(steps=[True]), BAD),
    ("/metric-points", _points(key=""), BAD),
    ("/metric-points", _points(UNKNOWN), MISSING),
    ("/datasets", {"inputs": []}, BAD),
    ("/datasets", {"run_id": HELD, "inputs": [{"dataset": "x"}]}, BAD),
    ("/datasets", {"run_id": UNKNOWN, "inputs": []}, MISSING),
    ("/model-outputs", {"run_id": HELD, "models": [{"step": 1}]}, BAD),
    ("/model-outputs", {"run_id": HELD, "models": [{"model_id": "m" * 65}]}, BAD),
    ("/model-outputs", {"run_id": UNKNOWN, "models": []}, MISSING),
    ("/finish-run", {"run": {"info": {**INFO, "status": "BOGUS"}}}, BAD),
    ("/finish-run", {"run": {"info": {**INFO, "lifecycle_stage": "zombie"}}}, BAD),
    ("/finish-run", {"run": {"info": INFO}, "deleted_time": "later"}, BAD),
    ("/finish-run", {"run": {"info": {**INFO, "run_id": UNKNOWN}}}, MISSING),
    ("/logged-model", {"model": {"info": "x"}, "experiment_id": "0"}, BAD),
    ("/logged-model", {"model": {"info": {"model_id": "m" * 65}}, "experiment_id": "0"}, BAD),
    ("/logged-model", {"model": {"info": READY_MODEL}, "experiment_id": "4242"}, MISSING),
    ("/registered-model", {"registered_model": {"name": "a/b"}}, BAD),
    ("/registered-model", {"registered_model": {"name": "ok", "latest_versions": [5]}}, BAD),
    ("/model-version", {"model_version": {"name": "m", "version": "abc"}}, BAD),
    ("/model-version", {"model_version": {"name": "m", "version": "0"}}, BAD),
    ("/model-version", {"model_version": {"name": "m", "version": "1", "status": "GONE"}}, BAD),
    (
        "/model-version",
        {"model_version": {"name": "m", "version": "1", "current_stage": "Nope"}},
        BAD,
    ),
    ("/model-version", {"model_version": {"name": "m", "version": "1", "aliases": ["v2"]}}, BAD),
    ("/model-version", {"model_version": {"name": "no-such-model", "version": "1"}}, MISSING),
]


@pytest.mark.parametrize("path, body, code", MALFORMED)
def test_a_malformed_call_is_refused_with_its_error_code(
    open_server: tuple[LiveServer, str], path: str, body: dict[str, Any], code: str
) -> None:
    server, run_id = open_server
    sent = json.dumps(body).replace(f'"{HELD}"', f'"{run_id}"').encode()
    status, answer = _post(server, path, sent)
    assert (status, answer["error_code"]) == (400 if code == BAD else 404, code), answer
    assert answer["message"]
    assert b"Unexpected error" not in server.log.read_bytes()


def test_bodies_that_are_no_json_object_and_too_many_points_are_refused(
    open_server: tuple[LiveServer, str],
) -> None:
    server, run_id = open_server
    assert _post(server, "/run", b"{not json")[1]["error_code"] == "BAD_REQUEST"
    assert _post(server, "/run", b"[1]")[1]["error_code"] == "BAD_REQUEST"
    over = server_imports.MAX_POINTS + 1
    columns = {"values": [1.0] * over, "timestamps": [1] * over, "steps": list(range(over))}
    status, answer = _post(
        server, "/metric-points", json.dumps(_points(run_id, **columns)).encode()
    )
    assert (status, answer["error_code"]) == (400, BAD)
    assert f"At most {server_imports.MAX_POINTS} metric points" in answer["message"]


def test_a_rest_target_reads_what_a_database_target_would(
    open_server: tuple[LiveServer, str], tmp_path: Path
) -> None:
    """runs_of through the server gives the same runs as SqlImports on its database."""
    server, run_id = open_server
    from cairn.store.sql.imports import SqlImports

    over_http = _imports(f"http://127.0.0.1:{server.port}").runs_of([run_id])
    store = SqlTrackingStore(f"sqlite:///{server.database}", str(tmp_path))
    try:
        assert over_http == SqlImports(store).runs_of([run_id])
    finally:
        store.close()
