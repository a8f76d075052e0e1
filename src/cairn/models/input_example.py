"""An input example saved beside a model, in the two files MLflow writes.

`input_example.json` holds the example itself (a DataFrame in pandas' "split" orient, an
array as nested lists); `serving_input_example.json` holds the request body a scoring server
takes for it (`{"dataframe_split": …}` or `{"inputs": …}`), so the example doubles as a
ready-made test request. `saved_input_example_info` in MLmodel says which is which.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import numpy as np
import pandas as pd

from cairn.exceptions import InvalidParameterValueError
from cairn.models.containment import model_file

INPUT_EXAMPLE_FILE = "input_example.json"
SERVING_INPUT_FILE = "serving_input_example.json"


def save_example(model_dir: str, example: Any) -> dict[str, Any]:
    """Write both files; returns MLmodel's `saved_input_example_info`."""
    kind, stored, serving = _encode(example)
    _write_json(os.path.join(model_dir, INPUT_EXAMPLE_FILE), stored)
    _write_json(os.path.join(model_dir, SERVING_INPUT_FILE), serving, indent=2)
    info: dict[str, Any] = {"artifact_path": INPUT_EXAMPLE_FILE}
    if kind == "dataframe":
        info["pandas_orient"] = "split"
    info["serving_input_path"] = SERVING_INPUT_FILE
    info["type"] = kind
    return info


def _encode(example: Any) -> tuple[str, Any, dict[str, Any]]:
    """(type, what input_example.json holds, the serving request body)."""
    if isinstance(example, pd.Series):
        example = example.to_frame()
    if isinstance(example, list) and example and all(isinstance(r, dict) for r in example):
        example = pd.DataFrame.from_records(example)
    if isinstance(example, pd.DataFrame):
        split = json.loads(example.to_json(orient="split", index=False, date_format="iso"))
        return "dataframe", split, {"dataframe_split": split}
    if isinstance(example, np.ndarray):
        data = _plain(example)
        return "ndarray", data, {"inputs": data}
    if isinstance(example, dict) and all(isinstance(v, np.ndarray) for v in example.values()):
        arrays = {str(k): _plain(v) for k, v in example.items()}
        return "ndarray", arrays, {"inputs": arrays}
    if isinstance(example, (dict, list, str, int, float, bool)):
        data = _plain(example)
        return "json_object", data, {"inputs": data}
    raise InvalidParameterValueError(
        f"Cannot save an input example of type {type(example).__name__}: give a DataFrame, a "
        "numpy array, a dict or a list."
    )


def _plain(value: Any) -> Any:
    """JSON-ready data: arrays as lists, numpy scalars as Python ones, bytes as base64."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value] if value.dtype == object else value.tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    return value


def _write_json(path: str, data: Any, indent: int | None = None) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=indent)


def load_example(model_dir: str, info: dict[str, Any] | None) -> Any:
    """The saved example as the data it was (a DataFrame or array), or None if none."""
    if not info:
        return None
    where = "saved_input_example_info.artifact_path"
    path = model_file(model_dir, info.get("artifact_path"), where)
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    if info.get("type") == "dataframe":
        return pd.DataFrame(data["data"], columns=data["columns"])
    if info.get("type") == "ndarray":
        if isinstance(data, dict):
            return {k: np.asarray(v) for k, v in data.items()}
        return np.asarray(data)
    return data
