"""Cairn's own model logging against a live server: the model's files go through the
artifact proxy to `<experiment>/models/<id>/artifacts`, and load back by every URI form."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.tree import DecisionTreeClassifier

import cairn
from cairn.entities import LoggedModelStatus
from cairn.store.sql.tracking import SqlTrackingStore


@pytest.fixture
def server_db(workdir: Path, rest_server: object) -> SqlTrackingStore:
    rest_server.wipe()  # type: ignore[attr-defined]
    cairn.set_tracking_uri(rest_server.url)  # type: ignore[attr-defined]
    return rest_server.database  # type: ignore[attr-defined]


def test_sklearn_model_round_trip_over_http(server_db: SqlTrackingStore) -> None:
    rng = np.random.default_rng(3)
    features = rng.normal(size=(40, 3))
    labels = (features[:, 0] > 0).astype(int)
    model = DecisionTreeClassifier(max_depth=3).fit(features, labels)
    cairn.set_experiment("remote-models")
    with cairn.start_run() as run:
        info = cairn.sklearn.log_model(model, "tree", input_example=features[:2])

    stored = server_db.get_logged_model(info.model_id)
    assert stored.status is LoggedModelStatus.READY
    assert stored.artifact_uri.startswith("mlflow-artifacts:/")
    assert stored.source_run_id == run.info.run_id
    expected = model.predict(features)
    for uri in (info.model_uri, f"runs:/{run.info.run_id}/tree"):
        loaded = cairn.pyfunc.load_model(uri)
        assert np.array_equal(np.asarray(loaded.predict(features)).ravel(), expected), uri
