"""How a module is written: the two serialization formats and the files of each.

- `"pickle"`: the whole module through `torch.save` with cloudpickle (classes of a script
  or notebook are captured too), in MLflow's layout, so the stock mlflow loads it. A
  TorchScript module is written as a TorchScript archive under the same name, as MLflow does.
- `"state_dict"`: only the weights; the class is recorded by name (`state_dict_class`).

`loading` reads both, and MLflow's `model.pt2` exports besides.
"""

from __future__ import annotations

import os
import types
from typing import TYPE_CHECKING, Any

from cairn.exceptions import InvalidParameterValueError

if TYPE_CHECKING:
    import torch

FLAVOR_NAME = "pytorch"  # the MLmodel section, MLflow's name
PICKLE = "pickle"
STATE_DICT = "state_dict"
SUPPORTED = (PICKLE, STATE_DICT)
DATA_DIR = "data"
MODEL_FILE = "model.pth"
STATE_DICT_FILE = "state_dict.pth"
EXPORTED_FILE = "model.pt2"  # MLflow's torch.export format: read, never written
PICKLE_MODULE_FILE = "pickle_module_info.txt"
# MLflow's cloudpickle module for torch.save: the name MLflow imports to unpickle the file.
PICKLE_MODULE_NAME = "mlflow.pytorch.pickle_module"


def check_format(serialization_format: str) -> None:
    """Refuse a format Cairn does not write, before anything is written."""
    if serialization_format not in SUPPORTED:
        raise InvalidParameterValueError(
            f"Unknown serialization_format {serialization_format!r}; use one of "
            f"{list(SUPPORTED)} (Cairn loads MLflow's 'pt2' models but does not write them)."
        )


def save_state_dict(pytorch_model: torch.nn.Module, data_dir: str) -> None:
    """The weights alone, as `state_dict.pth`: loading them runs no pickle."""
    import torch

    torch.save(pytorch_model.state_dict(), os.path.join(data_dir, STATE_DICT_FILE))


def save_whole(pytorch_model: torch.nn.Module, data_dir: str, pickle_module: Any) -> str:
    """The module (or TorchScript archive) as `model.pth`; returns the pickle module's name,
    which is recorded beside it as MLflow does."""
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
