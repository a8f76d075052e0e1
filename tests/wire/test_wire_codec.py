"""cairn.wire: every entity that crosses the wire comes back from its JSON as it went in.

Each round trip goes through real JSON bytes (orjson, as the server and the REST stores
send them), so NaN and infinities must travel as MLflow's strings and int64 extremes as
numbers. Equality is checked on `repr`, which treats every NaN alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import orjson
import pytest

from cairn import wire
from cairn.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    ExperimentTag,
    FileInfo,
    InputTag,
    LoggedModel,
    LoggedModelMetric,
    LoggedModelOutput,
    LoggedModelStatus,
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
    RunTag,
    ViewType,
)
from cairn.exceptions import InvalidParameterValueError

T = TypeVar("T")
INT64_MAX, INT64_MIN = 2**63 - 1, -(2**63)
RUN_ID = "a" * 32
SPECIAL = (math.nan, math.inf, -math.inf, float("nan"))


def round_trip(
    entity: T, encode: Callable[[T], dict[str, Any]], parse: Callable[[Mapping[str, Any]], T]
) -> T:
    """entity → JSON bytes → entity, asserting the result is the same entity."""
    back = parse(orjson.loads(orjson.dumps(encode(entity))))
    assert type(back) is type(entity)
    assert repr(back) == repr(entity)
    return back


def dataset_input(name: str, schema: str | None = None) -> DatasetInput:
    found = Dataset(name, "d1g35t", "local", f"file:///{name}.csv", schema, None)
    return DatasetInput(found, (InputTag("mlflow.data.context", "training"),))


def full_run() -> Run:
    info = RunInfo(
        RUN_ID, "7", "brave-owl", "ada", "FINISHED", 1, 2, "mlflow-artifacts:/7", "active"
    )
    metrics = tuple(Metric(f"m{i}", v, i, i) for i, v in enumerate(SPECIAL))
    metrics += (Metric("big", 1.5, INT64_MAX, INT64_MIN),)
    return Run(
        info,
        RunData(metrics, {"lr": "0.1", "empty": ""}, {"mlflow.user": "ada"}),
        RunInputs((dataset_input("train", '{"a": 1}'), dataset_input("test"))),
        RunOutputs((LoggedModelOutput("m-1", 3),), (dataset_input("predictions"),)),
    )


# -- tracking ------------------------------------------------------------------------------


def test_an_experiment_round_trips_with_and_without_its_optional_fields() -> None:
    full = Experiment("7", "exp", "s3://b/7", "deleted", {"team": "ml"}, 10, INT64_MAX)
    round_trip(full, wire.experiment, wire.parse_experiment)
    bare = Experiment("0", "Default", "", "active")
    assert "creation_time" not in wire.experiment(bare)
    round_trip(bare, wire.experiment, wire.parse_experiment)


def test_a_run_round_trips_with_nan_infinities_int64_extremes_inputs_and_outputs() -> None:
    run = full_run()
    encoded = wire.run(run)
    values = [m["value"] for m in encoded["data"]["metrics"]]
    assert values == ["NaN", "Infinity", "-Infinity", "NaN", 1.5]
    assert encoded["info"]["run_uuid"] == RUN_ID
    round_trip(run, wire.run, wire.parse_run)


def test_a_run_with_nothing_logged_round_trips_and_empty_fields_are_left_out() -> None:
    info = RunInfo(RUN_ID, "0", "", "", "RUNNING", 5, None, "", "active")
    run = Run(info)
    assert wire.run(run) == {"info": wire.run_info(info), "data": {}, "inputs": {}}
    assert "end_time" not in wire.run_info(info)
    round_trip(run, wire.run, wire.parse_run)
    round_trip(info, wire.run_info, wire.parse_run_info)


def test_a_run_read_from_minimal_json_takes_the_proto_defaults() -> None:
    run = wire.parse_run({"info": {"run_uuid": RUN_ID, "experiment_id": 3, "status": 3}})
    assert run == Run(RunInfo(RUN_ID, "3", "", "", "FINISHED", 0, None, "", "active"))


def test_metrics_round_trip_and_int64s_may_arrive_as_strings() -> None:
    points = [Metric("m", v, INT64_MAX, INT64_MIN) for v in (*SPECIAL, 0.0, -2.5)]
    back = wire.parse_metrics(orjson.loads(orjson.dumps([wire.metric(m) for m in points])))
    assert repr(back) == repr(points)
    sent = {"key": "m", "value": "-Infinity", "timestamp": str(INT64_MAX), "step": str(INT64_MIN)}
    assert wire.parse_metric(sent) == Metric("m", -math.inf, INT64_MAX, INT64_MIN)
    assert wire.parse_metric({"key": "m", "value": 1, "timestamp": 2}).step == 0


def test_a_metric_without_its_required_fields_is_refused_with_its_path() -> None:
    with pytest.raises(InvalidParameterValueError, match=r"'metrics\[1\]\.timestamp'"):
        wire.parse_metrics([{"key": "a", "value": 1, "timestamp": 1}, {"key": "b", "value": 1}])
    with pytest.raises(InvalidParameterValueError, match=r"'metrics\[0\]\.value'"):
        wire.parse_metrics([{"key": "m", "value": "lots", "timestamp": 1}])


def test_params_and_tags_round_trip_as_key_value_pairs() -> None:
    params = [Param("lr", "0.1"), Param("empty", "")]
    assert wire.parse_params(orjson.loads(orjson.dumps(wire.pairs(params)))) == params
    tags = [RunTag("a", "1"), RunTag("b", "x")]
    assert wire.parse_run_tags(wire.pairs(tags)) == tags
    experiment_tags = [ExperimentTag("team", "ml")]
    assert wire.parse_experiment_tags(wire.pairs(experiment_tags)) == experiment_tags
    mapping = {"k": "v", "n": 3}  # a number a caller passed goes as its text
    assert wire.pairs(mapping) == [{"key": "k", "value": "v"}, {"key": "n", "value": "3"}]
    assert wire.parse_tag_map([{"key": "k"}, {"key": "k", "value": "last"}]) == {"k": "last"}
    assert wire.pairs(None) == []


def test_dataset_inputs_round_trip_and_need_their_identifying_fields() -> None:
    given = [dataset_input("train", '{"a": 1}'), dataset_input("test")]
    encoded = orjson.loads(orjson.dumps([wire.dataset_input(d) for d in given]))
    assert "schema" not in encoded[1]["dataset"]
    assert wire.parse_dataset_inputs(encoded) == given
    with pytest.raises(InvalidParameterValueError, match="'dataset.digest'"):
        wire.parse_dataset_input({"dataset": {"name": "n", "source_type": "t", "source": "s"}})


def test_a_file_info_leaves_out_the_size_of_a_directory() -> None:
    assert wire.file_info(FileInfo("a/b.txt", False, 0)) == {
        "path": "a/b.txt",
        "is_dir": False,
        "file_size": 0,
    }
    assert wire.file_info(FileInfo("a", True)) == {"path": "a", "is_dir": True}


# -- logged models -------------------------------------------------------------------------


def test_a_logged_model_round_trips_with_its_metrics_tags_and_params() -> None:
    metrics = (
        LoggedModelMetric("acc", math.nan, INT64_MAX, INT64_MIN, RUN_ID, "eval", "d1g35t"),
        LoggedModelMetric("loss", -math.inf, 1, 0),
    )
    model = LoggedModel(
        "m-1",
        "7",
        "model",
        "mlflow-artifacts:/7/models/m-1/artifacts",
        1,
        2,
        LoggedModelStatus.READY,
        "ada",
        "sklearn",
        RUN_ID,
        "uploaded",
        {"t": "1"},
        {"alpha": "0.5"},
        metrics,
    )
    round_trip(model, wire.logged_model, wire.parse_logged_model)
    bare = LoggedModel("m-2", "7", "", "", 0, 0)
    round_trip(bare, wire.logged_model, wire.parse_logged_model)


def test_model_metrics_in_a_log_batch_are_grouped_by_model_and_take_the_batch_run() -> None:
    point = LoggedModelMetric("acc", math.inf, 5, 1, "other-run", "eval", "d1g35t")
    batch = [wire.metric(Metric("plain", 1.0, 1)), wire.model_metric(point, "m-1")]
    linked = wire.parse_model_metrics(orjson.loads(orjson.dumps(batch)), RUN_ID)
    expected = LoggedModelMetric("acc", math.inf, 5, 1, RUN_ID, "eval", "d1g35t")
    assert linked == {"m-1": [expected]}


def test_run_outputs_status_and_order_objects_round_trip() -> None:
    outputs = [LoggedModelOutput("m-1", 0), LoggedModelOutput("m-2", INT64_MAX)]
    assert wire.parse_model_outputs([wire.model_output(o) for o in outputs]) == outputs
    for status in LoggedModelStatus:
        assert wire.parse_logged_model_status(status.value) is status
    assert wire.parse_logged_model_status(2) is LoggedModelStatus.READY
    with pytest.raises(InvalidParameterValueError, match="'status'"):
        wire.parse_logged_model_status("DONE")
    for clause in ("metrics.acc DESC", "name ASC"):
        assert wire.parse_order_clause(0, wire.order_object(clause)) == clause
    assert wire.parse_order_clause(0, wire.order_object("name")) == "name ASC"


# -- registry ------------------------------------------------------------------------------


def model_version(version: str, **fields: Any) -> ModelVersion:
    return ModelVersion("model", version, 1, INT64_MAX, **fields)


def test_a_model_version_round_trips_with_and_without_its_optional_fields() -> None:
    full = model_version(
        "3",
        current_stage="Production",
        description="the good one",
        source="models:/m-1",
        run_id=RUN_ID,
        status="PENDING_REGISTRATION",
        status_message="copying",
        user_id="ada",
        run_link="http://x/run",
        model_id="m-1",
        tags={"k": "v"},
        aliases=("champion", "prod"),
    )
    round_trip(full, wire.model_version, wire.parse_model_version)
    bare = model_version("1")
    assert "run_id" not in wire.model_version(bare)
    round_trip(bare, wire.model_version, wire.parse_model_version)
    assert wire.parse_model_version({"name": "model", "version": 4}).version == "4"


def test_a_registered_model_round_trips_with_its_versions_and_aliases() -> None:
    versions = (model_version("1", current_stage="Staging"), model_version("2"))
    model = RegisteredModel(
        "model", 1, 2, "desc", "ada", versions, {"team": "ml"}, {"champion": "2", "old": "1"}
    )
    encoded = wire.registered_model(model)
    assert encoded["aliases"] == [
        {"alias": "champion", "version": "2"},
        {"alias": "old", "version": "1"},
    ]
    round_trip(model, wire.registered_model, wire.parse_registered_model)
    round_trip(RegisteredModel("bare", 0, 0), wire.registered_model, wire.parse_registered_model)


@pytest.mark.parametrize("kind", list(ModelVersionEventKind))
def test_a_model_version_event_round_trips(kind: ModelVersionEventKind) -> None:
    event = ModelVersionEvent("model", "2", kind, INT64_MAX, "ada", "Staging", "Production", "a")
    round_trip(event, wire.model_version_event, wire.parse_model_version_event)
    bare = ModelVersionEvent("model", "2", kind, 0)
    round_trip(bare, wire.model_version_event, wire.parse_model_version_event)


# -- scalars and pages ---------------------------------------------------------------------


def test_scalars_are_read_liberally_and_refused_with_mlflows_message() -> None:
    assert wire.parse_int("n", " 42 ") == 42 and wire.parse_int("n", 3.0) == 3
    assert wire.parse_id("experiment_id", 7) == "7"
    assert wire.parse_ids("ids", ["1", 2]) == ["1", "2"]
    assert wire.parse_view_type("v", "2") is ViewType.DELETED_ONLY
    assert wire.parse_view_type("v", "all") is ViewType.ALL
    assert wire.parse_run_status("5").value == "KILLED"
    for bad in (True, "1.5", None):
        with pytest.raises(InvalidParameterValueError, match="for parameter 'n'"):
            wire.parse_int("n", bad)
    with pytest.raises(InvalidParameterValueError, match="for parameter 'x'"):
        wire.parse_double("x", "lots")


def test_a_page_round_trips_and_an_empty_one_is_an_empty_object() -> None:
    experiments = [Experiment(str(i), f"e{i}", "", "active") for i in range(3)]
    answer = wire.page("experiments", [wire.experiment(e) for e in experiments], "next")
    found = wire.parse_page(answer, "experiments", wire.parse_experiment)
    assert list(found) == experiments and found.token == "next"
    assert wire.page("experiments", [], None) == {}
    empty = wire.parse_page({}, "experiments", wire.parse_experiment)
    assert list(empty) == [] and empty.token is None
