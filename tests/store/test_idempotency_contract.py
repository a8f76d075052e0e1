"""Idempotency keys and client-chosen run ids (issue 15): the TrackingStore contract.

A journal replays what it is not sure was stored; a keyed write replayed must be a no-op,
and a run created with a client-chosen id must come back as the same run. Each test runs on
SQLite, PostgreSQL and MariaDB (the `store` fixture) and, through tests/rest, over HTTP.

A real replay sends the same body; several tests replay a *changed* body under the same key
so that skipping by key shows (an exact repeat of a point would be stored once anyway).
Run ids are fresh per test: the server's wipe between REST tests keeps the keys table.
"""

from __future__ import annotations

import time
import uuid

import pytest

from cairn.entities import Metric, Param, RunStatus, RunTag
from cairn.exceptions import InvalidParameterValueError, ResourceAlreadyExistsError
from cairn.store.base import TrackingStore
from cairn.store.validation import idempotency_part


def _now() -> int:
    return int(time.time() * 1000)


def _run(store: TrackingStore, experiment_id: str = "0") -> str:
    return store.create_run(experiment_id, "tester", _now(), [], None).info.run_id


def _history(store: TrackingStore, run_id: str, key: str) -> list[tuple[float, int, int]]:
    return [(m.value, m.timestamp, m.step) for m in store.get_metric_history(run_id, key)]


def _key() -> str:
    return f"batch-{uuid.uuid4().hex}"


# -- log_batch ------------------------------------------------------------------------------


def test_a_keyed_batch_replayed_is_stored_once(store: TrackingStore) -> None:
    run_id = _run(store)
    key = _key()
    metrics = [
        Metric("loss", 0.5, 1_000, 0),
        Metric("loss", 0.5, 1_000, 0),  # the same point twice in one batch, on purpose
        Metric("loss", 0.25, 1_000, 1),
        Metric("loss", 0.75, 1_000, 1),  # another value at the same step: a second point
    ]
    params = [Param("lr", "0.1"), Param("lr", "0.1")]
    tags = [RunTag("phase", "train"), RunTag("phase", "train")]
    store.log_batch(run_id, metrics, params, tags, idempotency_key=key)
    once = [(0.5, 1_000, 0), (0.25, 1_000, 1), (0.75, 1_000, 1)]
    assert _history(store, run_id, "loss") == once

    store.log_batch(run_id, metrics, params, tags, idempotency_key=key)  # the replay
    shifted = [Metric(m.key, m.value, m.timestamp + 1, m.step) for m in metrics]
    store.log_batch(
        run_id,
        shifted,
        [Param("lr", "0.1"), Param("other", "1")],
        [RunTag("phase", "eval")],
        idempotency_key=key,
    )
    run = store.get_run(run_id)
    assert _history(store, run_id, "loss") == once
    assert run.data.params == {"lr": "0.1"}
    assert run.data.tags["phase"] == "train"

    store.log_batch(run_id, shifted, idempotency_key=_key())  # a new key is a new write
    assert len(_history(store, run_id, "loss")) == 6


def test_a_replayed_key_does_not_overwrite_what_came_after(store: TrackingStore) -> None:
    run_id = _run(store)
    key = _key()
    store.log_batch(run_id, tags=[RunTag("state", "first")], idempotency_key=key)
    store.set_tag(run_id, RunTag("state", "second"))
    store.log_batch(run_id, tags=[RunTag("state", "first")], idempotency_key=key)
    assert store.get_run(run_id).data.tags["state"] == "second"


def test_the_same_key_on_another_run_is_independent(store: TrackingStore) -> None:
    first, second = _run(store), _run(store)
    key = _key()
    for run_id in (first, second):
        store.log_batch(run_id, [Metric("m", 1.0, 5, 0)], [Param("p", run_id)], idempotency_key=key)
    for run_id in (first, second):
        run = store.get_run(run_id)
        assert run.data.params == {"p": run_id}
        assert _history(store, run_id, "m") == [(1.0, 5, 0)]


def test_a_replay_after_the_run_was_deleted_returns_normally(store: TrackingStore) -> None:
    run_id = _run(store)
    key = _key()
    store.log_batch(run_id, [Metric("m", 1.0, 5, 0)], idempotency_key=key)
    store.delete_run(run_id)
    store.log_batch(run_id, [Metric("m", 1.0, 5, 0)], idempotency_key=key)  # applied before
    with pytest.raises(InvalidParameterValueError):
        store.log_batch(run_id, [Metric("m", 1.0, 5, 0)], idempotency_key=_key())


def test_a_refused_batch_does_not_use_up_its_key(store: TrackingStore) -> None:
    run_id = _run(store)
    store.log_param(run_id, Param("p", "1"))
    key = _key()
    with pytest.raises(InvalidParameterValueError):
        store.log_batch(
            run_id, [Metric("m", 1.0, 5, 0)], [Param("p", "changed")], idempotency_key=key
        )
    store.log_batch(run_id, [Metric("m", 1.0, 5, 0)], [Param("p", "1")], idempotency_key=key)
    assert _history(store, run_id, "m") == [(1.0, 5, 0)]


@pytest.mark.parametrize(
    "bad", ["", "a" * 101, "with space", "a/b", "caf\u00e9", "k\x00", "semi;colon"]
)
def test_a_bad_key_is_refused_and_nothing_is_written(store: TrackingStore, bad: str) -> None:
    run_id = _run(store)
    with pytest.raises(InvalidParameterValueError):
        store.log_batch(run_id, [Metric("m", 1.0, 5, 0)], idempotency_key=bad)
    with pytest.raises(InvalidParameterValueError):
        store.log_metric_points([(run_id, "m", 1.0, 5, 0)], idempotency_key=bad)
    with pytest.raises(InvalidParameterValueError):
        store.end_run(run_id, RunStatus.FINISHED, _now(), [], idempotency_key=bad)
    assert _history(store, run_id, "m") == []
    assert store.get_run(run_id).info.status == "RUNNING"


def test_the_longest_and_every_allowed_character_are_accepted(store: TrackingStore) -> None:
    run_id = _run(store)
    store.log_batch(run_id, [Metric("m", 1.0, 5, 0)], idempotency_key="k" * 100)
    store.log_batch(run_id, [Metric("m", 2.0, 5, 0)], idempotency_key="Az09._:-")
    assert len(_history(store, run_id, "m")) == 2


# -- log_metric_points and end_run -----------------------------------------------------------


def test_keyed_metric_points_of_several_runs_replayed_are_stored_once(
    store: TrackingStore,
) -> None:
    first, second = _run(store), _run(store)
    key = _key()
    points = [(r, "loss", float(s), 1_000, s) for r in (first, second) for s in range(1500)]
    store.log_metric_points(points, idempotency_key=key)
    later = [(r, k, v, t + 7, s) for r, k, v, t, s in points]
    store.log_metric_points(later, idempotency_key=key)
    for run_id in (first, second):
        assert len(_history(store, run_id, "loss")) == 1500
    store.log_metric_points(later, idempotency_key=_key())
    assert len(_history(store, first, "loss")) == 3000


def test_a_keyed_end_run_stores_its_points_once_and_always_ends_the_run(
    store: TrackingStore,
) -> None:
    run_id = _run(store)
    now = _now()
    used = _key()
    store.log_metric_points([(run_id, "m", 1.0, now, 0)], idempotency_key=used)
    store.end_run(run_id, RunStatus.FINISHED, now + 5, [(run_id, "m", 2.0, now, 1)], used)
    run = store.get_run(run_id)
    assert (run.info.status, run.info.end_time) == ("FINISHED", now + 5)  # the end: absolute
    assert _history(store, run_id, "m") == [(1.0, now, 0)]  # the points: keyed, skipped

    key = _key()
    store.end_run(run_id, RunStatus.FAILED, now + 9, [(run_id, "m", 3.0, now, 1)], key)
    store.end_run(run_id, RunStatus.FAILED, now + 9, [(run_id, "m", 3.0, now + 1, 1)], key)
    run = store.get_run(run_id)
    assert (run.info.status, run.info.end_time) == ("FAILED", now + 9)
    assert _history(store, run_id, "m") == [(1.0, now, 0), (3.0, now, 1)]


# -- create_run with a client-chosen id --------------------------------------------------------


def test_create_run_with_a_client_id_replayed_returns_the_same_run(store: TrackingStore) -> None:
    experiment_id = store.create_experiment(f"exp-{uuid.uuid4().hex[:8]}")
    run_id = uuid.uuid4().hex
    tags = [RunTag("origin", "journal")]
    made = store.create_run(experiment_id, "tester", 1_000, tags, "first-name", run_id=run_id)
    assert made.info.run_id == run_id
    assert made.info.artifact_uri.endswith(f"/{run_id}/artifacts")
    store.log_param(run_id, Param("p", "1"))

    again = store.create_run(
        experiment_id, "someone", 2_000, [RunTag("origin", "other")], "renamed", run_id=run_id
    )
    stored = store.get_run(run_id)
    assert again.info == stored.info
    assert again.data.tags == stored.data.tags
    assert (stored.info.run_name, stored.info.user_id, stored.info.start_time) == (
        "first-name",
        "tester",
        1_000,
    )
    assert stored.data.tags["origin"] == "journal"
    assert stored.data.params == {"p": "1"}
    found = store.search_runs([experiment_id])
    assert [r.info.run_id for r in found] == [run_id]


def test_create_run_with_an_id_taken_in_another_experiment_is_refused(
    store: TrackingStore,
) -> None:
    experiment_id = store.create_experiment(f"exp-{uuid.uuid4().hex[:8]}")
    run_id = uuid.uuid4().hex
    store.create_run("0", "tester", 1_000, [], None, run_id=run_id)
    with pytest.raises(ResourceAlreadyExistsError):
        store.create_run(experiment_id, "tester", 1_000, [], None, run_id=run_id)
    assert store.get_run(run_id).info.experiment_id == "0"
    assert store.search_runs([experiment_id]) == []


@pytest.mark.parametrize(
    "bad",
    [
        "0123456789ABCDEF0123456789ABCDEF",
        "0123456789abcdef0123456789abcde",
        "0123456789abcdef0123456789abcdef0",
        str(uuid.UUID(int=7)),
        "../0123456789abcdef0123456789abcd",
    ],
)
def test_create_run_with_a_malformed_id_is_refused(store: TrackingStore, bad: str) -> None:
    with pytest.raises(InvalidParameterValueError):
        store.create_run("0", "tester", 1_000, [], None, run_id=bad)
    assert store.search_runs(["0"]) == []


# -- how a split call keys its parts -----------------------------------------------------------


def test_a_split_call_keys_its_parts_the_same_way_every_time() -> None:
    assert idempotency_part("abc", 0) == "abc.0"
    assert idempotency_part("abc", 12) == "abc.12"
    long_one, other = "a" * 100, "a" * 99 + "b"
    assert idempotency_part(long_one, 3) == idempotency_part(long_one, 3)
    assert idempotency_part(long_one, 3) != idempotency_part(other, 3)
    assert len(idempotency_part(long_one, 999_999)) <= 100
