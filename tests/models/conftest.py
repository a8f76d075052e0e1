"""Fixtures for the model suites: small fitted models and data, and a fresh pickle notice."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from cairn.models import trust


@pytest.fixture(autouse=True)
def fresh_pickle_notice() -> Iterator[None]:
    """Each test sees the once-per-process notice as if the process had just started."""
    trust._reset_notice()
    yield
    trust._reset_notice()


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"a": [0.1, 0.5, 0.9, 1.3, 2.0, 2.2], "b": [1.0, 0.2, 0.3, 1.1, 0.4, 0.9]})


@pytest.fixture
def labels() -> np.ndarray:
    return np.array([0, 0, 0, 1, 1, 1])


@pytest.fixture
def classifier(frame: pd.DataFrame, labels: np.ndarray) -> LogisticRegression:
    return LogisticRegression().fit(frame, labels)


@pytest.fixture
def regressor(frame: pd.DataFrame) -> LinearRegression:
    return LinearRegression().fit(frame.to_numpy(), frame["a"] * 2 + frame["b"])
