"""Check prediction input against a model's signature, and convert what can be converted
without losing information.

Types widen the way MLflow widens them (int32 → int64, float32 → float64, small integers →
float). Cairn departs from MLflow for 64-bit integers going to floats: MLflow refuses them
unless every value is 0 or 1; Cairn accepts them when every value is exactly representable
(|x| ≤ 2**53 for float64), since that is precisely the lossless case, and plain Python ints
arrive as int64. Anything else (float → int, string → number, a value out of range) is
refused with InvalidParameterValueError naming the column or tensor.

Column schemas select their columns in schema order and drop extra columns, as MLflow does.
A DataFrame that already has exactly the schema's columns, in order, with its types (the usual
scoring request) is returned as it is: no renamed copy, no rebuilt frame.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from cairn.exceptions import InvalidParameterValueError
from cairn.types.schema import ColSpec, DataType, ParamSchema, Schema, TensorSpec

_MANTISSA_BITS = {2: 11, 4: 24, 8: 53}


def enforce_input(schema: Schema, data: Any) -> Any:
    """`data` checked against `schema`: a DataFrame for column schemas, an ndarray (or a dict
    of ndarrays for several named tensors) for tensor schemas."""
    if schema.is_tensor_spec():
        return _enforce_tensors(schema, data)
    return _enforce_columns(schema, _as_frame(schema, data))


def enforce_params(schema: ParamSchema | None, params: dict[str, Any] | None) -> dict[str, Any]:
    """The params with defaults filled in; an unknown name is refused (a typo otherwise
    silently falls back to the default)."""
    given = dict(params or {})
    if schema is None:
        return given
    known = {spec.name: spec for spec in schema.params}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise InvalidParameterValueError(
            f"Unknown params {unknown}; the model accepts {sorted(known)}."
        )
    return {name: given.get(name, spec.default) for name, spec in known.items()}


# -- columns ---------------------------------------------------------------------------------


def _as_frame(schema: Schema, data: Any) -> pd.DataFrame:
    names = schema.input_names() if schema.has_input_names() else None
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame(name=data.name if data.name is not None else _only(names))
    if isinstance(data, dict):
        scalars = not any(
            isinstance(v, (list, tuple, np.ndarray, pd.Series)) for v in data.values()
        )
        return pd.DataFrame([data]) if scalars else pd.DataFrame(data)
    if isinstance(data, list) and data and all(isinstance(row, dict) for row in data):
        return pd.DataFrame.from_records(data)
    if isinstance(data, (list, np.ndarray)):
        array = np.asarray(data, dtype=object if isinstance(data, list) else None)
        if array.ndim == 1 and len(schema) == 1:
            return pd.DataFrame({_only(names): list(data)})
        if array.ndim == 2 and names is None:
            return pd.DataFrame(data)
    raise InvalidParameterValueError(
        f"The model expects columns {names or len(schema)}; got {type(data).__name__}. Pass a "
        "DataFrame, a dict of columns or a list of row dicts."
    )


def _only(names: list[str] | None) -> Any:
    return names[0] if names else 0


def _enforce_columns(schema: Schema, frame: pd.DataFrame) -> pd.DataFrame:
    if not schema.has_input_names():
        return _enforce_positional(schema, frame)
    if _conforms(schema, frame):
        return frame
    frame = frame.rename(columns=str)
    names = schema.input_names()
    missing = [spec.name for spec in schema if spec.name not in frame.columns and _required(spec)]
    if missing:
        extra = [c for c in frame.columns if c not in names]
        hint = f" The input has columns the model does not know: {extra}." if extra else ""
        raise InvalidParameterValueError(f"The input is missing columns {missing}.{hint}")
    out = {}
    for spec in schema:
        assert isinstance(spec, ColSpec) and spec.name is not None
        if spec.name in frame.columns:
            out[spec.name] = enforce_column(spec.name, frame[spec.name], spec.type)
    return pd.DataFrame(out, index=frame.index)


# What a column's dtype must be for `enforce_column` to return it unchanged with no check of
# its values; None for string and binary columns, whose values are checked one by one.
_Targets = tuple[np.dtype[Any] | None, ...]
_TEXT = (DataType.string, DataType.binary)


@lru_cache(maxsize=64)
def _targets(schema: Schema) -> tuple[list[str | None], _Targets]:
    """The schema's column names, and each column's target dtype (see `_Targets`)."""
    specs = [spec for spec in schema if isinstance(spec, ColSpec)]
    targets = tuple(None if s.type in _TEXT else np.dtype(s.type.numpy_name) for s in specs)
    return [spec.name for spec in specs], targets


def _conforms(schema: Schema, frame: pd.DataFrame, *, by_name: bool = True) -> bool:
    """Whether the full path would give back `frame`'s own columns, values and types: the
    same column names in the same order (`by_name`; else only as many columns), each of the
    schema's dtype. String and binary columns hold Python objects: their values are checked
    here exactly as `enforce_column` checks them, raising the same error."""
    names, targets = _targets(schema)
    if by_name:
        columns = frame.columns.tolist()
        if columns != names or not all(type(label) is str for label in columns):
            return False
    elif frame.shape[1] != len(targets):
        return False
    dtypes = frame.dtypes.tolist()
    text: list[tuple[int, ColSpec]] = []
    for position, (spec, target, dtype) in enumerate(zip(schema, targets, dtypes, strict=True)):
        assert isinstance(spec, ColSpec)
        if target is not None:
            if not (isinstance(dtype, np.dtype) and dtype == target):
                return False
        elif isinstance(dtype, np.dtype) and dtype.kind == "O":
            text.append((position, spec))
        elif not (spec.type == DataType.string and isinstance(dtype, pd.StringDtype)):
            return False  # (a string dtype holds only strings and missing values: no check)
    for position, spec in text:
        label = spec.name if by_name else str(position)
        _enforce_objects(str(label), frame.iloc[:, position], spec.type)
    return True


def _required(spec: ColSpec | TensorSpec) -> bool:
    return not isinstance(spec, ColSpec) or spec.required


def _enforce_positional(schema: Schema, frame: pd.DataFrame) -> pd.DataFrame:
    if frame.shape[1] != len(schema):
        raise InvalidParameterValueError(
            f"The model expects {len(schema)} columns; the input has {frame.shape[1]}."
        )
    if _conforms(schema, frame, by_name=False):
        return frame
    out = frame.copy()
    for position, spec in enumerate(schema):
        assert isinstance(spec, ColSpec)
        out.iloc[:, position] = enforce_column(str(position), frame.iloc[:, position], spec.type)
    return out


def enforce_column(name: str, values: pd.Series, expected: DataType) -> pd.Series:
    """One column converted to `expected`, or an error naming the column."""
    if expected in (DataType.string, DataType.binary):
        return _enforce_objects(name, values, expected)
    if expected == DataType.datetime:
        try:
            return pd.to_datetime(values).astype("datetime64[ns]")
        except (ValueError, TypeError) as error:
            raise _type_error(name, values.dtype, expected) from error
    if values.dtype == object or hasattr(values.dtype, "numpy_dtype"):
        values = _numpy_backed(name, values, expected)
    target = np.dtype(expected.numpy_name)
    if values.dtype == target:
        return values
    if can_widen(values.dtype, target, values.to_numpy()):
        return values.astype(target)
    raise _type_error(name, values.dtype, expected)


def _numpy_backed(name: str, values: pd.Series, expected: DataType) -> pd.Series:
    """Object and nullable extension columns as plain numpy ones (missing values refused:
    they have no int or bool representation)."""
    if values.isna().any() and expected not in (DataType.float, DataType.double):
        raise InvalidParameterValueError(f"Column {name!r} has missing values.")
    inferred = values.infer_objects() if values.dtype == object else values
    numpy_dtype = getattr(inferred.dtype, "numpy_dtype", None)
    if numpy_dtype is not None:
        fill = np.nan if numpy_dtype.kind == "f" else None
        return pd.Series(inferred.to_numpy(dtype=numpy_dtype, na_value=fill), index=values.index)
    return inferred


def _enforce_objects(name: str, values: pd.Series, expected: DataType) -> pd.Series:
    wanted: tuple[type, ...] = (str,) if expected == DataType.string else (bytes, bytearray)
    if expected == DataType.binary and values.dtype.kind == "S":
        return values
    if values.dtype != object and not isinstance(values.dtype, pd.StringDtype):
        raise _type_error(name, values.dtype, expected)
    bad = [v for v in values if not (v is None or v is pd.NA or isinstance(v, wanted))]
    bad = [v for v in bad if not (isinstance(v, float) and np.isnan(v))]
    if bad:
        raise InvalidParameterValueError(
            f"Column {name!r} must hold {expected.value} values; found {type(bad[0]).__name__}."
        )
    return values


def _type_error(name: str, found: Any, expected: DataType) -> InvalidParameterValueError:
    return InvalidParameterValueError(
        f"Column {name!r} has type {found}; the model expects {expected.value} and the values "
        "cannot be converted without loss."
    )


def can_widen(source: np.dtype[Any], target: np.dtype[Any], values: np.ndarray[Any, Any]) -> bool:
    """Whether `source` → `target` keeps every value exactly (see the module docstring)."""
    if source == target:
        return True
    if source.kind == target.kind and source.kind in "iuf":
        return source.itemsize <= target.itemsize
    if source.kind == "u" and target.kind == "i":
        return source.itemsize < target.itemsize
    if source.kind in "iu" and target.kind == "f":
        bits = _MANTISSA_BITS.get(target.itemsize, 0)
        if source.itemsize * 8 - (source.kind == "i") <= bits:
            return True
        limit = 2**bits
        return bool(np.all((values >= -limit) & (values <= limit)))
    return False


# -- tensors ---------------------------------------------------------------------------------


def _enforce_tensors(schema: Schema, data: Any) -> Any:
    specs = [spec for spec in schema if isinstance(spec, TensorSpec)]
    if len(specs) == 1 and not isinstance(data, dict):
        return enforce_tensor(specs[0], _as_array(data))
    feed = _as_feed(data)
    if len(specs) == 1 and specs[0].name is None and len(feed) == 1:
        return enforce_tensor(specs[0], next(iter(feed.values())))
    missing = [spec.name for spec in specs if spec.name not in feed]
    if missing:
        raise InvalidParameterValueError(
            f"The input is missing tensors {missing}; it has {sorted(feed)}."
        )
    out = {spec.name: enforce_tensor(spec, feed[str(spec.name)]) for spec in specs}
    return out if len(specs) > 1 else next(iter(out.values()))


def _as_array(data: Any) -> np.ndarray[Any, Any]:
    if isinstance(data, (pd.DataFrame, pd.Series)):
        array: np.ndarray[Any, Any] = data.to_numpy()
        return array
    return np.asarray(data)


def _as_feed(data: Any) -> dict[str, np.ndarray[Any, Any]]:
    if isinstance(data, dict):
        return {str(k): np.asarray(v) for k, v in data.items()}
    if isinstance(data, pd.DataFrame):
        return {str(c): data[c].to_numpy() for c in data.columns}
    raise InvalidParameterValueError(
        f"The model expects named tensors; got {type(data).__name__}. Pass a dict of arrays."
    )


def enforce_tensor(spec: TensorSpec, array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """One tensor checked for shape and converted to the spec's dtype if lossless."""
    label = repr(spec.name) if spec.name else "the input tensor"
    if array.ndim != len(spec.shape) or any(
        want not in (-1, got) for want, got in zip(spec.shape, array.shape, strict=True)
    ):
        raise InvalidParameterValueError(
            f"Shape of {label} is {list(array.shape)}; the model expects {list(spec.shape)} "
            "(-1: any size)."
        )
    target = np.dtype(spec.dtype)
    if array.dtype == target:
        return array
    if can_widen(array.dtype, target, array):
        return array.astype(target)
    raise InvalidParameterValueError(
        f"The dtype of {label} is {array.dtype}; the model expects {target} and the values "
        "cannot be converted without loss."
    )
