"""How an estimator is described on its run: MLflow's tags, and its params as run params."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cairn.store.validation import MAX_PARAM_VALUE_LENGTH


def estimator_tags(estimator: Any) -> dict[str, str]:
    """`estimator_name` (`LogisticRegression`) and `estimator_class` (its full path)."""
    cls = type(estimator)
    return {"estimator_name": cls.__name__, "estimator_class": f"{cls.__module__}.{cls.__name__}"}


def param_values(params: Mapping[str, Any]) -> dict[str, str]:
    """Params as the strings a run stores; a value past the store's limit (a pipeline's
    `steps`, which print every step) is cut to it rather than refused."""
    return {str(key): str(value)[:MAX_PARAM_VALUE_LENGTH] for key, value in params.items()}
