"""The TrackingStore contract suites of tests/store/, run again over HTTP.

Every test there that takes the `store` fixture is collected here too, with `store` being a
RestTrackingStore talking to a live `cairn server` (emptied before each test): the same
assertions hold through the REST API, the server's handlers and the SQL store behind them.
New contract tests join automatically. The one left out is replaced below, with the reason.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.cli.server import ARTIFACT_SCHEME_ROOT
from cairn.entities import LifecycleStage
from cairn.exceptions import InvalidParameterValueError
from cairn.store.rest.tracking import RestTrackingStore

# The contract modules live beside their fixtures in tests/store (no packages in tests/).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "store"))
import test_dataset_outputs_contract
import test_end_run_and_ids
import test_logged_model_contract
import test_tracking_store_contract

# The SQL fixture's Default experiment lives beside its database ("…/artifacts/0"); a
# server's lives behind its proxy. Replaced by the test of the same name below.
NOT_OVER_REST = {"test_default_experiment_exists_and_cannot_be_deleted"}


def _contract_tests() -> dict[str, object]:
    found = {}
    for module in (
        test_tracking_store_contract,
        test_end_run_and_ids,
        test_logged_model_contract,
        test_dataset_outputs_contract,
    ):
        for name, function in vars(module).items():
            if not name.startswith("test_") or name in NOT_OVER_REST:
                continue
            if callable(function) and "store" in inspect.signature(function).parameters:
                found[name] = function
    return found


globals().update(_contract_tests())


class ServedStore(RestTrackingStore):
    """The REST store as the contract suite looks at it: `artifact_root` is the server's
    (experiment locations derive from it) and `engine` the server's database (one test
    counts the rows the server stored)."""

    def __init__(self, url: str, artifact_root: str, engine: object) -> None:
        super().__init__(url)
        self.artifact_root = artifact_root
        self.engine = engine


@pytest.fixture
def store(rest_store: RestTrackingStore, rest_server: object) -> Iterator[ServedStore]:
    """Overrides the SQL `store` fixture for the tests collected into this module."""
    engine = rest_server.database.engine  # type: ignore[attr-defined]
    served = ServedStore(rest_store.uri, ARTIFACT_SCHEME_ROOT, engine)
    yield served
    served.close()


def test_the_contract_is_collected_here() -> None:
    """Guards the collection above: a rename in tests/store must not empty this module."""
    collected = _contract_tests()
    assert len(collected) >= 70
    assert "test_log_metric_points_with_a_deleted_run" in collected
    assert "test_end_run_stores_the_last_points_and_ends_the_run" in collected


def test_default_experiment_exists_and_cannot_be_deleted(store: ServedStore) -> None:
    default = store.get_experiment("0")
    assert default.name == "Default"
    assert default.lifecycle_stage == LifecycleStage.ACTIVE
    assert default.artifact_location == f"{ARTIFACT_SCHEME_ROOT}/0"
    assert store.get_experiment_by_name("Default").experiment_id == "0"  # type: ignore[union-attr]
    with pytest.raises(InvalidParameterValueError):
        store.delete_experiment("0")
    assert store.get_experiment("0").lifecycle_stage == LifecycleStage.ACTIVE
