"""What a Trainer's training logs, in the form Cairn takes: its arguments as params (text,
cut to the param limit) and the numbers of its logs as metrics."""

from __future__ import annotations

import numbers
import os
import re
from collections.abc import Mapping
from typing import Any

from cairn.store.validation import MAX_PARAM_VALUE_LENGTH

LOG_MODEL_ENV = "CAIRN_TRANSFORMERS_LOG_MODEL"
MODEL_ARTIFACT_PATH = "model"
MODEL_CONFIG_FILE = "model_config.json"

# Characters a metric key may not hold become "_", as in transformers' MLflowCallback, so
# a key such as "eval_f1(macro)" is kept rather than refused.
_REFUSED_IN_KEYS = re.compile(r"[^0-9A-Za-z_\-. :/]")
_CUT_MARK = "..."


def params(arguments: Mapping[str, Any]) -> dict[str, str]:
    """Every argument as text; a value over the param limit is cut (with "..." at its end)
    rather than dropped, so that the run still says what it was."""
    return {key: _within_limit(str(value)) for key, value in arguments.items()}


def metrics(logs: Mapping[str, Any]) -> dict[str, float]:
    """The numbers of a trainer's log (a one-element tensor is one); text, lists and
    booleans are not metrics and are left out."""
    found: dict[str, float] = {}
    for key, value in logs.items():
        number = _number(value)
        if number is not None:
            found[_REFUSED_IN_KEYS.sub("_", str(key))] = number
    return found


def log_model_requested() -> bool:
    """Whether CAIRN_TRANSFORMERS_LOG_MODEL asks for the trained model to be logged."""
    return os.environ.get(LOG_MODEL_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _within_limit(text: str) -> str:
    if len(text) <= MAX_PARAM_VALUE_LENGTH:
        return text
    return text[: MAX_PARAM_VALUE_LENGTH - len(_CUT_MARK)] + _CUT_MARK


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    numel, item = getattr(value, "numel", None), getattr(value, "item", None)
    if callable(numel) and callable(item) and numel() == 1:  # a torch tensor, not imported
        return _number(item())
    return None
