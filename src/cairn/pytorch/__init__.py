"""The PyTorch flavor (MLflow's `mlflow.pytorch`), and PyTorch Lightning logging.

`save_model`, `log_model` and `load_model` write and read a module in MLflow's layout, so
the stock mlflow loads what Cairn saves and Cairn loads what MLflow saves. The formats
(`serialization_format`: `"pickle"`, the default, or `"state_dict"`) are described in
`formats`; how each is read back, and when that needs `CAIRN_ALLOW_PICKLE`, in `loading`;
what pyfunc does with the module in `pyfunc_model`.

A state-dict model's pyfunc `loader_module` is `cairn.pytorch` (MLflow has no loader for
that format), so MLflow calls `_load_pyfunc` here; `cairn.models.flavor` maps both
`cairn.pytorch` and `mlflow.pytorch` to `pyfunc_implementation`.

`CairnLogger` (a Lightning `Logger`) and `autolog()` (Lightning's `Trainer.fit`) log
training; importing this package imports neither torch nor Lightning.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cairn.exceptions import InvalidParameterValueError
from cairn.models import directory, requirements
from cairn.models.containment import load_contained
from cairn.models.flavor import PYFUNC_FLAVOR
from cairn.models.model import Model
from cairn.pytorch import formats, state_dict_class
from cairn.pytorch.autologging import autolog
from cairn.pytorch.formats import DATA_DIR, FLAVOR_NAME
from cairn.pytorch.loading import load_module
from cairn.pytorch.pyfunc_model import TorchPredictor, device_of, pyfunc_implementation
from cairn.pytorch.pyfunc_model import load_pyfunc as _load_pyfunc  # noqa: F401 (MLflow calls it)
from cairn.tracking.model_uris import download_model

if TYPE_CHECKING:
    import torch

    from cairn.models.model import ModelInfo
    from cairn.models.signature import ModelSignature
    from cairn.pytorch.lightning_logger import CairnLogger

__all__ = [
    "CairnLogger",
    "autolog",
    "load_model",
    "log_model",
    "pyfunc_implementation",
    "save_model",
]

# MLflow's loader, so that MLflow loads whole models without Cairn (Cairn maps it here).
LOADER_MODULE = "mlflow.pytorch"
# State-dict models: MLflow has no such format, so only Cairn's loader reads them.
CAIRN_LOADER_MODULE = "cairn.pytorch"
SERIALIZATION_FORMAT_PICKLE = formats.PICKLE
SERIALIZATION_FORMAT_STATE_DICT = formats.STATE_DICT


def __getattr__(name: str) -> Any:
    if name == "CairnLogger":  # imports Lightning: only when asked for
        from cairn.pytorch.lightning_logger import CairnLogger

        return CairnLogger
    raise AttributeError(f"module 'cairn.pytorch' has no attribute {name!r}")


def save_model(
    pytorch_model: torch.nn.Module,
    path: str | os.PathLike[str],
    serialization_format: str = SERIALIZATION_FORMAT_PICKLE,
    init_kwargs: Mapping[str, Any] | None = None,
    pickle_module: Any = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: Sequence[str] | str | None = None,
    extra_pip_requirements: Sequence[str] | str | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    metadata: dict[str, Any] | None = None,
    mlflow_model: Model | None = None,
) -> Model:
    """Save a module to a new directory; returns the MLmodel written.

    `init_kwargs` (state_dict only) are the constructor's keyword arguments, JSON-able.
    `pickle_module` (pickle only) replaces cloudpickle, as in MLflow; its name is recorded.
    With an `input_example` and no `signature`, the signature is inferred from the example
    and the module's output on it.
    """
    import torch

    if not isinstance(pytorch_model, torch.nn.Module):
        raise InvalidParameterValueError(
            f"pytorch_model must be a torch.nn.Module, not {type(pytorch_model).__name__}."
        )
    formats.check_format(serialization_format)
    state_dict = serialization_format == SERIALIZATION_FORMAT_STATE_DICT
    model_class = state_dict_class.class_path(pytorch_model) if state_dict else None
    arguments = state_dict_class.init_kwargs(pytorch_model, init_kwargs) if state_dict else None
    lines = requirements.resolve(
        _default_requirements(pytorch_model), pip_requirements, extra_pip_requirements
    )
    model_dir = directory.prepare(path)
    model = mlflow_model or Model()
    model.metadata = metadata if metadata is not None else model.metadata
    code = directory.copy_code(model_dir, code_paths)
    data_dir = os.path.join(model_dir, DATA_DIR)
    os.makedirs(data_dir)
    section: dict[str, Any] = {
        "model_data": DATA_DIR,
        "pytorch_version": str(torch.__version__),
        "code": code,
    }
    if state_dict:
        formats.save_state_dict(pytorch_model, data_dir)
        section.update(model_class=model_class, init_kwargs=arguments)
        pyfunc = directory.pyfunc_section(CAIRN_LOADER_MODULE, code, data=DATA_DIR)
    else:
        module_name = formats.save_whole(pytorch_model, data_dir, pickle_module)
        pyfunc = directory.pyfunc_section(
            LOADER_MODULE,
            code,
            data=DATA_DIR,
            pickle_module_name=module_name,
            config={"device": None},  # MLflow's pyfunc model_config, under its key
        )
    model.add_flavor(PYFUNC_FLAVOR, **pyfunc)
    model.add_flavor(FLAVOR_NAME, **section)
    wrapper = TorchPredictor(pytorch_model, device_of(pytorch_model))
    return directory.finish(
        model_dir,
        model,
        signature=signature,
        input_example=_as_array(input_example),
        predict=wrapper.predict,
        requirement_lines=lines,
    )


def _default_requirements(pytorch_model: Any) -> list[str]:
    """What loading the model needs installed."""
    libraries = ["torch", "cloudpickle", "numpy", "pandas"]
    packages = {c.__module__.split(".", 1)[0] for c in type(pytorch_model).__mro__}
    if "lightning" in packages:  # a LightningModule unpickles only with Lightning installed
        libraries.append("lightning")
    elif "pytorch_lightning" in packages:
        libraries.append("pytorch-lightning")
    return libraries


def _as_array(example: Any) -> Any:
    """A tensor example as the ndarray pyfunc will be given."""
    detach = getattr(example, "detach", None)
    return detach().cpu().numpy() if callable(detach) else example


def log_model(
    pytorch_model: torch.nn.Module,
    name: str = "model",
    serialization_format: str = SERIALIZATION_FORMAT_PICKLE,
    init_kwargs: Mapping[str, Any] | None = None,
    pickle_module: Any = None,
    registered_model_name: str | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: Sequence[str] | str | None = None,
    extra_pip_requirements: Sequence[str] | str | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    metadata: dict[str, Any] | None = None,
) -> ModelInfo:
    """Log the module as a LoggedModel of the active run (one is started if none).

    Example:
        >>> info = cairn.pytorch.log_model(net, name="model", input_example=x[:5])
        >>> cairn.pyfunc.load_model(info.model_uri).predict(x)
    """
    from cairn.models.log_model import log_saved

    formats.check_format(serialization_format)

    return log_saved(
        FLAVOR_NAME,
        name,
        save_model,
        pytorch_model,
        registered_model_name,
        serialization_format=serialization_format,
        init_kwargs=init_kwargs,
        pickle_module=pickle_module,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        code_paths=code_paths,
        metadata=metadata,
    )


def load_model(
    model_uri: str | os.PathLike[str],
    dst_path: str | None = None,
    model_class: type | None = None,
    **kwargs: Any,
) -> torch.nn.Module:
    """The module itself (in eval mode), from any model URI.

    `model_class` (state-dict models) replaces the class the MLmodel names; `kwargs` go to
    `torch.load` (`map_location`, `pickle_module`, …). Without a GPU, weights load on CPU.

    Raises:
        PermissionDeniedError: a pickled module while CAIRN_ALLOW_PICKLE is false.
        InvalidParameterValueError: the class of a state-dict model cannot be imported, or
            the MLmodel names a path outside the model folder.
    """
    from cairn.pyfunc.pyfunc_model import add_code_to_path

    local = download_model(os.fspath(model_uri), dst_path)
    section = load_contained(local).flavor(FLAVOR_NAME)
    add_code_to_path(local, section.get("code"), f"{FLAVOR_NAME}.code")
    return load_module(local, section, model_class, kwargs)
