"""Flavors as pyfunc sees them: a `loader_module` named in MLmodel, mapped to a loader.

MLflow imports whatever module an MLmodel file names and calls its `_load_pyfunc`. Cairn
does not import modules named by a file it was handed: it looks the name up here. Cairn's
own flavors register through `register_loader` exactly as a third-party flavor would, and
MLflow's loader modules for the formats Cairn reads (`mlflow.sklearn`, `mlflow.onnx`,
`mlflow.pyfunc.model`) map to Cairn's loaders. Cairn's flavors write those MLflow names too,
so their models load in MLflow without Cairn, and MLflow's load in Cairn without MLflow;
the `cairn.*` names remain for models written by older Cairn versions.
Loaders are kept as "module:function" strings so nothing heavy is imported until a model of
that flavor is loaded.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from cairn.exceptions import InvalidParameterValueError
from cairn.models.model import Model

PYFUNC_FLAVOR = "python_function"


class PredictImplementation(Protocol):
    """What a loader returns: something that predicts (the flavor's own model, wrapped)."""

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any: ...


class Loader(Protocol):
    """Build the implementation from a local model directory and its parsed MLmodel."""

    def __call__(self, model_dir: str, model: Model) -> PredictImplementation: ...


_LOADERS: dict[str, str | Loader] = {}


def register_loader(loader_module: str, loader: str | Loader) -> None:
    """Map a pyfunc `loader_module` to a loader (a callable or "module:function")."""
    _LOADERS[loader_module] = loader


def loader_for(loader_module: str) -> Loader:
    target = _LOADERS.get(loader_module)
    if target is None:
        raise InvalidParameterValueError(
            f"No Cairn loader for the pyfunc loader_module {loader_module!r}. Known: "
            f"{', '.join(sorted(_LOADERS))} (cairn.models.flavor.register_loader adds one)."
        )
    if isinstance(target, str):
        module, _, function = target.partition(":")
        loader: Loader = getattr(importlib.import_module(module), function)
        return loader
    return target


def load_implementation(model_dir: str, model: Model) -> PredictImplementation:
    """The pyfunc implementation of the model in `model_dir`."""
    section = model.flavor(PYFUNC_FLAVOR)
    return loader_for(str(section.get("loader_module")))(model_dir, model)


for _module, _target in (
    ("cairn.sklearn", "cairn.sklearn:pyfunc_implementation"),
    ("mlflow.sklearn", "cairn.sklearn:pyfunc_implementation"),
    ("cairn.onnx", "cairn.onnx:pyfunc_implementation"),
    ("mlflow.onnx", "cairn.onnx:pyfunc_implementation"),
    ("cairn.xgboost", "cairn.xgboost:pyfunc_implementation"),
    ("mlflow.xgboost", "cairn.xgboost:pyfunc_implementation"),
    ("cairn.lightgbm", "cairn.lightgbm:pyfunc_implementation"),
    ("mlflow.lightgbm", "cairn.lightgbm:pyfunc_implementation"),
    ("cairn.pytorch", "cairn.pytorch:pyfunc_implementation"),
    ("mlflow.pytorch", "cairn.pytorch:pyfunc_implementation"),
    ("cairn.pyfunc.model", "cairn.pyfunc.model:pyfunc_implementation"),
    ("mlflow.pyfunc.model", "cairn.pyfunc.model:pyfunc_implementation"),
):
    register_loader(_module, _target)
