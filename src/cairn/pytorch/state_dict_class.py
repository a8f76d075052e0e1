"""A state-dict model's class, recorded by name so the model can be rebuilt from weights.

The MLmodel keeps `model_class: "module:qualname"` and `init_kwargs` (the constructor's
keyword arguments; a LightningModule's saved hyperparameters by default). Saving refuses a
class that cannot be imported by that name, so the failure comes when the model is saved,
not when someone tries to load it.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cairn.exceptions import InvalidParameterValueError

if TYPE_CHECKING:
    import torch


def class_path(pytorch_model: torch.nn.Module) -> str:
    """The model's class as "module:qualname", refused unless importable by that name."""
    cls = type(pytorch_model)
    where = f"{cls.__module__}:{cls.__qualname__}"
    why = None
    if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        why = "it is defined in a script's __main__ or inside a function"
    else:
        try:
            found = import_class(where)
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


def import_class(where: str) -> type:
    """The class a "module:qualname" names."""
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


def init_kwargs(pytorch_model: Any, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """The constructor's arguments: given, or a LightningModule's saved hyperparameters;
    JSON-able, as the MLmodel records them."""
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
