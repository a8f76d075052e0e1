"""Models cross between Cairn and the real mlflow package (3.17.2), on local paths."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import cairn

mlflow = pytest.importorskip("mlflow")
with warnings.catch_warnings():
    # Importing mlflow.pyfunc warns about MLflow's own type hints (3.17.2), not about ours.
    warnings.filterwarnings("ignore", ".*Any type hint is inferred", UserWarning)
    warnings.filterwarnings("ignore", ".*Add type hints to the `predict` method", UserWarning)
    import mlflow.pyfunc
    import mlflow.sklearn


def test_mlflow_reads_a_cairn_sklearn_model(
    tmp_path: Path, classifier: LogisticRegression, frame: pd.DataFrame
) -> None:
    cairn.sklearn.save_model(classifier, tmp_path / "m", input_example=frame.head(2))
    estimator = mlflow.sklearn.load_model(str(tmp_path / "m"))
    np.testing.assert_array_equal(estimator.predict(frame), classifier.predict(frame))
    model = mlflow.pyfunc.load_model(str(tmp_path / "m"))  # through cairn.sklearn._load_pyfunc
    np.testing.assert_array_equal(model.predict(frame), classifier.predict(frame))
    assert model.metadata.signature.inputs.input_names() == ["a", "b"]


def test_mlflow_reads_a_cairn_skops_model(
    tmp_path: Path, classifier: LogisticRegression, frame: pd.DataFrame
) -> None:
    cairn.sklearn.save_model(classifier, tmp_path / "m", serialization_format="skops")
    estimator = mlflow.sklearn.load_model(str(tmp_path / "m"))
    np.testing.assert_array_equal(estimator.predict(frame), classifier.predict(frame))


def test_cairn_reads_an_mlflow_sklearn_model(
    tmp_path: Path, classifier: LogisticRegression, frame: pd.DataFrame
) -> None:
    mlflow.sklearn.save_model(
        classifier,
        str(tmp_path / "m"),
        serialization_format="cloudpickle",
        # No input_example: MLflow 3.17.2's example writer trips a pandas 3 deprecation.
    )
    model = cairn.pyfunc.load_model(tmp_path / "m")
    assert model.loader_module == "mlflow.sklearn"
    np.testing.assert_array_equal(model.predict(frame), classifier.predict(frame))
    assert model.metadata.other["mlflow_version"] == mlflow.__version__  # kept, not dropped
    assert isinstance(cairn.sklearn.load_model(str(tmp_path / "m")), LogisticRegression)


class Shift(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    def predict(
        self, context: object, model_input: pd.DataFrame, params: dict[str, object] | None = None
    ) -> pd.Series:
        return model_input["a"] + 1


def test_cairn_reads_an_mlflow_custom_model(tmp_path: Path, frame: pd.DataFrame) -> None:
    mlflow.pyfunc.save_model(str(tmp_path / "m"), python_model=Shift())
    model = cairn.pyfunc.load_model(tmp_path / "m")
    assert model.loader_module == "mlflow.pyfunc.model"
    assert model.predict(frame).tolist() == (frame["a"] + 1).tolist()
    assert isinstance(model.unwrap_python_model(), Shift)


def test_onnx_models_cross_both_ways(tmp_path: Path, regressor: object) -> None:
    import mlflow.onnx
    from skl2onnx import to_onnx

    proto = to_onnx(regressor, np.zeros((1, 2), dtype=np.float32), target_opset=17)
    x = np.array([[0.5, 1.0]], dtype=np.float32)
    cairn.onnx.save_model(proto, tmp_path / "cairn")
    by_mlflow = mlflow.pyfunc.load_model(str(tmp_path / "cairn"))  # cairn.onnx._load_pyfunc
    mlflow.onnx.save_model(proto, str(tmp_path / "mlflow"))
    by_cairn = cairn.pyfunc.load_model(tmp_path / "mlflow")
    assert by_cairn.loader_module == "mlflow.onnx"
    expected = regressor.predict(x)  # type: ignore[attr-defined]
    np.testing.assert_allclose(by_mlflow.predict(x)["variable"], expected, rtol=1e-5)
    np.testing.assert_allclose(by_cairn.predict(x)["variable"], expected, rtol=1e-5)
