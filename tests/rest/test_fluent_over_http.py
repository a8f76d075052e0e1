"""The fluent API with an http:// tracking URI: everything lands in the server's database.

What the server stored is read back from its own SQLite file (`rest_server.database`),
not through the client under test.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

import cairn
from cairn.exceptions import InvalidParameterValueError, ResourceAlreadyExistsError
from cairn.store.rest.tracking import RestTrackingStore
from cairn.store.sql.tracking import SqlTrackingStore
from cairn.store.uri import tracking_store

POINTS = 10_000


@pytest.fixture
def server_db(workdir: Path, rest_server: object, monkeypatch: pytest.MonkeyPatch) -> object:
    """An emptied server as the tracking URI; buffered points wait for flush() or end_run()
    (the background writer waits an hour), so nothing depends on timing."""
    monkeypatch.setenv("CAIRN_METRIC_FLUSH_SECONDS", "3600")
    rest_server.wipe()  # type: ignore[attr-defined]
    cairn.set_tracking_uri(rest_server.url)  # type: ignore[attr-defined]
    return rest_server.database  # type: ignore[attr-defined]


def _history(db: SqlTrackingStore, run_id: str, key: str) -> list[float]:
    return [m.value for m in db.get_metric_history(run_id, key)]


def test_an_http_uri_builds_the_rest_store(server_db: SqlTrackingStore) -> None:
    store = tracking_store(cairn.get_tracking_uri())
    assert isinstance(store, RestTrackingStore)
    assert cairn.get_tracking_uri().startswith("http://127.0.0.1:")


def test_the_fluent_flow_lands_in_the_servers_database(server_db: SqlTrackingStore) -> None:
    experiment = cairn.set_experiment("over-http")
    assert server_db.get_experiment_by_name("over-http").experiment_id == (  # type: ignore[union-attr]
        experiment.experiment_id
    )
    with cairn.start_run(run_name="remote", tags={"origin": "test"}) as run:
        run_id = run.info.run_id
        assert run.info.artifact_uri == (
            f"mlflow-artifacts:/{experiment.experiment_id}/{run_id}/artifacts"
        )
        cairn.log_param("lr", 0.1)
        cairn.log_params({"depth": 5, "model": "cnn"})
        for step in range(POINTS):
            cairn.log_metric("loss", 1.0 / (step + 1), step=step)
        assert _history(server_db, run_id, "loss") == []  # still buffered in this process
        cairn.flush()
        stored = _history(server_db, run_id, "loss")
        assert len(stored) == POINTS
        assert stored[:3] == [1.0, 0.5, 1.0 / 3] and stored[-1] == 1.0 / POINTS
        cairn.log_metrics({"acc": 0.9, "f1": math.nan}, step=1)
        cairn.set_tag("team", "vision")
        cairn.set_tags({"a": "1", "b": 2})
        cairn.log_metric("last", 42.0)  # buffered: end_run stores it with the end
        assert _history(server_db, run_id, "last") == []

    stored_run = server_db.get_run(run_id)
    assert stored_run.info.status == "FINISHED" and stored_run.info.end_time is not None
    assert stored_run.info.run_name == "remote"
    assert stored_run.data.params == {"lr": "0.1", "depth": "5", "model": "cnn"}
    metrics = stored_run.data.metrics
    assert metrics["loss"] == 1.0 / POINTS and metrics["acc"] == 0.9 and metrics["last"] == 42.0
    assert math.isnan(metrics["f1"])
    tags = stored_run.data.tags
    assert {k: tags[k] for k in ("origin", "team", "a", "b")} == {
        "origin": "test",
        "team": "vision",
        "a": "1",
        "b": "2",
    }
    assert tags["mlflow.runName"] == "remote"

    frame = cairn.search_runs(experiment_names=["over-http"])
    assert list(frame["run_id"]) == [run_id]
    row = frame.iloc[0]
    assert row["status"] == "FINISHED"
    assert row["metrics.loss"] == 1.0 / POINTS and row["metrics.acc"] == 0.9
    assert row["params.model"] == "cnn" and row["tags.team"] == "vision"
    [listed] = cairn.search_runs(experiment_names=["over-http"], output_format="list")
    assert listed.info.run_id == run_id and listed.data.params["depth"] == "5"


def test_a_failed_block_ends_the_run_failed(server_db: SqlTrackingStore) -> None:
    cairn.set_experiment("fails")
    with pytest.raises(RuntimeError), cairn.start_run() as run:
        cairn.log_metric("m", 1.0)
        raise RuntimeError("training diverged")
    stored = server_db.get_run(run.info.run_id)
    assert stored.info.status == "FAILED"
    assert stored.data.metrics == {"m": 1.0}


def test_server_errors_reach_the_caller_with_their_type(server_db: SqlTrackingStore) -> None:
    cairn.set_experiment("strict")
    with pytest.raises(ResourceAlreadyExistsError):
        cairn.create_experiment("strict")
    with cairn.start_run():
        cairn.log_param("p", "1")
        with pytest.raises(InvalidParameterValueError, match="'p'"):
            cairn.log_param("p", "2")
    assert len(server_db.search_experiments(filter_string="name = 'strict'")) == 1


def test_points_for_a_run_deleted_meanwhile_are_reported_at_flush(
    server_db: SqlTrackingStore,
) -> None:
    cairn.set_experiment("deleted-meanwhile")
    with cairn.start_run() as run:
        for step in range(1_500):
            cairn.log_metric("m", float(step), step=step, timestamp=int(time.time() * 1000))
        server_db.delete_run(run.info.run_id)  # behind the client's back
        with pytest.raises(InvalidParameterValueError, match=run.info.run_id):
            cairn.flush()
        server_db.restore_run(run.info.run_id)
    assert _history(server_db, run.info.run_id, "m") == []
    assert server_db.get_run(run.info.run_id).info.status == "FINISHED"
