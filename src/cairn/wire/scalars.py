"""The scalars of MLflow's proto JSON: doubles, int64s, ids and enums.

JSON has no NaN or infinity, so MLflow spells them "NaN", "Infinity" and "-Infinity"; int64
fields may arrive as numbers or as strings; ids are strings, numbers accepted; enums come as
names or proto numbers. Readers here are liberal in what they accept, as MLflow's server is,
and refuse anything else with MLflow's message.
"""

from __future__ import annotations

import math
from typing import Any

from cairn.entities import RunStatus, ViewType
from cairn.exceptions import InvalidParameterValueError

_SPECIAL_DOUBLES = {
    "nan": math.nan,
    "infinity": math.inf,
    "-infinity": -math.inf,
    "inf": math.inf,
    "-inf": -math.inf,
}


def ascii_digits(text: str) -> bool:
    """Whether `text` is one or more of 0-9. `str.isdigit` also takes other scripts' digits
    ("٢", "¹"), which `int` reads or rejects: ids must not be spelled two ways."""
    return text.isascii() and text.isdigit()


def _invalid(name: str, value: Any) -> InvalidParameterValueError:
    return InvalidParameterValueError(f"Invalid value {value!r} for parameter '{name}'.")


def encode_double(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def parse_double(name: str, value: Any) -> float:
    """A double as a client or server wrote it: a number, or one of the special strings."""
    if isinstance(value, bool):
        raise _invalid(name, value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        special = _SPECIAL_DOUBLES.get(value.strip().lower())
        if special is not None:
            return special
        if value.isascii() and "_" not in value:  # `float` also reads "١٫٥" and "1_0"
            try:
                return float(value)
            except ValueError:
                pass
    raise _invalid(name, value)


def parse_int(name: str, value: Any) -> int:
    """int64 fields arrive as JSON numbers or as strings (proto JSON allows both)."""
    if isinstance(value, bool):
        raise _invalid(name, value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if ascii_digits(text[1:] if text[:1] in ("-", "+") else text):
            return int(text)
    raise _invalid(name, value)


def parse_id(name: str, value: Any) -> str:
    """A numeric id (experiment ids are strings of 0-9 in MLflow's JSON; numbers are
    accepted too). "" is proto's unset string, left for the caller to require."""
    if isinstance(value, str) and (value == "" or ascii_digits(value)):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise _invalid(name, value)


def parse_ids(name: str, values: list[Any]) -> list[str]:
    """A repeated id field (`experiment_ids`), each a string or a number."""
    return [parse_id(f"{name}[{i}]", v) for i, v in enumerate(values)]


def parse_version(name: str, value: Any) -> str:
    """A model version: a string on MLflow's wire, a number accepted too."""
    return parse_id(name, value)


def parse_strings(name: str, values: list[Any]) -> list[str]:
    """A repeated string field (`order_by`)."""
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise _invalid(f"{name}[{i}]", value)
    return values


def _enum_number(value: Any) -> Any:
    """Proto JSON gives enums as names or numbers; a number may also arrive as a string."""
    if isinstance(value, str) and ascii_digits(value.strip()):
        return int(value)
    return value


def parse_run_status(value: Any) -> RunStatus:
    """`RunStatus` by name ("FINISHED") or proto number (3)."""
    return RunStatus.parse(_enum_number(value))


def parse_view_type(name: str, value: Any) -> ViewType:
    """`ViewType` by name ("ACTIVE_ONLY", "DELETED_ONLY", "ALL") or proto number (1, 2, 3)."""
    value = _enum_number(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if value in {v.value for v in ViewType}:
            return ViewType(value)
    elif isinstance(value, str) and value.upper() in ViewType.__members__:
        return ViewType[value.upper()]
    raise InvalidParameterValueError(
        f"Invalid value {value!r} for parameter '{name}': expected ACTIVE_ONLY, DELETED_ONLY "
        "or ALL."
    )
