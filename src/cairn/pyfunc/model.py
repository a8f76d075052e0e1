"""Custom models: a `PythonModel` subclass, cloudpickled with the files it needs.

The layout is MLflow's (`python_model.pkl`, an `artifacts/` folder, the pyfunc keys
`python_model`, `cloudpickle_version`, `artifacts: {name: {path}}`), so this module is the
loader for both `cairn.pyfunc.model` and `mlflow.pyfunc.model` directories, and MLflow's
`pyfunc.load_model` reads Cairn's through `_load_pyfunc`.

The artifacts' source locations are not recorded (MLflow writes them as `uri`): a path on
the saving machine means nothing to whoever loads the model, and may say too much.
"""

from __future__ import annotations

import inspect
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cairn.exceptions import InvalidParameterValueError
from cairn.models import directory, requirements
from cairn.models.flavor import PYFUNC_FLAVOR, PredictImplementation
from cairn.models.model import Model
from cairn.models.trust import check_pickle_allowed

if TYPE_CHECKING:
    from cairn.models.model import ModelInfo
    from cairn.models.signature import ModelSignature

LOADER_MODULE = "cairn.pyfunc.model"
PYTHON_MODEL_FILE = "python_model.pkl"
ARTIFACTS_DIR = "artifacts"


@dataclass
class PythonModelContext:
    """What `load_context` and `predict` get: local paths of the model's artifacts (by the
    names given at save time) and the model's configuration."""

    artifacts: dict[str, str] = field(default_factory=dict)
    model_config: dict[str, Any] = field(default_factory=dict)


class PythonModel:
    """Subclass this and implement `predict` to ship arbitrary Python as a model.

    Example:
        >>> class AddN(cairn.pyfunc.PythonModel):
        ...     def load_context(self, context):
        ...         self.n = int(open(context.artifacts["n"]).read())
        ...     def predict(self, context, model_input, params=None):
        ...         return model_input + self.n
    """

    def load_context(self, context: PythonModelContext) -> None:
        """Called once at load time, before any prediction: read artifacts here."""

    def predict(
        self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None
    ) -> Any:
        raise NotImplementedError("A PythonModel subclass must implement predict().")


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
    import cloudpickle

    if not isinstance(python_model, PythonModel) and not callable(
        getattr(python_model, "predict", None)
    ):
        raise InvalidParameterValueError("python_model must be a PythonModel instance.")
    lines = requirements.resolve(["cloudpickle"], pip_requirements, extra_pip_requirements)
    model_dir = directory.prepare(path)
    model = mlflow_model or Model()
    model.metadata = metadata if metadata is not None else model.metadata
    code = directory.copy_code(model_dir, code_paths)
    with open(os.path.join(model_dir, PYTHON_MODEL_FILE), "wb") as handle:
        cloudpickle.dump(python_model, handle)
    section = directory.pyfunc_section(
        LOADER_MODULE,
        code,
        python_model=PYTHON_MODEL_FILE,
        cloudpickle_version=cloudpickle.__version__,
    )
    if artifacts:
        section["artifacts"] = _copy_artifacts(model_dir, artifacts)
    if model_config:
        section["model_config"] = model_config
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
    return {
        name: os.path.join(model_dir, info["path"])
        for name, info in (section.get("artifacts") or {}).items()
    }


def _call_predict(
    python_model: Any, context: PythonModelContext, data: Any, params: dict[str, Any] | None
) -> Any:
    """Call `predict` with or without `context`: MLflow 3 also allows the type-hinted
    `predict(self, model_input, params=None)`, and MLflow-saved models may use it."""
    parameters = inspect.signature(python_model.predict).parameters
    if "context" in parameters:
        return python_model.predict(context, data, params=params)
    return python_model.predict(data, params=params)


class _PythonModelImplementation:
    """A loaded custom model behind pyfunc's `predict(data, params)`."""

    def __init__(self, python_model: Any, context: PythonModelContext) -> None:
        self.python_model = python_model
        self.context = context

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return _call_predict(self.python_model, self.context, data, params)


def pyfunc_implementation(model_dir: str, model: Model) -> PredictImplementation:
    """Unpickle the custom model (if allowed), then run its `load_context`."""
    import cloudpickle

    section = model.flavor(PYFUNC_FLAVOR)
    if "python_model" not in section:
        raise InvalidParameterValueError(
            "This custom model has no python_model file (models-from-code are not supported)."
        )
    pickled = os.path.join(model_dir, section["python_model"])
    check_pickle_allowed(pickled)
    with open(pickled, "rb") as handle:
        python_model = cloudpickle.load(handle)
    context = PythonModelContext(
        _artifact_paths(model_dir, section), dict(section.get("model_config") or {})
    )
    python_model.load_context(context)
    return _PythonModelImplementation(python_model, context)


def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None) -> PredictImplementation:
    """MLflow's loader entry point, so `mlflow.pyfunc.load_model` reads Cairn custom models."""
    model_dir = os.path.dirname(path) if os.path.isfile(path) else path
    return pyfunc_implementation(model_dir, Model.load(model_dir))


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
