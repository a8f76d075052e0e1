"""What RestTrackingStore puts on the wire, read by a scripted in-process server: the
hot path's batching, NaN and infinities, paging, and MLflow's field names."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from scripted_server import Scripted, running

from cairn import wire
from cairn.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModel,
    LoggedModelMetric,
    LoggedModelOutput,
    Metric,
    ModelVersion,
    ModelVersionEvent,
    ModelVersionEventKind,
    Param,
    RegisteredModel,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
    RunStatus,
    RunTag,
    ViewType,
)
from cairn.exceptions import CairnError, InvalidParameterValueError, TemporarilyUnavailableError
from cairn.store.rest.http import HttpSession, RetryPolicy
from cairn.store.rest.registry import RestRegistryStore
from cairn.store.rest.tracking import RestTrackingStore

API = "/api/2.0/mlflow"
RUN_A, RUN_B = "a" * 32, "b" * 32
INFO = {
    "run_id": RUN_A,
    "run_uuid": RUN_A,
    "run_name": "n",
    "experiment_id": "1",
    "user_id": "u",
    "status": "FINISHED",
    "start_time": 1,
    "end_time": 2,
    "artifact_uri": "mlflow-artifacts:/1/x/artifacts",
    "lifecycle_stage": "active",
}


@pytest.fixture
def server() -> Iterator[Scripted]:
    with running(Scripted()) as scripted:
        yield scripted


@pytest.fixture
def store(server: Scripted) -> RestTrackingStore:
    policy = RetryPolicy(max_retries=2, backoff_factor=0.001, backoff_max=0.001, deadline=10)
    return RestTrackingStore(server.url, session=HttpSession(server.url, retry=policy))


def bodies(server: Scripted) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in server.received]


def test_metric_points_go_in_one_log_batch_per_run_and_thousand(
    server: Scripted, store: RestTrackingStore
) -> None:
    points = [(RUN_A, "m", float(i), 5, i) for i in range(2_500)]
    points += [(RUN_B, "n", math.nan, 6, 0), (RUN_B, "n", math.inf, 6, 1)]
    points += [(RUN_B, "n", -math.inf, 6, 2)]
    store.log_metric_points(points)
    assert [r.path for r in server.received] == [f"{API}/runs/log-batch"] * 4
    sent = bodies(server)
    assert [(b["run_id"], len(b["metrics"])) for b in sent] == [
        (RUN_A, 1000),
        (RUN_A, 1000),
        (RUN_A, 500),
        (RUN_B, 3),
    ]
    assert [m["step"] for b in sent[:3] for m in b["metrics"]] == list(range(2_500))
    assert sent[0]["metrics"][7] == {"key": "m", "value": 7.0, "timestamp": 5, "step": 7}
    assert [m["value"] for m in sent[3]["metrics"]] == ["NaN", "Infinity", "-Infinity"]
    assert all("params" not in b and "tags" not in b for b in sent)


def test_a_refused_run_does_not_stop_the_others(server: Scripted, store: RestTrackingStore) -> None:
    server.answer(200, {})
    server.answer(404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"Run {RUN_B}?"})
    points = [(RUN_A, "m", 1.0, 1, 0), (RUN_B, "m", 1.0, 1, 0), (RUN_A, "m", 2.0, 1, 1)]
    points += [("c" * 32, "m", 1.0, 1, 0)]
    with pytest.raises(InvalidParameterValueError) as info:
        store.log_metric_points(points)
    assert RUN_B in info.value.message and RUN_A not in info.value.message
    assert [b["run_id"] for b in bodies(server)] == [RUN_A, RUN_B, "c" * 32]


def test_log_batch_is_retried_and_run_creation_is_not(
    server: Scripted, store: RestTrackingStore
) -> None:
    server.answer(503)
    store.log_metric_points([(RUN_A, "m", 1.0, 1, 0)])
    assert len(server.received) == 2
    server.answer(503)
    with pytest.raises(TemporarilyUnavailableError, match="503"):
        store.create_run("1", "u", 1, [], "r")
    assert len(server.received) == 3


def test_end_run_sends_the_last_points_then_the_end(
    server: Scripted, store: RestTrackingStore
) -> None:
    server.answer(200, {})
    server.answer(200, {"run_info": INFO})
    store.end_run(RUN_A, RunStatus.FINISHED, 2, [(RUN_A, "m", 1.0, 1, 0)])
    assert [r.path for r in server.received] == [f"{API}/runs/log-batch", f"{API}/runs/update"]
    assert bodies(server)[1] == {
        "run_id": RUN_A,
        "run_uuid": RUN_A,
        "status": "FINISHED",
        "end_time": 2,
    }


def test_end_run_refuses_a_bad_end_time_before_sending(
    server: Scripted, store: RestTrackingStore
) -> None:
    with pytest.raises(InvalidParameterValueError):
        store.end_run(RUN_A, RunStatus.FINISHED, -5, [(RUN_A, "m", 1.0, 1, 0)])
    assert server.received == []


def test_a_whole_history_is_fetched_in_pages_of_25000(
    server: Scripted, store: RestTrackingStore
) -> None:
    page = [{"key": "m", "value": "NaN", "timestamp": "3", "step": 1}]
    server.answer(200, {"metrics": page, "next_page_token": "tok1"})
    server.answer(200, {"metrics": [{"key": "m", "value": 2, "timestamp": 4, "step": 2}]})
    history = store.get_metric_history(RUN_A, "m")
    assert len(history) == 2 and history.token is None
    assert math.isnan(history[0].value) and history[0].timestamp == 3
    assert [r.query for r in server.received] == [
        {"run_id": [RUN_A], "run_uuid": [RUN_A], "metric_key": ["m"], "max_results": ["25000"]},
        {
            "run_id": [RUN_A],
            "run_uuid": [RUN_A],
            "metric_key": ["m"],
            "max_results": ["25000"],
            "page_token": ["tok1"],
        },
    ]


def test_searches_pass_tokens_and_mlflow_field_names(
    server: Scripted, store: RestTrackingStore
) -> None:
    server.answer(200, {"runs": [{"info": INFO}], "next_page_token": "next"})
    found = store.search_runs(
        ["1", "2"], "metrics.m > 1", ViewType.ALL, 10, ["metrics.m DESC"], "prev"
    )
    assert found.token == "next" and found[0].info.run_id == RUN_A
    assert found[0].info.end_time == 2 and found[0].data.metrics == {}
    server.answer(200, {})
    experiments = store.search_experiments(ViewType.DELETED_ONLY, 5, "name = 'x'", None, "t")
    assert list(experiments) == [] and experiments.token is None
    assert bodies(server) == [
        {
            "experiment_ids": ["1", "2"],
            "filter": "metrics.m > 1",
            "run_view_type": "ALL",
            "max_results": 10,
            "order_by": ["metrics.m DESC"],
            "page_token": "prev",
        },
        {"view_type": "DELETED_ONLY", "max_results": 5, "filter": "name = 'x'", "page_token": "t"},
    ]


def test_a_missing_experiment_by_name_is_none(server: Scripted, store: RestTrackingStore) -> None:
    server.answer(404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no such"})
    assert store.get_experiment_by_name("ghost") is None
    server.answer(404, b"<html>no such endpoint</html>", **{"Content-Type": "text/html"})
    with pytest.raises(CairnError) as info:  # an old server: not "no such experiment"
        store.get_experiment_by_name("ghost")
    assert info.value.error_code == "ENDPOINT_NOT_FOUND"


# -- one codec: the store reads what the server writes, and writes what it reads ----------


def test_the_store_reads_the_servers_answers_back_into_the_same_entities(
    server: Scripted, store: RestTrackingStore
) -> None:
    metrics = (Metric("nan", math.nan, 2**63 - 1, -(2**63)), Metric("inf", math.inf, 1, 0))
    info = RunInfo(RUN_A, "1", "n", "u", "FINISHED", 1, None, "mlflow-artifacts:/1", "active")
    dataset = DatasetInput(Dataset("d", "1234", "local", "file:///d.csv"), (InputTag("k", "v"),))
    run = Run(
        info,
        RunData(metrics, {"p": "1"}, {"t": "x"}),
        RunInputs((dataset,)),
        RunOutputs((LoggedModelOutput("m-1", 2),), (dataset,)),
    )
    model = LoggedModel("m-1", "1", "model", "", 1, 2, tags={"t": "1"}, params={"a": "b"})
    server.answer(200, {"run": wire.run(run)})
    server.answer(200, {"model": wire.logged_model(model)})
    assert repr(store.get_run(RUN_A)) == repr(run)
    assert store.get_logged_model("m-1") == model


def test_the_server_reads_what_the_store_sends_back_into_the_same_entities(
    server: Scripted, store: RestTrackingStore
) -> None:
    metrics = [Metric("m", math.nan, 2**63 - 1, -(2**63)), Metric("m", -math.inf, 1, 1)]
    params, tags = [Param("p", "1")], [RunTag("t", "x")]
    datasets = [DatasetInput(Dataset("d", "1234", "local", "s3://b/d"), (InputTag("k", "v"),))]
    linked = [LoggedModelMetric("acc", 0.5, 3, 0, RUN_B, "d", "1234")]
    store.log_batch(RUN_A, metrics, params, tags)
    store.log_inputs(RUN_A, datasets)
    store.log_model_metrics("m-1", linked)
    batch, inputs, model_batch = bodies(server)
    assert repr(wire.parse_metrics(batch["metrics"])) == repr(metrics)
    assert wire.parse_params(batch["params"]) == params
    assert wire.parse_run_tags(batch["tags"]) == tags
    assert wire.parse_dataset_inputs(inputs["datasets"]) == datasets
    assert wire.parse_model_metrics(model_batch["metrics"], model_batch["run_id"]) == {
        "m-1": linked
    }


def test_the_registry_store_reads_the_servers_answers_back_into_the_same_entities(
    server: Scripted,
) -> None:
    registry = RestRegistryStore(server.url, session=HttpSession(server.url))
    version = ModelVersion("m", "2", 1, 2, "Production", run_id=RUN_A, aliases=("champion",))
    model = RegisteredModel("m", 1, 2, "d", "u", (version,), {"k": "v"}, {"champion": "2"})
    event = ModelVersionEvent("m", "2", ModelVersionEventKind.ALIAS_SET, 3, "u", "1", alias="a")
    server.answer(200, {"registered_model": wire.registered_model(model)})
    server.answer(200, {"model_versions": [wire.model_version(version)]})
    server.answer(200, {wire.HISTORY_FIELD: [wire.model_version_event(event)]})
    assert registry.get_registered_model("m") == model
    assert list(registry.search_model_versions()) == [version]
    assert registry.get_model_version_history("m", "2") == [event]
