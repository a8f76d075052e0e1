"""The idempotency contract (tests/store/test_idempotency_contract.py) again over HTTP, and
what only the REST store does: a keyed call split into several log-batch requests keys each
part (`<key>.<n>`) so that a replay of the whole call sends the same keys; keys travel in
the `Idempotency-Key` header; Client.log_batch splits a large keyed batch the same way.
"""

from __future__ import annotations

import inspect
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.entities import Metric, Param
from cairn.store.rest.tracking import RestTrackingStore
from cairn.tracking.client import Client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "store"))
import test_idempotency_contract


def _contract_tests() -> dict[str, object]:
    return {
        name: function
        for name, function in vars(test_idempotency_contract).items()
        if name.startswith("test_")
        and callable(function)
        and "store" in inspect.signature(function).parameters
    }


globals().update(_contract_tests())


@pytest.fixture
def store(rest_store: RestTrackingStore) -> Iterator[RestTrackingStore]:
    """Overrides the SQL `store` fixture for the contract tests collected here."""
    yield rest_store


def test_the_contract_is_collected_here() -> None:
    assert len(_contract_tests()) >= 12


def _history_length(store: RestTrackingStore, run_id: str, key: str) -> int:
    return len(store.get_metric_history(run_id, key))


def test_a_split_keyed_call_replayed_sends_the_same_keys(rest_store: RestTrackingStore) -> None:
    runs = [rest_store.create_run("0", "u", 1, [], None).info.run_id for _ in range(2)]
    # 2,500 points of one run and 1,200 of another: 3 + 2 log-batch requests.
    points = [(runs[0], "m", 1.0, 1_000, s) for s in range(2500)]
    points += [(runs[1], "m", 1.0, 1_000, s) for s in range(1200)]
    key = f"j-{uuid.uuid4().hex}"
    rest_store.log_metric_points(points, idempotency_key=key)
    moved = [(r, k, v, t + 1, s) for r, k, v, t, s in points]
    rest_store.log_metric_points(moved, idempotency_key=key)
    assert [_history_length(rest_store, r, "m") for r in runs] == [2500, 1200]
    rest_store.log_metric_points(moved, idempotency_key=f"j-{uuid.uuid4().hex}")
    assert [_history_length(rest_store, r, "m") for r in runs] == [5000, 2400]


def test_a_split_call_with_the_longest_key_keys_its_parts(rest_store: RestTrackingStore) -> None:
    run_id = rest_store.create_run("0", "u", 1, [], None).info.run_id
    key = uuid.uuid4().hex * 3 + "0123"  # 100 characters: no room for a suffix
    points = [(run_id, "m", 1.0, 1_000, s) for s in range(1500)]
    rest_store.log_metric_points(points, idempotency_key=key)
    rest_store.log_metric_points([(r, k, v, 7, s) for r, k, v, _, s in points], key)
    assert _history_length(rest_store, run_id, "m") == 1500


def test_client_log_batch_splits_a_keyed_batch_into_keyed_parts(
    rest_store: RestTrackingStore,
) -> None:
    client = Client(rest_store.uri)
    run_id = client.create_run("0", run_id=uuid.uuid4().hex).info.run_id
    metrics = [Metric("m", float(s), 1_000, s) for s in range(1500)]
    params = [Param(f"p{n}", "v") for n in range(150)]
    key = f"b-{uuid.uuid4().hex}"
    client.log_batch(run_id, metrics, params, idempotency_key=key)
    moved = [Metric(m.key, m.value, 2_000, m.step) for m in metrics]
    client.log_batch(run_id, moved, params, idempotency_key=key)
    assert _history_length(rest_store, run_id, "m") == 1500
    assert len(client.get_run(run_id).data.params) == 150
    assert client.create_run("0", run_id=run_id).info.run_id == run_id
