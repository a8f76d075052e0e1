"""Training processes fork (data loaders, multiprocessing pools): a child logs through its
own connections and its own buffer, and the parent's keep working.

Each scenario runs as a real script in a fresh interpreter, as a training script would,
against SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from cairn.store.sql.tracking import SqlTrackingStore

CHILDREN = 4
CHILD_POINTS = 10_000
PARENT_POINTS = 11_000

FORK_SCRIPT = f"""
import os, sys
import cairn
from cairn.entities import Metric

cairn.set_tracking_uri(sys.argv[1])
client = cairn.Client()  # made before the fork: children use it too
run_id = cairn.start_run().info.run_id
for i in range(1_000):
    cairn.log_metric("parent", i, step=i)
cairn.flush()  # the parent's pooled connections have been used before it forks

children = []
for c in range({CHILDREN}):
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            for i in range({CHILD_POINTS}):
                cairn.log_metric(f"child{{c}}", i, step=i, run_id=run_id)
            client.log_batch(run_id, metrics=[Metric(f"client{{c}}", 1.0, 0, 0)])
            cairn.flush()
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 1
        os._exit(code)
    children.append(pid)

for i in range(1_000, {PARENT_POINTS}):  # the parent logs on while its children do
    cairn.log_metric("parent", i, step=i)
codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
client.set_tag(run_id, "after", "fork")  # the parent's Client still works
cairn.end_run()
print(run_id, codes)
"""

# Pool workers leave with os._exit: nothing buffered may be lost although they never flush.
POOL_SCRIPT = f"""
import multiprocessing, sys
import cairn

def work(c):
    for i in range({CHILD_POINTS}):
        cairn.log_metric(f"child{{c}}", i, step=i, run_id=run_id)
    return c

cairn.set_tracking_uri(sys.argv[1])
run_id = cairn.start_run().info.run_id
cairn.log_metric("parent", 0.0)
cairn.flush()
pool = multiprocessing.get_context("fork").Pool({CHILDREN})
assert pool.map(work, range({CHILDREN})) == list(range({CHILDREN}))
pool.close()
pool.join()
cairn.end_run()
print(run_id, [0] * {CHILDREN})
"""


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def tracking_uri(
    request: pytest.FixtureRequest, tmp_path: Path, new_server_database: Callable[[str, str], str]
) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cairn.db'}"
    return new_server_database(request.param, f"fork-{request.node.name}")


def _run(script: str, tracking_uri: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script, tracking_uri],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    assert "Error" not in done.stderr, done.stderr  # no InterfaceError, no "database is locked"
    run_id, _, codes = done.stdout.strip().partition(" ")
    assert codes == str([0] * CHILDREN), done.stderr
    return run_id


def _steps(store: SqlTrackingStore, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in store.get_metric_history(run_id, key))


def test_forked_children_and_their_parent_lose_no_point(tracking_uri: str, tmp_path: Path) -> None:
    run_id = _run(FORK_SCRIPT, tracking_uri, tmp_path)
    store = SqlTrackingStore(tracking_uri, str(tmp_path / "artifacts"))
    try:
        assert _steps(store, run_id, "parent") == list(range(PARENT_POINTS))
        for c in range(CHILDREN):
            assert _steps(store, run_id, f"child{c}") == list(range(CHILD_POINTS))
            assert _steps(store, run_id, f"client{c}") == [0]
        run = store.get_run(run_id)
        assert run.data.tags["after"] == "fork"
        assert run.info.status == "FINISHED"
    finally:
        store.close()


def test_pool_workers_that_never_flush_lose_no_point(tracking_uri: str, tmp_path: Path) -> None:
    run_id = _run(POOL_SCRIPT, tracking_uri, tmp_path)
    store = SqlTrackingStore(tracking_uri, str(tmp_path / "artifacts"))
    try:
        for c in range(CHILDREN):
            assert _steps(store, run_id, f"child{c}") == list(range(CHILD_POINTS))
        assert store.get_run(run_id).info.status == "FINISHED"
    finally:
        store.close()
