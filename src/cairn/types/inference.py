"""Schemas inferred from example data (the work behind `infer_signature`).

Follows MLflow's choices so a signature reads the same whichever tool wrote it: a DataFrame
or Series gives named columns, a numpy array gives one tensor whose first dimension is -1
(any batch size), a dict of arrays gives named tensors, and other dicts and lists give
columns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cairn.exceptions import InvalidParameterValueError
from cairn.types.schema import ColSpec, DataType, ParamSchema, ParamSpec, Schema, TensorSpec


def infer_schema(data: Any) -> Schema:
    """The schema of one example (an input or an output)."""
    if isinstance(data, pd.DataFrame):
        return Schema([ColSpec(column_type(data[c]), str(c)) for c in data.columns])
    if isinstance(data, pd.Series):
        name = None if data.name is None else str(data.name)
        return Schema([ColSpec(column_type(data), name)])
    if isinstance(data, np.ndarray):
        return Schema([tensor_spec(data)])
    if isinstance(data, dict):
        return _dict_schema(data)
    if isinstance(data, list):
        return _list_schema(data)
    if isinstance(data, (str, bytes, bool, int, float)):
        return Schema([ColSpec(value_type(data))])
    raise InvalidParameterValueError(
        f"Cannot infer a signature from {type(data).__name__}: give a pandas DataFrame or "
        "Series, a numpy array, a dict or a list."
    )


def tensor_spec(array: np.ndarray[Any, Any], name: str | None = None) -> TensorSpec:
    shape = (-1, *array.shape[1:]) if array.ndim else ()
    return TensorSpec(array.dtype.name if array.dtype != object else "object", shape, name)


def _dict_schema(data: dict[Any, Any]) -> Schema:
    if data and all(isinstance(v, np.ndarray) for v in data.values()):
        return Schema([tensor_spec(v, str(k)) for k, v in data.items()])
    specs = []
    for key, value in data.items():
        if isinstance(value, (list, np.ndarray, pd.Series)):
            specs.append(ColSpec(column_type(pd.Series(value)), str(key)))
        else:
            specs.append(ColSpec(value_type(value), str(key)))
    return Schema(specs)


def _list_schema(data: list[Any]) -> Schema:
    if not data:
        raise InvalidParameterValueError("Cannot infer a signature from an empty list.")
    if all(isinstance(item, dict) for item in data):
        return infer_schema(pd.DataFrame.from_records(data))
    if all(isinstance(item, (list, tuple)) for item in data):
        return Schema([tensor_spec(np.asarray(data))])
    return Schema([ColSpec(column_type(pd.Series(data)))])


def column_type(values: pd.Series) -> DataType:
    """The MLflow type of a column, looking inside object columns at their values."""
    dtype = values.dtype
    if isinstance(dtype, pd.StringDtype):
        return DataType.string
    if dtype == np.dtype(object):
        inferred = values.infer_objects()
        if inferred.dtype != object:
            return column_type(inferred)
        kinds = {value_type(v) for v in values if v is not None}
        if len(kinds) == 1:
            return kinds.pop()
        raise InvalidParameterValueError(
            f"Column {values.name!r} mixes types {sorted(k.value for k in kinds)}."
        )
    return dtype_type(np.dtype(dtype) if not hasattr(dtype, "numpy_dtype") else dtype.numpy_dtype)


def dtype_type(dtype: np.dtype[Any]) -> DataType:
    """The MLflow column type for a numpy dtype."""
    if dtype.kind == "b":
        return DataType.boolean
    if dtype.kind == "M":
        return DataType.datetime
    if dtype.kind in ("i", "u"):
        wide = dtype.itemsize > 4 or (dtype.kind == "u" and dtype.itemsize == 4)
        if dtype.kind == "u" and dtype.itemsize == 8:
            raise InvalidParameterValueError("uint64 has no MLflow column type; cast it first.")
        return DataType.long if wide else DataType.integer
    if dtype.kind == "f":
        return DataType.double if dtype.itemsize > 4 else DataType.float
    if dtype.kind in ("U", "O"):
        return DataType.string
    if dtype.kind == "S":
        return DataType.binary
    raise InvalidParameterValueError(f"No MLflow column type for numpy dtype {dtype}.")


def value_type(value: Any) -> DataType:
    """The MLflow type of one Python (or numpy scalar) value."""
    if isinstance(value, (bool, np.bool_)):
        return DataType.boolean
    if isinstance(value, np.generic):
        return dtype_type(value.dtype)
    if isinstance(value, int):
        return DataType.long
    if isinstance(value, float):
        return DataType.double
    if isinstance(value, str):
        return DataType.string
    if isinstance(value, (bytes, bytearray)):
        return DataType.binary
    if isinstance(value, pd.Timestamp):
        return DataType.datetime
    raise InvalidParameterValueError(f"No MLflow column type for {type(value).__name__} values.")


def infer_param_schema(params: dict[str, Any]) -> ParamSchema:
    """Params are scalars (or lists of one type, shape [-1]); their example values become
    the defaults, as in MLflow."""
    specs = []
    for name, value in params.items():
        if isinstance(value, (list, tuple)):
            kinds = {value_type(v) for v in value}
            if len(kinds) != 1:
                raise InvalidParameterValueError(f"Param {name!r} must be a list of one type.")
            specs.append(ParamSpec(name, kinds.pop(), list(value), (-1,)))
        else:
            specs.append(ParamSpec(name, value_type(value), _plain(value)))
    return ParamSchema(tuple(specs))


def _plain(value: Any) -> Any:
    """numpy scalars as Python ones, so the default is JSON."""
    return value.item() if isinstance(value, np.generic) else value
