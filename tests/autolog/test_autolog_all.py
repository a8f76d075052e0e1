"""`cairn.autolog()`: every installed integration in one call, patched only when its library
is imported, with MLflow's switches passed to each."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import cairn
from cairn.autologging import patching, settings
from cairn.integrations import INTEGRATIONS

NAMES = [name for name, _, _ in INTEGRATIONS]


@pytest.fixture(autouse=True)
def autolog_off() -> Iterator[None]:
    yield
    settings.reset()
    for name in [*NAMES, "transformers.callbacks"]:
        patching.revert(name)


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 3))
    return features, (features[:, 0] > 0).astype(int)


def _runs() -> list[cairn.entities.Run]:
    return cairn.Client().search_runs(["0"])


def test_one_call_turns_on_every_installed_integration(workdir: Path) -> None:
    import xgboost
    from sklearn.linear_model import LogisticRegression

    assert cairn.autolog() == NAMES  # all five libraries are installed here
    features, labels = _data()
    LogisticRegression().fit(features, labels)
    xgboost.train({"objective": "binary:logistic"}, xgboost.DMatrix(features, labels), 3)
    runs = {run.data.tags["mlflow.autologging"]: run for run in _runs()}
    assert set(runs) == {"sklearn", "xgboost"}
    assert "training_accuracy_score" in runs["sklearn"].data.metrics
    assert runs["xgboost"].data.params["num_boost_round"] == "3"
    assert all(run.info.status == "FINISHED" for run in runs.values())


def test_switches_reach_each_integration_and_exclusions_are_left_off(workdir: Path) -> None:
    import xgboost
    from sklearn.linear_model import LogisticRegression

    turned_on = cairn.autolog(
        log_models=False, extra_tags={"team": "a"}, exclusion_flavors=["xgboost"]
    )
    assert "xgboost" not in turned_on and "sklearn" in turned_on
    features, labels = _data()
    LogisticRegression().fit(features, labels)
    xgboost.train({"objective": "binary:logistic"}, xgboost.DMatrix(features, labels), 2)
    (run,) = _runs()
    assert run.data.tags["mlflow.autologging"] == "sklearn"
    assert run.data.tags["team"] == "a"
    assert cairn.Client().search_logged_models(["0"]) == []  # log_models=False reached it


def test_disable_turns_every_integration_off(workdir: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    cairn.autolog()
    cairn.autolog(disable=True)
    LogisticRegression().fit(*_data())
    assert _runs() == []


def test_libraries_are_patched_when_imported_not_imported_by_autolog(workdir: Path) -> None:
    script = """
import json, sys
import cairn
cairn.autolog()
heavy = [m for m in ("sklearn", "xgboost", "lightgbm", "torch", "lightning", "transformers")
         if m in sys.modules]
import numpy as np
from sklearn.tree import DecisionTreeClassifier
DecisionTreeClassifier().fit(np.eye(4), [0, 1, 0, 1])
runs = cairn.Client().search_runs(["0"])
print(json.dumps({"imported_by_autolog": heavy, "runs": len(runs),
                  "tag": runs[0].data.tags.get("mlflow.autologging")}))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=workdir, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"imported_by_autolog": [], "runs": 1, "tag": "sklearn"}
