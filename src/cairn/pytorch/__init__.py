"""The PyTorch flavor (MLflow's `mlflow.pytorch`), and PyTorch Lightning logging.

A model is saved one of three ways (`serialization_format`):

- `"pickle"` (the default): the whole `nn.Module` through `torch.save`, pickled with
  cloudpickle, so classes defined in a script or notebook are captured too. The layout is
  MLflow's (`data/model.pth`, `data/pickle_module_info.txt`, flavor keys `model_data`,
  `pytorch_version`, `code`, pyfunc `loader_module: mlflow.pytorch`), so the stock mlflow
  loads it without Cairn, and Cairn loads MLflow's. The recorded pickle module is MLflow's
  name for cloudpickle (`mlflow.pytorch.pickle_module`): the one MLflow unpickles such a
  file with; Cairn reads it with the standard unpickler and imports nothing it names.
  A TorchScript module (`torch.jit.script(...)`) is saved the same way, as a TorchScript
  archive, as MLflow does; loading that runs no Python from the file.
- `"state_dict"`: only the weights (`data/state_dict.pth`) and the class, recorded as
  `model_class: "module:qualname"` (with `init_kwargs` for its constructor; a
  LightningModule's saved hyperparameters by default). Loading reads the weights with
  `weights_only=True`, so no pickle runs; the class must be importable where the model is
  loaded (installed, or shipped with `code_paths`). MLflow has no loader for this format:
  its pyfunc `loader_module` is `cairn.pytorch`.

Loading a pickled module runs code from the file: Cairn checks `CAIRN_ALLOW_PICKLE` first
(`cairn.models.trust`). Models MLflow exported as `model.pt2` (`torch.export`) load too, under
the same check. pyfunc predicts on a DataFrame (as float32) or an ndarray, feeds the module
one tensor, and returns its output as a DataFrame (for a DataFrame input) or an ndarray.

`CairnLogger` (a Lightning `Logger`) and `autolog()` (Lightning's `Trainer.fit`) log
training; neither imports torch or Lightning until used.
"""

from __future__ import annotations

import importlib
import json
import os
import types
import zipfile
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cairn.exceptions import InvalidParameterValueError
from cairn.models import directory, requirements
from cairn.models.containment import load_contained, model_file
from cairn.models.flavor import PYFUNC_FLAVOR, PredictImplementation
from cairn.models.model import Model
from cairn.models.trust import check_pickle_allowed
from cairn.pytorch.autologging import autolog
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

FLAVOR_NAME = "pytorch"
# MLflow's loader, so that MLflow loads whole models without Cairn (Cairn maps it here).
LOADER_MODULE = "mlflow.pytorch"
# State-dict models: MLflow has no such format, so only Cairn's loader reads them.
CAIRN_LOADER_MODULE = "cairn.pytorch"
SERIALIZATION_FORMAT_PICKLE = "pickle"
SERIALIZATION_FORMAT_STATE_DICT = "state_dict"
SUPPORTED_SERIALIZATION_FORMATS = (SERIALIZATION_FORMAT_PICKLE, SERIALIZATION_FORMAT_STATE_DICT)
DATA_DIR = "data"
MODEL_FILE = "model.pth"
STATE_DICT_FILE = "state_dict.pth"
EXPORTED_FILE = "model.pt2"
PICKLE_MODULE_FILE = "pickle_module_info.txt"
# MLflow's cloudpickle module for torch.save: the name MLflow imports to unpickle the file.
PICKLE_MODULE_NAME = "mlflow.pytorch.pickle_module"
# Pickle modules whose files the standard unpickler reads (cloudpickle writes plain pickle).
_STANDARD_UNPICKLED = frozenset({PICKLE_MODULE_NAME, "cloudpickle", "pickle"})


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
    _check_format(serialization_format)
    state_dict = serialization_format == SERIALIZATION_FORMAT_STATE_DICT
    class_path = _class_path(pytorch_model) if state_dict else None
    arguments = _init_kwargs(pytorch_model, init_kwargs) if state_dict else None
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
        torch.save(pytorch_model.state_dict(), os.path.join(data_dir, STATE_DICT_FILE))
        section.update(model_class=class_path, init_kwargs=arguments)
        pyfunc = directory.pyfunc_section(CAIRN_LOADER_MODULE, code, data=DATA_DIR)
    else:
        module_name = _save_whole(pytorch_model, data_dir, pickle_module)
        pyfunc = directory.pyfunc_section(
            LOADER_MODULE,
            code,
            data=DATA_DIR,
            pickle_module_name=module_name,
            config={"device": None},  # MLflow's pyfunc model_config, under its key
        )
    model.add_flavor(PYFUNC_FLAVOR, **pyfunc)
    model.add_flavor(FLAVOR_NAME, **section)
    wrapper = _TorchImplementation(pytorch_model, _device_of(pytorch_model))
    return directory.finish(
        model_dir,
        model,
        signature=signature,
        input_example=_as_array(input_example),
        predict=wrapper.predict,
        requirement_lines=lines,
    )


def _check_format(serialization_format: str) -> None:
    if serialization_format not in SUPPORTED_SERIALIZATION_FORMATS:
        raise InvalidParameterValueError(
            f"Unknown serialization_format {serialization_format!r}; use one of "
            f"{list(SUPPORTED_SERIALIZATION_FORMATS)} (Cairn loads MLflow's 'pt2' models but "
            "does not write them)."
        )


def _save_whole(pytorch_model: torch.nn.Module, data_dir: str, pickle_module: Any) -> str:
    """The module (or TorchScript archive) as `model.pth`; returns the pickle module's name."""
    import torch

    name = PICKLE_MODULE_NAME if pickle_module is None else str(pickle_module.__name__)
    with open(os.path.join(data_dir, PICKLE_MODULE_FILE), "w", encoding="utf-8") as handle:
        handle.write(name)
    target = os.path.join(data_dir, MODEL_FILE)
    if isinstance(pytorch_model, torch.jit.ScriptModule):
        torch.jit.save(pytorch_model, target)
    else:
        torch.save(pytorch_model, target, pickle_module=pickle_module or _cloudpickle_module())
    return name


def _cloudpickle_module() -> Any:
    """What torch.save needs of a pickle module, with cloudpickle's pickler (by-value
    classes and functions of `__main__`); its output is read by the standard unpickler."""
    import pickle

    import cloudpickle

    return types.SimpleNamespace(
        __name__=PICKLE_MODULE_NAME, Pickler=cloudpickle.CloudPickler, Unpickler=pickle.Unpickler
    )


def _class_path(pytorch_model: torch.nn.Module) -> str:
    """The model's class as "module:qualname", refused unless importable by that name."""
    cls = type(pytorch_model)
    where = f"{cls.__module__}:{cls.__qualname__}"
    why = None
    if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        why = "it is defined in a script's __main__ or inside a function"
    else:
        try:
            found = _import_class(where)
        except InvalidParameterValueError as error:
            why = error.message
        else:
            if found is not cls:
                why = f"{where} names another object"
    if why is not None:
        raise InvalidParameterValueError(
            f"serialization_format='state_dict' records the model's class by name, and "
            f"{cls.__qualname__} cannot be imported by name: {why}. Define it in an importable "
            "module (shipped with code_paths=[...] if need be), or use "
            "serialization_format='pickle', which saves the class with the model."
        )
    return where


def _import_class(where: str) -> type:
    module_name, _, qualname = where.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError, ValueError) as error:
        raise InvalidParameterValueError(
            f"the model class {where!r} cannot be imported here ({type(error).__name__}: {error})"
        ) from None
    if not isinstance(found, type):
        raise InvalidParameterValueError(f"{where!r} is not a class")
    return found


def _init_kwargs(pytorch_model: Any, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """The constructor's arguments: given, or a LightningModule's saved hyperparameters."""
    hparams = getattr(pytorch_model, "hparams", None)
    arguments = dict(given) if given is not None else dict(hparams or {})
    try:
        json.dumps(arguments)
    except (TypeError, ValueError) as error:
        source = "init_kwargs" if given is not None else "the model's hparams"
        raise InvalidParameterValueError(
            f"{source} must be JSON-able to be recorded in MLmodel ({error}); pass "
            "init_kwargs={...} with plain values."
        ) from None
    return arguments


def _default_requirements(pytorch_model: Any) -> list[str]:
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
    from cairn.models.log_model import log_model as log_any

    _check_format(serialization_format)

    def save(path: str, mlflow_model: Model) -> None:
        save_model(
            pytorch_model,
            path,
            serialization_format=serialization_format,
            init_kwargs=init_kwargs,
            pickle_module=pickle_module,
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            code_paths=code_paths,
            metadata=metadata,
            mlflow_model=mlflow_model,
        )

    return log_any(FLAVOR_NAME, name, save, registered_model_name)


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
    return _load(local, section, model_class, kwargs)


def _load(
    model_dir: str, section: dict[str, Any], model_class: type | None, kwargs: dict[str, Any]
) -> torch.nn.Module:
    import torch

    if "map_location" not in kwargs and not torch.cuda.is_available():
        kwargs["map_location"] = "cpu"
    data_dir = model_file(model_dir, section.get("model_data"), f"{FLAVOR_NAME}.model_data")
    if section.get("model_class") is not None:
        module = _load_state_dict_model(data_dir, section, model_class, kwargs)
    elif os.path.exists(os.path.join(data_dir, MODEL_FILE)):
        module = _load_whole(data_dir, kwargs)
    elif os.path.exists(os.path.join(data_dir, EXPORTED_FILE)):
        exported = os.path.join(data_dir, EXPORTED_FILE)
        check_pickle_allowed(exported)  # an exported program's constants may be pickled
        loaded: torch.nn.Module = torch.export.load(exported).module()
        return loaded
    else:
        raise InvalidParameterValueError(
            f"The model at {model_dir} has no {MODEL_FILE}, {STATE_DICT_FILE} or "
            f"{EXPORTED_FILE} in {section.get('model_data')!r}."
        )
    module.eval()
    return module


def _load_whole(data_dir: str, kwargs: dict[str, Any]) -> torch.nn.Module:
    import torch

    path = os.path.join(data_dir, MODEL_FILE)
    if _is_torchscript(path):  # TorchScript: no Python pickle, so no permission needed
        kwargs.pop("pickle_module", None)
        location = kwargs.get("map_location")
        scripted: torch.nn.Module = torch.jit.load(path, map_location=location)  # type: ignore[no-untyped-call]
        return scripted
    check_pickle_allowed(path)
    if "pickle_module" not in kwargs:
        kwargs["pickle_module"] = _unpickler_for(data_dir)
    kwargs["weights_only"] = False
    module = torch.load(path, **kwargs)
    if not isinstance(module, torch.nn.Module):
        raise InvalidParameterValueError(
            f"{path} holds a {type(module).__name__}, not a torch.nn.Module."
        )
    return module


def _is_torchscript(path: str) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("/constants.pkl") for name in archive.namelist())


def _unpickler_for(data_dir: str) -> Any:
    """The pickle module to read `model.pth` with. Cairn does not import a module because a
    file names it: the known cloudpickle and pickle names read with the standard one."""
    import pickle

    info = os.path.join(data_dir, PICKLE_MODULE_FILE)
    if not os.path.exists(info):
        return pickle
    with open(info, encoding="utf-8") as handle:
        name = handle.read().strip()
    if name in _STANDARD_UNPICKLED:
        return pickle
    raise InvalidParameterValueError(
        f"The model was pickled with {name!r}, which Cairn does not import on a model "
        f"file's say; if you trust it, pass load_model(..., pickle_module=<that module>)."
    )


def _load_state_dict_model(
    data_dir: str, section: dict[str, Any], model_class: type | None, kwargs: dict[str, Any]
) -> torch.nn.Module:
    import torch

    where = str(section.get("model_class"))
    if model_class is None:
        try:
            model_class = _import_class(where)
        except InvalidParameterValueError as error:
            raise InvalidParameterValueError(
                f"This state-dict model is rebuilt from its class, and {error.message}. "
                "Install the package that defines it, save the model with code_paths=[...], "
                "or pass load_model(..., model_class=<the class>)."
            ) from None
    if not issubclass(model_class, torch.nn.Module):
        raise InvalidParameterValueError(f"{where!r} is not a torch.nn.Module subclass.")
    arguments = section.get("init_kwargs") or {}
    if not isinstance(arguments, dict):
        raise InvalidParameterValueError("MLmodel's pytorch.init_kwargs is not a mapping.")
    module = model_class(**arguments)
    kwargs.pop("pickle_module", None)
    kwargs["weights_only"] = True  # tensors and plain containers only: nothing runs
    module.load_state_dict(torch.load(os.path.join(data_dir, STATE_DICT_FILE), **kwargs))
    return module


def _device_of(module: torch.nn.Module) -> str:
    first = next(iter(module.parameters()), None)
    return str(first.device) if first is not None else "cpu"


class _TorchImplementation:
    """pyfunc's view: a DataFrame (as float32) or ndarray in, one tensor through the module,
    its output back as a DataFrame (same index) or an ndarray."""

    def __init__(self, raw_model: torch.nn.Module, device: str) -> None:
        self.raw_model = raw_model
        self.device = device

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        import numpy as np
        import pandas as pd
        import torch

        if isinstance(data, pd.DataFrame):
            values = data.to_numpy(dtype=np.float32)
        elif isinstance(data, np.ndarray):
            values = data
        else:
            raise InvalidParameterValueError(
                f"The PyTorch flavor predicts on a pandas DataFrame or a numpy ndarray, not "
                f"{type(data).__name__}."
            )
        tensor = torch.from_numpy(np.ascontiguousarray(values)).to(self.device)
        if tensor.is_floating_point():
            tensor = tensor.to(_float_dtype(self.raw_model))
        with torch.no_grad():
            output = self.raw_model(tensor, **(params or {}))
        if not isinstance(output, torch.Tensor):
            raise InvalidParameterValueError(
                f"pyfunc expects the module to return one tensor; it returned "
                f"{type(output).__name__}."
            )
        result = output.detach().cpu().numpy()
        if isinstance(data, pd.DataFrame):
            return pd.DataFrame(result, index=data.index)
        return result


def _float_dtype(module: torch.nn.Module) -> torch.dtype:
    """The dtype the module computes in (its first floating parameter's), float32 if none."""
    import torch

    for parameter in module.parameters():
        if parameter.is_floating_point():
            return parameter.dtype
    return torch.float32


def pyfunc_implementation(model_dir: str, model: Model) -> PredictImplementation:
    """The loader for `cairn.pytorch` and `mlflow.pytorch` pyfunc models: on the device the
    pyfunc section's `config` names (MLflow's model_config), else the GPU if any, else CPU."""
    import torch

    config = model.flavor(PYFUNC_FLAVOR).get("config") or {}
    device = config.get("device") if isinstance(config, dict) else None
    device = str(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    module = _load(model_dir, model.flavor(FLAVOR_NAME), None, {"map_location": device})
    return _TorchImplementation(module.to(device), device)


def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None) -> PredictImplementation:
    """MLflow's loader entry point for Cairn's state-dict models (`loader_module:
    cairn.pytorch`): `path` is the model's `data` folder or the model folder."""
    model_dir = path if os.path.exists(os.path.join(path, "MLmodel")) else os.path.dirname(path)
    return pyfunc_implementation(model_dir, load_contained(model_dir))
