"""Models cross between Cairn and the real mlflow package (3.17.2), on local paths."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
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
    model = mlflow.pyfunc.load_model(str(tmp_path / "m"))  # through MLflow's mlflow.sklearn
    assert model.loader_module == "mlflow.sklearn"
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


def test_skops_models_cross_both_ways_with_types_skops_does_not_trust(
    tmp_path: Path, frame: pd.DataFrame, labels: np.ndarray
) -> None:
    """A gradient-boosting model holds a `TreePredictor`: Cairn trusts scikit-learn's types,
    MLflow only those the MLmodel lists, so Cairn must list it for MLflow to load the model."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    boosted = HistGradientBoostingClassifier(max_iter=5, min_samples_leaf=1).fit(frame, labels)
    cairn.sklearn.save_model(boosted, tmp_path / "cairn", serialization_format="skops")
    by_mlflow = mlflow.pyfunc.load_model(str(tmp_path / "cairn"))
    np.testing.assert_array_equal(by_mlflow.predict(frame), boosted.predict(frame))
    mlflow.sklearn.save_model(
        boosted,
        str(tmp_path / "mlflow"),
        serialization_format="skops",
        skops_trusted_types=["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"],
    )
    by_cairn = cairn.pyfunc.load_model(tmp_path / "mlflow")
    np.testing.assert_array_equal(by_cairn.predict(frame), boosted.predict(frame))


class Shift(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    def load_context(self, context: object) -> None:
        self.step = context.model_config["step"]  # type: ignore[attr-defined]

    def predict(
        self, context: object, model_input: pd.DataFrame, params: dict[str, object] | None = None
    ) -> pd.Series:
        return model_input["a"] + self.step


def test_cairn_reads_an_mlflow_custom_model(tmp_path: Path, frame: pd.DataFrame) -> None:
    mlflow.pyfunc.save_model(str(tmp_path / "m"), python_model=Shift(), model_config={"step": 1})
    model = cairn.pyfunc.load_model(tmp_path / "m")
    assert model.loader_module == "mlflow.pyfunc.model"
    assert model.predict(frame).tolist() == (frame["a"] + 1).tolist()  # MLflow's `config` key
    assert isinstance(model.unwrap_python_model(), Shift)


class Scale(cairn.pyfunc.PythonModel):
    def predict(
        self, context: object, model_input: pd.DataFrame, params: dict[str, object] | None = None
    ) -> list[float]:
        return list(model_input["a"] * context.model_config["k"])  # type: ignore[attr-defined]


def test_models_written_by_older_cairn_still_load_in_both(
    tmp_path: Path, classifier: LogisticRegression, regressor: object, frame: pd.DataFrame
) -> None:
    """Older Cairn named its own loaders (`cairn.sklearn`, …) and wrote `model_config`: both
    tools still load those models (MLflow through Cairn's `_load_pyfunc`, Cairn installed)."""
    from skl2onnx import to_onnx

    cairn.sklearn.save_model(classifier, tmp_path / "sklearn")
    proto = to_onnx(regressor, np.zeros((1, 2), dtype=np.float32), target_opset=17)
    cairn.onnx.save_model(proto, tmp_path / "onnx")
    cairn.pyfunc.save_model(tmp_path / "custom", python_model=Scale(), model_config={"k": 3})
    for kind, old in (
        ("sklearn", "cairn.sklearn"),
        ("onnx", "cairn.onnx"),
        ("custom", "cairn.pyfunc.model"),
    ):
        mlmodel = tmp_path / kind / "MLmodel"
        written = yaml.safe_load(mlmodel.read_text())
        pyfunc = written["flavors"]["python_function"]
        pyfunc["loader_module"] = old
        if "config" in pyfunc:
            pyfunc["model_config"] = pyfunc.pop("config")
        mlmodel.write_text(yaml.safe_dump(written))
    x = np.array([[0.5, 1.0]], dtype=np.float32)
    for load in (cairn.pyfunc.load_model, mlflow.pyfunc.load_model):
        models = {kind: load(str(tmp_path / kind)) for kind in ("sklearn", "onnx", "custom")}
        assert models["sklearn"].loader_module == "cairn.sklearn"
        np.testing.assert_array_equal(models["sklearn"].predict(frame), classifier.predict(frame))
        predicted = models["onnx"].predict(x)["variable"]
        np.testing.assert_allclose(np.ravel(predicted), regressor.predict(x), rtol=1e-5)  # type: ignore[attr-defined]
        assert models["custom"].predict(frame) == list(frame["a"] * 3)


def test_onnx_models_cross_both_ways(tmp_path: Path, regressor: object) -> None:
    import mlflow.onnx
    from skl2onnx import to_onnx

    proto = to_onnx(regressor, np.zeros((1, 2), dtype=np.float32), target_opset=17)
    x = np.array([[0.5, 1.0]], dtype=np.float32)
    cairn.onnx.save_model(proto, tmp_path / "cairn")
    by_mlflow = mlflow.pyfunc.load_model(str(tmp_path / "cairn"))  # MLflow's own mlflow.onnx
    mlflow.onnx.save_model(proto, str(tmp_path / "mlflow"))
    by_cairn = cairn.pyfunc.load_model(tmp_path / "mlflow")
    assert by_cairn.loader_module == "mlflow.onnx"
    expected = regressor.predict(x)  # type: ignore[attr-defined]
    # MLflow's wrapper returns the raw (1, 1) output array; Cairn's, a DataFrame column.
    np.testing.assert_allclose(np.ravel(by_mlflow.predict(x)["variable"]), expected, rtol=1e-5)
    np.testing.assert_allclose(by_cairn.predict(x)["variable"], expected, rtol=1e-5)
