"""The RegistryStore contract of tests/store/, run again over HTTP.

Every test there that takes the `registry` fixture is collected here too, with `registry`
being a RestRegistryStore talking to a live `cairn server` (emptied before each test),
`store` the RestTrackingStore on the same server (for the runs and logged models versions
are registered from) and `registry_uri` the server's URL (for worker processes): the same
assertions hold through the REST API, the server's handlers and the SQL stores behind them.
New contract tests join automatically.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.store.rest.registry import RestRegistryStore
from cairn.store.rest.tracking import RestTrackingStore

# The contract module lives beside its fixtures in tests/store (no packages in tests/).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "store"))
import test_registry_contract
from test_registry_contract import catalog, run, shelf, versions  # noqa: F401 - its fixtures


def _contract_tests() -> dict[str, object]:
    found = {}
    for name, function in vars(test_registry_contract).items():
        if not name.startswith("test_") or not callable(function):
            continue
        if "registry" in inspect.signature(function).parameters:
            found[name] = function
    return found


globals().update(_contract_tests())


@pytest.fixture
def store(rest_store: RestTrackingStore) -> RestTrackingStore:
    """Overrides the SQL `store`: the tracking store of the (emptied) live server."""
    return rest_store


@pytest.fixture
def registry_uri(rest_server: object, rest_store: RestTrackingStore) -> str:
    """Worker processes reach the registry at the server's URL (`registry_store` builds a
    RestRegistryStore for http URIs)."""
    return str(rest_server.url)  # type: ignore[attr-defined]


@pytest.fixture
def registry(registry_uri: str) -> Iterator[RestRegistryStore]:
    """Overrides the SQL `registry` for the tests collected into this module."""
    served = RestRegistryStore(registry_uri)
    yield served
    served.close()


def test_the_contract_is_collected_here() -> None:
    """Guards the collection above: a rename in tests/store must not empty this module."""
    collected = _contract_tests()
    assert len(collected) >= 50
    assert "test_concurrent_creators_get_distinct_consecutive_versions" in collected
    assert "test_history_records_who_moved_what_oldest_first" in collected
