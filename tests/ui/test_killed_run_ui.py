"""A training process killed with SIGKILL: the server's sweep ends its run KILLED, and the run
page and the runs table show it so, with no next process to end it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from ui_support import local_cairn_ui, require_browser, screenshot, start_server

import cairn

TRAINING = textwrap.dedent(
    """
    import sys
    import cairn

    if len(sys.argv) > 1:
        cairn.set_tracking_uri(sys.argv[1])
    run = cairn.start_run(run_name="killed-run")
    for step in range(100):
        cairn.log_metric("loss", 1 / (step + 1), step=step, timestamp=1_000_000 + step)
    assert cairn.flush() is True
    print(run.info.run_id, flush=True)
    sys.stdin.readline()  # killed with SIGKILL before it reads anything
    """
)


def _train_and_kill(folder: Path, *uri: str) -> str:
    """A training process that logs 100 points, then killed with SIGKILL: its run's id."""
    training = subprocess.Popen(
        [sys.executable, "-c", TRAINING, *uri],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=folder,
        env={**os.environ, "CAIRN_CAPTURE_SOURCE": "false"},
    )
    assert training.stdout is not None and training.stdin is not None
    run_id = training.stdout.readline().decode().strip()
    training.kill()
    assert training.wait(timeout=30) == -9
    training.stdout.close()
    training.stdin.close()
    return run_id


def _shows_killed(page: Any, url: str, run_id: str) -> None:
    """Wait for the sweep (in the serving process) to end the run, then look at it."""
    client = cairn.Client(url)
    deadline = time.monotonic() + 60
    while client.get_run(run_id).info.status == "RUNNING" and time.monotonic() < deadline:
        pass  # each get_run is a request to the server, whose sweep runs every second
    run = client.get_run(run_id)
    assert (run.info.status, run.info.end_time) == ("KILLED", 1_000_099)

    page.goto(f"{url}/#/runs/{run_id}")
    expect(page.locator(".run-head .status-badge.status-killed")).to_have_text("KILLED")
    screenshot(page, "run-killed")
    page.goto(f"{url}/#/experiments/{run.info.experiment_id}")
    expect(page.locator(".status-badge.status-killed").first).to_have_text("KILLED")
    assert not page.errors


def test_a_killed_training_on_the_local_store_shows_killed_in_cairn_ui(
    page: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's path: training logs to ./cairn-data, no server; `cairn ui` then sweeps."""
    require_browser()
    monkeypatch.setenv("CAIRN_HEARTBEAT_TIMEOUT", "2")  # `cairn ui` sweeps every second
    monkeypatch.delenv("CAIRN_TRACKING_URI", raising=False)
    run_id = _train_and_kill(tmp_path)
    with local_cairn_ui(tmp_path) as url:
        _shows_killed(page, url, run_id)


def test_a_killed_training_shows_killed(
    page: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_browser()
    monkeypatch.setenv("CAIRN_HEARTBEAT_TIMEOUT", "2")  # the server sweeps every second
    server, url = start_server(tmp_path)
    try:
        _shows_killed(page, url, _train_and_kill(tmp_path, url))
    finally:
        server.terminate()
        server.wait(15)
