"""The scalars of MLflow's proto JSON, shared by the server and the HTTP client.

JSON has no NaN or infinity, so MLflow spells them "NaN", "Infinity" and "-Infinity"; int64
fields may arrive as numbers or as strings.
"""

from __future__ import annotations

import math
from typing import Any

from cairn.exceptions import InvalidParameterValueError

_SPECIAL_DOUBLES = {
    "nan": math.nan,
    "infinity": math.inf,
    "-infinity": -math.inf,
    "inf": math.inf,
    "-inf": -math.inf,
}


def encode_double(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def parse_double(name: str, value: Any) -> float:
    """A double as a client or server wrote it: a number, or one of the special strings."""
    if isinstance(value, bool):
        raise InvalidParameterValueError(f"Invalid value {value!r} for parameter '{name}'.")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        special = _SPECIAL_DOUBLES.get(value.strip().lower())
        if special is not None:
            return special
        try:
            return float(value)
        except ValueError:
            pass
    raise InvalidParameterValueError(f"Invalid value {value!r} for parameter '{name}'.")


def parse_int(name: str, value: Any) -> int:
    """int64 fields arrive as JSON numbers or as strings (proto JSON allows both)."""
    if isinstance(value, bool):
        raise InvalidParameterValueError(f"Invalid value {value!r} for parameter '{name}'.")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise InvalidParameterValueError(f"Invalid value {value!r} for parameter '{name}'.")
