"""Custom PythonModels: cloudpickled with artifacts copied in and code_paths on sys.path."""

from __future__ import annotations

import pickle
import sys
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import cairn
from cairn.exceptions import InvalidParameterValueError
from cairn.pyfunc import PythonModel, PythonModelContext


class AddOffset(PythonModel):
    """Reads its offset from an artifact at load time and a helper from its code_paths."""

    def load_context(self, context: PythonModelContext) -> None:
        self.offset = float(Path(context.artifacts["offset"]).read_text())
        self.scale = context.model_config.get("scale", 1)

    def predict(
        self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None
    ) -> Any:
        import offset_helper  # shipped under code/, importable only once it is on sys.path

        return offset_helper.combine(model_input["x"], self.offset, self.scale)


@pytest.fixture
def helper_module(tmp_path: Path) -> Path:
    path = tmp_path / "src" / "offset_helper.py"
    path.parent.mkdir()
    path.write_text("def combine(x, offset, scale):\n    return (x + offset) * scale\n")
    return path


@pytest.fixture
def offset_file(tmp_path: Path) -> Path:
    path = tmp_path / "offset.txt"
    path.write_text("10")
    return path


def test_custom_model_round_trip(tmp_path: Path, helper_module: Path, offset_file: Path) -> None:
    data = pd.DataFrame({"x": [1.0, 2.0]})
    sys.path.insert(0, str(helper_module.parent))  # to infer the signature at save time
    try:
        cairn.pyfunc.save_model(
            tmp_path / "m",
            python_model=AddOffset(),
            artifacts={"offset": str(offset_file)},
            code_paths=[str(helper_module)],
            input_example=data,
            model_config={"scale": 2},
        )
    finally:
        sys.path.remove(str(helper_module.parent))
        sys.modules.pop("offset_helper", None)
    offset_file.write_text("999")  # the model holds its own copy
    helper_module.unlink()
    model = cairn.pyfunc.load_model(tmp_path / "m")
    assert model.predict(data).tolist() == [22.0, 24.0]
    assert isinstance(model.unwrap_python_model(), AddOffset)
    assert (tmp_path / "m" / "code" / "offset_helper.py").is_file()
    assert (tmp_path / "m" / "artifacts" / "offset.txt").read_text() == "10"
    section = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())["flavors"]
    assert section["python_function"]["artifacts"] == {"offset": {"path": "artifacts/offset.txt"}}
    assert section["python_function"]["loader_module"] == "mlflow.pyfunc.model"
    assert section["python_function"]["config"] == {"scale": 2}  # MLflow's key for model_config
    with pytest.raises(InvalidParameterValueError, match=r"\['x'\]"):
        model.predict(pd.DataFrame({"y": [1.0]}))


class Echo(PythonModel):
    def predict(
        self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None
    ) -> Any:
        return [params]


def test_params_reach_predict_with_their_defaults(tmp_path: Path) -> None:
    signature = cairn.models.infer_signature(["a"], params={"k": 1, "mode": "x"})
    cairn.pyfunc.save_model(tmp_path / "m", python_model=Echo(), signature=signature)
    model = cairn.pyfunc.load_model(tmp_path / "m")
    assert model.predict(["a"], params={"k": 5}) == [{"k": 5, "mode": "x"}]


def test_predict_fn_without_context_is_called_too(tmp_path: Path) -> None:
    model_dir = tmp_path / "src"
    model_dir.mkdir()
    (model_dir / "hinted_model.py").write_text(
        textwrap.dedent(
            """
            from cairn.pyfunc import PythonModel

            class Hinted(PythonModel):
                def predict(self, model_input, params=None):
                    return len(model_input)
            """
        )
    )
    sys.path.insert(0, str(model_dir))
    try:
        import hinted_model

        cairn.pyfunc.save_model(
            tmp_path / "m",
            python_model=hinted_model.Hinted(),
            code_paths=[str(model_dir / "hinted_model.py")],
        )
    finally:
        sys.path.remove(str(model_dir))
        sys.modules.pop("hinted_model", None)
    (model_dir / "hinted_model.py").unlink()  # so only the model's code/ copy can be found
    assert cairn.pyfunc.load_model(tmp_path / "m").predict([1, 2, 3]) == 3


def test_unwrap_refuses_flavor_models(tmp_path: Path, regressor: Any) -> None:
    cairn.sklearn.save_model(regressor, tmp_path / "m")
    with pytest.raises(InvalidParameterValueError, match="custom PythonModels"):
        cairn.pyfunc.load_model(tmp_path / "m").unwrap_python_model()


def test_unknown_loader_modules_are_not_imported(tmp_path: Path, regressor: Any) -> None:
    cairn.sklearn.save_model(regressor, tmp_path / "m")
    mlmodel = tmp_path / "m" / "MLmodel"
    mlmodel.write_text(mlmodel.read_text().replace("mlflow.sklearn", "os"))
    with pytest.raises(InvalidParameterValueError, match="No Cairn loader for .*'os'"):
        cairn.pyfunc.load_model(tmp_path / "m")


def test_the_model_file_needs_no_cairn_to_unpickle(tmp_path: Path) -> None:
    """A class defined where it cannot be imported (a script's __main__, a notebook, here a
    function) is pickled by value, and so is PythonModel under it: the file names no Cairn
    module, which is what lets MLflow load it where Cairn is not installed."""

    class Doubler(PythonModel):
        def predict(
            self,
            context: PythonModelContext,
            model_input: Any,
            params: dict[str, Any] | None = None,
        ) -> Any:
            return [2 * value for value in model_input]

    cairn.pyfunc.save_model(tmp_path / "m", python_model=Doubler())
    found: list[str] = []

    class Recording(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            found.append(module)
            return super().find_class(module, name)

    with open(tmp_path / "m" / "python_model.pkl", "rb") as handle:
        loaded = Recording(handle).load()
    assert found and not [module for module in found if module.split(".")[0] == "cairn"]
    assert loaded.predict(PythonModelContext(), [1, 2]) == [2, 4]
    assert loaded.predict_type_hints.input is None  # what MLflow's wrapper reads
    assert cairn.pyfunc.load_model(tmp_path / "m").predict([3]) == [6]


class NoParams(PythonModel):
    def predict(self, ctx: PythonModelContext, model_input: Any) -> Any:  # type: ignore[override]
        return [len(ctx.artifacts), len(model_input)]


def test_predict_is_called_as_mlflow_calls_it(tmp_path: Path) -> None:
    """A context under another name (two inputs besides params) and no `params`: MLflow's
    loader accepts both, so Cairn's does too."""
    cairn.pyfunc.save_model(tmp_path / "m", python_model=NoParams())
    assert cairn.pyfunc.load_model(tmp_path / "m").predict([1, 2, 3]) == [0, 3]


def test_objects_without_load_context_are_refused(tmp_path: Path) -> None:
    class OnlyPredict:
        def predict(self, model_input: Any) -> Any:
            return model_input

    with pytest.raises(InvalidParameterValueError, match="PythonModel instance"):
        cairn.pyfunc.save_model(tmp_path / "m", python_model=OnlyPredict())  # type: ignore[arg-type]
