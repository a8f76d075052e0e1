"""cairn.Client over a SQLite file: the explicit, stateless API (MLflow's MlflowClient)."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest

import cairn
from cairn.entities import Metric, PagedList, Param, RunTag
from cairn.exceptions import InvalidParameterValueError
from cairn.tracking.client import now_ms


@pytest.fixture
def client(tmp_path: Path) -> cairn.Client:
    return cairn.Client(f"sqlite:///{tmp_path}/c.db")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def test_database_file_is_created(tmp_path: Path, client: cairn.Client) -> None:
    assert (tmp_path / "c.db").exists()
    assert client.get_experiment("0").name == "Default"


def test_create_run_sets_user(client: cairn.Client) -> None:
    exp_id = client.create_experiment("client", tags={"owner": "me"})
    assert client.get_experiment(exp_id).tags == {"owner": "me"}
    run = client.create_run(exp_id, run_name="first", tags={"k": 1})
    assert run.data.tags["mlflow.user"] == _user()
    assert run.info.user_id == _user()
    assert run.info.status == "RUNNING"
    assert run.info.run_name == "first"
    assert run.data.tags["k"] == "1"
    assert run.data.tags["mlflow.runName"] == "first"
    # An explicit mlflow.user tag wins.
    other = client.create_run(exp_id, tags={"mlflow.user": "robot"})
    assert other.info.user_id == "robot"
    assert client.get_run(other.info.run_id).data.tags["mlflow.user"] == "robot"


def test_create_run_start_time(client: cairn.Client) -> None:
    run = client.create_run("0", start_time=123_456)
    assert client.get_run(run.info.run_id).info.start_time == 123_456
    before = now_ms()
    run = client.create_run("0")
    after = now_ms()
    assert before <= run.info.start_time <= after


def test_log_batch_over_the_limits_is_split(client: cairn.Client) -> None:
    run_id = client.create_run("0").info.run_id
    metrics = [Metric(f"m{i % 5}", float(i), 1_000 + i, i) for i in range(2_500)]
    params = [Param(f"p{i}", str(i)) for i in range(250)]
    tags = [RunTag(f"t{i}", str(i)) for i in range(150)]
    client.log_batch(run_id, metrics=metrics, params=params, tags=tags)
    run = client.get_run(run_id)
    assert len(run.data.params) == 250
    assert run.data.params["p249"] == "249"
    assert sum(1 for k in run.data.tags if k.startswith("t")) == 150
    total = 0
    for key in range(5):
        points = client.get_metric_history(run_id, f"m{key}")
        assert len(points) == 500
        assert [p.step for p in points] == list(range(key, 2_500, 5))
        total += len(points)
    assert total == 2_500
    assert run.data.metrics == {f"m{k}": float(2_495 + k) for k in range(5)}


def test_log_batch_converts_non_string_values(client: cairn.Client) -> None:
    run_id = client.create_run("0").info.run_id
    client.log_batch(run_id, params=[Param("n", 5)], tags=[RunTag("b", True)])  # type: ignore[arg-type]
    run = client.get_run(run_id)
    assert run.data.params["n"] == "5"
    assert run.data.tags["b"] == "True"


def test_log_metric_param_tag(client: cairn.Client) -> None:
    run_id = client.create_run("0").info.run_id
    client.log_metric(run_id, "loss", 0.5, timestamp=10, step=2)
    client.log_metric(run_id, "loss", 0.25, step=3)
    assert client.log_param(run_id, "lr", 0.1) == 0.1
    client.set_tag(run_id, "team", "cv")
    run = client.get_run(run_id)
    assert run.data.metrics == {"loss": 0.25}
    assert run.data.params == {"lr": "0.1"}
    assert run.data.tags["team"] == "cv"
    with pytest.raises(InvalidParameterValueError):
        client.log_param(run_id, "lr", 0.2)
    client.delete_tag(run_id, "team")
    assert "team" not in client.get_run(run_id).data.tags


def test_set_terminated(client: cairn.Client) -> None:
    run_id = client.create_run("0").info.run_id
    before = now_ms()
    client.set_terminated(run_id)
    info = client.get_run(run_id).info
    assert info.status == "FINISHED"
    assert info.end_time is not None and info.end_time >= before
    other = client.create_run("0").info.run_id
    client.set_terminated(other, status="KILLED", end_time=42)
    info = client.get_run(other).info
    assert info.status == "KILLED" and info.end_time == 42
    with pytest.raises(InvalidParameterValueError):
        client.set_terminated(other, status="EXPLODED")


def test_get_metric_history(client: cairn.Client) -> None:
    run_id = client.create_run("0").info.run_id
    for step in (3, 1, 2, 0):
        client.log_metric(run_id, "acc", step / 10, timestamp=100 + step, step=step)
    history = client.get_metric_history(run_id, "acc")
    assert [(m.step, m.value, m.timestamp) for m in history] == [
        (0, 0.0, 100),
        (1, 0.1, 101),
        (2, 0.2, 102),
        (3, 0.3, 103),
    ]
    assert all(m.key == "acc" for m in history)
    assert client.get_metric_history(run_id, "missing") == []


def test_search_runs_returns_paged_list(client: cairn.Client) -> None:
    exp_id = client.create_experiment("paged")
    ids = {client.create_run(exp_id, start_time=i).info.run_id for i in range(3)}
    first = client.search_runs(exp_id, max_results=2)
    assert isinstance(first, PagedList)
    assert len(first) == 2 and first.token is not None
    second = client.search_runs([exp_id], max_results=2, page_token=first.token)
    assert len(second) == 1 and second.token is None
    assert {r.info.run_id for r in [*first, *second]} == ids
    everything = client.search_runs(exp_id)
    assert everything.token is None and len(everything) == 3
    assert [r.info.start_time for r in everything] == [2, 1, 0]


def test_search_runs_filter_and_order(client: cairn.Client) -> None:
    exp_id = client.create_experiment("filtered")
    for i in range(4):
        run_id = client.create_run(exp_id, run_name=f"r{i}").info.run_id
        client.log_metric(run_id, "score", float(i))
    found = client.search_runs(exp_id, "metrics.score >= 2", order_by=["metrics.score DESC"])
    assert [r.info.run_name for r in found] == ["r3", "r2"]


def test_experiment_lifecycle(client: cairn.Client) -> None:
    exp_id = client.create_experiment("life")
    client.rename_experiment(exp_id, "life-2")
    assert client.get_experiment_by_name("life-2").experiment_id == exp_id  # type: ignore[union-attr]
    client.set_experiment_tag(exp_id, "k", 3)
    assert client.get_experiment(exp_id).tags == {"k": "3"}
    client.delete_experiment_tag(exp_id, "k")
    client.delete_experiment(exp_id)
    assert [e.name for e in client.search_experiments(cairn.ViewType.DELETED_ONLY)] == ["life-2"]
    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"


def test_update_run_and_delete_restore(client: cairn.Client) -> None:
    run_id = client.create_run("0", run_name="before").info.run_id
    client.update_run(run_id, status="FAILED", name="after")
    run = client.get_run(run_id)
    assert run.info.status == "FAILED" and run.info.run_name == "after"
    assert run.data.tags["mlflow.runName"] == "after"
    client.delete_run(run_id)
    assert client.search_runs("0") == []
    client.restore_run(run_id)
    assert [r.info.run_id for r in client.search_runs("0")] == [run_id]


def test_two_clients_on_one_file_see_each_other(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/shared.db"
    writer, reader = cairn.Client(uri), cairn.Client(uri)
    run_id = writer.create_run("0").info.run_id
    writer.log_metric(run_id, "m", 1.5)
    assert reader.get_run(run_id).data.metrics == {"m": 1.5}


def test_client_runs_are_tagged_with_the_configured_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Client and the fluent API name the same user (CAIRN_TRACKING_USERNAME first)."""
    monkeypatch.setenv("CAIRN_TRACKING_USERNAME", "alice")
    client = cairn.Client(f"sqlite:///{tmp_path / 'users.db'}")
    run = client.create_run("0")
    assert run.data.tags["mlflow.user"] == "alice"
    assert client.get_run(run.info.run_id).info.user_id == "alice"
