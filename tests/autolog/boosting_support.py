"""What the XGBoost and LightGBM tests share: tiny data, a clean autolog state around each
test, the run read back, and the real mlflow package for the interop tests."""

from __future__ import annotations

import contextlib
import importlib
import logging
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

import cairn
from cairn.autologging import patching, settings


def tiny_frame(rows: int) -> pd.DataFrame:
    """Three random feature columns `a`, `b`, `c` (the same for every test)."""
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.random((rows, 3)), columns=["a", "b", "c"])


def tiny_labels(frame: pd.DataFrame) -> np.ndarray:
    """Binary labels that the features predict."""
    return (frame["a"] + 0.3 * frame["b"] > 0.6).astype(int).to_numpy()


@contextlib.contextmanager
def autolog_left_clean(integration: str, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """No patch outlives the test, and no logging failed quietly (a failure of autologging
    is only a warning on `cairn.autolog`)."""
    caplog.set_level(logging.WARNING, logger="cairn.autolog")
    yield
    settings.reset()
    patching.revert(integration)
    assert [r.getMessage() for r in caplog.records if r.name == "cairn.autolog"] == []


def the_run() -> cairn.entities.Run:
    """The one run of the test's experiment."""
    runs = cairn.search_runs(output_format="list")
    assert len(runs) == 1
    return runs[0]


def history(run_id: str, key: str) -> dict[int, float]:
    """{step: value} of a metric (each step logged once)."""
    points = cairn.Client().get_metric_history(run_id, key)
    assert len({m.step for m in points}) == len(points)
    return {m.step: m.value for m in points}


def artifact_names(run_id: str) -> set[str]:
    return {f.path for f in cairn.Client().list_artifacts(run_id)}


def dataset_contexts(run: cairn.entities.Run) -> list[str]:
    """The `mlflow.data.context` of each of the run's dataset inputs, in order."""
    return [
        {t.key: t.value for t in d.tags}["mlflow.data.context"] for d in run.inputs.dataset_inputs
    ]


def real_mlflow(flavor: str) -> Any:
    """The real mlflow package, with its `pyfunc` and `<flavor>` modules imported."""
    found = pytest.importorskip("mlflow")
    with warnings.catch_warnings():
        # Importing mlflow.pyfunc warns about MLflow's own type hints (3.17.2), not ours.
        warnings.filterwarnings("ignore", ".*Any type hint is inferred", UserWarning)
        warnings.filterwarnings("ignore", ".*Add type hints to the `predict` method", UserWarning)
        importlib.import_module("mlflow.pyfunc")
        importlib.import_module(f"mlflow.{flavor}")
    return found
