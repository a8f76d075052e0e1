"""The name the user's code gives a value, read from the calling frames, as MLflow does to
name post-training metrics after the data they were measured on (`accuracy_score_X_test`).

Going up from the caller, Cairn's own frames and frames that received the value as an
argument (a library's wrapper, a user's helper) pass it on; the first frame that holds it
otherwise names it: the variable that holds it there, or nobody (an expression such as
`model.predict(X[10:])`).
"""

from __future__ import annotations

import inspect
from types import FrameType
from typing import Any

UNKNOWN = "unknown_dataset"  # MLflow's name for data no variable holds


def variable_name(value: Any, fallback: str = UNKNOWN) -> str:
    """The variable that holds `value` in the nearest frame that did not receive it."""
    if value is None:
        return fallback
    frame = inspect.currentframe()
    try:
        frame = frame.f_back if frame is not None else None
        while frame is not None and (_cairns(frame) or _received(frame, value)):
            frame = frame.f_back
        if frame is None:
            return fallback
        for name, local in frame.f_locals.items():
            if local is value:
                return str(name)
        return fallback
    except Exception:  # an odd frame (a C extension's, a proxy's locals): no name
        return fallback
    finally:
        del frame


def _cairns(frame: FrameType) -> bool:
    module = str(frame.f_globals.get("__name__", ""))
    return module == "cairn" or module.startswith("cairn.")


def _received(frame: FrameType, value: Any) -> bool:
    arguments = inspect.getargvalues(frame)
    local = arguments.locals
    passed: list[Any] = [local.get(name) for name in arguments.args]
    if arguments.varargs:
        passed.extend(local.get(arguments.varargs) or ())
    if arguments.keywords:
        passed.extend((local.get(arguments.keywords) or {}).values())
    return any(item is value for item in passed)
