"""Reading a saved module back, in whichever format it was written, and what may run.

A pickled module runs code from the file when it is read, so `CAIRN_ALLOW_PICKLE` is
checked first (`cairn.models.trust`); so is MLflow's `model.pt2` (`torch.export`), whose
constants may be pickled. A TorchScript archive and a state dict run no Python from the
file and need no permission. Cairn never imports a pickle module because a file names it.
"""

from __future__ import annotations

import os
import zipfile
from typing import TYPE_CHECKING, Any

from cairn.exceptions import InvalidParameterValueError
from cairn.models.containment import model_file
from cairn.models.trust import check_pickle_allowed
from cairn.pytorch.formats import (
    EXPORTED_FILE,
    FLAVOR_NAME,
    MODEL_FILE,
    PICKLE_MODULE_FILE,
    PICKLE_MODULE_NAME,
    STATE_DICT_FILE,
)
from cairn.pytorch.state_dict_class import import_class

if TYPE_CHECKING:
    import torch

# Pickle modules whose files the standard unpickler reads (cloudpickle writes plain pickle).
_STANDARD_UNPICKLED = frozenset({PICKLE_MODULE_NAME, "cloudpickle", "pickle"})


def load_module(
    model_dir: str, section: dict[str, Any], model_class: type | None, kwargs: dict[str, Any]
) -> torch.nn.Module:
    """The module the `pytorch` flavor `section` describes, in eval mode (an exported
    program's module as torch.export gives it). `kwargs` go to `torch.load`."""
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
            model_class = import_class(where)
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
