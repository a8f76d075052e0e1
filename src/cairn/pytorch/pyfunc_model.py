"""pyfunc's view of a PyTorch module: a table or array in, one tensor through the module.

A DataFrame is read as float32, an ndarray as it is; floating input is cast to the dtype the
module computes in, and the output comes back as a DataFrame (same index) for a DataFrame,
else as an ndarray. The device is the one the pyfunc section's `config` names (MLflow's
model_config), else the GPU if any, else the CPU.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from cairn.exceptions import InvalidParameterValueError
from cairn.models.containment import load_contained
from cairn.models.flavor import PYFUNC_FLAVOR, PredictImplementation
from cairn.pytorch.formats import FLAVOR_NAME
from cairn.pytorch.loading import load_module

if TYPE_CHECKING:
    import torch

    from cairn.models.model import Model


class TorchPredictor:
    """A module behind pyfunc's `predict(data, params)`; `params` go to its `forward`."""

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


def device_of(module: torch.nn.Module) -> str:
    """Where the module's parameters are (the CPU for a module without any)."""
    first = next(iter(module.parameters()), None)
    return str(first.device) if first is not None else "cpu"


def pyfunc_implementation(model_dir: str, model: Model) -> PredictImplementation:
    """The loader for `cairn.pytorch` and `mlflow.pytorch` pyfunc models."""
    import torch

    config = model.flavor(PYFUNC_FLAVOR).get("config") or {}
    device = config.get("device") if isinstance(config, dict) else None
    device = str(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    module = load_module(model_dir, model.flavor(FLAVOR_NAME), None, {"map_location": device})
    return TorchPredictor(module.to(device), device)


def load_pyfunc(path: str, model_config: dict[str, Any] | None = None) -> PredictImplementation:
    """MLflow's loader entry point for Cairn's state-dict models (`loader_module:
    cairn.pytorch`, which exposes it as `_load_pyfunc`): `path` is the model's `data`
    folder or the model folder."""
    model_dir = path if os.path.exists(os.path.join(path, "MLmodel")) else os.path.dirname(path)
    return pyfunc_implementation(model_dir, load_contained(model_dir))
