"""Predictions are written as `mlflow models serve` writes them, for every output shape."""

from __future__ import annotations

import datetime
import io
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from cairn.models.serving.predictions import encode_predictions

OUTPUTS = {
    "float array": np.array([0.25, 1.0, 3.5]),
    "int array": np.array([0, 1, 1], dtype=np.int64),
    "float32 matrix": np.array([[1.5, 2.0], [3.0, 4.25]], dtype=np.float32),
    "bool array": np.array([True, False]),
    "string array": np.array(["setosa", "virginica"]),
    "object array": np.array(["a", 1, None], dtype=object),
    "non-contiguous array": np.arange(12.0).reshape(3, 4)[:, ::2],
    "array with NaN and infinities": np.array([1.0, np.nan, np.inf, -np.inf]),
    "frame": pd.DataFrame({"label": ["a", "b"], "score": [0.5, 0.75], "n": [1, 2]}),
    "frame with NaN": pd.DataFrame({"score": [0.5, np.nan]}),
    "frame with int column names": pd.DataFrame([[1, 2]]),
    "named series": pd.Series([1, 2], name="y"),
    "unnamed series": pd.Series([0.5, 1.5]),
    "dict of arrays": {"a": np.array([1, 2]), "b": np.array([[1.0], [2.0]])},
    "list": [1, np.float32(2.5), "x"],
    "numpy scalar": np.float64(3.0),
    "datetimes": pd.DataFrame({"t": pd.to_datetime(["2024-01-02T03:04:05"])}),
    "bytes": [b"\x00\x01binary"],
    "date": [datetime.date(2024, 1, 2)],
}


@pytest.fixture(autouse=True)
def _no_mlflow_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")


def _mlflow_reply(raw: object) -> str:
    with warnings.catch_warnings():  # importing MLflow's pyfunc warns about its own type hints
        warnings.simplefilter("ignore")
        from mlflow.pyfunc.scoring_server import predictions_to_json

    out = io.StringIO()
    predictions_to_json(raw, out)
    return out.getvalue()


def _canonical(text: str | bytes) -> str:
    """Parsed and re-written with sorted keys: byte differences in spacing do not count,
    NaN and Infinity stay visible (Python's json reads and writes them)."""
    return json.dumps(json.loads(text), sort_keys=True)


@pytest.mark.parametrize("raw", OUTPUTS.values(), ids=OUTPUTS.keys())
def test_predictions_match_mlflow_scoring_server(raw: object) -> None:
    assert _canonical(encode_predictions(raw)) == _canonical(_mlflow_reply(raw))


def test_nan_and_infinity_are_written_as_mlflow_writes_them() -> None:
    body = encode_predictions(np.array([np.nan, np.inf, -np.inf, 1.0]))
    assert body == b'{"predictions": [NaN, Infinity, -Infinity, 1.0]}'


def test_finite_arrays_take_the_compact_orjson_path() -> None:
    assert encode_predictions(np.array([[1, 2], [3, 4]])) == b'{"predictions":[[1,2],[3,4]]}'


def test_output_json_cannot_write_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="object"):
        encode_predictions([object()])
