"""SqlImports, the identity-keeping writes of `cairn import`, straight on a database (as
`cairn import … --to sqlite:///…` uses them), on SQLite, PostgreSQL and MariaDB: ids,
times and version numbers are kept, repeats change nothing, deleted runs take their
history, and a bad value or a missing run, experiment or registered model is a CairnError
(never a driver's error) that leaves nothing of the write behind."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa

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
from cairn.exceptions import (
    CairnError,
    InvalidParameterValueError,
    ResourceDoesNotExistError,
)
from cairn.store.sql import import_checks
from cairn.store.sql.imports import SqlImports
from cairn.store.sql.registry import SqlRegistryStore
from cairn.store.sql.schema import experiments, metadata, registered_models
from cairn.store.sql.tracking import SqlTrackingStore
from cairn.store.validation import FLOAT_MAX

CREATED = 1_600_000_000_000  # times an import must keep, far from "now"
START = 1_650_000_000_000
UNKNOWN_RUN = "f" * 32
DATASET = DatasetInput(
    Dataset("train", "d1g3st", "local", '{"uri": "/data"}'),
    (InputTag("mlflow.data.context", "training"),),
)


@pytest.fixture
def writes(store: SqlTrackingStore) -> SqlImports:
    return SqlImports(store)


def _run(experiment_id: str = "0", **info: Any) -> Run:
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


def _logged_model(experiment_id: str, run_id: str | None = None, **fields: Any) -> LoggedModel:
    return LoggedModel(
        fields.pop("model_id", f"m-{uuid.uuid4().hex}"),
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
        **fields,
    )


def _version(name: str, number: str, **fields: Any) -> ModelVersion:
    return ModelVersion(name, number, CREATED, CREATED + 3, **fields)


def _everything(store: SqlTrackingStore) -> dict[str, list[str]]:
    """Every row of every table, to show that a refused write left nothing behind."""
    with store.engine.connect() as conn:
        return {
            table.name: sorted(map(repr, conn.execute(sa.select(table))))
            for table in metadata.sorted_tables
        }


# -- identity and repeats --------------------------------------------------------------------


def test_an_experiment_keeps_its_id_where_free(writes: SqlImports, store: SqlTrackingStore) -> None:
    experiment = Experiment("4242", "imported", "", "active", {"team": "vision"})
    experiment = replace(experiment, creation_time=CREATED, last_update_time=CREATED + 5)
    assert writes.put_experiment(experiment) == ("4242", True)
    assert writes.put_experiment(experiment) == ("4242", False)
    # Its id taken, another gets a new one; so does one the store makes later, and one
    # whose id no database column holds (MLflow's file store makes 18 digits).
    other, created = writes.put_experiment(replace(experiment, name="other"))
    assert created and other not in ("0", "4242")
    made = store.create_experiment("made-later")
    huge, _ = writes.put_experiment(
        replace(experiment, experiment_id="123456789012345678", name="huge")
    )
    assert len({"0", "4242", other, made, huge}) == 5
    seen = store.get_experiment("4242")
    assert (seen.name, seen.tags, seen.lifecycle_stage) == (
        "imported",
        {"team": "vision"},
        "active",
    )
    assert (seen.creation_time, seen.last_update_time) == (CREATED, CREATED + 5)
    assert seen.artifact_location == f"{store.artifact_root}/4242"


def test_a_run_keeps_its_id_times_and_history(writes: SqlImports, store: SqlTrackingStore) -> None:
    run = _run()
    run_id = run.info.run_id
    artifact_uri, conflicts = writes.put_run(run, "0", None)
    assert conflicts == [] and artifact_uri.endswith(f"/{run_id}/artifacts")
    assert writes.put_run(run, "0", None) == (artifact_uri, [])
    other_lr = replace(run, data=RunData(params={"lr": "0.2"}))
    assert writes.put_run(other_lr, "0", None) == (artifact_uri, ["lr"])
    assert writes.runs_of([run_id, UNKNOWN_RUN])[run_id].info.status == "RUNNING"

    values = [0.5, math.nan, math.inf, -math.inf, 0.25]
    history = [(run_id, "loss", v, START + i, i) for i, v in enumerate(values)]
    writes.put_metric_points(history)
    writes.put_metric_points(history)  # exact repeats are stored once
    writes.put_metric_points([(run_id, "count", 3, START, 0)])  # an int value, as a float
    writes.put_datasets(run_id, [DATASET], [])
    writes.put_datasets(run_id, [DATASET], [])
    writes.finish_run(run, None)
    writes.finish_run(run, None)

    seen = store.get_run(run_id)
    assert seen.info == replace(run.info, artifact_uri=artifact_uri)
    assert seen.data.params == {"lr": "0.1"} and seen.data.tags["team"] == "vision"
    assert [d.dataset.digest for d in seen.inputs.dataset_inputs] == ["d1g3st"]
    points = list(store.get_metric_history(run_id, "loss"))
    assert [(m.step, m.timestamp) for m in points] == [(i, START + i) for i in range(5)]
    read = [m.value for m in points]
    assert read[0] == 0.5 and math.isnan(read[1]) and read[2:] == [FLOAT_MAX, -FLOAT_MAX, 0.25]
    [count] = store.get_metric_history(run_id, "count")
    assert count.value == 3.0 and isinstance(count.value, float)


def test_runs_of_passes_over_ids_no_run_can_have(writes: SqlImports) -> None:
    run = _run()
    writes.put_run(run, "0", None)
    held = writes.runs_of(["a\x00b", run.info.run_id, "", UNKNOWN_RUN])
    assert list(held) == [run.info.run_id]


def test_logged_models_and_versions_keep_ids_and_numbers(
    writes: SqlImports, store: SqlTrackingStore, registry: SqlRegistryStore
) -> None:
    run = _run()
    run_id = run.info.run_id
    writes.put_run(run, "0", None)
    model = _logged_model("0", run_id)
    model_uri, created = writes.put_logged_model(model, "0", None)
    assert created and model_uri.endswith(f"/models/{model.model_id}/artifacts")
    assert writes.put_logged_model(model, "0", None) == (model_uri, False)
    writes.put_model_outputs(run_id, [LoggedModelOutput(model.model_id, 2)])
    writes.put_model_outputs(run_id, [LoggedModelOutput(model.model_id, 2)])

    registered = RegisteredModel(
        "imported-model", CREATED, CREATED + 2, "imported", tags={"o": "ml"}
    )
    assert writes.put_registered_model(registered) is True
    assert writes.put_registered_model(registered) is False
    first = _version(
        "imported-model",
        "1",
        current_stage="production",  # any case, stored as MLflow spells it
        source=f"models:/{model.model_id}",
        run_id=run_id,
        user_id="alice",
        model_id=model.model_id,
        tags={"t": "1"},
        aliases=("champion",),
    )
    third = replace(first, version="3", current_stage="None", aliases=("challenger",))
    second = replace(first, version="2", current_stage="Archived", aliases=())
    for version in (first, third, second):  # the second after the third: numbering holds
        assert writes.put_model_version(version) is True
        assert writes.put_model_version(version) is False

    seen = store.get_logged_model(model.model_id)
    assert (seen.model_id, seen.name, seen.creation_timestamp) == (model.model_id, "net", CREATED)
    assert seen.params == {"alpha": "1"} and seen.tags == {"k": "v"}
    assert [(m.key, m.value, m.step) for m in seen.metrics] == [("acc", 0.9, 2)]
    outputs = store.get_run(run_id).outputs.model_outputs
    assert [(o.model_id, o.step) for o in outputs] == [(model.model_id, 2)]
    v1 = registry.get_model_version("imported-model", "1")
    assert (v1.current_stage, v1.creation_timestamp, v1.user_id) == ("Production", CREATED, "alice")
    assert v1.aliases == ("champion",) and v1.tags == {"t": "1"}
    assert registry.get_model_version("imported-model", "2").current_stage == "Archived"
    with store.engine.connect() as conn:
        last = conn.execute(sa.select(registered_models.c.last_version)).scalar_one()
    assert last == 3
    made = registry.create_model_version("imported-model", f"runs:/{run_id}/model", run_id)
    assert made.version == "4"
    held = registry.get_registered_model("imported-model")
    assert (held.description, held.creation_timestamp, held.tags) == (
        "imported",
        CREATED,
        {"o": "ml"},
    )


def test_a_deleted_run_takes_its_points_and_datasets(
    writes: SqlImports, store: SqlTrackingStore
) -> None:
    run = _run(status="KILLED", lifecycle_stage="deleted")
    run_id = run.info.run_id
    writes.put_run(run, "0", None)
    writes.finish_run(run, START + 120_000)
    writes.put_metric_points([(run_id, "x", 1.0, START, 0), (run_id, "x", 2.0, START + 1, 1)])
    writes.put_datasets(run_id, [DATASET], [DATASET])
    seen = store.get_run(run_id)
    assert (seen.info.lifecycle_stage, seen.info.status) == ("deleted", "KILLED")
    assert len(seen.inputs.dataset_inputs) == 1 and len(seen.outputs.dataset_outputs) == 1
    history = store.get_metric_history(run_id, "x")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 2.0)]


# -- refused writes ------------------------------------------------------------------------------

BAD, MISSING = InvalidParameterValueError, ResourceDoesNotExistError
HELD_MODEL = "held-model"


@pytest.fixture
def held(writes: SqlImports) -> str:
    """The id of a run the store holds (in the Default experiment), beside a registered
    model HELD_MODEL, for the writes below to name."""
    run = _run()
    writes.put_run(run, "0", None)
    writes.put_registered_model(RegisteredModel(HELD_MODEL, CREATED, CREATED))
    return run.info.run_id


def _with(params: dict[str, str] | None = None, tags: dict[str, str] | None = None) -> Run:
    return replace(_run(), data=RunData(params=params or {}, tags=tags or {}))


def _points(held: str, *bad: Any) -> list[Any]:
    """A good point of the held run, then `bad` (a point's fields) after it."""
    return [(held, "m", 1.0, START, 0), bad]


Write = Callable[[SqlImports, str], object]
"""A write, given the writes and the id of the held run."""

REFUSED: dict[str, tuple[Write, type[CairnError]]] = {
    "param value with NUL": (
        lambda w, held: w.put_run(_with(params={"p": "a\x00b"}), "0", None),
        BAD,
    ),
    "run start beyond 64 bits": (lambda w, held: w.put_run(_run(start_time=2**70), "0", None), BAD),
    "run status unknown": (lambda w, held: w.put_run(_run(status="BOGUS"), "0", None), BAD),
    "run in a missing experiment": (lambda w, held: w.put_run(_run(), "999999", None), MISSING),
    "experiment tag key too long": (
        lambda w, held: w.put_experiment(Experiment("7", "e", "", "active", {"k" * 251: "v"})),
        BAD,
    ),
    "experiment id no number": (
        lambda w, held: w.put_experiment(Experiment("x1", "e", "", "active")),
        BAD,
    ),
    "point time beyond 64 bits": (
        lambda w, held: w.put_metric_points(_points(held, held, "m", 2.0, 2**70, 1)),
        BAD,
    ),
    "point value no number": (
        lambda w, held: w.put_metric_points(_points(held, held, "m", "abc", START, 1)),
        BAD,
    ),
    "point step a bool": (
        lambda w, held: w.put_metric_points(_points(held, held, "m", 2.0, START, True)),
        BAD,
    ),
    "metric key too long": (
        lambda w, held: w.put_metric_points(_points(held, held, "k" * 251, 2.0, START, 1)),
        BAD,
    ),
    "metric key with NUL": (
        lambda w, held: w.put_metric_points(_points(held, held, "a\x00b", 2.0, START, 1)),
        BAD,
    ),
    "points of a missing run": (
        lambda w, held: w.put_metric_points(_points(held, UNKNOWN_RUN, "m", 2.0, START, 1)),
        MISSING,
    ),
    "datasets of a missing run": (
        lambda w, held: w.put_datasets(UNKNOWN_RUN, [DATASET], []),
        MISSING,
    ),
    "model outputs of a missing run": (
        lambda w, held: w.put_model_outputs(UNKNOWN_RUN, [LoggedModelOutput("m-1", 0)]),
        MISSING,
    ),
    "end of a missing run": (lambda w, held: w.finish_run(_run(run_id=UNKNOWN_RUN), None), MISSING),
    "deletion time beyond 64 bits": (
        lambda w, held: w.finish_run(_run(run_id=held, lifecycle_stage="deleted"), 2**70),
        BAD,
    ),
    "logged model in a missing experiment": (
        lambda w, held: w.put_logged_model(_logged_model("4242"), "4242", None),
        MISSING,
    ),
    "logged model id too long": (
        lambda w, held: w.put_logged_model(_logged_model("0", model_id="m" * 65), "0", None),
        BAD,
    ),
    "registered model description with NUL": (
        lambda w, held: w.put_registered_model(
            RegisteredModel("other", CREATED, CREATED, "a\x00b")
        ),
        BAD,
    ),
    "version of a missing registered model": (
        lambda w, held: w.put_model_version(_version("no-such-model", "1")),
        MISSING,
    ),
    "version in an unknown stage": (
        lambda w, held: w.put_model_version(_version(HELD_MODEL, "1", current_stage="Nope")),
        BAD,
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_refused_write_is_a_cairn_error_and_leaves_nothing(
    case: str, writes: SqlImports, store: SqlTrackingStore, held: str
) -> None:
    write, error = REFUSED[case]
    before = _everything(store)
    with pytest.raises(error) as raised:
        write(writes, held)
    assert raised.value.message
    assert _everything(store) == before


def test_a_value_the_database_still_refuses_is_invalid_parameter_value(
    store: SqlTrackingStore,
) -> None:
    """A race on an experiment's name, say: the database's IntegrityError, reported as
    INVALID_PARAMETER_VALUE with the database's reason."""
    taken = {"name": "Default", "lifecycle_stage": "active"}
    with pytest.raises(InvalidParameterValueError, match="The database refused the import"):
        with import_checks.database_refusals(), store.engine.begin() as conn:
            conn.execute(experiments.insert().values(**taken))


def test_a_value_longer_than_the_api_takes_is_kept_whole(writes: SqlImports) -> None:
    """MLflow's file store has no limit (a long `mlflow.log-model.history` is common):
    an import keeps what the column can hold rather than skip the run."""
    long = "x" * 20_000
    run = _with(tags={"mlflow.log-model.history": long}, params={"p": "y" * 7_000})
    writes.put_run(run, "0", None)
    held = writes.runs_of([run.info.run_id])[run.info.run_id]
    assert held.data.tags["mlflow.log-model.history"] == long
    assert held.data.params["p"] == "y" * 7_000


def test_a_big_batch_written_again_with_more_points_stores_each_point_once(
    writes: SqlImports, store: SqlTrackingStore
) -> None:
    """An import's batches are big (PostgreSQL COPYs them straight into the history); a
    run imported again repeats points it holds, which must then be skipped, not refused."""
    run = _run()
    writes.put_run(run, "0", None)
    points = [(run.info.run_id, "loss", 1.0 / (s + 1), START + s, s) for s in range(6_000)]
    writes.put_metric_points(points)
    more = [(run.info.run_id, "loss", 0.5, START + 6_000 + s, 6_000 + s) for s in range(10)]
    writes.put_metric_points(points + more)
    history = store.get_metric_history(run.info.run_id, "loss")
    assert len(history) == 6_010
    assert [(m.step, m.value) for m in history[:2]] == [(0, 1.0), (1, 0.5)]
    assert store.get_run(run.info.run_id).data.metrics["loss"] == 0.5
