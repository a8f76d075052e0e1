"""A training script without try/except outlives its tracking server, whatever the durability.

A real `cairn server` is killed with SIGKILL while a training subprocess logs every kind of
thing through the fluent API (metrics, params, tags, inputs, files, figures, images, a
table, runs started and ended), and started again after; the script must exit 0 with
everything stored. Also: a run whose process is killed with SIGKILL, and that no later
process takes over, ends KILLED by the server's sweep; a direct Client call outlasts a
server restart longer than its retries used to.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_server import LiveServer, start_server

from cairn.entities import LoggedModelStatus
from cairn.store.sql.tracking import SqlTrackingStore
from cairn.tracking.client import Client

POINTS = 2_000
READY = LoggedModelStatus.READY

TRAINING = textwrap.dedent(
    """
    import sys
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import cairn

    cairn.set_tracking_uri(sys.argv[1])
    cairn.set_experiment("outage")
    points = int(sys.argv[2])
    weights = sys.argv[3]
    with cairn.start_run(run_name="main") as run:
        cairn.log_param("lr", 0.1)
        for step in range(points):
            cairn.log_metric("loss", 1 / (step + 1), step=step)
        assert cairn.flush() is True
        print(run.info.run_id, flush=True)
        sys.stdin.readline()  # the server is killed meanwhile

        for step in range(points, 2 * points):
            cairn.log_metric("loss", 1 / (step + 1), step=step)
        cairn.log_metric("checkpoint", 1.0, synchronous=True)
        cairn.log_params({"depth": 3, "width": 8})
        cairn.set_tag("phase", "outage")
        cairn.set_tags({"team": "vision"})
        cairn.log_input(cairn.data.from_numpy(np.arange(6).reshape(3, 2), name="train"))
        cairn.log_text("written while the server was down", "notes/outage.txt")
        cairn.log_dict({"lr": 0.1}, "config.json")
        cairn.log_artifact(weights, "model")
        figure = plt.figure()
        plt.plot([1, 2, 3])
        cairn.log_figure(figure, "plots/curve.png")
        cairn.log_image(np.zeros((4, 4, 3), dtype=np.uint8), "image.png")
        cairn.log_image(np.ones((4, 4, 3), dtype=np.uint8), key="samples", step=2)
        cairn.log_table({"epoch": [1, 2], "acc": [0.5, 0.7]}, "eval.json")
        from sklearn.linear_model import LinearRegression
        import cairn.sklearn

        fitted = LinearRegression().fit(np.arange(6).reshape(3, 2), [1.0, 2.0, 3.0])
        info = cairn.sklearn.log_model(fitted, name="regressor")
        assert info.model_uri == f"runs:/{run.info.run_id}/regressor"
        with cairn.start_run(run_name="nested", nested=True):
            cairn.log_metric("inner", 2.0)
    with cairn.start_run(run_name="started-offline"):
        cairn.log_param("seed", 7)
        for step in range(points):
            cairn.log_metric("acc", step / points, step=step)
    print("ended", cairn.flush(), flush=True)
    sys.stdin.readline()  # the server is back
    print("delivered", cairn.flush(timeout=60), flush=True)
    """
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = start_server(tmp_path / "server")
    yield live
    live.stop()


def _environment(setup: str, tmp_path: Path) -> dict[str, str]:
    environment = {
        **os.environ,
        "CAIRN_CAPTURE_SOURCE": "false",
        "CAIRN_CAPTURE_ENVIRONMENT": "false",
        "TMPDIR": str(tmp_path),  # where artifacts wait without a journal file
    }
    environment.pop("CAIRN_TRACKING_URI", None)
    if setup == "none":
        environment["CAIRN_DURABILITY"] = "none"
    elif setup == "refused":
        blocked = tmp_path / "not-a-folder"
        blocked.write_text("a file where the journal's folder would go")
        environment["CAIRN_JOURNAL_DIR"] = str(blocked)
    return environment


@pytest.mark.parametrize("setup", ["journal", "none", "refused"])
def test_a_script_without_try_except_outlives_the_server_and_loses_nothing(
    server: LiveServer, tmp_path: Path, setup: str
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    weights = work / "weights.bin"
    weights.write_bytes(bytes(range(256)) * 16)
    training = subprocess.Popen(
        [sys.executable, "-c", TRAINING, f"http://127.0.0.1:{server.port}", str(POINTS), weights],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=work,
        env=_environment(setup, tmp_path),
    )
    assert training.stdin is not None and training.stdout is not None
    run_id = training.stdout.readline().decode().strip()
    server.kill()
    training.stdin.write(b"go\n")
    training.stdin.flush()
    ended = training.stdout.readline()
    assert ended == b"ended False\n", training.stderr.read().decode() if training.stderr else ""
    server.start_again()
    out, err = training.communicate(b"back\n", timeout=120)
    said = err.decode()
    assert training.returncode == 0, said
    assert out == b"delivered True\n", said
    assert said.count("cannot reach the tracking store") == 1  # warned once

    stored = SqlTrackingStore(f"sqlite:///{server.database}", str(server.destination))
    try:
        main = stored.get_run(run_id)
        assert main.info.status == "FINISHED"
        assert main.data.params == {"lr": "0.1", "depth": "3", "width": "8"}
        assert (main.data.tags["phase"], main.data.tags["team"]) == ("outage", "vision")
        assert main.data.metrics["checkpoint"] == 1.0
        steps = [m.step for m in stored.get_metric_history(run_id, "loss")]
        assert steps == list(range(2 * POINTS))  # every point, once
        [used] = main.inputs.dataset_inputs
        assert used.dataset.name == "train"
        experiment = main.info.experiment_id
        others = {r.info.run_name: r for r in stored.search_runs([experiment], "", max_results=10)}
        assert {name: r.info.status for name, r in others.items()} == {
            "main": "FINISHED",
            "nested": "FINISHED",
            "started-offline": "FINISHED",
        }
        offline = others["started-offline"].info.run_id
        assert stored.get_run(offline).data.params == {"seed": "7"}
        assert len(stored.get_metric_history(offline, "acc")) == POINTS
        [model] = stored.search_logged_models([experiment])
        assert (model.name, model.status, model.source_run_id) == ("regressor", READY, run_id)
    finally:
        stored.close()
    folder = server.destination / experiment / run_id / "artifacts"
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert {
        "notes/outage.txt",
        "config.json",
        "model/weights.bin",
        "plots/curve.png",
        "image.png",
        "eval.json",
    } <= files
    assert any(name.startswith("images/samples/step_0000000002_") for name in files)
    assert (folder / "model" / "weights.bin").read_bytes() == weights.read_bytes()
    assert not [p for p in tmp_path.glob("cairn-spool-*") if any(p.iterdir())]
    model_files = {p.name for p in server.destination.rglob("*") if p.is_file()}
    assert {"MLmodel", "model.pkl"} <= model_files


def test_a_model_logged_in_an_outage_loads_by_its_run_uri(
    server: LiveServer, workdir: Path
) -> None:
    import numpy as np
    from sklearn.linear_model import LinearRegression

    import cairn
    import cairn.pyfunc
    import cairn.sklearn

    cairn.set_tracking_uri(f"http://127.0.0.1:{server.port}")
    features = np.arange(6.0).reshape(3, 2)
    fitted = LinearRegression().fit(features, [1.0, 2.0, 3.0])
    with cairn.start_run() as run:
        server.kill()
        info = cairn.sklearn.log_model(fitted, name="regressor")
    server.start_again()
    assert cairn.flush(timeout=60) is True
    loaded = cairn.pyfunc.load_model(info.model_uri)
    assert list(loaded.predict(features)) == list(fitted.predict(features))
    [logged] = cairn.Client().search_logged_models([run.info.experiment_id])
    assert (logged.status, logged.source_run_id) == (READY, run.info.run_id)


def test_a_caller_error_still_raises_while_the_server_answers(
    server: LiveServer, workdir: Path
) -> None:
    import cairn
    from cairn.exceptions import InvalidParameterValueError

    cairn.set_tracking_uri(f"http://127.0.0.1:{server.port}")
    with cairn.start_run():
        cairn.log_param("lr", 0.1)
        with pytest.raises(InvalidParameterValueError):
            cairn.log_param("lr", 0.2)  # a changed param is the caller's mistake
        with pytest.raises(InvalidParameterValueError):
            cairn.log_metric("bad key?!", 1.0)


KILLED_TRAINING = textwrap.dedent(
    """
    import sys, time
    import cairn

    cairn.set_tracking_uri(sys.argv[1])
    run = cairn.start_run()
    for step in range(500):
        cairn.log_metric("loss", float(step), step=step, timestamp=1_000_000 + step)
    assert cairn.flush() is True
    print(run.info.run_id, flush=True)
    sys.stdin.readline()  # killed with SIGKILL before it reads anything
    """
)


@pytest.mark.parametrize("durability", ["journal", "none"])
def test_a_run_whose_process_was_killed_ends_killed_with_no_next_process(
    tmp_path: Path, durability: str
) -> None:
    server = start_server(tmp_path / "server", env={"CAIRN_HEARTBEAT_TIMEOUT": "2"})
    try:
        environment = {**_environment(durability, tmp_path), "CAIRN_DURABILITY": durability}
        training = subprocess.Popen(
            [sys.executable, "-c", KILLED_TRAINING, f"http://127.0.0.1:{server.port}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=tmp_path,
            env=environment,
        )
        assert training.stdout is not None and training.stdin is not None
        run_id = training.stdout.readline().decode().strip()
        training.kill()
        assert training.wait(timeout=30) == -9
        training.stdout.close()
        training.stdin.close()
        stored = SqlTrackingStore(f"sqlite:///{server.database}", str(server.destination))
        try:
            ended = server.wait_for(
                lambda: stored.get_run(run_id).info.status != "RUNNING", timeout=60
            )
            run = stored.get_run(run_id)
        finally:
            stored.close()
        assert ended, "the run stayed RUNNING"
        assert (run.info.status, run.info.end_time) == ("KILLED", 1_000_499)  # its last point
    finally:
        server.stop()


def test_a_direct_client_call_outlasts_a_restart_longer_than_five_retries(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Five retries at these waits give up within 0.05 * (1 + 2 + 4 + 8 + 16) = 1.55 s; the
    # server is down for longer, and the call, retried until its 60 s deadline, still lands.
    monkeypatch.setenv("CAIRN_HTTP_REQUEST_BACKOFF_FACTOR", "0.05")
    monkeypatch.delenv("CAIRN_HTTP_REQUEST_MAX_RETRIES", raising=False)
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    client = Client(f"http://127.0.0.1:{server.port}")
    experiment_id = client.create_experiment("retried")
    server.kill()
    answers: list[object] = []
    call = threading.Thread(
        target=lambda: answers.append(_outcome(lambda: client.get_experiment(experiment_id)))
    )
    call.start()
    call.join(timeout=3.0)  # past the five retries' longest run
    assert call.is_alive() and not answers, answers
    server.start_again()
    call.join(timeout=60)
    [answer] = answers
    assert getattr(answer, "name", answer) == "retried"


def _outcome(function: object) -> object:
    try:
        return function()  # type: ignore[operator]
    except Exception as error:
        return error
