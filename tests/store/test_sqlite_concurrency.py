"""Several processes on one SQLite file at the same moment: no lost points, no "database is
locked", and a fresh file migrated exactly once.

Children are started with the spawn method (a clean interpreter, as separate scripts would
be) and released together by a multiprocessing.Barrier. Each child sends its stderr to a
file and exits non-zero on any exception, so the parent checks exit codes and stderr.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from cairn.store.sql import migrate
from cairn.store.sql.tracking import SqlTrackingStore

WRITERS = 4
POINTS = 20_000
PARAMS = 50
TAGS = 50
MIGRATORS = 6
BARRIER_TIMEOUT = 120
JOIN_TIMEOUT = 240


def _child(stderr_path: str, work: Callable[..., None], *args: Any) -> None:
    """Run `work` with stderr in a file; any exception → traceback there and exit code 1."""
    handle = open(stderr_path, "w", buffering=1)
    os.dup2(handle.fileno(), 2)
    sys.stderr = handle
    try:
        work(*args)
    except BaseException:
        traceback.print_exc()
        handle.flush()
        sys.exit(1)
    handle.flush()


def _writer(uri: str, index: int, barrier: Any) -> None:
    import cairn

    cairn.set_tracking_uri(uri)
    cairn.get_experiment("0")  # open the store before the start line
    barrier.wait(BARRIER_TIMEOUT)
    cairn.set_experiment("shared")  # all writers race to create it
    with cairn.start_run(run_name=f"writer-{index}"):
        for step in range(POINTS):
            cairn.log_metric("m", float(index * POINTS + step), step=step)
            if step % (POINTS // PARAMS) == 0:
                n = step // (POINTS // PARAMS)
                cairn.log_param(f"p{n}", f"{index}-{n}")
                cairn.set_tag(f"t{n}", f"{index}-{n}")
    cairn.flush()


def _migrator(uri: str, artifacts: str, index: int, barrier: Any) -> None:
    barrier.wait(BARRIER_TIMEOUT)
    store = SqlTrackingStore(uri, artifacts)
    run = store.create_run("0", f"migrator-{index}", 1_000 + index, [], f"migrator-{index}")
    assert store.get_run(run.info.run_id).info.run_name == f"migrator-{index}"
    store.close()


def _run_children(
    tmp_path: Path,
    count: int,
    work: Callable[..., None],
    args: Callable[[int, Any], tuple[Any, ...]],
) -> list[str]:
    """Start `count` spawned children behind one barrier; return each child's stderr."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(count)
    children = []
    for i in range(count):
        stderr_path = tmp_path / f"child-{i}.stderr"
        process = ctx.Process(target=_child, args=(str(stderr_path), work, *args(i, barrier)))
        process.start()
        children.append((process, stderr_path))
    outputs = []
    try:
        for process, _ in children:
            process.join(JOIN_TIMEOUT)
    finally:
        for process, _ in children:
            if process.is_alive():
                process.kill()
                process.join()
    for i, (process, stderr_path) in enumerate(children):
        text = stderr_path.read_text() if stderr_path.exists() else "<no stderr file>"
        assert process.exitcode == 0, f"child {i} exited with {process.exitcode}:\n{text}"
        outputs.append(text)
    return outputs


def test_four_processes_log_to_one_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    uri = f"sqlite:///{path}"
    SqlTrackingStore(uri, str(tmp_path / "artifacts")).close()  # migrated beforehand

    errors = _run_children(tmp_path, WRITERS, _writer, lambda i, barrier: (uri, i, barrier))
    for i, text in enumerate(errors):
        assert "locked" not in text.lower(), f"child {i}:\n{text}"
        assert "Traceback" not in text, f"child {i}:\n{text}"

    store = SqlTrackingStore(uri, str(tmp_path / "artifacts"))
    try:
        experiment = store.get_experiment_by_name("shared")
        assert experiment is not None
        runs = store.search_runs([experiment.experiment_id], max_results=100)
        assert sorted(r.info.run_name for r in runs) == [f"writer-{i}" for i in range(WRITERS)]
        for run in runs:
            index = int(run.info.run_name.rsplit("-", 1)[1])
            assert run.info.status == "FINISHED"
            history = store.get_metric_history(run.info.run_id, "m")
            assert len(history) == POINTS, run.info.run_name
            assert [m.step for m in history] == list(range(POINTS))
            assert [m.value for m in history] == [float(index * POINTS + s) for s in range(POINTS)]
            assert run.data.metrics == {"m": float(index * POINTS + POINTS - 1)}
            assert run.data.params == {f"p{n}": f"{index}-{n}" for n in range(PARAMS)}
            tags = {k: v for k, v in run.data.tags.items() if k[0] == "t" and k[1:].isdigit()}
            assert tags == {f"t{n}": f"{index}-{n}" for n in range(TAGS)}
        with store.engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT COUNT(*) FROM metrics")).scalar()
        assert stored == WRITERS * POINTS
    finally:
        store.close()


def test_six_processes_open_a_fresh_file_at_once(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "cairn.db"
    uri = f"sqlite:///{path}"
    artifacts = str(tmp_path / "artifacts")
    assert not path.exists()

    errors = _run_children(
        tmp_path, MIGRATORS, _migrator, lambda i, barrier: (uri, artifacts, i, barrier)
    )
    for i, text in enumerate(errors):
        assert "Traceback" not in text, f"child {i}:\n{text}"
        assert "locked" not in text.lower(), f"child {i}:\n{text}"

    engine = sa.create_engine(uri)
    try:
        assert migrate.current_revision(engine) == migrate.HEAD
        with engine.connect() as conn:
            versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
            defaults = conn.execute(
                sa.text("SELECT name FROM experiments WHERE experiment_id = 0")
            ).all()
            run_names = sorted(conn.execute(sa.text("SELECT name FROM runs")).scalars())
        assert versions == [(migrate.HEAD,)]
        assert defaults == [("Default",)]
        assert run_names == sorted(f"migrator-{i}" for i in range(MIGRATORS))
    finally:
        engine.dispose()
