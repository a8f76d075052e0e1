"""The sklearn flavor: every serialization format round trips, generic pickled models,
the MLmodel file and the environment files it writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LinearRegression, LogisticRegression

import cairn
from cairn.exceptions import InvalidParameterValueError, ResourceAlreadyExistsError
from cairn.models import Model


class Doubler:
    """A generic pickled model: no scikit-learn, just a predict method."""

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        return np.asarray(data["a"]) * 2


@pytest.mark.parametrize("serialization_format", ["cloudpickle", "pickle", "skops"])
def test_round_trip_in_each_format(
    tmp_path: Path, classifier: LogisticRegression, frame: pd.DataFrame, serialization_format: str
) -> None:
    path = tmp_path / "model"
    cairn.sklearn.save_model(classifier, path, serialization_format=serialization_format)
    loaded = cairn.sklearn.load_model(str(path))
    assert isinstance(loaded, LogisticRegression)
    np.testing.assert_array_equal(loaded.predict_proba(frame), classifier.predict_proba(frame))
    pyfunc = cairn.pyfunc.load_model(path)
    np.testing.assert_array_equal(pyfunc.predict(frame), classifier.predict(frame))
    section = yaml.safe_load((path / "MLmodel").read_text())["flavors"]["sklearn"]
    assert section["serialization_format"] == serialization_format
    assert (path / section["pickled_model"]).is_file()


def test_generic_object_with_predict(tmp_path: Path, frame: pd.DataFrame) -> None:
    cairn.sklearn.save_model(Doubler(), tmp_path / "m")
    model = cairn.pyfunc.load_model(f"file://{tmp_path / 'm'}")
    np.testing.assert_array_equal(model.predict(frame), frame["a"].to_numpy() * 2)
    assert isinstance(model.get_raw_model(), Doubler)


def test_skops_refuses_a_generic_object(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterValueError, match="scikit-learn estimators only"):
        cairn.sklearn.save_model(Doubler(), tmp_path / "m", serialization_format="skops")
    assert not (tmp_path / "m").exists()


def test_an_object_without_predict_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterValueError, match="predict"):
        cairn.sklearn.save_model(object(), tmp_path / "m")


def test_an_existing_model_is_not_overwritten(tmp_path: Path, regressor: LinearRegression) -> None:
    cairn.sklearn.save_model(regressor, tmp_path / "m")
    with pytest.raises(ResourceAlreadyExistsError):
        cairn.sklearn.save_model(regressor, tmp_path / "m")


def test_mlmodel_fields(
    tmp_path: Path, classifier: LogisticRegression, frame: pd.DataFrame
) -> None:
    cairn.sklearn.save_model(classifier, tmp_path / "m", input_example=frame.head(2))
    written = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())
    assert "run_id" not in written and "artifact_path" not in written  # nulls are dropped
    assert written["model_id"] is None
    assert len(written["model_uuid"]) == 32
    pd.Timestamp(written["utc_time_created"])  # parses
    assert len(written["utc_time_created"]) == len("2025-01-01 00:00:00.000000")
    assert isinstance(written["signature"]["inputs"], str)  # a JSON string, as MLflow writes
    assert json.loads(written["signature"]["inputs"])[0] == {
        "type": "double",
        "name": "a",
        "required": True,
    }
    assert written["model_size_bytes"] > 0
    pyfunc = written["flavors"]["python_function"]
    assert pyfunc["loader_module"] == "mlflow.sklearn"  # MLflow's loader: loads without Cairn
    assert pyfunc["model_path"] == "model.pkl"
    assert pyfunc["env"] == {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}
    assert written["flavors"]["sklearn"]["pickled_model"] == "model.pkl"
    assert written["saved_input_example_info"] == {
        "artifact_path": "input_example.json",
        "pandas_orient": "split",
        "serving_input_path": "serving_input_example.json",
        "type": "dataframe",
    }
    assert Model.load(str(tmp_path / "m")).to_dict()["model_uuid"] == written["model_uuid"]


def test_signature_inferred_from_example_and_prediction(
    tmp_path: Path, classifier: LogisticRegression, frame: pd.DataFrame
) -> None:
    cairn.sklearn.save_model(classifier, tmp_path / "m", input_example=frame.head(2))
    signature = cairn.pyfunc.load_model(tmp_path / "m").metadata.signature
    assert signature is not None and signature.inputs and signature.outputs
    assert signature.inputs.input_names() == ["a", "b"]
    assert json.loads(signature.outputs.to_json()) == [
        {"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}
    ]


def test_input_example_files(tmp_path: Path, regressor: LinearRegression) -> None:
    example = np.array([[1.0, 2.0]])
    cairn.sklearn.save_model(regressor, tmp_path / "m", input_example=example)
    assert json.loads((tmp_path / "m" / "input_example.json").read_text()) == [[1.0, 2.0]]
    serving = json.loads((tmp_path / "m" / "serving_input_example.json").read_text())
    assert serving == {"inputs": [[1.0, 2.0]]}
    model = cairn.pyfunc.load_model(tmp_path / "m")
    np.testing.assert_array_equal(model.input_example, example)
    np.testing.assert_allclose(model.predict(model.input_example), regressor.predict(example))


def test_dataframe_example_serving_file(tmp_path: Path, regressor: LinearRegression) -> None:
    cairn.sklearn.save_model(
        regressor, tmp_path / "m", input_example=pd.DataFrame({"a": [1.0], "b": [2.0]})
    )
    serving = json.loads((tmp_path / "m" / "serving_input_example.json").read_text())
    assert serving == {"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 2.0]]}}


def test_predict_enforces_the_signature(
    tmp_path: Path, classifier: LogisticRegression, frame: pd.DataFrame
) -> None:
    cairn.sklearn.save_model(classifier, tmp_path / "m", input_example=frame.head(2))
    model = cairn.pyfunc.load_model(tmp_path / "m")
    with pytest.raises(InvalidParameterValueError, match=r"\['b'\]"):
        model.predict(frame[["a"]])
    whole = pd.DataFrame({"a": [0, 3], "b": [1, 0]})  # int columns widen to double
    np.testing.assert_array_equal(model.predict(whole), classifier.predict(whole.astype(float)))


def test_requirement_files(tmp_path: Path, regressor: LinearRegression) -> None:
    from importlib import metadata

    cairn.sklearn.save_model(regressor, tmp_path / "m", serialization_format="skops")
    lines = (tmp_path / "m" / "requirements.txt").read_text().splitlines()
    assert f"scikit-learn=={metadata.version('scikit-learn')}" in lines
    assert f"skops=={metadata.version('skops')}" in lines
    assert lines[0] == f"mlflow=={metadata.version('mlflow')}"  # first, as MLflow writes it
    assert not any(line.startswith("cairn") for line in lines)
    assert not any(line.startswith("cloudpickle") for line in lines)
    python_env = yaml.safe_load((tmp_path / "m" / "python_env.yaml").read_text())
    assert set(python_env) == {"python", "build_dependencies", "dependencies"}
    assert python_env["dependencies"] == ["-r requirements.txt"]
    conda = yaml.safe_load((tmp_path / "m" / "conda.yaml").read_text())
    assert conda["dependencies"][-1] == {"pip": lines}


def test_pip_requirements_replace_and_extras_add(
    tmp_path: Path, regressor: LinearRegression
) -> None:
    from importlib import metadata

    cairn.sklearn.save_model(regressor, tmp_path / "a", pip_requirements=["scikit-learn"])
    mlflow_pin = f"mlflow=={metadata.version('mlflow')}"  # added unless named, as by MLflow
    assert (tmp_path / "a" / "requirements.txt").read_text() == f"{mlflow_pin}\nscikit-learn\n"
    cairn.sklearn.save_model(regressor, tmp_path / "own", pip_requirements=["mlflow-skinny<4"])
    assert (tmp_path / "own" / "requirements.txt").read_text() == "mlflow-skinny<4\n"
    cairn.sklearn.save_model(regressor, tmp_path / "b", extra_pip_requirements=["torch==2.0"])
    assert "torch==2.0" in (tmp_path / "b" / "requirements.txt").read_text().splitlines()
    with pytest.raises(InvalidParameterValueError, match="not both"):
        cairn.sklearn.save_model(
            regressor, tmp_path / "c", pip_requirements=["x"], extra_pip_requirements=["y"]
        )
    assert not (tmp_path / "c").exists()  # refused before anything was written


def test_a_transformer_is_saved_without_pyfunc(tmp_path: Path, frame: pd.DataFrame) -> None:
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(frame)
    cairn.sklearn.save_model(scaler, tmp_path / "m")
    assert "python_function" not in Model.load(str(tmp_path / "m")).flavors
    loaded = cairn.sklearn.load_model(str(tmp_path / "m"))
    np.testing.assert_array_equal(loaded.transform(frame), scaler.transform(frame))
    with pytest.raises(InvalidParameterValueError, match="no 'python_function' flavor"):
        cairn.pyfunc.load_model(tmp_path / "m")
