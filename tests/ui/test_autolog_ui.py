"""Autologging on the README's path: a script turns on `cairn.autolog()` and fits, logging to
the default local store (no server); `cairn ui` in the same folder then shows the runs: their
params, metrics with their histories, the classifier plots as pictures, and the model."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from playwright.sync_api import expect
from ui_support import local_cairn_ui, require_browser, screenshot

import cairn

TRAINING = textwrap.dedent(
    """
    import cairn
    import xgboost
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    cairn.autolog()
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    LogisticRegression(max_iter=2000).fit(X, y)
    train = xgboost.DMatrix(X, label=y)
    xgboost.train({"objective": "binary:logistic"}, train, 5, evals=[(train, "train")])
    """
)


def _local_client(folder: Path) -> cairn.Client:
    return cairn.Client(tracking_uri=f"sqlite:///{folder / 'cairn-data' / 'cairn.db'}")


def test_autologged_runs_show_in_cairn_ui(page: Any, tmp_path: Path) -> None:
    require_browser()
    done = subprocess.run(
        [sys.executable, "-c", TRAINING], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-4000:]
    client = _local_client(tmp_path)
    runs = {run.data.tags["mlflow.autologging"]: run for run in client.search_runs(["0"])}
    assert set(runs) == {"sklearn", "xgboost"}
    sklearn_run, xgboost_run = runs["sklearn"].info.run_id, runs["xgboost"].info.run_id
    with local_cairn_ui(tmp_path) as url:
        page.goto(f"{url}/#/runs/{sklearn_run}")
        expect(page.locator("#params")).to_contain_text("max_iter")
        page.locator('[role="tab"][data-tab="metrics"]').click()
        expect(page.locator('#metrics tr[data-key="training_accuracy_score"]')).to_be_visible()

        page.locator('[role="tab"][data-tab="artifacts"]').click()
        page.click("#artifact-tree >> text=training_confusion_matrix.png")
        page.wait_for_function(
            "() => document.querySelector('#artifact-preview img')?.complete"
            " && document.querySelector('#artifact-preview img').naturalWidth > 0"
        )
        screenshot(page, "autolog-confusion-matrix")
        page.locator('[role="tab"][data-tab="models"]').click()
        (logged,) = client.search_logged_models(
            ["0"], filter_string=f"source_run_id = '{sklearn_run}'"
        )
        models = page.locator("#panel-models")
        expect(models).to_contain_text(logged.model_id)
        expect(models).to_contain_text("LOGGED_MODEL_READY")

        # XGBoost's per-iteration metric: one point per boosting round, drawn as a history.
        page.goto(f"{url}/#/runs/{xgboost_run}?tab=metrics")
        logloss = page.locator('#metrics tr[data-key="train-logloss"]')
        expect(logloss).to_have_attribute("data-loaded", "1")
        expect(logloss.locator("svg.sparkline polyline")).to_have_count(1)
        assert not page.errors
