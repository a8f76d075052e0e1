"""The metric batcher's policy on a real SQLite store: back-pressure when the writer cannot
keep up, and points that met a database fault kept, in order, until the database is back.

The background writer is held idle (an hour between writes), so every write in these tests
happens where the test can see it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from cairn.entities import RunStatus
from cairn.store.base import MetricPoint
from cairn.store.sql.tracking import SqlTrackingStore
from cairn.tracking import batcher as batcher_module
from cairn.tracking.batcher import MetricBatcher

IDLE = 3600.0  # seconds the background writer waits while the buffer is empty
# A locked database, as the driver says it (from BEGIN) or as SQLAlchemy wraps it.
LOCKED = (OperationalError, sqlite3.OperationalError)


@pytest.fixture
def sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SqlTrackingStore]:
    monkeypatch.setenv("CAIRN_SQLITE_BUSY_TIMEOUT", "0.2")  # a held lock fails a write quickly
    store = SqlTrackingStore(f"sqlite:///{tmp_path / 'cairn.db'}", str(tmp_path / "artifacts"))
    yield store
    store.close()


@pytest.fixture
def run_id(sqlite: SqlTrackingStore) -> str:
    return sqlite.create_run("0", "tester", 0, [], "batched").info.run_id


def _points(run_id: str, count: int, key: str = "m") -> list[MetricPoint]:
    return [(run_id, key, float(step), step, step) for step in range(count)]


def _steps(store: SqlTrackingStore, run_id: str, key: str = "m") -> list[int]:
    return [m.step for m in store.get_metric_history(run_id, key)]


def test_past_high_water_the_caller_writes_until_half_is_left(
    sqlite: SqlTrackingStore, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batcher_module, "HIGH_WATER", 1_000)
    monkeypatch.setattr(batcher_module, "CHUNK", 100)
    writers: list[str] = []

    def write(chunk: list[MetricPoint]) -> None:
        writers.append(threading.current_thread().name)
        sqlite.log_metric_points(chunk)

    batcher = MetricBatcher(write, IDLE)
    try:
        for point in _points(run_id, 1_000):
            batcher.log(point)
        assert writers == []  # at the high-water mark, not past it: nothing written yet
        batcher.log((run_id, "m", 1000.0, 1000, 1000))
        assert set(writers) == {threading.current_thread().name}  # written by the caller
        assert len(batcher.buffer) <= 500
        assert _steps(sqlite, run_id) == list(range(1001 - len(batcher.buffer)))
        batcher.flush()
        assert _steps(sqlite, run_id) == list(range(1001))
    finally:
        batcher.close()


def test_a_full_buffer_wakes_the_writer_which_stores_whole_chunks(
    sqlite: SqlTrackingStore, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst is stored while the loop runs, by the writer, not left for `flush`."""
    monkeypatch.setattr(batcher_module, "WAKE_AT", 100)
    monkeypatch.setattr(batcher_module, "CHUNK", 100)
    written = threading.Event()
    writers: list[str] = []

    def write(chunk: list[MetricPoint]) -> None:
        writers.append(threading.current_thread().name)
        sqlite.log_metric_points(chunk)
        written.set()

    batcher = MetricBatcher(write, IDLE)
    try:
        points = _points(run_id, 101)
        for point in points[:100]:
            batcher.log(point)
        assert not written.is_set()  # at the wake mark, not past it: the writer sleeps
        batcher.log(points[100])
        assert written.wait(timeout=30)
        assert writers[0] == "cairn-metric-writer"
        assert _steps(sqlite, run_id)[:100] == list(range(100))  # a whole chunk, in order
        batcher.flush()
        assert _steps(sqlite, run_id) == list(range(101))
    finally:
        batcher.close()


def test_points_that_met_a_locked_database_are_kept_in_order_and_stored_once(
    sqlite: SqlTrackingStore, run_id: str, tmp_path: Path
) -> None:
    batcher = MetricBatcher(sqlite.log_metric_points, IDLE)
    try:
        for point in _points(run_id, 500):
            batcher.log(point)
        other = sqlite3.connect(tmp_path / "cairn.db", isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")  # another process holds the database
        with pytest.raises(LOCKED, match="locked"):
            batcher.flush()
        assert batcher.buffer == _points(run_id, 500)  # put back, in order
        for point in _points(run_id, 600)[500:]:
            batcher.log(point)  # the error was raised once; logging goes on
        other.execute("ROLLBACK")
        other.close()
        batcher.flush()
        assert _steps(sqlite, run_id) == list(range(600))
    finally:
        batcher.close()


def test_a_fault_during_back_pressure_raises_to_the_caller_and_keeps_the_points(
    sqlite: SqlTrackingStore, run_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batcher_module, "HIGH_WATER", 200)
    monkeypatch.setattr(batcher_module, "CHUNK", 50)
    batcher = MetricBatcher(sqlite.log_metric_points, IDLE)
    try:
        other = sqlite3.connect(tmp_path / "cairn.db", isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        points = _points(run_id, 201)
        for point in points[:200]:
            batcher.log(point)
        with pytest.raises(LOCKED, match="locked"):
            batcher.log(points[200])  # one attempt, not a loop against a locked database
        assert batcher.buffer == points
        other.execute("ROLLBACK")
        other.close()
        batcher.flush()
        assert _steps(sqlite, run_id) == list(range(201))
    finally:
        batcher.close()


def test_points_of_a_deleted_run_are_dropped_with_the_stores_error(
    sqlite: SqlTrackingStore, run_id: str
) -> None:
    kept = sqlite.create_run("0", "tester", 0, [], "kept").info.run_id
    batcher = MetricBatcher(sqlite.log_metric_points, IDLE)
    try:
        for point in _points(run_id, 10):
            batcher.log(point)
        sqlite.delete_run(run_id)
        with pytest.raises(Exception, match=run_id):
            batcher.flush()
        assert batcher.buffer == []  # retrying cannot help: not kept
        for point in _points(kept, 10):
            batcher.log(point)
        batcher.flush(lambda last: sqlite.end_run(kept, RunStatus.FINISHED, 1, last))
        assert _steps(sqlite, kept) == list(range(10))
        assert sqlite.get_run(kept).info.status == "FINISHED"
    finally:
        batcher.close()
