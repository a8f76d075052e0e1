"""The LoggedModel half of the TrackingStore contract (MLflow 3's models logged from runs),
on SQLite, PostgreSQL and MariaDB, and over REST (tests/rest/test_rest_contract.py)."""

from __future__ import annotations

import math
import re

import pytest

from cairn.entities import LoggedModelMetric, LoggedModelOutput, LoggedModelStatus, RunStatus
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError
from cairn.store.base import TrackingStore

UNKNOWN_MODEL = "m-" + "0" * 32


def _run_id(store: TrackingStore, experiment_id: str) -> str:
    return store.create_run(experiment_id, "tester", 1_000, [], None).info.run_id


def test_create_logged_model_records_what_it_was_given(store: TrackingStore) -> None:
    experiment_id = store.create_experiment("models")
    run_id = _run_id(store, experiment_id)
    model = store.create_logged_model(
        experiment_id,
        name="churn",
        source_run_id=run_id,
        tags={"team": "risk"},
        params={"alpha": "0.5"},
        model_type="sklearn",
    )
    assert re.fullmatch(r"m-[0-9a-f]{32}", model.model_id)
    assert model.status is LoggedModelStatus.PENDING
    assert (model.name, model.source_run_id, model.model_type) == ("churn", run_id, "sklearn")
    assert (model.tags, model.params) == ({"team": "risk"}, {"alpha": "0.5"})
    location = store.get_experiment(experiment_id).artifact_location
    assert model.artifact_uri == f"{location}/models/{model.model_id}/artifacts"
    assert model.creation_timestamp > 0
    assert store.get_logged_model(model.model_id) == model


def test_a_model_without_a_name_gets_one(store: TrackingStore) -> None:
    experiment_id = store.create_experiment("models")
    first = store.create_logged_model(experiment_id)
    second = store.create_logged_model(experiment_id)
    assert first.name and second.name
    assert first.model_id != second.model_id


def test_create_refuses_unknown_experiments_and_runs(store: TrackingStore) -> None:
    experiment_id = store.create_experiment("models")
    with pytest.raises(ResourceDoesNotExistError):
        store.create_logged_model("987654")
    with pytest.raises(ResourceDoesNotExistError):
        store.create_logged_model(experiment_id, source_run_id="0123456789abcdef0123456789abcdef")
    store.delete_experiment(experiment_id)
    with pytest.raises(InvalidParameterValueError):
        store.create_logged_model(experiment_id)


@pytest.mark.parametrize("model_id", [UNKNOWN_MODEL, "m-nothex", "../etc", "1"])
def test_unknown_or_malformed_ids_do_not_exist(store: TrackingStore, model_id: str) -> None:
    with pytest.raises(ResourceDoesNotExistError):
        store.get_logged_model(model_id)


def test_finalize_sets_the_final_status(store: TrackingStore) -> None:
    experiment_id = store.create_experiment("models")
    ready = store.create_logged_model(experiment_id)
    failed = store.create_logged_model(experiment_id)
    assert store.finalize_logged_model(ready.model_id, LoggedModelStatus.READY).status is (
        LoggedModelStatus.READY
    )
    assert store.finalize_logged_model(failed.model_id, LoggedModelStatus.UPLOAD_FAILED).status is (
        LoggedModelStatus.UPLOAD_FAILED
    )
    with pytest.raises(InvalidParameterValueError):
        store.finalize_logged_model(ready.model_id, LoggedModelStatus.PENDING)
    with pytest.raises(ResourceDoesNotExistError):
        store.finalize_logged_model(UNKNOWN_MODEL, LoggedModelStatus.READY)
    assert store.get_logged_model(ready.model_id).status is LoggedModelStatus.READY


def test_tags_are_set_overwritten_and_deleted(store: TrackingStore) -> None:
    experiment_id = store.create_experiment("models")
    model = store.create_logged_model(experiment_id, tags={"a": "1"})
    store.set_logged_model_tags(model.model_id, {"a": "2", "b": "3"})
    assert store.get_logged_model(model.model_id).tags == {"a": "2", "b": "3"}
    store.delete_logged_model_tag(model.model_id, "a")
    assert store.get_logged_model(model.model_id).tags == {"b": "3"}
    with pytest.raises(ResourceDoesNotExistError):
        store.delete_logged_model_tag(model.model_id, "a")
    with pytest.raises(InvalidParameterValueError):
        store.set_logged_model_tags(model.model_id, {"../bad": "x"})


def test_params_cannot_change_value(store: TrackingStore) -> None:
    experiment_id = store.create_experiment("models")
    model = store.create_logged_model(experiment_id, params={"alpha": "0.5"})
    store.log_logged_model_params(model.model_id, {"alpha": "0.5", "beta": "2"})
    with pytest.raises(InvalidParameterValueError, match="alpha"):
        store.log_logged_model_params(model.model_id, {"alpha": "0.9", "gamma": "1"})
    assert store.get_logged_model(model.model_id).params == {"alpha": "0.5", "beta": "2"}


def test_metrics_link_to_a_model_once(store: TrackingStore) -> None:
    experiment_id = store.create_experiment("models")
    run_id = _run_id(store, experiment_id)
    model = store.create_logged_model(experiment_id, source_run_id=run_id)
    points = [
        LoggedModelMetric("acc", 0.91, 5, 1, run_id, "test", "abc123"),
        LoggedModelMetric("loss", math.nan, 5, 1, run_id),
    ]
    store.log_model_metrics(model.model_id, points)
    store.log_model_metrics(model.model_id, points)  # a retried call stores nothing twice
    metrics = store.get_logged_model(model.model_id).metrics
    assert len(metrics) == 2
    acc = next(m for m in metrics if m.key == "acc")
    assert (acc.value, acc.step, acc.run_id, acc.dataset_name, acc.dataset_digest) == (
        0.91,
        1,
        run_id,
        "test",
        "abc123",
    )
    assert math.isnan(next(m for m in metrics if m.key == "loss").value)


def test_a_deleted_model_is_gone_except_when_asked_for(store: TrackingStore) -> None:
    experiment_id = store.create_experiment("models")
    model = store.create_logged_model(experiment_id, name="old")
    store.delete_logged_model(model.model_id)
    with pytest.raises(ResourceDoesNotExistError):
        store.get_logged_model(model.model_id)
    assert store.get_logged_model(model.model_id, allow_deleted=True).name == "old"
    assert list(store.search_logged_models([experiment_id])) == []
    with pytest.raises(ResourceDoesNotExistError):
        store.delete_logged_model(model.model_id)


def _scored_models(store: TrackingStore, experiment_id: str) -> dict[str, str]:
    run_id = _run_id(store, experiment_id)
    ids = {}
    for name, kind, acc in (("a", "sklearn", 0.7), ("b", "onnx", 0.9), ("c", "sklearn", 0.8)):
        model = store.create_logged_model(
            experiment_id, name=name, model_type=kind, params={"depth": name}, tags={"k": kind}
        )
        store.log_model_metrics(model.model_id, [LoggedModelMetric("acc", acc, 1, 0, run_id)])
        ids[name] = model.model_id
    return ids


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("metrics.acc > 0.75", {"b", "c"}),
        ("model_type = 'sklearn'", {"a", "c"}),
        ("name LIKE 'b%'", {"b"}),
        ("params.depth = 'c' AND tags.k = 'sklearn'", {"c"}),
        ("attributes.name IN ('a', 'b')", {"a", "b"}),
        ("status = 'LOGGED_MODEL_PENDING'", {"a", "b", "c"}),
        ("tags.k != 'onnx'", {"a", "c"}),
    ],
)
def test_search_filters(store: TrackingStore, filter_string: str, expected: set[str]) -> None:
    experiment_id = store.create_experiment("models")
    _scored_models(store, experiment_id)
    found = store.search_logged_models([experiment_id], filter_string)
    assert {m.name for m in found} == expected


def test_search_orders_and_pages(store: TrackingStore) -> None:
    experiment_id = store.create_experiment("models")
    _scored_models(store, experiment_id)
    by_acc = store.search_logged_models([experiment_id], order_by=["metrics.acc DESC"])
    assert [m.name for m in by_acc] == ["b", "c", "a"]
    newest_first = store.search_logged_models([experiment_id])
    assert [m.name for m in newest_first][-1] == "a"
    first = store.search_logged_models([experiment_id], max_results=2, order_by=["name"])
    assert [m.name for m in first] == ["a", "b"] and first.token
    rest = store.search_logged_models(
        [experiment_id], max_results=2, order_by=["name"], page_token=first.token
    )
    assert [m.name for m in rest] == ["c"] and rest.token is None


@pytest.mark.parametrize(
    "filter_string", ["metrics.acc > 'high'", "nonsense", "attributes.colour = 'red'"]
)
def test_search_refuses_bad_filters(store: TrackingStore, filter_string: str) -> None:
    experiment_id = store.create_experiment("models")
    with pytest.raises(InvalidParameterValueError):
        store.search_logged_models([experiment_id], filter_string)


def test_run_outputs_name_the_models_a_run_produced(store: TrackingStore) -> None:
    experiment_id = store.create_experiment("models")
    run_id = _run_id(store, experiment_id)
    model = store.create_logged_model(experiment_id, source_run_id=run_id)
    store.log_outputs(run_id, [LoggedModelOutput(model.model_id, 7)])
    store.log_outputs(run_id, [LoggedModelOutput(model.model_id, 7)])
    assert store.get_run(run_id).outputs.model_outputs == (LoggedModelOutput(model.model_id, 7),)
    (found,) = store.search_runs([experiment_id])
    assert found.outputs.model_outputs == (LoggedModelOutput(model.model_id, 7),)
    with pytest.raises(ResourceDoesNotExistError):
        store.log_outputs(run_id, [LoggedModelOutput(UNKNOWN_MODEL, 0)])
    store.update_run_info(run_id, RunStatus.FINISHED, 2_000)
    assert store.get_run(run_id).outputs.model_outputs[0].model_id == model.model_id
