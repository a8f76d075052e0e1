"""The fluent API (cairn.start_run, cairn.log_metric, ...): MLflow's names and behaviour.

Every test uses `workdir`: a fresh working directory with no configuration and fresh
fluent state. Tests that need buffered points to stay buffered set a long flush interval,
so only an explicit flush (or end_run / exit) can store them: no timing assumptions.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas
import pytest

import cairn
from cairn.entities import Run
from cairn.exceptions import CairnError, InvalidParameterValueError, InvalidStateError


@pytest.fixture
def held_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The background writer waits an hour between writes: points stay buffered until
    flush(), end_run() or exit store them."""
    monkeypatch.setenv("CAIRN_METRIC_FLUSH_SECONDS", "3600")


def _client() -> cairn.Client:
    return cairn.Client(cairn.get_tracking_uri())


def _history(run_id: str, key: str) -> list[float]:
    return [m.value for m in _client().get_metric_history(run_id, key)]


# -- the README flow -------------------------------------------------------------------------


def test_readme_flow(workdir: Path) -> None:
    experiment = cairn.set_experiment("churn")
    assert experiment.name == "churn"
    assert cairn.get_experiment_by_name("churn").experiment_id == experiment.experiment_id  # type: ignore[union-attr]
    with cairn.start_run(run_name="baseline_model") as run:
        assert cairn.active_run() is not None
        assert cairn.active_run().info.run_id == run.info.run_id  # type: ignore[union-attr]
        assert run.info.experiment_id == experiment.experiment_id
        assert cairn.log_param("max_depth", 5) == 5
        cairn.log_params({"scaler": "StandardScaler", "test_size": 0.2})
        for step in range(100):
            cairn.log_metric("loss", 1 / (step + 1), step=step)
        cairn.log_metrics({"accuracy": 0.93, "f1": 0.91, "auc": 0.95})
        cairn.set_tag("author", "me")
        cairn.set_tags({"stage": "dev", "round": 3})
    assert cairn.active_run() is None
    run_id = run.info.run_id

    stored = cairn.get_run(run_id)
    assert stored.info.status == "FINISHED"
    assert stored.info.run_name == "baseline_model"
    assert stored.data.params == {"max_depth": "5", "scaler": "StandardScaler", "test_size": "0.2"}
    assert stored.data.metrics == {"loss": 0.01, "accuracy": 0.93, "f1": 0.91, "auc": 0.95}
    assert stored.data.tags["author"] == "me"
    assert stored.data.tags["round"] == "3"
    assert _history(run_id, "loss") == [1 / (s + 1) for s in range(100)]

    other = cairn.start_run(run_name="worse")
    cairn.log_metrics({"accuracy": 0.95, "f1": 0.5})
    cairn.log_param("max_depth", 7)
    cairn.end_run()

    df = cairn.search_runs(
        experiment_names=["churn"],
        filter_string="metrics.accuracy > 0.9 and params.max_depth = '5'",
        order_by=["metrics.f1 DESC"],
    )
    assert isinstance(df, pandas.DataFrame)
    assert len(df) == 1
    for column in (
        "run_id",
        "status",
        "start_time",
        "end_time",
        "metrics.loss",
        "metrics.accuracy",
        "params.max_depth",
        "params.scaler",
        "tags.author",
        "tags.mlflow.runName",
    ):
        assert column in df.columns, column
    row = df.iloc[0]
    assert row["run_id"] == run_id
    assert row["status"] == "FINISHED"
    assert row["metrics.loss"] == 0.01
    assert row["metrics.f1"] == 0.91
    assert row["params.max_depth"] == "5"
    assert row["tags.author"] == "me"
    assert pandas.api.types.is_datetime64_any_dtype(df["start_time"])

    both = cairn.search_runs(experiment_names=["churn"], order_by=["metrics.f1 DESC"])
    assert list(both["run_id"]) == [run_id, other.info.run_id]
    assert list(both["params.max_depth"]) == ["5", "7"]
    assert pandas.isna(both.iloc[1]["metrics.loss"])  # the other run has no loss

    runs = cairn.search_runs(
        experiment_names=["churn"], output_format="list", order_by=["metrics.f1 DESC"]
    )
    assert isinstance(runs, list) and all(isinstance(r, Run) for r in runs)
    assert [r.info.run_id for r in runs] == [run_id, other.info.run_id]
    # With no experiment named, search_runs searches the current experiment.
    assert len(cairn.search_runs()) == 2
    with pytest.raises(InvalidParameterValueError):
        cairn.search_runs(output_format="csv")  # type: ignore[arg-type]


def test_search_runs_empty_frame(workdir: Path) -> None:
    cairn.set_experiment("empty")
    df = cairn.search_runs()
    assert isinstance(df, pandas.DataFrame)
    assert len(df) == 0
    assert "run_id" in df.columns


def test_default_store_is_created_in_the_working_directory(workdir: Path) -> None:
    database = workdir / "cairn-data" / "cairn.db"
    assert not database.exists()
    assert cairn.get_tracking_uri() == f"sqlite:///{database}"
    with cairn.start_run() as run:
        cairn.log_param("p", 1)
    assert database.exists()
    assert run.info.experiment_id == "0"
    found = cairn.Client(f"sqlite:///{database}").get_run(run.info.run_id)
    assert found.data.params == {"p": "1"}


def test_tracking_uri_from_environment(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uri = f"sqlite:///{workdir}/env/tracking.db"
    monkeypatch.setenv("CAIRN_TRACKING_URI", uri)
    assert cairn.get_tracking_uri() == uri
    with cairn.start_run() as run:
        cairn.log_param("p", 1)
    assert cairn.Client(uri).get_run(run.info.run_id).data.params == {"p": "1"}
    assert not (workdir / "cairn-data").exists()


# -- run lifecycle ---------------------------------------------------------------------------


def test_block_that_raises_fails_the_run(workdir: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with cairn.start_run() as run:
            cairn.log_metric("m", 1.5)
            raise RuntimeError("boom")
    assert cairn.active_run() is None
    stored = cairn.get_run(run.info.run_id)
    assert stored.info.status == "FAILED"
    assert stored.info.end_time is not None
    assert stored.data.metrics == {"m": 1.5}  # buffered points are stored on the way out


def test_end_run_finishes_with_end_time(workdir: Path) -> None:
    cairn.end_run()  # nothing active: nothing happens
    run = cairn.start_run()
    assert cairn.get_run(run.info.run_id).info.status == "RUNNING"
    assert cairn.get_run(run.info.run_id).info.end_time is None
    cairn.log_metric("m", 2.0)
    cairn.end_run()
    assert cairn.active_run() is None
    info = cairn.get_run(run.info.run_id).info
    assert info.status == "FINISHED"
    assert info.end_time is not None and info.end_time >= info.start_time
    assert _history(run.info.run_id, "m") == [2.0]
    killed = cairn.start_run()
    cairn.end_run("KILLED")
    assert cairn.get_run(killed.info.run_id).info.status == "KILLED"


def test_nested_runs_record_their_parent(workdir: Path) -> None:
    with cairn.start_run() as parent:
        with cairn.start_run(nested=True) as child:
            assert cairn.active_run().info.run_id == child.info.run_id  # type: ignore[union-attr]
            cairn.log_param("level", "child")
        assert cairn.active_run().info.run_id == parent.info.run_id  # type: ignore[union-attr]
        cairn.log_param("level", "parent")
    child_run = cairn.get_run(child.info.run_id)
    assert child_run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert child_run.data.params == {"level": "child"}
    assert child_run.info.status == "FINISHED"
    parent_run = cairn.get_run(parent.info.run_id)
    assert "mlflow.parentRunId" not in parent_run.data.tags
    assert parent_run.data.params == {"level": "parent"}


def test_second_run_without_nested_is_refused(workdir: Path) -> None:
    first = cairn.start_run()
    with pytest.raises(InvalidStateError):
        cairn.start_run()
    assert cairn.active_run().info.run_id == first.info.run_id  # type: ignore[union-attr]
    assert len(cairn.search_runs(output_format="list")) == 1
    cairn.end_run()


def test_start_run_with_run_id_resumes(workdir: Path) -> None:
    with cairn.start_run(run_name="resumable") as run:
        cairn.log_param("a", 1)
        cairn.log_metric("m", 1.0, step=0)
    run_id = run.info.run_id
    assert cairn.get_run(run_id).info.status == "FINISHED"
    with cairn.start_run(run_id=run_id) as resumed:
        assert resumed.info.run_id == run_id
        assert cairn.get_run(run_id).info.status == "RUNNING"
        cairn.log_metric("m", 2.0, step=1)
        cairn.log_param("b", 2)
    stored = cairn.get_run(run_id)
    assert stored.info.status == "FINISHED"
    assert stored.info.run_name == "resumable"
    assert stored.data.params == {"a": "1", "b": "2"}
    assert _history(run_id, "m") == [1.0, 2.0]
    assert len(cairn.search_runs(output_format="list")) == 1


def test_resuming_a_deleted_or_unknown_run_is_refused(workdir: Path) -> None:
    with cairn.start_run() as run:
        pass
    _client().delete_run(run.info.run_id)
    with pytest.raises(InvalidParameterValueError):
        cairn.start_run(run_id=run.info.run_id)
    with pytest.raises(CairnError):
        cairn.start_run(run_id="0123456789abcdef0123456789abcdef")
    assert cairn.active_run() is None


def test_last_active_run(workdir: Path) -> None:
    assert cairn.last_active_run() is None
    with cairn.start_run() as run:
        current = cairn.last_active_run()
        assert current is not None and current.info.run_id == run.info.run_id
    last = cairn.last_active_run()
    assert last is not None
    assert last.info.run_id == run.info.run_id
    assert last.info.status == "FINISHED"


def test_logging_without_an_active_run_starts_one(workdir: Path) -> None:
    assert cairn.active_run() is None
    cairn.log_param("p", 1)
    active = cairn.active_run()
    assert active is not None
    cairn.log_metric("m", 3.0)
    cairn.set_tag("t", "v")
    assert cairn.active_run().info.run_id == active.info.run_id  # type: ignore[union-attr]
    cairn.end_run()
    stored = cairn.get_run(active.info.run_id)
    assert stored.data.params == {"p": "1"}
    assert stored.data.metrics == {"m": 3.0}
    assert stored.data.tags["t"] == "v"
    assert stored.info.experiment_id == "0"


def test_log_metric_without_an_active_run_starts_one(workdir: Path) -> None:
    cairn.set_experiment("auto")
    cairn.log_metric("m", 1.0)
    active = cairn.active_run()
    assert active is not None
    cairn.end_run()
    assert cairn.get_run(active.info.run_id).data.metrics == {"m": 1.0}
    assert cairn.get_run(active.info.run_id).info.experiment_id == (
        cairn.get_experiment_by_name("auto").experiment_id
    )  # type: ignore[union-attr]


def test_description_and_tags_at_start(workdir: Path) -> None:
    with cairn.start_run(description="what this run tries", tags={"k": 1}) as run:
        pass
    tags = cairn.get_run(run.info.run_id).data.tags
    assert tags["mlflow.note.content"] == "what this run tries"
    assert tags["k"] == "1"
    assert tags["mlflow.source.type"] == "LOCAL"


def test_delete_tag(workdir: Path) -> None:
    with cairn.start_run() as run:
        cairn.set_tag("t", "v")
        cairn.delete_tag("t")
    assert "t" not in cairn.get_run(run.info.run_id).data.tags


def test_param_conflict_keeps_first_value(workdir: Path) -> None:
    with cairn.start_run() as run:
        cairn.log_param("p", 1)
        with pytest.raises(InvalidParameterValueError):
            cairn.log_param("p", 2)
    assert cairn.get_run(run.info.run_id).data.params == {"p": "1"}


def test_set_experiment_on_deleted_experiment_is_refused(workdir: Path) -> None:
    experiment = cairn.set_experiment("doomed")
    cairn.Client(cairn.get_tracking_uri()).delete_experiment(experiment.experiment_id)
    with pytest.raises(InvalidParameterValueError):
        cairn.set_experiment("doomed")
    with pytest.raises(InvalidParameterValueError):
        cairn.set_experiment()


# -- buffered metrics ------------------------------------------------------------------------


def test_flush_makes_buffered_metrics_visible(workdir: Path, held_buffer: None) -> None:
    with cairn.start_run() as run:
        for step in range(50):
            cairn.log_metric("m", float(step), step=step)
        cairn.flush()
        assert _history(run.info.run_id, "m") == [float(s) for s in range(50)]
        assert _client().get_run(run.info.run_id).data.metrics == {"m": 49.0}


def test_synchronous_metric_is_visible_without_flush(workdir: Path, held_buffer: None) -> None:
    with cairn.start_run() as run:
        cairn.log_metric("s", 1.0, synchronous=True)
        assert _history(run.info.run_id, "s") == [1.0]
        cairn.log_metrics({"a": 1.0, "b": 2.0}, step=3, synchronous=True)
        assert _client().get_run(run.info.run_id).data.metrics == {"s": 1.0, "a": 1.0, "b": 2.0}


def test_bad_metric_key_raises_at_once_and_keeps_earlier_points(
    workdir: Path, held_buffer: None
) -> None:
    with cairn.start_run() as run:
        for step in range(5):
            cairn.log_metric("ok", float(step), step=step)
        for bad in ("bad!key", "/absolute", "a/../b", "x" * 251):
            with pytest.raises(InvalidParameterValueError):
                cairn.log_metric(bad, 1.0)
        cairn.log_metric("ok", 5.0, step=5)
        cairn.flush()
        assert _history(run.info.run_id, "ok") == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
        assert set(_client().get_run(run.info.run_id).data.metrics) == {"ok"}


@pytest.mark.parametrize("value", ["1.0", None, True, [1.0]])
def test_non_numeric_metric_value_raises(workdir: Path, value: object) -> None:
    with cairn.start_run() as run:
        with pytest.raises(InvalidParameterValueError):
            cairn.log_metric("m", value)  # type: ignore[arg-type]
        with pytest.raises(InvalidParameterValueError):
            cairn.log_metrics({"n": value})  # type: ignore[dict-item]
    assert cairn.get_run(run.info.run_id).data.metrics == {}


def test_integer_and_special_metric_values(workdir: Path) -> None:
    with cairn.start_run() as run:
        cairn.log_metric("int", 3)
        cairn.log_metric("nan", float("nan"))
        cairn.log_metric("inf", float("inf"))
    metrics = cairn.get_run(run.info.run_id).data.metrics
    assert metrics["int"] == 3.0
    assert metrics["nan"] != metrics["nan"]
    assert metrics["inf"] == 1.7976931348623157e308


def test_set_tracking_uri_to_another_sqlite_file(workdir: Path) -> None:
    other = workdir / "elsewhere" / "other.db"
    cairn.set_tracking_uri(f"sqlite:///{other}")
    assert cairn.get_tracking_uri() == f"sqlite:///{other}"
    with cairn.start_run() as run:
        cairn.log_param("where", "other")
        cairn.log_metric("m", 1.0)
    assert other.exists()
    stored = cairn.Client(f"sqlite:///{other}").get_run(run.info.run_id)
    assert stored.data.params == {"where": "other"}
    assert stored.data.metrics == {"m": 1.0}
    assert not (workdir / "cairn-data").exists()
    # A plain folder means SQLite inside it.
    cairn.set_tracking_uri(workdir / "folder")
    assert cairn.get_tracking_uri() == f"sqlite:///{workdir / 'folder' / 'cairn.db'}"
    with cairn.start_run() as second:
        pass
    assert (workdir / "folder" / "cairn.db").exists()
    with pytest.raises(CairnError):
        cairn.Client(f"sqlite:///{other}").get_run(second.info.run_id)


def test_set_tracking_uri_flushes_buffered_points_first(workdir: Path, held_buffer: None) -> None:
    first = f"sqlite:///{workdir / 'first.db'}"
    cairn.set_tracking_uri(first)
    run = cairn.start_run()
    for step in range(10):
        cairn.log_metric("m", float(step), step=step)
    cairn.set_tracking_uri(f"sqlite:///{workdir / 'second.db'}")
    assert len(cairn.Client(first).get_metric_history(run.info.run_id, "m")) == 10
    cairn.set_tracking_uri(first)  # back to the run's store to end it
    cairn.end_run()
    assert cairn.Client(first).get_run(run.info.run_id).info.status == "FINISHED"


def test_background_write_failure_surfaces_at_flush(workdir: Path, held_buffer: None) -> None:
    run = cairn.start_run()
    run_id = run.info.run_id
    for step in range(3):
        cairn.log_metric("m", float(step), step=step)
    client = _client()
    client.delete_run(run_id)
    with pytest.raises(InvalidParameterValueError) as info:
        cairn.flush()
    assert run_id in info.value.message
    client.restore_run(run_id)
    cairn.log_metric("m", 10.0, step=10)
    cairn.end_run()
    stored = client.get_run(run_id)
    assert stored.info.status == "FINISHED"
    assert 10.0 in _history(run_id, "m")


# -- process exit ----------------------------------------------------------------------------


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    # The writer thread waits an hour: only the exit path can have stored the points.
    env["CAIRN_METRIC_FLUSH_SECONDS"] = "3600"
    return env


EXIT_SCRIPT = textwrap.dedent("""
    import sys
    import cairn

    cairn.set_tracking_uri(sys.argv[1])
    run = cairn.start_run()
    for i in range(10_000):
        cairn.log_metric("m", float(i), step=i)
    print(run.info.run_id, flush=True)
""")

SIGTERM_SCRIPT = textwrap.dedent("""
    import sys
    import cairn

    cairn.set_tracking_uri(sys.argv[1])
    run = cairn.start_run()
    for i in range(5_000):
        cairn.log_metric("m", float(i), step=i)
    cairn.log_param("p", "before-signal")
    print(run.info.run_id, flush=True)
    print("ready", flush=True)
    sys.stdin.readline()
    print("not reached", flush=True)
""")


def test_normal_exit_ends_run_and_stores_every_point(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/exit.db"
    done = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT, uri],
        cwd=tmp_path,
        env=_child_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    run_id = done.stdout.strip()
    client = cairn.Client(uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.info.end_time is not None
    history = client.get_metric_history(run_id, "m")
    assert len(history) == 10_000
    assert [m.step for m in history] == list(range(10_000))
    assert run.data.metrics == {"m": 9_999.0}


def test_sigterm_stores_every_point_and_kills_the_run(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/sigterm.db"
    child = subprocess.Popen(
        [sys.executable, "-c", SIGTERM_SCRIPT, uri],
        cwd=tmp_path,
        env=_child_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        run_id = child.stdout.readline().strip()
        assert child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == -signal.SIGTERM, err
    assert "not reached" not in out
    assert "Traceback" not in err
    client = cairn.Client(uri)
    run = client.get_run(run_id)
    assert run.info.status == "KILLED"
    assert run.info.end_time is not None
    assert run.data.params == {"p": "before-signal"}
    history = client.get_metric_history(run_id, "m")
    assert len(history) == 5_000
    assert [m.step for m in history] == list(range(5_000))


BAD_POINT_SCRIPT = textwrap.dedent("""
    import json
    import sys
    import cairn
    from cairn.exceptions import InvalidParameterValueError

    cairn.set_tracking_uri(sys.argv[1])
    run = cairn.start_run()
    print(run.info.run_id, flush=True)
    for i in range(3):
        cairn.log_metric("ok", float(i), step=i)
    try:
        cairn.log_metric("bad", 1.0, **json.loads(sys.argv[2]))
    except InvalidParameterValueError:
        print("refused", flush=True)
    else:
        print("accepted", flush=True)
    cairn.log_metric("ok", 3.0, step=3)
    cairn.end_run()
""")


@pytest.mark.parametrize(
    "bad",
    [
        {"step": 1.5},
        {"step": True},
        {"timestamp": -1},
        {"timestamp": 2**63},
        {"step": 2**63},
        {"step": -(2**63) - 1},
    ],
    ids=json.dumps,
)
def test_out_of_range_step_or_timestamp_raises_at_once(tmp_path: Path, bad: dict) -> None:  # type: ignore[type-arg]
    """A point the store would refuse must be refused by log_metric itself, before it is
    buffered: a bad point in the buffer would otherwise fail its whole chunk later.
    (Run in a child process: a poisoned buffer must not leak into other tests.)"""
    uri = f"sqlite:///{tmp_path}/bad.db"
    done = subprocess.run(
        [sys.executable, "-c", BAD_POINT_SCRIPT, uri, json.dumps(bad)],
        cwd=tmp_path,
        env=_child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = done.stdout.split()
    assert lines[1:] == ["refused"], done.stderr
    assert done.returncode == 0, done.stderr
    client = cairn.Client(uri)
    assert [m.value for m in client.get_metric_history(lines[0], "ok")] == [0.0, 1.0, 2.0, 3.0]
    assert client.get_metric_history(lines[0], "bad") == []
    assert client.get_run(lines[0]).info.status == "FINISHED"
