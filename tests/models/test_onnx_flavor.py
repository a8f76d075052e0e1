"""The ONNX flavor: a scikit-learn model converted by skl2onnx round trips, signature read
from the graph, onnxruntime on the CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LinearRegression, LogisticRegression

import cairn
from cairn.exceptions import InvalidParameterValueError


def _convert(model: Any, width: int) -> onnx.ModelProto:
    from skl2onnx import to_onnx

    return to_onnx(model, np.zeros((1, width), dtype=np.float32), target_opset=17)


def test_regressor_round_trip(tmp_path: Path, regressor: LinearRegression) -> None:
    proto = _convert(regressor, 2)
    cairn.onnx.save_model(proto, tmp_path / "m")
    x = np.array([[0.5, 1.0], [2.0, 0.25]], dtype=np.float32)
    predicted = cairn.pyfunc.load_model(tmp_path / "m").predict(x)
    assert isinstance(predicted, pd.DataFrame) and list(predicted.columns) == ["variable"]
    np.testing.assert_allclose(predicted["variable"], regressor.predict(x), rtol=1e-5)
    assert cairn.onnx.load_model(str(tmp_path / "m")) == proto


def test_flavor_keys_and_graph_signature(tmp_path: Path, regressor: LinearRegression) -> None:
    cairn.onnx.save_model(_convert(regressor, 2), tmp_path / "m")
    written = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())
    section = written["flavors"]["onnx"]
    assert section["data"] == "model.onnx" and section["onnx_version"] == onnx.__version__
    assert section["providers"] == ["CPUExecutionProvider"]
    assert section["onnx_session_options"] is None  # MLflow's key, written as MLflow does
    assert written["flavors"]["python_function"]["loader_module"] == "mlflow.onnx"
    assert written["flavors"]["python_function"]["data"] == "model.onnx"
    signature = cairn.pyfunc.load_model(tmp_path / "m").metadata.signature
    assert signature is not None and signature.inputs is not None
    assert signature.inputs.to_json() == (
        '[{"name": "X", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 2]}}]'
    )


def test_float64_is_refused_not_rounded(tmp_path: Path, regressor: LinearRegression) -> None:
    cairn.onnx.save_model(_convert(regressor, 2), tmp_path / "m")
    model = cairn.pyfunc.load_model(tmp_path / "m")
    with pytest.raises(InvalidParameterValueError, match="'X'.*float64"):
        model.predict(np.ones((1, 2)))
    with pytest.raises(InvalidParameterValueError, match=r"Shape of 'X' is \[1, 3\]"):
        model.predict(np.ones((1, 3), dtype=np.float32))


def test_classifier_has_two_outputs_as_a_dict(
    tmp_path: Path, classifier: LogisticRegression, frame: pd.DataFrame
) -> None:
    cairn.onnx.save_model(_convert(classifier, 2), tmp_path / "m")
    x = frame.to_numpy(dtype=np.float32)
    predicted = cairn.pyfunc.load_model(tmp_path / "m").predict(pd.DataFrame(x))
    assert isinstance(predicted, dict)
    np.testing.assert_array_equal(predicted["output_label"], classifier.predict(frame))


def test_a_non_onnx_object_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterValueError, match="ModelProto"):
        cairn.onnx.save_model(b"not a model", tmp_path / "m")  # type: ignore[arg-type]
