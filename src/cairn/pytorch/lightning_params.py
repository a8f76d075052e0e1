"""Training settings as run params, the way Lightning's loggers and MLflow name them.

Shared by `autolog()` and `CairnLogger`: nested hyperparameters become `outer/inner` keys,
values are cut to the store's length limit, and a param the run already has is left as it
is (the store refuses to change one, and training must not stop for it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cairn.store.validation import MAX_PARAM_VALUE_LENGTH
from cairn.tracking import fluent


def log_params(run_id: str, params: Mapping[str, Any]) -> None:
    """Log the params the run does not have yet (a value the user logged is kept)."""
    existing = fluent.current_client().get_run(run_id).data.params
    fresh = {key: param_text(value) for key, value in params.items() if key not in existing}
    if fresh:
        fluent.run_write("log_batch", run_id=run_id, params=fresh)


def param_text(value: Any) -> str:
    """A value as the store keeps it: text, at most its longest."""
    return str(value)[:MAX_PARAM_VALUE_LENGTH]


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as `outer/inner` keys, as Lightning's loggers name them."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}/"))
        else:
            flat[name] = value
    return flat


def optimizer_params(optimizer: Any) -> dict[str, Any]:
    """`optimizer_name` and the optimizer's settings as its first param group has them."""
    inner = getattr(optimizer, "_optimizer", optimizer)  # a LightningOptimizer wraps one
    params: dict[str, Any] = {"optimizer_name": type(inner).__name__}
    defaults = dict(getattr(inner, "defaults", None) or {})
    groups = getattr(inner, "param_groups", None) or [{}]
    for key, value in defaults.items():
        params[key] = groups[0].get(key, value)
    return params
