"""The LightGBM flavor (MLflow's `mlflow.lightgbm`): a `Booster` or a scikit-learn
estimator (`LGBMClassifier`, `LGBMRegressor`, `LGBMRanker`).

As in MLflow, a Booster is saved in LightGBM's text format (`model.lgb`, no code runs to
load it), and an estimator as the scikit-learn flavor saves objects: `cloudpickle` (the
default here, as `cairn.sklearn`'s), `pickle` (both `model.pkl`; loading runs code from the
file, so `CAIRN_ALLOW_PICKLE=false` refuses them) or `skops` (`model.skops`, MLflow 3.17's
default; loading rebuilds only types Cairn trusts: scikit-learn's, numpy's, scipy's and
LightGBM's estimators, plus the caller's `skops_trusted_types`). The flavor keys
(`lgb_version`, `data`, `model_class`, `code`, `serialization_format`,
`skops_trusted_types`) and the pyfunc `loader_module` (`mlflow.lightgbm`) are MLflow's, so
each tool loads the other's models.

`cairn.lightgbm.autolog()` logs LightGBM trainings (see `cairn.lightgbm.autologging`).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from cairn.exceptions import InvalidParameterValueError
from cairn.extras import require
from cairn.lightgbm.autologging import autolog
from cairn.models import directory, requirements
from cairn.models.containment import load_contained, model_file
from cairn.models.flavor import PYFUNC_FLAVOR, PredictImplementation
from cairn.models.model import Model
from cairn.models.trust import check_pickle_allowed
from cairn.tracking.model_uris import download_model

if TYPE_CHECKING:
    from cairn.models.model import ModelInfo
    from cairn.models.signature import ModelSignature

__all__ = ["FLAVOR_NAME", "autolog", "load_model", "log_model", "save_model"]

FLAVOR_NAME = "lightgbm"
# MLflow's loader, so that MLflow loads the model without Cairn (Cairn maps it to this module).
LOADER_MODULE = "mlflow.lightgbm"
BOOSTER_CLASS = "lightgbm.basic.Booster"
BOOSTER_FILE = "model.lgb"
SERIALIZATION_FORMATS = ("cloudpickle", "pickle", "skops")
DEFAULT_SERIALIZATION_FORMAT = "cloudpickle"
_ESTIMATOR_FILES = {"cloudpickle": "model.pkl", "pickle": "model.pkl", "skops": "model.skops"}
# skops rebuilds these without being told: they hold data, not code to run.
TRUSTED_MODULES = ("sklearn", "numpy", "scipy")
TRUSTED_TYPES = (
    "collections.OrderedDict",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
    "lightgbm.sklearn.LGBMRanker",
)


def save_model(
    lgb_model: Any,
    path: str | os.PathLike[str],
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: Sequence[str] | str | None = None,
    extra_pip_requirements: Sequence[str] | str | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    serialization_format: str = DEFAULT_SERIALIZATION_FORMAT,
    metadata: dict[str, Any] | None = None,
    mlflow_model: Model | None = None,
) -> Model:
    """Save a Booster or a LightGBM scikit-learn estimator to a new directory
    (`serialization_format` applies to estimators; a Booster is always `model.lgb`).

    With no `signature` but an `input_example`, the signature is inferred from the example
    and the model's prediction on it. Returns the MLmodel written.
    """
    lightgbm = require("lightgbm", extra="lightgbm", needed_for="cairn.lightgbm.save_model")
    booster = isinstance(lgb_model, lightgbm.Booster)
    if not booster and not isinstance(lgb_model, lightgbm.LGBMModel):
        raise InvalidParameterValueError(
            "lgb_model must be a lightgbm.Booster or a LightGBM scikit-learn estimator, not "
            f"{type(lgb_model).__name__}."
        )
    _check_format(serialization_format)
    libraries = ["lightgbm", "numpy", "pandas"]
    if not booster:
        libraries += ["scikit-learn", "scipy", serialization_format]
    lines = requirements.resolve(
        [lib for lib in libraries if lib != "pickle"], pip_requirements, extra_pip_requirements
    )
    model_dir = directory.prepare(path)
    model = mlflow_model or Model()
    model.metadata = metadata if metadata is not None else model.metadata
    code = directory.copy_code(model_dir, code_paths)
    file_name = BOOSTER_FILE if booster else _ESTIMATOR_FILES[serialization_format]
    trusted = _dump(lgb_model, os.path.join(model_dir, file_name), booster, serialization_format)
    model.add_flavor(PYFUNC_FLAVOR, **directory.pyfunc_section(LOADER_MODULE, code, data=file_name))
    model.add_flavor(
        FLAVOR_NAME,
        lgb_version=lightgbm.__version__,
        data=file_name,
        model_class=f"{type(lgb_model).__module__}.{type(lgb_model).__qualname__}",
        code=code,
        serialization_format=serialization_format,
        skops_trusted_types=trusted,
    )
    return directory.finish(
        model_dir,
        model,
        signature=signature,
        input_example=input_example,
        predict=_LightGBMImplementation(lgb_model).predict,
        requirement_lines=lines,
    )


def _check_format(serialization_format: str) -> None:
    if serialization_format not in SERIALIZATION_FORMATS:
        raise InvalidParameterValueError(
            f"Unknown serialization_format {serialization_format!r}; use one of "
            f"{list(SERIALIZATION_FORMATS)}."
        )


def _dump(model: Any, target: str, booster: bool, serialization_format: str) -> list[str] | None:
    """Write the model file; for skops, return the types it holds that skops does not trust
    by default (MLflow trusts exactly the MLmodel's list, so it must name them all)."""
    if booster:
        model.save_model(target)
        return None
    if serialization_format == "skops":
        skops_io = require("skops.io", extra="sklearn", needed_for="Saving a model as skops")
        skops_io.dump(model, target)
        return sorted(skops_io.get_untrusted_types(file=target)) or None
    if serialization_format == "cloudpickle":
        cloudpickle = _require_cloudpickle("cairn.lightgbm.save_model/log_model")
        with open(target, "wb") as handle:
            cloudpickle.dump(model, handle, protocol=pickle.DEFAULT_PROTOCOL)
        return None
    with open(target, "wb") as handle:
        pickle.dump(model, handle, protocol=pickle.DEFAULT_PROTOCOL)
    return None


def log_model(
    lgb_model: Any,
    name: str = "model",
    registered_model_name: str | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: Sequence[str] | str | None = None,
    extra_pip_requirements: Sequence[str] | str | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    serialization_format: str = DEFAULT_SERIALIZATION_FORMAT,
    metadata: dict[str, Any] | None = None,
) -> ModelInfo:
    """Log the model as a LoggedModel of the active run (one is started if none).

    Example:
        >>> info = cairn.lightgbm.log_model(booster, name="model")
        >>> cairn.lightgbm.load_model(info.model_uri).predict(x_test)
    """
    from cairn.models.log_model import log_saved

    _check_format(serialization_format)

    return log_saved(
        FLAVOR_NAME,
        name,
        save_model,
        lgb_model,
        registered_model_name,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        code_paths=code_paths,
        serialization_format=serialization_format,
        metadata=metadata,
    )


def load_model(
    model_uri: str | os.PathLike[str],
    dst_path: str | None = None,
    skops_trusted_types: Sequence[str] | None = None,
) -> Any:
    """The Booster or estimator itself, from any model URI.

    `skops_trusted_types` adds types the caller trusts; the list written in the model's
    own MLmodel is not trusted (a crafted file could name anything).

    Raises:
        PermissionDeniedError: a pickled estimator, or a model that ships code, while
            CAIRN_ALLOW_PICKLE is false.
        InvalidParameterValueError: a skops file holding types Cairn does not trust.
    """
    from cairn.pyfunc.pyfunc_model import add_code_to_path

    local = download_model(os.fspath(model_uri), dst_path)
    section = load_contained(local).flavor(FLAVOR_NAME)
    add_code_to_path(local, section.get("code"), f"{FLAVOR_NAME}.code")
    return _load(local, section, skops_trusted_types or ())


def _load(model_dir: str, section: dict[str, Any], extra_trusted: Sequence[str] = ()) -> Any:
    path = model_file(model_dir, section.get("data"), f"{FLAVOR_NAME}.data")
    model_class = str(section.get("model_class") or BOOSTER_CLASS)
    if model_class == BOOSTER_CLASS or path.endswith(".lgb"):  # LightGBM's text format
        lightgbm = require("lightgbm", extra="lightgbm", needed_for="Loading a LightGBM model")
        return lightgbm.Booster(model_file=path)
    # MLflow wrote estimators without the key as cloudpickle.
    serialization_format = section.get("serialization_format") or "cloudpickle"
    if serialization_format == "skops":
        return _load_skops(path, extra_trusted)
    if serialization_format not in SERIALIZATION_FORMATS:
        raise InvalidParameterValueError(f"Unknown serialization_format {serialization_format!r}.")
    check_pickle_allowed(path)
    with open(path, "rb") as handle:
        if serialization_format == "cloudpickle":
            return _require_cloudpickle("Loading a LightGBM model").load(handle)
        return pickle.load(handle)


def _load_skops(path: str, extra_trusted: Sequence[str]) -> Any:
    skops_io = require("skops.io", extra="sklearn", needed_for="Loading a skops model")
    found = skops_io.get_untrusted_types(file=path)
    untrusted = [
        t
        for t in found
        if t.split(".", 1)[0] not in TRUSTED_MODULES
        and t not in TRUSTED_TYPES
        and t not in extra_trusted
    ]
    if untrusted:
        raise InvalidParameterValueError(
            f"The skops model at {path} holds types Cairn does not trust: {untrusted}. If you "
            "trust them, pass them as load_model(..., skops_trusted_types=[...])."
        )
    return skops_io.load(path, trusted=found)


def _require_cloudpickle(needed_for: str) -> ModuleType:
    return require("cloudpickle", extra="lightgbm", needed_for=needed_for)


class _LightGBMImplementation:
    """pyfunc's view of the model: its `predict` on the data."""

    def __init__(self, raw_model: Any) -> None:
        self.raw_model = raw_model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self.raw_model.predict(data)


def pyfunc_implementation(model_dir: str, model: Model) -> PredictImplementation:
    """The loader for `cairn.lightgbm` and `mlflow.lightgbm` pyfunc models."""
    return _LightGBMImplementation(_load(model_dir, model.flavor(FLAVOR_NAME)))


def _load_pyfunc(path: str) -> PredictImplementation:
    """MLflow's loader entry point, for an MLmodel that names `cairn.lightgbm` (`path` is
    the model directory, or the model file inside it)."""
    model_dir = os.path.dirname(path) if os.path.isfile(path) else path
    return pyfunc_implementation(model_dir, load_contained(model_dir))
