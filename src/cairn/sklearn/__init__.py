"""The scikit-learn flavor (MLflow's `mlflow.sklearn`), and the generic pickled model.

Besides scikit-learn estimators, this flavor saves **any picklable object with a `predict`
method** (a "generic pickled model": an XGBoost booster wrapper, a hand-written rule, …);
pyfunc calls its `predict(data)`.

Serialization formats:

- `cloudpickle` (the default): pickles everything, including classes defined in `__main__`
  or a notebook, which plain pickle cannot. MLflow defaulted to it up to 3.13 and still does
  on Databricks; it is the one that works for any model.
- `pickle`: the standard library's; the model's classes must be importable at load time.
- `skops`: the safe option, for scikit-learn estimators only. Loading it runs no code from
  the file: only types Cairn trusts (scikit-learn, numpy and scipy, see `TRUSTED_MODULES`)
  or that the caller lists in `skops_trusted_types` are rebuilt. MLflow 3.18 defaults to it.

Loading a pickle or cloudpickle file runs code from it: Cairn logs that once per process and
refuses when `CAIRN_ALLOW_PICKLE=false`, which also refuses the code any model (skops
included) ships in `code/`. Every path the MLmodel names must lie inside the model folder
(`cairn.models.containment`). The directory layout, the `sklearn` flavor keys
(`pickled_model`, `sklearn_version`, `serialization_format`, `code`, `skops_trusted_types`)
and the pyfunc `loader_module` (`mlflow.sklearn`) are MLflow's, so the stock mlflow client
and MLflow's model serving load models saved here without Cairn installed, in all three
formats (skops needs MLflow 3 and the `skops` package, which the requirements list).

`autolog()` (MLflow's `mlflow.sklearn.autolog`) logs every `fit` of a scikit-learn estimator:
its params, training metrics, the model and the training data; a parameter search's best
candidates as child runs; and metrics computed on held-out data after training
(`accuracy_score(y_test, model.predict(X_test))` becomes `accuracy_score_X_test`).
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from cairn.exceptions import InvalidParameterValueError
from cairn.extras import require
from cairn.models import directory, requirements
from cairn.models.containment import load_contained, model_file
from cairn.models.flavor import PYFUNC_FLAVOR, PredictImplementation
from cairn.models.model import Model
from cairn.models.trust import check_pickle_allowed
from cairn.sklearn.autologging import autolog as autolog
from cairn.tracking.model_uris import download_model

if TYPE_CHECKING:
    from cairn.models.model import ModelInfo
    from cairn.models.signature import ModelSignature

FLAVOR_NAME = "sklearn"
# MLflow's loader, so that MLflow loads the model without Cairn (Cairn maps it to this module).
LOADER_MODULE = "mlflow.sklearn"
SERIALIZATION_FORMAT_CLOUDPICKLE = "cloudpickle"
SERIALIZATION_FORMAT_PICKLE = "pickle"
SERIALIZATION_FORMAT_SKOPS = "skops"
SUPPORTED_SERIALIZATION_FORMATS = (
    SERIALIZATION_FORMAT_CLOUDPICKLE,
    SERIALIZATION_FORMAT_PICKLE,
    SERIALIZATION_FORMAT_SKOPS,
)
_FILE_NAMES = {"cloudpickle": "model.pkl", "pickle": "model.pkl", "skops": "model.skops"}
# skops rebuilds a type only if trusted; these packages' types hold data, not code to run.
TRUSTED_MODULES = ("sklearn", "numpy", "scipy")
log = logging.getLogger("cairn.models")


def save_model(
    sk_model: Any,
    path: str | os.PathLike[str],
    serialization_format: str = SERIALIZATION_FORMAT_CLOUDPICKLE,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: Sequence[str] | str | None = None,
    extra_pip_requirements: Sequence[str] | str | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    pyfunc_predict_fn: str = "predict",
    metadata: dict[str, Any] | None = None,
    mlflow_model: Model | None = None,
) -> Model:
    """Save an estimator (or any picklable object with `predict`) to a new directory.

    With no `signature` but an `input_example`, the signature is inferred from the example
    and the model's prediction on it. An estimator without `pyfunc_predict_fn` (a lone
    transformer) is saved without the pyfunc flavor, as MLflow does; any other object must
    have it. Returns the MLmodel written.
    """
    _check_format(sk_model, serialization_format)
    predict = getattr(sk_model, pyfunc_predict_fn, None)
    if not callable(predict) and not _is_estimator(sk_model):
        raise InvalidParameterValueError(
            f"The model has no {pyfunc_predict_fn}() method: pyfunc could not call it."
        )
    lines = requirements.resolve(
        _default_requirements(sk_model, serialization_format),
        pip_requirements,
        extra_pip_requirements,
    )
    model_dir = directory.prepare(path)
    model = mlflow_model or Model()
    model.metadata = metadata if metadata is not None else model.metadata
    code = directory.copy_code(model_dir, code_paths)
    file_name = _FILE_NAMES[serialization_format]
    trusted = _dump(sk_model, os.path.join(model_dir, file_name), serialization_format)
    if callable(predict):
        section = directory.pyfunc_section(
            LOADER_MODULE, code, model_path=file_name, predict_fn=pyfunc_predict_fn
        )
        model.add_flavor(PYFUNC_FLAVOR, **section)
    else:
        log.warning("The model has no %s(): saved without the pyfunc flavor.", pyfunc_predict_fn)
    model.add_flavor(
        FLAVOR_NAME,
        pickled_model=file_name,
        sklearn_version=_sklearn_version(),
        serialization_format=serialization_format,
        code=code,
        skops_trusted_types=trusted,
    )
    return directory.finish(
        model_dir,
        model,
        signature=signature,
        input_example=input_example,
        predict=predict if callable(predict) else None,
        requirement_lines=lines,
    )


def _check_format(sk_model: Any, serialization_format: str) -> None:
    if serialization_format not in SUPPORTED_SERIALIZATION_FORMATS:
        raise InvalidParameterValueError(
            f"Unknown serialization_format {serialization_format!r}; use one of "
            f"{list(SUPPORTED_SERIALIZATION_FORMATS)}."
        )
    if serialization_format == SERIALIZATION_FORMAT_SKOPS and not _is_estimator(sk_model):
        raise InvalidParameterValueError(
            f"serialization_format='skops' saves scikit-learn estimators only; "
            f"{type(sk_model).__name__} is not one. Use 'cloudpickle' for other objects."
        )


def _is_estimator(obj: Any) -> bool:
    try:
        from sklearn.base import BaseEstimator
    except ImportError:
        return False
    return isinstance(obj, BaseEstimator)


def _sklearn_version() -> str | None:
    try:
        import sklearn
    except ImportError:
        return None  # a generic pickled model saved where scikit-learn is not installed
    return str(sklearn.__version__)


def _dump(sk_model: Any, target: str, serialization_format: str) -> list[str] | None:
    """Write the model file; for skops, return every type it holds that skops does not trust
    by default. MLflow trusts exactly the MLmodel's list, so it must name the types Cairn
    trusts as well (a `TreePredictor` of a gradient-boosting model, say); Cairn's own loader
    ignores the list and applies TRUSTED_MODULES."""
    if serialization_format == SERIALIZATION_FORMAT_SKOPS:
        skops_io = _require("skops.io", "Saving a scikit-learn model as skops")
        skops_io.dump(sk_model, target)
        return list(skops_io.get_untrusted_types(file=target)) or None
    if serialization_format == SERIALIZATION_FORMAT_CLOUDPICKLE:
        cloudpickle = _require("cloudpickle", "cairn.sklearn.save_model/log_model")
        with open(target, "wb") as handle:
            # The default protocol, as MLflow: newer ones break older Pythons (mlflow#5419).
            cloudpickle.dump(sk_model, handle, protocol=pickle.DEFAULT_PROTOCOL)
        return None
    with open(target, "wb") as handle:
        pickle.dump(sk_model, handle, protocol=pickle.DEFAULT_PROTOCOL)
    return None


def _trusted_name(type_name: str) -> bool:
    return type_name.split(".", 1)[0] in TRUSTED_MODULES


def _default_requirements(sk_model: Any, serialization_format: str) -> list[str]:
    libraries = ["numpy", "pandas"]
    if _is_estimator(sk_model):
        libraries += ["scikit-learn", "scipy"]
    if serialization_format in (SERIALIZATION_FORMAT_CLOUDPICKLE, SERIALIZATION_FORMAT_SKOPS):
        libraries.append(serialization_format)
    return libraries


def log_model(
    sk_model: Any,
    name: str = "model",
    serialization_format: str = SERIALIZATION_FORMAT_CLOUDPICKLE,
    registered_model_name: str | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: Sequence[str] | str | None = None,
    extra_pip_requirements: Sequence[str] | str | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    pyfunc_predict_fn: str = "predict",
    metadata: dict[str, Any] | None = None,
) -> ModelInfo:
    """Log the model as a LoggedModel of the active run (one is started if none).

    Example:
        >>> info = cairn.sklearn.log_model(clf, name="model", input_example=x_train[:5])
        >>> cairn.sklearn.load_model(info.model_uri).predict(x_test)
    """
    from cairn.models.log_model import log_saved

    _check_format(sk_model, serialization_format)

    return log_saved(
        FLAVOR_NAME,
        name,
        save_model,
        sk_model,
        registered_model_name,
        serialization_format=serialization_format,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        code_paths=code_paths,
        pyfunc_predict_fn=pyfunc_predict_fn,
        metadata=metadata,
    )


def load_model(
    model_uri: str | os.PathLike[str],
    dst_path: str | None = None,
    skops_trusted_types: Sequence[str] | None = None,
) -> Any:
    """The estimator (or generic object) itself, from any model URI.

    `skops_trusted_types` adds types the caller trusts to those of TRUSTED_MODULES; the list
    written in the model's own MLmodel is not trusted (a crafted file could name anything).

    Raises:
        PermissionDeniedError: a pickled model, or one that ships code, while
            CAIRN_ALLOW_PICKLE is false.
        InvalidParameterValueError: the MLmodel names a path outside the model folder.
    """
    from cairn.pyfunc.pyfunc_model import add_code_to_path

    local = download_model(os.fspath(model_uri), dst_path)
    model = load_contained(local)
    section = model.flavor(FLAVOR_NAME)
    add_code_to_path(local, section.get("code"), f"{FLAVOR_NAME}.code")
    return _load_file(local, section, skops_trusted_types)


def _load_file(
    model_dir: str, section: dict[str, Any], extra_trusted: Sequence[str] | None = None
) -> Any:
    path = model_file(model_dir, section.get("pickled_model"), f"{FLAVOR_NAME}.pickled_model")
    serialization_format = section.get("serialization_format", SERIALIZATION_FORMAT_PICKLE)
    if serialization_format == SERIALIZATION_FORMAT_SKOPS:
        return _load_skops(path, extra_trusted or ())
    if serialization_format not in SUPPORTED_SERIALIZATION_FORMATS:
        raise InvalidParameterValueError(f"Unknown serialization_format {serialization_format!r}.")
    check_pickle_allowed(path)
    with open(path, "rb") as handle:
        if serialization_format == SERIALIZATION_FORMAT_CLOUDPICKLE:
            cloudpickle = _require("cloudpickle", "Loading a cloudpickled scikit-learn model")
            return cloudpickle.load(handle)
        return pickle.load(handle)


def _load_skops(path: str, extra_trusted: Sequence[str]) -> Any:
    skops_io = _require("skops.io", "Loading a skops scikit-learn model")
    found = skops_io.get_untrusted_types(file=path)
    untrusted = [t for t in found if not _trusted_name(t) and t not in extra_trusted]
    if untrusted:
        raise InvalidParameterValueError(
            f"The skops model at {path} holds types Cairn does not trust: {untrusted}. If you "
            "trust them, pass them as load_model(..., skops_trusted_types=[...])."
        )
    return skops_io.load(path, trusted=found)


def _require(module: str, needed_for: str) -> ModuleType:
    """`module`, or MissingExtraError naming the `sklearn` extra."""
    return require(module, extra="sklearn", needed_for=needed_for)


class _SklearnImplementation:
    """pyfunc's view of the model: `predict_fn` (default `predict`) on the data."""

    def __init__(self, raw_model: Any, predict_fn: str) -> None:
        self.raw_model = raw_model
        self._predict = getattr(raw_model, predict_fn)

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self._predict(data)


def pyfunc_implementation(model_dir: str, model: Model) -> PredictImplementation:
    """The loader for `cairn.sklearn` and `mlflow.sklearn` pyfunc models."""
    predict_fn = str(model.flavor(PYFUNC_FLAVOR).get("predict_fn") or "predict")
    return _SklearnImplementation(_load_file(model_dir, model.flavor(FLAVOR_NAME)), predict_fn)


def _load_pyfunc(path: str) -> PredictImplementation:
    """MLflow's loader entry point for older Cairn models, whose MLmodel names `cairn.sklearn`
    (`path` is the model directory, or the model file inside it)."""
    model_dir = os.path.dirname(path) if os.path.isfile(path) else path
    return pyfunc_implementation(model_dir, load_contained(model_dir))
