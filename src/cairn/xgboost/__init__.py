"""The XGBoost flavor (MLflow's `mlflow.xgboost`): a `Booster` or a scikit-learn estimator
(`XGBClassifier`, `XGBRegressor`, …) saved in XGBoost's own format.

Both kinds are written by the model's own `save_model`, as `model.<model_format>`
(`ubj`, MLflow's default; `json`; or `xgb`, which XGBoost 3 writes as UBJSON), and the
MLmodel records the class (`model_class`), so loading rebuilds the same kind: no pickle is
involved. The flavor keys (`xgb_version`, `data`, `model_class`, `model_format`, `code`)
and the pyfunc `loader_module` (`mlflow.xgboost`) are MLflow's, so each tool loads the
other's models. pyfunc predicts with `predict`; a Booster gets the data as a `DMatrix`.

`cairn.xgboost.autolog()` logs XGBoost trainings (see `cairn.xgboost.autologging`).
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cairn.exceptions import InvalidParameterValueError
from cairn.extras import require
from cairn.models import directory, requirements
from cairn.models.containment import load_contained, model_file
from cairn.models.flavor import PYFUNC_FLAVOR, PredictImplementation
from cairn.models.model import Model
from cairn.models.trust import check_pickle_allowed
from cairn.tracking.model_uris import download_model
from cairn.xgboost.autologging import autolog

if TYPE_CHECKING:
    from cairn.models.model import ModelInfo
    from cairn.models.signature import ModelSignature

__all__ = ["FLAVOR_NAME", "autolog", "load_model", "log_model", "save_model"]

FLAVOR_NAME = "xgboost"
# MLflow's loader, so that MLflow loads the model without Cairn (Cairn maps it to this module).
LOADER_MODULE = "mlflow.xgboost"
MODEL_FORMATS = ("ubj", "json", "xgb")
DEFAULT_MODEL_FORMAT = "ubj"
BOOSTER_CLASS = "xgboost.core.Booster"


def save_model(
    xgb_model: Any,
    path: str | os.PathLike[str],
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: Sequence[str] | str | None = None,
    extra_pip_requirements: Sequence[str] | str | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    model_format: str = DEFAULT_MODEL_FORMAT,
    metadata: dict[str, Any] | None = None,
    mlflow_model: Model | None = None,
) -> Model:
    """Save a Booster or an XGBoost scikit-learn estimator to a new directory.

    With no `signature` but an `input_example`, the signature is inferred from the example
    and the model's prediction on it. Returns the MLmodel written.
    """
    xgboost = require("xgboost", extra="xgboost", needed_for="cairn.xgboost.save_model")
    if not isinstance(xgb_model, (xgboost.Booster, xgboost.XGBModel)):
        raise InvalidParameterValueError(
            "xgb_model must be an xgboost.Booster or an XGBoost scikit-learn estimator, not "
            f"{type(xgb_model).__name__}."
        )
    check_format(model_format)
    libraries = ["xgboost", "numpy", "pandas"]
    if isinstance(xgb_model, xgboost.XGBModel):
        libraries += ["scikit-learn", "scipy"]
    lines = requirements.resolve(libraries, pip_requirements, extra_pip_requirements)
    model_dir = directory.prepare(path)
    model = mlflow_model or Model()
    model.metadata = metadata if metadata is not None else model.metadata
    code = directory.copy_code(model_dir, code_paths)
    file_name = f"model.{model_format}"
    xgb_model.save_model(os.path.join(model_dir, file_name))
    model.add_flavor(PYFUNC_FLAVOR, **directory.pyfunc_section(LOADER_MODULE, code, data=file_name))
    model.add_flavor(
        FLAVOR_NAME,
        xgb_version=xgboost.__version__,
        data=file_name,
        model_class=class_name(xgb_model),
        model_format=model_format,
        code=code,
    )
    return directory.finish(
        model_dir,
        model,
        signature=signature,
        input_example=input_example,
        predict=_XGBoostImplementation(xgb_model).predict,
        requirement_lines=lines,
    )


def check_format(model_format: str) -> None:
    """Refuse a `model_format` XGBoost does not write."""
    if model_format not in MODEL_FORMATS:
        raise InvalidParameterValueError(
            f"Unknown model_format {model_format!r}; use one of {list(MODEL_FORMATS)}."
        )


def class_name(model: Any) -> str:
    """The fully qualified class name MLflow records (`xgboost.sklearn.XGBClassifier`)."""
    cls = type(model)
    return f"{cls.__module__}.{cls.__qualname__}"


def log_model(
    xgb_model: Any,
    name: str = "model",
    registered_model_name: str | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: Sequence[str] | str | None = None,
    extra_pip_requirements: Sequence[str] | str | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    model_format: str = DEFAULT_MODEL_FORMAT,
    metadata: dict[str, Any] | None = None,
) -> ModelInfo:
    """Log the model as a LoggedModel of the active run (one is started if none).

    Example:
        >>> info = cairn.xgboost.log_model(booster, name="model")
        >>> cairn.xgboost.load_model(info.model_uri).predict(xgboost.DMatrix(x_test))
    """
    from cairn.models.log_model import log_saved

    check_format(model_format)

    return log_saved(
        FLAVOR_NAME,
        name,
        save_model,
        xgb_model,
        registered_model_name,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        code_paths=code_paths,
        model_format=model_format,
        metadata=metadata,
    )


def load_model(model_uri: str | os.PathLike[str], dst_path: str | None = None) -> Any:
    """The Booster or estimator itself (the class the model was saved as), from any URI.

    Raises:
        PermissionDeniedError: the model's class lies outside xgboost (its module would be
            imported, which runs its code), or it ships code, while CAIRN_ALLOW_PICKLE is
            false.
    """
    from cairn.pyfunc.pyfunc_model import add_code_to_path

    local = download_model(os.fspath(model_uri), dst_path)
    section = load_contained(local).flavor(FLAVOR_NAME)
    add_code_to_path(local, section.get("code"), f"{FLAVOR_NAME}.code")
    return _load(local, section)


def _load(model_dir: str, section: dict[str, Any]) -> Any:
    path = model_file(model_dir, section.get("data"), f"{FLAVOR_NAME}.data")
    model = _model_class(str(section.get("model_class") or BOOSTER_CLASS), path)()
    model.load_model(path)
    return model


def _model_class(name: str, source: str) -> type:
    """The class named in MLmodel, which must be XGBoost's Booster or estimator (or a
    subclass). A class outside xgboost means importing its module, which runs its code:
    allowed only where pickles are."""
    xgboost = require("xgboost", extra="xgboost", needed_for="Loading an XGBoost model")

    module_name, _, attribute = name.rpartition(".")
    if not module_name or not attribute:
        raise InvalidParameterValueError(f"Invalid xgboost.model_class {name!r}.")
    if module_name.split(".", 1)[0] != "xgboost":
        check_pickle_allowed(source)
    found = getattr(importlib.import_module(module_name), attribute, None)
    if not (isinstance(found, type) and issubclass(found, (xgboost.Booster, xgboost.XGBModel))):
        raise InvalidParameterValueError(
            f"xgboost.model_class {name!r} is not an XGBoost Booster or estimator."
        )
    return found


class _XGBoostImplementation:
    """pyfunc's view of the model: `predict` (a Booster's on a DMatrix of the data), with
    the `params` its predict accepts."""

    def __init__(self, raw_model: Any) -> None:
        self.raw_model = raw_model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        import xgboost

        predict = self.raw_model.predict
        accepted = inspect.signature(predict).parameters
        extra = {k: v for k, v in (params or {}).items() if k in accepted}
        if isinstance(self.raw_model, xgboost.Booster):
            return predict(xgboost.DMatrix(data), **extra)
        return predict(data, **extra)


def pyfunc_implementation(model_dir: str, model: Model) -> PredictImplementation:
    """The loader for `cairn.xgboost` and `mlflow.xgboost` pyfunc models."""
    return _XGBoostImplementation(_load(model_dir, model.flavor(FLAVOR_NAME)))


def _load_pyfunc(path: str) -> PredictImplementation:
    """MLflow's loader entry point, for an MLmodel that names `cairn.xgboost` (`path` is
    the model directory, or the model file inside it)."""
    model_dir = os.path.dirname(path) if os.path.isfile(path) else path
    return pyfunc_implementation(model_dir, load_contained(model_dir))
