"""log_model on the default local store: a LoggedModel per call, loadable by models:/ and
runs:/ URIs, as in MLflow 3."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LogisticRegression

import cairn
from cairn.entities import LoggedModelStatus
from cairn.exceptions import ResourceDoesNotExistError
from cairn.store.ids import LOGGED_MODEL_ID


def test_log_and_load_by_models_uri(
    workdir: Path, classifier: LogisticRegression, frame: pd.DataFrame
) -> None:
    with cairn.start_run() as run:
        info = cairn.sklearn.log_model(classifier, name="clf", input_example=frame.head(2))
    assert info.model_id is not None and LOGGED_MODEL_ID.fullmatch(info.model_id)
    assert info.model_uri == f"models:/{info.model_id}"
    assert info.run_id == run.info.run_id
    assert info.signature is not None and info.signature.inputs is not None
    logged = cairn.Client().get_logged_model(info.model_id)
    assert logged.status == LoggedModelStatus.READY
    assert (logged.name, logged.source_run_id, logged.model_type) == ("clf", info.run_id, "sklearn")
    assert info.artifact_path == logged.artifact_uri
    model = cairn.pyfunc.load_model(info.model_uri)
    np.testing.assert_array_equal(model.predict(frame), classifier.predict(frame))
    assert model.metadata.model_id == info.model_id and model.metadata.run_id == info.run_id
    assert isinstance(cairn.sklearn.load_model(info.model_uri), LogisticRegression)


def test_runs_uri_finds_the_runs_output_model(
    workdir: Path, classifier: LogisticRegression, frame: pd.DataFrame
) -> None:
    with cairn.start_run() as run:
        cairn.sklearn.log_model(classifier, name="first")
        info = cairn.sklearn.log_model(classifier, name="clf", serialization_format="skops")
    outputs = cairn.get_run(run.info.run_id).outputs.model_outputs
    assert info.model_id in [output.model_id for output in outputs]
    model = cairn.pyfunc.load_model(f"runs:/{run.info.run_id}/clf")
    assert model.model_id == info.model_id
    np.testing.assert_array_equal(model.predict(frame), classifier.predict(frame))
    with pytest.raises(ResourceDoesNotExistError, match="no model named 'other'"):
        cairn.pyfunc.load_model(f"runs:/{run.info.run_id}/other")


def test_runs_uri_prefers_model_files_in_the_runs_artifacts(
    workdir: Path, classifier: LogisticRegression, frame: pd.DataFrame
) -> None:
    cairn.sklearn.save_model(classifier, workdir / "saved")
    with cairn.start_run() as run:
        cairn.log_artifacts(str(workdir / "saved"), "legacy")
    model = cairn.pyfunc.load_model(f"runs:/{run.info.run_id}/legacy")
    assert model.model_id is None  # the file copy, not a LoggedModel
    np.testing.assert_array_equal(model.predict(frame), classifier.predict(frame))


def test_log_model_starts_a_run_when_none_is_active(
    workdir: Path, classifier: LogisticRegression
) -> None:
    info = cairn.sklearn.log_model(classifier)
    active = cairn.active_run()
    assert active is not None and active.info.run_id == info.run_id
    model_dir = Path(cairn.pyfunc.load_model(info.model_uri).model_dir)
    written = yaml.safe_load((model_dir / "MLmodel").read_text())
    assert written["run_id"] == info.run_id and written["model_id"] == info.model_id


def test_pyfunc_and_onnx_log_model(workdir: Path, regressor: object, tmp_path: Path) -> None:
    from skl2onnx import to_onnx

    offset = tmp_path / "offset.txt"
    offset.write_text("1")

    class Constant(cairn.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            return [7] * len(model_input)

    with cairn.start_run():
        custom = cairn.pyfunc.log_model("const", python_model=Constant(), artifacts={"o": offset})
        proto = to_onnx(regressor, np.zeros((1, 2), dtype=np.float32), target_opset=17)
        converted = cairn.onnx.log_model(proto, name="onnx")
    assert cairn.pyfunc.load_model(custom.model_uri).predict([1, 2]) == [7, 7]
    assert cairn.Client().get_logged_model(converted.model_id or "").model_type == "onnx"
    assert cairn.onnx.load_model(converted.model_uri) == proto


def test_a_failed_save_marks_the_model_upload_failed(workdir: Path) -> None:
    class Unpicklable(cairn.pyfunc.PythonModel):
        def __reduce__(self):  # type: ignore[no-untyped-def]
            raise TypeError("cannot pickle this")

    with cairn.start_run() as run:
        with pytest.raises(TypeError, match="cannot pickle"):
            cairn.pyfunc.log_model("broken", python_model=Unpicklable())
    outputs = cairn.get_run(run.info.run_id).outputs.model_outputs
    assert len(outputs) == 1
    failed = cairn.Client().get_logged_model(outputs[0].model_id)
    assert failed.status == LoggedModelStatus.UPLOAD_FAILED


def test_unknown_model_ids_and_paths(workdir: Path) -> None:
    with pytest.raises(ResourceDoesNotExistError):
        cairn.pyfunc.load_model("models:/m-" + "0" * 32)
    with pytest.raises(ResourceDoesNotExistError):
        cairn.pyfunc.load_model(workdir / "nowhere")
