"""A model's output as the scoring server's JSON reply: `{"predictions": ...}`.

The shapes are MLflow's (`pyfunc.scoring_server.predictions_to_json`), so a client gets the
same JSON from `cairn models serve` as from `mlflow models serve`:

* a DataFrame: a list of records, one object per row;
* a Series: a list of one-field records too (`{"<name>": value}`, `"0"` when unnamed), as
  MLflow turns a Series into a one-column DataFrame first;
* a numpy array: nested lists; a dict: an object of the same keys (arrays as lists);
* NaN and ±infinity: the bare words `NaN`, `Infinity`, `-Infinity`, as Python's json and
  MLflow write them (not strict JSON; Python clients, pandas and MLflow read them).

orjson writes the reply, numpy arrays straight from their buffers. It would write NaN as
`null`, so output holding a non-finite float goes through the standard library instead
(slower, and only then).
"""

from __future__ import annotations

import base64
import datetime
import json
import math
from typing import Any

import numpy as np
import orjson
import pandas as pd

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def encode_predictions(raw: object) -> bytes:
    """`{"predictions": raw}` as UTF-8 JSON bytes."""
    predictions = _jsonable(raw)
    if _has_non_finite(predictions):
        text = json.dumps({"predictions": predictions}, default=_default, allow_nan=True)
        return text.encode()
    return orjson.dumps({"predictions": predictions}, default=_default, option=_OPTIONS)


def _jsonable(raw: object) -> object:
    """MLflow's `_get_jsonable_obj`: frames to records; everything else as it is."""
    if isinstance(raw, pd.DataFrame):
        return raw.to_dict(orient="records")
    if isinstance(raw, pd.Series):
        return raw.to_frame().to_dict(orient="records")
    if isinstance(raw, dict):
        return {key: _jsonable(value) for key, value in raw.items()}
    return raw


def _has_non_finite(value: object) -> bool:
    """Whether a NaN or an infinity is anywhere in `value` (vectorised for float arrays)."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fc":
            return not bool(np.isfinite(value).all())
        return value.dtype == object and _has_non_finite(value.tolist())
    if isinstance(value, (list, tuple)):
        return any(_has_non_finite(item) for item in value)
    if isinstance(value, dict):
        return any(_has_non_finite(item) for item in value.values())
    if isinstance(value, np.generic):
        return _has_non_finite(value.item())
    return False


def _default(value: Any) -> Any:
    """What orjson (or json) cannot write itself, as MLflow's NumpyEncoder writes it."""
    if isinstance(value, np.ndarray):
        return value.tolist()  # object and string arrays, or arrays orjson does not read
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (bytes, bytearray)):
        return base64.encodebytes(value).decode("ascii")
    if isinstance(value, (pd.Timestamp, datetime.date, datetime.time)):
        return value.isoformat()
    raise TypeError(f"Predictions of type {type(value).__name__} cannot be written as JSON.")
