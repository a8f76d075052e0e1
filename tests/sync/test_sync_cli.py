"""`cairn sync` as a user runs it: log offline with the fluent API to ./cairn-data, then
upload to a real `cairn server` process; a server that is down fails in one line."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sync_processes import cairn, clean_environment, start_server, stop

import cairn as cairn_api
from local_processes import free_port

TRAINING = """
import cairn
cairn.set_experiment("offline")
with cairn.start_run(run_name="trained") as run:
    cairn.log_param("lr", 0.1)
    cairn.set_tag("team", "ml")
    for step in range(50):
        cairn.log_metric("loss", 1.0 / (step + 1), step=step)
    cairn.log_metric("loss", float("nan"), step=50)
    cairn.log_text("hello", "notes/hello.txt")
print(run.info.run_id)
"""


def _train(folder: Path) -> str:
    """Run a training script with no tracking configured: it logs to ./cairn-data."""
    done = subprocess.run(
        [sys.executable, "-c", TRAINING],
        cwd=folder,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (folder / "cairn-data" / "cairn.db").is_file()
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture
def laptop(tmp_path: Path) -> Path:
    folder = tmp_path / "laptop"
    folder.mkdir()
    return folder


@pytest.fixture
def central(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    port = free_port()
    process = start_server(tmp_path / "central", port)
    yield port, tmp_path / "central"
    stop(process)


def test_offline_runs_reach_the_server_with_their_ids(
    laptop: Path, central: tuple[int, Path], tmp_path: Path
) -> None:
    run_id = _train(laptop)
    url = f"http://127.0.0.1:{central[0]}"
    done = cairn("sync", "--to", url, cwd=laptop)
    assert done.returncode == 0, done.stderr
    assert "1 created" in done.stdout and "51 points" in done.stdout

    server = cairn_api.Client(url)
    run = server.get_run(run_id)
    experiment = server.get_experiment(run.info.experiment_id)
    assert (experiment.name, run.info.run_name, run.info.status) == (
        "offline",
        "trained",
        "FINISHED",
    )
    assert run.data.params == {"lr": "0.1"} and run.data.tags["team"] == "ml"
    history = server.get_metric_history(run_id, "loss")
    assert len(history) == 51 and repr(history[-1].value) == "nan"
    local = server.download_artifacts(run_id, "notes/hello.txt", str(tmp_path / "download"))
    assert Path(local).read_text() == "hello"
    assert (laptop / "cairn-data" / "sync").is_dir()  # the state lives beside the database

    again = cairn("sync", "--to", url, cwd=laptop)
    assert again.returncode == 0, again.stderr
    assert "1 unchanged" in again.stdout and "in 0 requests" in again.stdout
    assert len(server.get_metric_history(run_id, "loss")) == 51


def test_a_server_that_is_down_fails_in_one_line_then_sync_completes(
    laptop: Path, tmp_path: Path
) -> None:
    run_id = _train(laptop)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    down = cairn("sync", "--to", url, cwd=laptop)
    assert down.returncode == 1
    assert "Traceback" not in down.stderr
    lines = down.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: Cannot reach {url}: "), down.stderr

    server = start_server(tmp_path / "central", port)
    try:
        up = cairn("sync", "--to", url, cwd=laptop)
        assert up.returncode == 0, up.stderr
        assert len(cairn_api.Client(url).get_metric_history(run_id, "loss")) == 51
    finally:
        stop(server)


def test_an_unknown_experiment_is_a_usage_error(laptop: Path) -> None:
    _train(laptop)
    done = cairn("sync", "--to", "sqlite:///elsewhere.db", "--experiment", "nope", cwd=laptop)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"Error: No experiment named 'nope' in sqlite:///{laptop / 'cairn-data' / 'cairn.db'}."
    ]


@pytest.mark.parametrize("command", ["sync", "relay"])
def test_the_commands_have_help(command: str) -> None:
    from click.testing import CliRunner

    from cairn.cli import cli

    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0 and "--to" in result.output


def test_a_folder_without_a_store_has_nothing_to_sync(tmp_path: Path) -> None:
    done = cairn("sync", "--to", "sqlite:///elsewhere.db", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"Error: No tracking store at {tmp_path / 'cairn-data' / 'cairn.db'}: nothing to sync."
    )
    assert not (tmp_path / "cairn-data").exists()
