"""Request bodies of MLflow's scoring protocol, parsed into a model's input.

`parse_request(body, content_type)` accepts what `mlflow models serve` accepts:

* `application/json` (a `charset=utf-8` parameter allowed): an object with exactly one of
  `dataframe_split` (`{"columns", "index"?, "data"}`), `dataframe_records` (a list of row
  objects), `instances` (TF-serving rows: a list of values, or of objects, one per row) or
  `inputs` (TF-serving columns: an object of arrays, or one array), and optionally
  `params` (an object, passed to `predict(..., params=...)`). Other top-level keys are
  ignored, as MLflow ignores them.
* `text/csv`: a header row, then one line per row (what `DataFrame.to_csv(index=False)` writes).
* `application/vnd.apache.parquet`, when pyarrow is installed (the `parquet` extra; without
  it, a 415 that names the extra).

The input is what MLflow hands the model for the same body: a DataFrame for the dataframe
formats, CSV and Parquet; a numpy array for a list of values; a dict of numpy arrays (one per
column) for `instances` objects and an `inputs` object (where a scalar stays a scalar: an
object of scalars is one row).

Any other content type raises `UnsupportedMediaTypeError` (HTTP 415); a body that does not
parse or does not have this shape raises `PayloadError` (HTTP 400, `BAD_REQUEST`), never
anything else.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import orjson
import pandas as pd

from cairn.exceptions import CairnError
from cairn.extras import MissingExtraError, require

JSON = "application/json"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_SPLIT_KEYS = {"columns", "index", "data"}
_LABEL_TYPES = (str, int, float)  # a column or row label; bool is an int


class PayloadError(CairnError):
    """The request body is not a valid scoring payload (the client's fault: 400)."""

    error_code = "BAD_REQUEST"
    http_status = 400


class UnsupportedMediaTypeError(CairnError):
    """The content type is not one the scoring server reads (415, as MLflow answers)."""

    error_code = "BAD_REQUEST"
    http_status = 415


@dataclass(frozen=True)
class ModelRequest:
    """What a scoring request asks for: the model input, and `params` for `predict`."""

    data: pd.DataFrame | np.ndarray | dict[str, Any]
    params: dict[str, Any] | None = None


def content_types() -> tuple[str, ...]:
    """The content types this installation reads (Parquet needs pyarrow)."""
    try:
        _require_pyarrow()
    except UnsupportedMediaTypeError:
        return (JSON, CSV)
    return (JSON, CSV, PARQUET)


def parse_request(body: bytes, content_type: str | None) -> ModelRequest:
    """The model input in `body`, read as `content_type` says (see the module docstring)."""
    mime_type = media_type(content_type)
    if mime_type == JSON:
        return parse_json(body)
    if mime_type == CSV:
        return ModelRequest(_frame_from(_read_csv, body, "CSV"))
    _require_pyarrow()
    return ModelRequest(_frame_from(_read_parquet, body, "Parquet"))


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type header, if the server reads it; else 415.

    Like MLflow, the only parameter allowed is `charset`, and it must be UTF-8."""
    mime_type, *parameters = (part.strip() for part in (content_type or "").split(";"))
    mime_type = mime_type.lower()
    if mime_type != PARQUET and mime_type not in content_types():
        raise UnsupportedMediaTypeError(
            f"This predictor only supports the following content types: "
            f"{', '.join(content_types())}. Got {content_type!r}."
        )
    for parameter in filter(None, parameters):  # "application/json;" has an empty one
        name, _, value = parameter.partition("=")
        if name.strip().lower() != "charset":
            raise UnsupportedMediaTypeError(f"Unrecognized content type parameter: {name!r}.")
        if value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise UnsupportedMediaTypeError("The scoring server only supports UTF-8.")
    return mime_type


# -- JSON ------------------------------------------------------------------------------------


def parse_json(body: bytes) -> ModelRequest:
    """A JSON scoring payload: exactly one input format, and optional `params`."""
    payload = _load_json(body)
    if not isinstance(payload, dict):
        raise PayloadError(
            f"The input must be a JSON object with exactly one of the fields {_formats()}; "
            f"got {_json_type(payload)}."
        )
    present = [key for key in FORMATS if key in payload]
    if len(present) != 1:
        raise PayloadError(
            f"The input must be a JSON object with exactly one of the fields {_formats()}; "
            f"got the fields {sorted(payload)}."
        )
    params = payload.get("params")
    if params is not None and not isinstance(params, dict):
        raise PayloadError(f"'params' must be a JSON object; got {_json_type(params)}.")
    key = present[0]
    return ModelRequest(_READERS[key](payload[key]), params)


def _load_json(body: bytes) -> Any:
    """orjson first; the standard library only if that fails, because MLflow's clients
    write NaN and Infinity as bare words (Python's json does), which orjson rejects."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError alike
        raise PayloadError(f"The input is not valid JSON: {error}") from None


def _dataframe_split(value: Any) -> pd.DataFrame:
    if not isinstance(value, dict):
        raise PayloadError(f"'dataframe_split' must be a JSON object; got {_json_type(value)}.")
    if "data" not in value or not set(value) <= _SPLIT_KEYS:
        raise PayloadError(
            "'dataframe_split' must have a 'data' field and optionally 'columns' and "
            f"'index'; got the fields {sorted(value)}."
        )
    rows, columns, index = value["data"], value.get("columns"), value.get("index")
    _check_list("dataframe_split.data", rows)
    for name, labels in (("columns", columns), ("index", index)):
        if labels is not None and not (
            isinstance(labels, list) and all(isinstance(x, _LABEL_TYPES) for x in labels)
        ):
            raise PayloadError(f"'dataframe_split.{name}' must be a list of names or numbers.")
    width = len(columns) if columns is not None else _row_width(rows[0])
    for number, row in enumerate(rows):
        if _row_width(row) != width:
            raise PayloadError(
                f"'dataframe_split.data' row {number} has {_row_width(row)} values; "
                f"expected {width}, one per column."
            )
    if index is not None and len(index) != len(rows):
        raise PayloadError(f"'dataframe_split.index' has {len(index)} labels for {len(rows)} rows.")
    return _frame("dataframe_split", rows, columns, index)


def _row_width(row: Any) -> int:
    if not isinstance(row, list):
        raise PayloadError(f"Each row of 'dataframe_split.data' must be a list; got {row!r}.")
    return len(row)


def _dataframe_records(value: Any) -> pd.DataFrame:
    _check_list("dataframe_records", value)
    if not all(isinstance(row, dict) for row in value):
        raise PayloadError("'dataframe_records' must be a list of JSON objects, one per row.")
    columns = list(value[0])
    if all(list(row) == columns for row in value):  # the usual case: every row alike
        return _frame("dataframe_records", [list(row.values()) for row in value], columns)
    return _build("dataframe_records", lambda: pd.DataFrame(value))


def _instances(value: Any) -> np.ndarray | dict[str, np.ndarray]:
    _check_list("instances", value)
    objects = [isinstance(row, dict) for row in value]
    if not any(objects):
        return _array("instances", value)
    if not all(objects):
        raise PayloadError("'instances' must hold either JSON objects or values, not both.")
    columns: dict[str, list[Any]] = {}
    for row in value:
        for name, cell in row.items():
            columns.setdefault(name, []).append(cell)
    lengths = {name: len(cells) for name, cells in columns.items()}
    if len(set(lengths.values())) > 1:
        raise PayloadError(
            f"Every object in 'instances' must have the same fields; values per field: {lengths}."
        )
    return {name: _array(f"instances.{name}", cells) for name, cells in columns.items()}


def _inputs(value: Any) -> np.ndarray | dict[str, Any]:
    if isinstance(value, dict):
        # A list is a column (or tensor); a scalar stays one, so an object of scalars is
        # one row, as MLflow reads it.
        return {
            name: _array(f"inputs.{name}", cells) if isinstance(cells, list) else cells
            for name, cells in value.items()
        }
    if isinstance(value, list):
        _check_list("inputs", value)
        return _array("inputs", value)
    raise PayloadError(f"'inputs' must be a JSON object or a list; got {_json_type(value)}.")


_READERS: dict[str, Callable[[Any], pd.DataFrame | np.ndarray | dict[str, Any]]] = {
    "dataframe_split": _dataframe_split,
    "dataframe_records": _dataframe_records,
    "instances": _instances,
    "inputs": _inputs,
}


def _check_list(name: str, value: Any) -> None:
    if not isinstance(value, list):
        raise PayloadError(f"'{name}' must be a list; got {_json_type(value)}.")
    if not value:
        raise PayloadError(f"'{name}' is empty: there is nothing to score.")


def _array(name: str, values: Any) -> np.ndarray:
    try:
        return np.asarray(values)
    except (ValueError, TypeError) as error:  # ragged nesting, mostly
        raise PayloadError(f"'{name}' is not a rectangular array: {error}") from None


def _frame(
    name: str, rows: list[list[Any]], columns: list[Any] | None, index: list[Any] | None = None
) -> pd.DataFrame:
    """The frame pandas builds from rows. When every cell is a float (the usual payload of
    a numeric model), a float64 array gives that same frame five times faster."""
    labels = _labels(columns)
    if all(type(cell) is float for row in rows for cell in row):
        array = np.array(rows, dtype=np.float64).reshape(len(rows), -1)
        return _build(name, lambda: pd.DataFrame(array, index=index, columns=labels))
    return _build(name, lambda: pd.DataFrame(rows, index=index, columns=labels))


def _labels(columns: list[Any] | None) -> pd.Index | list[Any] | None:
    """Column names as the Index pandas would make of them. Clients send the same names on
    every request, and building a string Index costs more than the rest of a one-row frame,
    so one is kept per list of names (a copy goes to each frame: Index.name can be set)."""
    if columns is None or not all(type(label) is str for label in columns):
        return columns  # 1 and 1.0 are equal keys but make different indexes: not cached
    return _string_index(tuple(columns)).copy()


@lru_cache(maxsize=64)
def _string_index(columns: tuple[str, ...]) -> pd.Index:
    return pd.Index(columns)


def _build(name: str, make: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    try:
        return make()
    except Exception as error:  # whatever pandas objects to in a client's data
        raise PayloadError(f"'{name}' is not a valid DataFrame: {error}") from None


def _formats() -> str:
    return ", ".join(FORMATS)


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


# -- CSV and Parquet -------------------------------------------------------------------------


def _read_csv(body: bytes) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(body.decode("utf-8")))


def _require_pyarrow() -> None:
    """pyarrow, which reads Parquet; without it a Parquet request is refused (415) with the
    extra to install, as the client cannot fix it by sending the same table again."""
    try:
        require("pyarrow", extra="parquet", needed_for="Scoring Parquet input")
    except MissingExtraError as missing:
        raise UnsupportedMediaTypeError(str(missing)) from None


def _read_parquet(body: bytes) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(body))


def _frame_from(read: Callable[[bytes], pd.DataFrame], body: bytes, kind: str) -> pd.DataFrame:
    """The table in `body`; any failure to read it is the client's (400)."""
    try:
        frame = read(body)
    except Exception as error:  # pandas, pyarrow and the codec each raise their own types
        raise PayloadError(f"The input is not a valid {kind} table: {error}") from None
    if frame.empty:
        raise PayloadError(f"The {kind} input has no rows: there is nothing to score.")
    return frame
