"""A tracking server that goes away does not stop training, and loses nothing.

A real `cairn server` process is killed with SIGKILL and started again on the same port
and database; training runs in this process or in a subprocess that is itself killed.
What the server stored is read from its own SQLite file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from live_server import LiveServer, start_server

import cairn
from cairn.store.sql.tracking import SqlTrackingStore
from cairn.tracking import session
from local_processes import CLI

POINTS = 1_000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = start_server(tmp_path / "server")
    yield live
    live.stop()


@pytest.fixture
def fast_failures(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No retries, so the first call that finds the server gone fails at once."""
    monkeypatch.setenv("CAIRN_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("CAIRN_METRIC_FLUSH_SECONDS", "3600")  # points move at flush()
    return workdir


def _stored(server: LiveServer) -> SqlTrackingStore:
    return SqlTrackingStore(f"sqlite:///{server.database}", str(server.destination))


def test_training_goes_on_through_an_outage_and_everything_arrives_once(
    server: LiveServer, fast_failures: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cairn.set_tracking_uri(f"http://127.0.0.1:{server.port}")
    cairn.set_experiment("outage")
    with cairn.start_run(run_name="before") as run:
        for step in range(POINTS):
            cairn.log_metric("loss", 1 / (step + 1), step=step)
        cairn.log_param("lr", 0.1)
        assert cairn.flush() is True

        server.kill()
        for step in range(POINTS, 2 * POINTS):
            cairn.log_metric("loss", 1 / (step + 1), step=step)
        cairn.log_param("depth", 5)
        cairn.set_tag("phase", "outage")
        cairn.log_text("written while the server was down", "notes/outage.txt")
        cairn.log_dict({"lr": 0.1}, "config.json")
        cairn.log_metric("checkpoint", 1.0, synchronous=True)  # journaled, not raised
        assert cairn.flush() is False  # waiting in the journal, not lost
    with cairn.start_run(run_name="started-offline") as offline:
        cairn.log_params({"seed": 7})
        weights = fast_failures / "weights.bin"
        weights.write_bytes(bytes(range(256)) * 64)
        cairn.log_artifact(str(weights), "model")
        train = cairn.data.from_numpy(np.arange(12).reshape(4, 3), name="train")
        cairn.log_input(train, context="training")
        for step in range(POINTS):
            cairn.log_metric("acc", step / POINTS, step=step)
    assert cairn.flush() is False
    said = [r.getMessage() for r in caplog.records if "cannot reach" in r.getMessage()]
    assert len(said) == 1  # once, however many calls found the server gone
    assert "metric point(s) wait in the journal" in said[0]

    server.start_again()
    assert cairn.flush(timeout=60) is True

    stored = _stored(server)
    first = stored.get_run(run.info.run_id)
    assert first.info.status == "FINISHED"
    assert first.data.params == {"lr": "0.1", "depth": "5"}
    assert first.data.tags["phase"] == "outage"
    assert first.data.metrics["checkpoint"] == 1.0
    history = stored.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in history] == list(range(2 * POINTS))  # each point once
    second = stored.get_run(offline.info.run_id)  # the id this process made
    assert (second.info.run_name, second.info.status) == ("started-offline", "FINISHED")
    assert second.data.params == {"seed": "7"}
    assert len(stored.get_metric_history(offline.info.run_id, "acc")) == POINTS
    [used] = second.inputs.dataset_inputs
    assert (used.dataset.name, used.dataset.digest) == ("train", train.digest)
    assert {t.key: t.value for t in used.tags}["mlflow.data.context"] == "training"
    assert second.info.experiment_id == first.info.experiment_id
    stored.close()
    files = {p.relative_to(server.destination).as_posix(): p for p in server.destination.rglob("*")}
    experiment = first.info.experiment_id
    outage = files[f"{experiment}/{run.info.run_id}/artifacts/notes/outage.txt"]
    assert outage.read_text() == "written while the server was down"
    assert files[f"{experiment}/{run.info.run_id}/artifacts/config.json"].read_text() == (
        '{\n  "lr": 0.1\n}'
    )
    model = files[f"{experiment}/{offline.info.run_id}/artifacts/model/weights.bin"]
    assert model.read_bytes() == weights.read_bytes()
    assert not list((fast_failures / "cairn-data" / "journal").rglob("spool/*/*"))


TRAINING = textwrap.dedent(
    """
    import os, signal, sys
    import cairn

    cairn.set_tracking_uri(sys.argv[1])
    cairn.set_experiment("killed")
    run = cairn.start_run()
    for step in range(500):
        cairn.log_metric("loss", float(step), step=step, timestamp=1_000_000 + step)
    assert cairn.flush() is True
    print(run.info.run_id, flush=True)
    sys.stdin.readline()  # the test kills the server meanwhile
    for step in range(500, 1000):
        cairn.log_metric("loss", float(step), step=step, timestamp=1_000_000 + step)
    cairn.log_param("seen", "outage")
    assert cairn.flush() is False
    print("journaled", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def _train_then_die_during_an_outage(server: LiveServer, cwd: Path) -> str:
    """A training process that logs, finds the server killed, journals, and is killed."""
    training = subprocess.Popen(
        [sys.executable, "-c", TRAINING, f"http://127.0.0.1:{server.port}"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=cwd,
        env=os.environ.copy(),
    )
    assert training.stdin is not None and training.stdout is not None
    run_id = training.stdout.readline().decode().strip()
    server.kill()
    training.stdin.write(b"go\n")
    training.stdin.flush()
    assert training.stdout.readline() == b"journaled\n"
    assert training.wait(timeout=60) == -9
    training.stdin.close()
    training.stdout.close()
    server.start_again()
    return run_id


def _assert_delivered_and_killed(server: LiveServer, run_id: str, cwd: Path) -> None:
    stored = _stored(server)
    history = stored.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == list(range(1000))
    ended = stored.get_run(run_id)
    assert ended.data.params == {"seen": "outage"}
    assert (ended.info.status, ended.info.end_time) == ("KILLED", 1_000_999)
    stored.close()
    assert not list((cwd / "cairn-data" / "journal").rglob("*.journal"))


def test_a_metric_for_a_logged_model_waits_out_an_outage(
    server: LiveServer, fast_failures: Path
) -> None:
    # `log_metric(model_id=…, dataset=…)` writes now; with the server gone it is journaled
    # like every run write, not raised into the training loop.
    cairn.set_tracking_uri(f"http://127.0.0.1:{server.port}")
    cairn.set_experiment("outage-linked")
    with cairn.start_run() as run:
        model = cairn.Client().create_logged_model(run.info.experiment_id, name="m")
        evaluation = cairn.data.from_numpy(np.arange(6).reshape(3, 2), name="eval")
        server.kill()
        cairn.log_metric("rmse", 0.12, step=3, model_id=model.model_id, dataset=evaluation)
        assert cairn.flush() is False
    server.start_again()
    assert cairn.flush(timeout=60) is True

    stored = _stored(server)
    assert stored.get_run(run.info.run_id).data.metrics == {"rmse": 0.12}
    [used] = stored.get_run(run.info.run_id).inputs.dataset_inputs
    assert (used.dataset.name, used.dataset.digest) == ("eval", evaluation.digest)
    [point] = stored.get_logged_model(model.model_id).metrics
    assert (point.key, point.value, point.step) == ("rmse", 0.12, 3)
    assert (point.run_id, point.dataset_name) == (run.info.run_id, "eval")


def test_a_killed_process_s_journal_is_delivered_by_the_next_and_its_run_ends_killed(
    server: LiveServer, fast_failures: Path
) -> None:
    run_id = _train_then_die_during_an_outage(server, fast_failures)
    cairn.set_tracking_uri(f"http://127.0.0.1:{server.port}")  # the next process, same journal
    with cairn.start_run(run_name="next"):
        cairn.log_metric("x", 1.0)
    assert cairn.flush(timeout=60) is True
    session.reset()
    _assert_delivered_and_killed(server, run_id, fast_failures)


def test_cairn_sync_delivers_a_killed_process_s_journal(
    server: LiveServer, fast_failures: Path
) -> None:
    run_id = _train_then_die_during_an_outage(server, fast_failures)
    done = subprocess.run(
        [sys.executable, "-c", CLI, "sync", "--to", f"http://127.0.0.1:{server.port}"],
        capture_output=True,
        text=True,
        cwd=fast_failures,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Delivered 3 journaled record(s)" in done.stdout  # points, the param, the kill
    _assert_delivered_and_killed(server, run_id, fast_failures)


FULL_DISK = textwrap.dedent(
    """
    import resource, sys
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))  # a full disk
    import cairn

    cairn.set_tracking_uri(sys.argv[1])
    with cairn.start_run() as run:
        for step in range(50_000):
            cairn.log_metric("loss", float(step), step=step)
    print(run.info.run_id, flush=True)
    """
)


def test_a_full_journal_disk_warns_and_loses_nothing(
    server: LiveServer, fast_failures: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK, f"http://127.0.0.1:{server.port}"],
        capture_output=True,
        cwd=fast_failures,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    stderr = done.stderr.decode()
    assert "cannot write its journal" in stderr
    assert stderr.count("cannot write its journal") == 1  # said once, not per batch
    run_id = done.stdout.decode().strip()
    stored = _stored(server)
    assert len(stored.get_metric_history(run_id, "loss")) == 50_000
    assert stored.get_run(run_id).info.status == "FINISHED"
    stored.close()
