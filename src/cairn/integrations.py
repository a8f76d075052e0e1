"""`cairn.autolog()`: every integration whose library is installed, turned on in one call
(MLflow's `mlflow.autolog`).

A library is patched when it is imported, not here: turning autologging on costs nothing
for the libraries a script never uses. The switches are MLflow's; each integration takes
those it knows (`log_models`, `exclusive`, …) with its own defaults for the rest.
"""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cairn import lightgbm, pytorch, sklearn, transformers, xgboost
from cairn.autologging import switch

# (the integration's name, the libraries that turn it on, its autolog)
INTEGRATIONS: tuple[tuple[str, tuple[str, ...], Callable[..., Any]], ...] = (
    ("sklearn", ("sklearn",), sklearn.autolog),
    ("xgboost", ("xgboost",), xgboost.autolog),
    ("lightgbm", ("lightgbm",), lightgbm.autolog),
    ("pytorch", ("lightning", "pytorch_lightning"), pytorch.autolog),
    ("transformers", ("transformers",), transformers.autolog),
)


def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    extra_tags: Mapping[str, str] | None = None,
    exclusion_flavors: Iterable[str] | None = None,
) -> list[str]:
    """Turn on (or with `disable=True` off) autologging for every installed library that
    Cairn integrates: scikit-learn, XGBoost, LightGBM, PyTorch Lightning and transformers,
    except those named in `exclusion_flavors`. Returns the integrations it turned on or off.

    Example:
        >>> cairn.autolog()
        >>> RandomForestClassifier().fit(x, y)  # a run with params, metrics and the model
    """
    switches = {name: value for name, value in locals().items() if name in switch.SWITCHES}
    excluded = set(exclusion_flavors or ())
    done = []
    for name, libraries, integration in INTEGRATIONS:
        if name in excluded or not any(_installed(library) for library in libraries):
            continue
        known = inspect.signature(integration).parameters
        integration(**{k: v for k, v in switches.items() if k in known})
        done.append(name)
    return done


def _installed(library: str) -> bool:
    try:
        return importlib.util.find_spec(library) is not None
    except (ImportError, ValueError):  # a broken install, or a module without a spec
        return False
