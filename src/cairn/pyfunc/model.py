"""Custom models: a `PythonModel` subclass, cloudpickled with the files it needs.

The layout is MLflow's (`python_model.pkl`, an `artifacts/` folder, the pyfunc keys
`python_model`, `cloudpickle_version`, `artifacts: {name: {path}}`, `config`) and the
MLmodel names MLflow's loader, `mlflow.pyfunc.model`, so the stock mlflow client and
MLflow's model serving load Cairn's custom models without Cairn installed: `PythonModel` is
pickled by value (see `python_model.py`). This module is Cairn's loader for those
directories, for MLflow's, and for older Cairn ones that name `cairn.pyfunc.model`.

Cairn cannot make the user's own module loadable without Cairn: a class defined in
`__main__` or a notebook is pickled by value with its code, but one imported from a module
is pickled by reference, and that module (shipped with `code_paths` or installed) must then
import no Cairn itself to load where Cairn is not installed.

The artifacts' source locations are not recorded (MLflow writes them as `uri`): a path on
the saving machine means nothing to whoever loads the model, and may say too much.
"""

from __future__ import annotations

import inspect
import os
import shutil
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from cairn.exceptions import InvalidParameterValueError
from cairn.extras import require
from cairn.models import directory, requirements
from cairn.models.containment import load_contained, model_file
from cairn.models.flavor import PYFUNC_FLAVOR, PredictImplementation
from cairn.models.model import Model
from cairn.models.trust import check_pickle_allowed
from cairn.pyfunc import python_model as base_classes
from cairn.pyfunc.python_model import PythonModel, PythonModelContext

if TYPE_CHECKING:
    from cairn.models.model import ModelInfo
    from cairn.models.signature import ModelSignature

# MLflow's loader, so that MLflow loads the model without Cairn (Cairn maps it to this module).
LOADER_MODULE = "mlflow.pyfunc.model"
PYTHON_MODEL_FILE = "python_model.pkl"
ARTIFACTS_DIR = "artifacts"
CONFIG_KEY = "config"  # MLflow's pyfunc key for model_config
OLD_CONFIG_KEY = "model_config"  # where Cairn wrote it before


def save_model(
    path: str | os.PathLike[str],
    python_model: PythonModel,
    artifacts: Mapping[str, str | os.PathLike[str]] | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: Sequence[str] | str | None = None,
    extra_pip_requirements: Sequence[str] | str | None = None,
    model_config: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    mlflow_model: Model | None = None,
) -> Model:
    """Save a custom model to a new local directory; returns its MLmodel.

    `artifacts` maps names to local files or folders (or artifact URIs): each is copied in,
    and `context.artifacts[name]` is its path at load time. `code_paths` are copied under
    `code/` and put on sys.path before the model is unpickled.
    """
    cloudpickle = _cloudpickle("cairn.pyfunc.save_model/log_model")
    if not isinstance(python_model, PythonModel) and not all(
        callable(getattr(python_model, method, None)) for method in ("predict", "load_context")
    ):  # duck-typed, so that an MLflow PythonModel is accepted too
        raise InvalidParameterValueError("python_model must be a PythonModel instance.")
    lines = requirements.resolve(["cloudpickle"], pip_requirements, extra_pip_requirements)
    model_dir = directory.prepare(path)
    model = mlflow_model or Model()
    model.metadata = metadata if metadata is not None else model.metadata
    code = directory.copy_code(model_dir, code_paths)
    _dump(python_model, os.path.join(model_dir, PYTHON_MODEL_FILE))
    section = directory.pyfunc_section(
        LOADER_MODULE,
        code,
        python_model=PYTHON_MODEL_FILE,
        cloudpickle_version=cloudpickle.__version__,
    )
    if artifacts:
        section["artifacts"] = _copy_artifacts(model_dir, artifacts)
    if model_config:
        section[CONFIG_KEY] = model_config
    model.add_flavor(PYFUNC_FLAVOR, **section)
    context = PythonModelContext(_artifact_paths(model_dir, section), dict(model_config or {}))
    return directory.finish(
        model_dir,
        model,
        signature=signature,
        input_example=input_example,
        predict=lambda example: _predict_once(python_model, context, example),
        requirement_lines=lines,
    )


def _dump(python_model: Any, target: str) -> None:
    """Cloudpickle the model with `PythonModel` by value, so unpickling needs no Cairn.

    The registration is left in place: it is idempotent and only ever makes Cairn's base
    classes travel by value, so removing it again would only open a race between threads.
    """
    cloudpickle = _cloudpickle("cairn.pyfunc.save_model/log_model")

    cloudpickle.register_pickle_by_value(base_classes)
    with open(target, "wb") as handle:
        cloudpickle.dump(python_model, handle)


def _predict_once(python_model: PythonModel, context: PythonModelContext, example: Any) -> Any:
    python_model.load_context(context)
    return _call_predict(python_model, context, example, None)


def _copy_artifacts(
    model_dir: str, artifacts: Mapping[str, str | os.PathLike[str]]
) -> dict[str, dict[str, str]]:
    from cairn.tracking.artifact_download import download_artifacts

    folder = os.path.join(model_dir, ARTIFACTS_DIR)
    os.makedirs(folder, exist_ok=True)
    saved: dict[str, dict[str, str]] = {}
    for name, source in artifacts.items():
        source = os.fspath(source)
        if not os.path.exists(source):  # an artifact URI (runs:/…, s3://…): fetch it first
            source = download_artifacts(artifact_uri=source)
        base = os.path.basename(os.path.normpath(source))
        target = os.path.join(folder, base)
        if os.path.exists(target):
            raise InvalidParameterValueError(
                f"Artifact {name!r}: another artifact is already named {base!r}."
            )
        if os.path.isdir(source):
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)
        saved[str(name)] = {"path": f"{ARTIFACTS_DIR}/{base}"}
    return saved


def _artifact_paths(model_dir: str, section: dict[str, Any]) -> dict[str, str]:
    """`context.artifacts`: each artifact's local path, which must lie inside the model."""
    paths = {}
    for name, info in (section.get("artifacts") or {}).items():
        path = info.get("path") if isinstance(info, dict) else None
        paths[name] = model_file(model_dir, path, f"{PYFUNC_FLAVOR}.artifacts.{name}.path")
    return paths


def _call_predict(
    python_model: Any, context: PythonModelContext, data: Any, params: dict[str, Any] | None
) -> Any:
    """Call `predict` as MLflow's loader does: with `context` when it takes one (a parameter
    named so, or two besides `params`: MLflow 3 also allows `predict(self, model_input,
    params=None)`), and with `params` only when it takes them."""
    parameters = inspect.signature(python_model.predict).parameters
    kwargs = {"params": params} if "params" in parameters else {}
    positional = [name for name in parameters if name not in ("self", "params")]
    if "context" in parameters or len(positional) == 2:
        return python_model.predict(context, data, **kwargs)
    return python_model.predict(data, **kwargs)


class _PythonModelImplementation:
    """A loaded custom model behind pyfunc's `predict(data, params)`."""

    def __init__(self, python_model: Any, context: PythonModelContext) -> None:
        self.python_model = python_model
        self.context = context

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return _call_predict(self.python_model, self.context, data, params)


def pyfunc_implementation(model_dir: str, model: Model) -> PredictImplementation:
    """Unpickle the custom model (if allowed), then run its `load_context`."""
    cloudpickle = _cloudpickle("Loading a custom pyfunc model")

    section = model.flavor(PYFUNC_FLAVOR)
    if "python_model" not in section:
        raise InvalidParameterValueError(
            "This custom model has no python_model file (models-from-code are not supported)."
        )
    pickled = model_file(model_dir, section["python_model"], f"{PYFUNC_FLAVOR}.python_model")
    artifacts = _artifact_paths(model_dir, section)  # checked before anything is unpickled
    check_pickle_allowed(pickled)
    with open(pickled, "rb") as handle:
        python_model = cloudpickle.load(handle)
    config = section.get(CONFIG_KEY, section.get(OLD_CONFIG_KEY))
    context = PythonModelContext(artifacts, dict(config or {}))
    python_model.load_context(context)
    return _PythonModelImplementation(python_model, context)


def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None) -> PredictImplementation:
    """MLflow's loader entry point for older Cairn models, whose MLmodel names
    `cairn.pyfunc.model` (newer ones name MLflow's own loader)."""
    model_dir = os.path.dirname(path) if os.path.isfile(path) else path
    return pyfunc_implementation(model_dir, load_contained(model_dir))


def log_model(
    name: str = "model",
    python_model: PythonModel | None = None,
    artifacts: Mapping[str, str | os.PathLike[str]] | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: Sequence[str] | str | None = None,
    extra_pip_requirements: Sequence[str] | str | None = None,
    model_config: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    registered_model_name: str | None = None,
) -> ModelInfo:
    """Log a custom model as a LoggedModel of the active run (one is started if none).

    Example:
        >>> info = cairn.pyfunc.log_model("adder", python_model=AddN(), artifacts={"n": "n.txt"})
        >>> cairn.pyfunc.load_model(info.model_uri).predict(pandas.DataFrame({"x": [1]}))
    """
    from cairn.models.log_model import log_model as log_any

    if python_model is None:
        raise InvalidParameterValueError("log_model needs python_model.")
    model = python_model

    def save(path: str, mlflow_model: Model) -> None:
        save_model(
            path,
            model,
            artifacts=artifacts,
            code_paths=code_paths,
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            model_config=model_config,
            metadata=metadata,
            mlflow_model=mlflow_model,
        )

    return log_any(PYFUNC_FLAVOR, name, save, registered_model_name)


def _cloudpickle(needed_for: str) -> ModuleType:
    """cloudpickle, which has no extra of its own: the `sklearn` extra brings it."""
    return require("cloudpickle", extra="sklearn", needed_for=needed_for)
