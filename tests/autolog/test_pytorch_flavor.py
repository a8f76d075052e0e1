"""The PyTorch flavor: whole modules, state dicts and TorchScript saved and loaded back,
pyfunc on DataFrames, MLflow loading Cairn's models and Cairn loading MLflow's, and pickles
refused when CAIRN_ALLOW_PICKLE is false."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

import cairn
import cairn.pytorch
from cairn.exceptions import InvalidParameterValueError, PermissionDeniedError
from cairn.models import trust

JIT_DEPRECATED = "ignore:`torch.jit.(script|save|load)` is deprecated:DeprecationWarning"


class TinyNet(torch.nn.Module):
    """Importable by name, so it can be saved as a state dict."""

    def __init__(self, n_in: int = 3, n_out: int = 2) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(n_in, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


@pytest.fixture(autouse=True)
def fresh_pickle_notice() -> Iterator[None]:
    trust._reset_notice()
    yield
    trust._reset_notice()


@pytest.fixture
def net() -> TinyNet:
    torch.manual_seed(0)
    return TinyNet(3, 2).eval()


@pytest.fixture
def rows() -> np.ndarray:
    return np.random.default_rng(0).random((6, 3)).astype(np.float32)


def expected(net: torch.nn.Module, rows: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out: np.ndarray = net(torch.from_numpy(rows)).numpy()
    return out


def mlmodel(path: Path) -> dict:
    return yaml.safe_load((path / "MLmodel").read_text())


def test_whole_module_saved_in_mlflows_layout_and_loaded_back(
    workdir: Path, net: TinyNet, rows: np.ndarray
) -> None:
    cairn.pytorch.save_model(net, "model", input_example=rows[:2])

    written = mlmodel(workdir / "model")
    assert written["flavors"]["pytorch"]["model_data"] == "data"
    assert written["flavors"]["pytorch"]["pytorch_version"] == torch.__version__
    pyfunc = written["flavors"]["python_function"]
    assert pyfunc["loader_module"] == "mlflow.pytorch"
    assert pyfunc["pickle_module_name"] == "mlflow.pytorch.pickle_module"
    assert (workdir / "model/data/model.pth").is_file()
    pickle_info = (workdir / "model/data/pickle_module_info.txt").read_text()
    assert pickle_info == "mlflow.pytorch.pickle_module"
    assert written["signature"]["inputs"]  # inferred from the example

    loaded = cairn.pytorch.load_model("model")
    assert isinstance(loaded, TinyNet) and not loaded.training
    np.testing.assert_allclose(expected(loaded, rows), expected(net, rows), rtol=1e-6)


def test_state_dict_model_loads_without_pickle_and_rebuilds_its_class(
    workdir: Path, net: TinyNet, rows: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    cairn.pytorch.save_model(
        net, "model", serialization_format="state_dict", init_kwargs={"n_in": 3, "n_out": 2}
    )

    section = mlmodel(workdir / "model")["flavors"]["pytorch"]
    assert section["model_class"].endswith(":TinyNet")
    assert section["init_kwargs"] == {"n_in": 3, "n_out": 2}
    assert (workdir / "model/data/state_dict.pth").is_file()
    monkeypatch.setenv("CAIRN_ALLOW_PICKLE", "false")  # weights_only: no pickle runs
    loaded = cairn.pytorch.load_model("model")
    assert isinstance(loaded, TinyNet)
    np.testing.assert_allclose(expected(loaded, rows), expected(net, rows), rtol=1e-6)
    predicted = cairn.pyfunc.load_model("model").predict(rows)
    np.testing.assert_allclose(predicted, expected(net, rows), rtol=1e-6)


def test_state_dict_needs_a_class_importable_by_name(workdir: Path) -> None:
    class LocalNet(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    with pytest.raises(InvalidParameterValueError, match="cannot be imported by name"):
        cairn.pytorch.save_model(LocalNet(), "model", serialization_format="state_dict")
    assert not (workdir / "model").exists()


def test_state_dict_whose_class_is_missing_says_how_to_load_it(workdir: Path, net: TinyNet) -> None:
    cairn.pytorch.save_model(net, "model", serialization_format="state_dict")
    path = workdir / "model/MLmodel"
    written = yaml.safe_load(path.read_text())
    written["flavors"]["pytorch"]["model_class"] = "no_such_package_here.nets:TinyNet"
    path.write_text(yaml.safe_dump(written))

    with pytest.raises(InvalidParameterValueError, match="model_class=") as refused:
        cairn.pytorch.load_model("model")
    assert "no_such_package_here" in str(refused.value)
    rebuilt = cairn.pytorch.load_model("model", model_class=TinyNet)
    assert torch.equal(rebuilt.linear.weight, net.linear.weight)


def test_pyfunc_predicts_on_a_dataframe_as_float32(
    workdir: Path, net: TinyNet, rows: np.ndarray
) -> None:
    with cairn.start_run():
        info = cairn.pytorch.log_model(net, name="model")
    frame = pd.DataFrame(rows.astype(np.float64), columns=["a", "b", "c"], index=range(10, 16))

    predicted = cairn.pyfunc.load_model(info.model_uri).predict(frame)

    assert isinstance(predicted, pd.DataFrame)
    assert list(predicted.index) == list(range(10, 16))
    np.testing.assert_allclose(predicted.to_numpy(), expected(net, rows), rtol=1e-6)
    assert cairn.pytorch.load_model(info.model_uri).linear.out_features == 2


def test_pickled_module_refused_when_pickles_are_off(
    workdir: Path, net: TinyNet, monkeypatch: pytest.MonkeyPatch
) -> None:
    cairn.pytorch.save_model(net, "model")
    monkeypatch.setenv("CAIRN_ALLOW_PICKLE", "false")

    with pytest.raises(PermissionDeniedError, match="CAIRN_ALLOW_PICKLE"):
        cairn.pytorch.load_model("model")
    with pytest.raises(PermissionDeniedError, match="CAIRN_ALLOW_PICKLE"):
        cairn.pyfunc.load_model("model")


@pytest.mark.filterwarnings(JIT_DEPRECATED)
def test_torchscript_module_round_trip(workdir: Path, net: TinyNet, rows: np.ndarray) -> None:
    scripted = torch.jit.script(net)
    cairn.pytorch.save_model(scripted, "model")

    loaded = cairn.pytorch.load_model("model")
    assert isinstance(loaded, torch.jit.ScriptModule)
    np.testing.assert_allclose(expected(loaded, rows), expected(net, rows), rtol=1e-6)


def test_unknown_serialization_format_is_refused(workdir: Path, net: TinyNet) -> None:
    with pytest.raises(InvalidParameterValueError, match="serialization_format"):
        cairn.pytorch.save_model(net, "model", serialization_format="pt2")


def _mlflow() -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mlflow's own import-time notices
        import mlflow.pyfunc
        import mlflow.pytorch
    return mlflow


def test_mlflow_loads_a_whole_module_cairn_saved(
    workdir: Path, net: TinyNet, rows: np.ndarray
) -> None:
    mlflow = _mlflow()
    cairn.pytorch.save_model(net, "model")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = mlflow.pytorch.load_model(str(workdir / "model"), weights_only=False)  # type: ignore[attr-defined]
        predicted = mlflow.pyfunc.load_model(str(workdir / "model")).predict(rows)  # type: ignore[attr-defined]

    np.testing.assert_allclose(expected(module, rows), expected(net, rows), rtol=1e-6)
    np.testing.assert_allclose(predicted, expected(net, rows), rtol=1e-6)


def test_cairn_loads_a_whole_module_mlflow_saved(
    workdir: Path, net: TinyNet, rows: np.ndarray
) -> None:
    mlflow = _mlflow()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.pytorch.save_model(net, str(workdir / "model"), serialization_format="pickle")  # type: ignore[attr-defined]

    module = cairn.pytorch.load_model("model")
    predicted = cairn.pyfunc.load_model("model").predict(rows)

    np.testing.assert_allclose(expected(module, rows), expected(net, rows), rtol=1e-6)
    np.testing.assert_allclose(predicted, expected(net, rows), rtol=1e-6)


def test_mlflow_loads_a_state_dict_model_through_cairns_loader(
    workdir: Path, net: TinyNet, rows: np.ndarray
) -> None:
    mlflow = _mlflow()
    cairn.pytorch.save_model(net, "model", serialization_format="state_dict")
    assert mlmodel(workdir / "model")["flavors"]["python_function"]["loader_module"] == (
        "cairn.pytorch"
    )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # MLflow imports the loader module and calls its `_load_pyfunc(data_path)`.
        predicted = mlflow.pyfunc.load_model(str(workdir / "model")).predict(rows)  # type: ignore[attr-defined]

    np.testing.assert_allclose(predicted, expected(net, rows), rtol=1e-6)
