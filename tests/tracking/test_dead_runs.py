"""Runs whose process is gone end KILLED at their last point (maintenance/dead_runs.py), by
their owner record on this host or by a heartbeat past the timeout elsewhere; runs with no
heartbeat (older clients, the stock mlflow client) are never judged by it. Also the fluent
side: a run carries its owner and heartbeat, and the heartbeat moves on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import cairn
from cairn.entities import RunTag
from cairn.maintenance import dead_runs, doctor
from cairn.maintenance.run_owner import (
    HEARTBEAT_TAG,
    OWNER_TAG,
    parse_owner,
    pid_namespace,
    process_start,
)
from cairn.store.sql.tracking import SqlTrackingStore
from cairn.tracking import session
from cairn.tracking.client import Client

NOW = 2_000_000_000_000
MINUTE = 60_000


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SqlTrackingStore]:
    monkeypatch.setenv("CAIRN_HEARTBEAT_TIMEOUT", "300")
    made = SqlTrackingStore(f"sqlite:///{tmp_path / 'cairn.db'}", str(tmp_path / "artifacts"))
    yield made
    made.close()


def _run(store: SqlTrackingStore, tags: dict[str, str], last_point: int | None = None) -> str:
    listed = [RunTag(k, v) for k, v in tags.items()]
    run = store.create_run("0", "ana", NOW - 60 * MINUTE, listed, None)
    if last_point is not None:
        store.log_metric_points([(run.info.run_id, "loss", 0.5, last_point, 3)])
    return run.info.run_id


def _owner(
    host: str = "elsewhere",
    pid: int = 1,
    started: int | None = None,
    every: float = 30,
    namespace: int | None = None,
) -> str:
    ns = pid_namespace() if namespace is None else namespace
    return json.dumps({"host": host, "pid": pid, "started": started, "every": every, "ns": ns})


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _status(store: SqlTrackingStore, run_id: str) -> tuple[str, int | None]:
    info = store.get_run(run_id).info
    return info.status, info.end_time


def test_a_stale_heartbeat_ends_the_run_killed_at_its_last_point(store: SqlTrackingStore) -> None:
    stale = _run(
        store, {HEARTBEAT_TAG: str(NOW - 10 * MINUTE), OWNER_TAG: _owner()}, NOW - 11 * MINUTE
    )
    fresh = _run(store, {HEARTBEAT_TAG: str(NOW - MINUTE), OWNER_TAG: _owner()}, NOW - 2 * MINUTE)
    no_point = _run(store, {HEARTBEAT_TAG: str(NOW - 20 * MINUTE)})
    assert dead_runs.end_dead_runs(store.engine, NOW) == 2
    assert _status(store, stale) == ("KILLED", NOW - 11 * MINUTE)
    assert _status(store, fresh) == ("RUNNING", None)
    assert _status(store, no_point) == ("KILLED", NOW - 20 * MINUTE)  # its last heartbeat


def test_a_run_without_a_heartbeat_is_never_killed_by_it(store: SqlTrackingStore) -> None:
    old = _run(store, {"mlflow.user": "ana"}, NOW - 1_000 * MINUTE)
    assert dead_runs.end_dead_runs(store.engine, NOW) == 0
    assert _status(store, old) == ("RUNNING", None)


def test_a_slow_heartbeat_is_judged_by_its_own_interval(store: SqlTrackingStore) -> None:
    # Every 10 minutes: 11 minutes since the last beat is not yet three intervals.
    slow = _run(store, {HEARTBEAT_TAG: str(NOW - 11 * MINUTE), OWNER_TAG: _owner(every=600)})
    assert dead_runs.end_dead_runs(store.engine, NOW) == 0
    assert _status(store, slow)[0] == "RUNNING"


def test_on_this_host_a_gone_process_ends_at_once_and_a_live_one_never(
    store: SqlTrackingStore,
) -> None:
    import socket

    host = socket.gethostname()
    me = os.getpid()
    gone = _run(store, {HEARTBEAT_TAG: str(NOW), OWNER_TAG: _owner(host, _dead_pid())}, NOW - 5)
    reused = _run(  # the pid names a process started later than the run's
        store, {HEARTBEAT_TAG: str(NOW), OWNER_TAG: _owner(host, os.getppid(), started=1)}, NOW - 7
    )
    alive = _run(  # this process, silent for an hour: still alive
        store,
        {HEARTBEAT_TAG: str(NOW - 60 * MINUTE), OWNER_TAG: _owner(host, me, process_start(me))},
    )
    container = _run(  # same host name, another pid namespace: its pids mean nothing here
        store, {HEARTBEAT_TAG: str(NOW), OWNER_TAG: _owner(host, _dead_pid(), namespace=1)}
    )
    assert dead_runs.end_dead_runs(store.engine, NOW) == 2
    assert _status(store, container) == ("RUNNING", None)
    assert _status(store, gone) == ("KILLED", NOW - 5)
    assert _status(store, reused) == ("KILLED", NOW - 7)
    assert _status(store, alive) == ("RUNNING", None)


def test_doctor_reports_dead_runs_and_fix_ends_them(store: SqlTrackingStore) -> None:
    dead = _run(store, {HEARTBEAT_TAG: "1", OWNER_TAG: _owner()}, 5)
    options = doctor.DoctorOptions(store.db_uri)
    [seen] = doctor.check_dead_runs(store.engine, options)
    assert (seen.level, seen.fixed) == ("warning", False) and dead in seen.message
    assert _status(store, dead)[0] == "RUNNING"  # looking changes nothing
    [fixed] = doctor.check_dead_runs(store.engine, doctor.DoctorOptions(store.db_uri, fix=True))
    assert fixed.fixed and _status(store, dead) == ("KILLED", 5)


def test_a_fluent_run_carries_its_owner_and_a_moving_heartbeat(workdir: Path) -> None:
    with cairn.start_run() as run:
        tags = Client().get_run(run.info.run_id).data.tags
        owner = parse_owner(tags[OWNER_TAG])
        assert owner is not None and owner.pid == os.getpid() and owner.is_gone() is False
        first = int(tags[HEARTBEAT_TAG])
        assert first == run.info.start_time
        current = session.current()
        assert current._heartbeat is not None
        beat = current._heartbeat
        cairn.log_metric("loss", 0.1, timestamp=first + 1)
        while int(Client().get_run(run.info.run_id).data.tags[HEARTBEAT_TAG]) == first:
            beat.beat()  # polled: the clock may not have moved a millisecond yet
    assert Client().get_run(run.info.run_id).info.status == "FINISHED"
