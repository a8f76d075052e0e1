"""`TrackingStore.end_run` (last points + end in one transaction) and time-ordered run ids."""

from __future__ import annotations

import re
import time
import uuid

import pytest

from cairn.entities import RunStatus
from cairn.exceptions import InvalidParameterValueError
from cairn.store.ids import new_run_id
from cairn.store.sql.tracking import SqlTrackingStore


def _run(store: SqlTrackingStore) -> str:
    return store.create_run("0", "u", int(time.time() * 1000), [], None).info.run_id


def test_end_run_stores_the_last_points_and_ends_the_run(store: SqlTrackingStore) -> None:
    run_id, other = _run(store), _run(store)
    now = int(time.time() * 1000)
    points = [(run_id, "loss", 1.0 / (s + 1), now, s) for s in range(30)]
    points.append((other, "acc", 0.5, now, 0))
    store.end_run(run_id, RunStatus.FAILED, now + 5, points)
    run = store.get_run(run_id)
    assert (run.info.status, run.info.end_time) == ("FAILED", now + 5)
    assert len(store.get_metric_history(run_id, "loss")) == 30
    assert run.data.metrics["loss"] == pytest.approx(1 / 30)
    assert store.get_run(other).data.metrics == {"acc": 0.5}
    assert store.get_run(other).info.status == "RUNNING"


def test_end_run_of_a_deleted_run_changes_nothing(store: SqlTrackingStore) -> None:
    run_id = _run(store)
    store.delete_run(run_id)
    now = int(time.time() * 1000)
    with pytest.raises(InvalidParameterValueError):
        store.end_run(run_id, RunStatus.FINISHED, now, [(run_id, "m", 1.0, now, 0)])
    store.restore_run(run_id)
    run = store.get_run(run_id)
    assert run.info.status == "RUNNING" and run.info.end_time is None
    assert store.get_metric_history(run_id, "m") == []


def test_end_run_refuses_a_bad_status_before_writing(store: SqlTrackingStore) -> None:
    run_id = _run(store)
    now = int(time.time() * 1000)
    with pytest.raises(InvalidParameterValueError):
        store.end_run(run_id, "DONE", now, [(run_id, "m", 1.0, now, 0)])  # type: ignore[arg-type]
    assert store.get_metric_history(run_id, "m") == []


def test_run_ids_are_uuid7_hex_and_grow_with_time() -> None:
    ids = [new_run_id() for _ in range(200)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert all(uuid.UUID(i).version == 7 and uuid.UUID(i).variant == uuid.RFC_4122 for i in ids)
    assert len(set(ids)) == 200
    before = time.time_ns() // 1_000_000
    stamp = int(new_run_id()[:12], 16)  # the first 48 bits are the creation time in ms
    after = time.time_ns() // 1_000_000
    assert before <= stamp <= after
    assert sorted(i[:12] for i in ids) == [i[:12] for i in ids]
