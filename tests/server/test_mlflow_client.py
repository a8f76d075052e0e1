"""The real MLflow client (mlflow==3.17.2, in this process) against a live `cairn server`.

Everything the classic tracking workflow calls: experiments, runs, params, metrics (NaN
included), tags, batches, searches with pages, metric histories, deletes and restores, and
the error codes the client sees. What MLflow wrote is then read back through Cairn's own
store, straight from the server's database. Artifacts and models are another suite's.
"""

from __future__ import annotations

import math
import uuid
from typing import TYPE_CHECKING, Any

import pytest

import cairn

if TYPE_CHECKING:
    pass


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_fluent_run_is_stored_as_cairn_reads_it(
    mlflow: Any, client: Any, cairn_client: cairn.Client
) -> None:
    name = unique("fluent")
    experiment = mlflow.set_experiment(name)
    assert experiment.name == name
    with mlflow.start_run(run_name="first") as run:
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"layers": 3, "activation": "relu"})
        mlflow.log_metric("loss", float("nan"))
        mlflow.log_metric("loss", 0.5, step=1)
        mlflow.log_metrics({"acc": 0.9, "f1": 0.75}, step=2)
        mlflow.set_tag("stage", "dev")
        mlflow.set_tags({"team": "ml", "owner": "alice"})
    run_id = run.info.run_id

    got = client.get_run(run_id)
    assert got.info.status == "FINISHED"
    assert got.info.end_time is not None and got.info.end_time >= got.info.start_time
    assert got.info.run_name == "first"
    assert got.info.experiment_id == experiment.experiment_id
    assert got.data.params == {"lr": "0.01", "layers": "3", "activation": "relu"}
    assert got.data.metrics == {"loss": 0.5, "acc": 0.9, "f1": 0.75}
    for key in ("mlflow.user", "mlflow.source.name", "mlflow.source.type", "mlflow.runName"):
        assert key in got.data.tags
    assert {k: got.data.tags[k] for k in ("stage", "team", "owner")} == {
        "stage": "dev",
        "team": "ml",
        "owner": "alice",
    }
    history = client.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == [0, 1]
    assert math.isnan(history[0].value) and history[1].value == 0.5

    # The same run, read by Cairn straight from the server's database.
    stored = cairn_client.get_run(run_id)
    assert stored.info.status == "FINISHED"
    assert stored.info.end_time == got.info.end_time
    assert stored.info.start_time == got.info.start_time
    assert stored.info.run_name == "first"
    assert stored.info.user_id == got.info.user_id == got.data.tags["mlflow.user"]
    assert stored.data.params == got.data.params
    assert stored.data.metrics == got.data.metrics
    assert stored.data.tags == got.data.tags
    stored_loss = cairn_client.get_metric_history(run_id, "loss")
    assert [(m.step, m.timestamp) for m in stored_loss] == [(m.step, m.timestamp) for m in history]
    assert math.isnan(stored_loss[0].value)
    assert cairn_client.get_experiment_by_name(name) is not None
    assert cairn_client.get_experiment_by_name(name).experiment_id == experiment.experiment_id


def test_set_experiment_reuses_an_existing_experiment(mlflow: Any) -> None:
    name = unique("again")
    first = mlflow.set_experiment(name)
    second = mlflow.set_experiment(name)
    assert second.experiment_id == first.experiment_id
    assert second.artifact_location == f"mlflow-artifacts:/{first.experiment_id}"


def test_failed_run_is_marked_failed(mlflow: Any, client: Any) -> None:
    mlflow.set_experiment(unique("failing"))
    with pytest.raises(RuntimeError, match="boom"), mlflow.start_run() as run:
        raise RuntimeError("boom")
    assert client.get_run(run.info.run_id).info.status == "FAILED"


def test_log_batch_and_metric_history(mlflow: Any, client: Any, cairn_client: cairn.Client) -> None:
    from mlflow.entities import Metric, Param, RunTag

    experiment_id = client.create_experiment(unique("batch"))
    run_id = client.create_run(experiment_id).info.run_id
    metrics = [Metric("x", float(i), 1_000 + i, i) for i in range(2_500)]
    metrics += [Metric("odd", math.nan, 5, 0), Metric("odd", math.inf, 6, 1)]
    params = [Param(f"p{i}", str(i)) for i in range(150)]  # more than one request's worth
    tags = [RunTag("kind", "batch")]
    client.log_batch(run_id, metrics=metrics, params=params, tags=tags)

    history = client.get_metric_history(run_id, "x")
    assert [m.value for m in history] == [float(i) for i in range(2_500)]
    assert [m.step for m in history] == list(range(2_500))
    odd = client.get_metric_history(run_id, "odd")
    assert math.isnan(odd[0].value)
    assert odd[1].value == 1.7976931348623157e308  # ±inf is stored clamped, as MLflow does

    run = client.get_run(run_id)
    assert run.data.metrics["x"] == 2_499.0
    assert len(run.data.params) == 150
    assert run.data.tags["kind"] == "batch"

    assert len(cairn_client.get_metric_history(run_id, "x")) == 2_500
    assert cairn_client.get_run(run_id).data.params == run.data.params


def test_search_runs_with_filters_order_and_pages(mlflow: Any, client: Any) -> None:
    from mlflow.entities import ViewType

    name = unique("search")
    experiment_id = mlflow.set_experiment(name).experiment_id
    expected = {}
    for i in range(7):
        with mlflow.start_run(run_name=f"r{i}") as run:
            mlflow.log_param("family", "even" if i % 2 == 0 else "odd")
            mlflow.log_metric("score", i / 10)
            expected[run.info.run_id] = i

    found = client.search_runs(
        [experiment_id],
        filter_string="params.family = 'even' and metrics.score >= 0.2",
        order_by=["metrics.score DESC"],
    )
    assert [r.info.run_name for r in found] == ["r6", "r4", "r2"]

    pages: list[list[str]] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment_id], order_by=["attributes.run_name ASC"], max_results=3, page_token=token
        )
        pages.append([r.info.run_name for r in page])
        token = page.token
        if not token:
            break
    assert pages == [["r0", "r1", "r2"], ["r3", "r4", "r5"], ["r6"]]

    frame = mlflow.search_runs(experiment_names=[name], filter_string="params.family = 'odd'")
    assert sorted(frame["tags.mlflow.runName"]) == ["r1", "r3", "r5"]
    assert sorted(frame["metrics.score"]) == pytest.approx([0.1, 0.3, 0.5])

    client.delete_run(next(r for r, i in expected.items() if i == 0))
    assert len(client.search_runs([experiment_id])) == 6
    deleted = client.search_runs([experiment_id], run_view_type=ViewType.DELETED_ONLY)
    assert [r.info.run_name for r in deleted] == ["r0"]
    assert len(client.search_runs([experiment_id], run_view_type=ViewType.ALL)) == 7


def test_client_sees_mlflow_error_codes(mlflow: Any, client: Any) -> None:
    from mlflow.exceptions import MlflowException

    experiment_id = client.create_experiment(unique("errors"))
    run_id = client.create_run(experiment_id).info.run_id
    client.log_param(run_id, "p", "1")
    client.log_param(run_id, "p", "1")  # the same value again is fine
    with pytest.raises(MlflowException) as changed:
        client.log_param(run_id, "p", "2")
    assert changed.value.error_code == "INVALID_PARAMETER_VALUE"
    assert changed.value.get_http_status_code() == 400

    with pytest.raises(MlflowException) as missing:
        client.get_run("0" * 32)
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    name = client.get_experiment(experiment_id).name
    with pytest.raises(MlflowException) as duplicate:
        client.create_experiment(name)
    assert duplicate.value.error_code == "RESOURCE_ALREADY_EXISTS"

    with pytest.raises(MlflowException) as bad_filter:
        client.search_runs([experiment_id], filter_string="metrics.a > 1 OR metrics.b > 1")
    assert bad_filter.value.error_code == "INVALID_PARAMETER_VALUE"

    # get-by-name answers 404, which the client turns into None.
    assert client.get_experiment_by_name(unique("never")) is None


def test_delete_and_restore_run_and_experiment(mlflow: Any, client: Any) -> None:
    from mlflow.entities import ViewType

    name = unique("lifecycle")
    experiment_id = client.create_experiment(name, tags={"a": "1"})
    run_id = client.create_run(experiment_id).info.run_id

    client.delete_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    client.restore_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "active"

    client.delete_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    deleted = client.search_experiments(
        view_type=ViewType.DELETED_ONLY, filter_string=f"name = '{name}'"
    )
    assert [e.experiment_id for e in deleted] == [experiment_id]
    assert client.search_experiments(filter_string=f"name = '{name}'") == []

    client.restore_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"
    assert client.get_run(run_id).info.lifecycle_stage == "active"

    new_name = unique("renamed")
    client.rename_experiment(experiment_id, new_name)
    client.set_experiment_tag(experiment_id, "b", "2")
    client.delete_experiment_tag(experiment_id, "a")
    experiment = client.get_experiment_by_name(new_name)
    assert experiment.experiment_id == experiment_id
    assert experiment.tags == {"b": "2"}


def test_search_experiments_pages(mlflow: Any, client: Any) -> None:
    prefix = unique("pages")
    ids = [client.create_experiment(f"{prefix}-{i}") for i in range(5)]
    names: list[str] = []
    token = None
    pages = 0
    while True:
        page = client.search_experiments(
            filter_string=f"name LIKE '{prefix}-%'",
            order_by=["name DESC"],
            max_results=2,
            page_token=token,
        )
        names += [e.name for e in page]
        pages += 1
        token = page.token
        if not token:
            break
    assert names == [f"{prefix}-{i}" for i in reversed(range(5))]
    assert pages == 3
    everything = mlflow.search_experiments(filter_string=f"name LIKE '{prefix}-%'")
    assert sorted(e.experiment_id for e in everything) == sorted(ids)


def test_update_run_tags_and_termination(
    mlflow: Any, client: Any, cairn_client: cairn.Client
) -> None:
    experiment_id = client.create_experiment(unique("update"))
    run = client.create_run(experiment_id, run_name="before", tags={"t": "1", "gone": "x"})
    run_id = run.info.run_id
    assert run.info.run_name == "before"

    client.update_run(run_id, name="after")
    client.set_tag(run_id, "t", "2")
    client.delete_tag(run_id, "gone")
    client.set_terminated(run_id, "KILLED", end_time=1_800_000_000_000)

    got = client.get_run(run_id)
    assert (got.info.run_name, got.info.status) == ("after", "KILLED")
    assert got.info.end_time == 1_800_000_000_000
    assert got.data.tags["mlflow.runName"] == "after"
    assert got.data.tags["t"] == "2"
    assert "gone" not in got.data.tags

    stored = cairn_client.get_run(run_id)
    assert (stored.info.run_name, stored.info.status) == ("after", "KILLED")
    assert stored.data.tags == got.data.tags


def test_log_input_dataset(mlflow: Any, client: Any, cairn_client: cairn.Client) -> None:
    import pandas as pd
    from mlflow.data.http_dataset_source import HTTPDatasetSource

    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    # A source object and a digest of our own: resolving a "file://" string, and mlflow's
    # pandas digest, both raise warnings inside mlflow 3.17.2 (filterwarnings=error).
    source = HTTPDatasetSource("https://example.com/data/train.csv")
    dataset = mlflow.data.from_pandas(frame, source=source, name="train", digest="d1g35t00")
    mlflow.set_experiment(unique("inputs"))
    with mlflow.start_run() as run:
        mlflow.log_input(dataset, context="training")

    (logged,) = client.get_run(run.info.run_id).inputs.dataset_inputs
    assert (logged.dataset.name, logged.dataset.digest) == ("train", dataset.digest)
    assert logged.dataset.source_type == "http"
    assert {t.key: t.value for t in logged.tags} == {"mlflow.data.context": "training"}

    (stored,) = cairn_client.get_run(run.info.run_id).inputs.dataset_inputs
    assert (stored.dataset.name, stored.dataset.digest) == ("train", dataset.digest)
    assert stored.dataset.schema == logged.dataset.schema
    assert stored.dataset.profile == logged.dataset.profile

    found = client.search_runs([run.info.experiment_id], filter_string="dataset.name = 'train'")
    assert [r.info.run_id for r in found] == [run.info.run_id]


def test_cairn_writes_are_visible_to_mlflow(
    mlflow: Any, client: Any, cairn_client: cairn.Client
) -> None:
    """The other direction: Cairn logs into the server's database, MLflow reads it over HTTP."""
    experiment_id = cairn_client.create_experiment(unique("from-cairn"))
    run_id = cairn_client.create_run(experiment_id).info.run_id
    cairn_client.log_metric(run_id, "m", math.nan, step=3)
    cairn_client.log_param(run_id, "p", "v")

    got = client.get_run(run_id)
    assert got.data.params == {"p": "v"}
    assert math.isnan(got.data.metrics["m"])
    (point,) = client.get_metric_history(run_id, "m")
    assert point.step == 3
