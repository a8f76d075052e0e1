"""Arrays and frame columns as canonical bytes, the input of in-memory dataset digests.

The bytes depend on the values only, never on memory layout, byte order or the exact dtype
a pandas version picks for the same data:

* integers become little-endian int64 (uint64 for unsigned), booleans one byte each;
* float16/float32 become float32 and wider floats float64 (MLflow's `float` and `double`),
  every NaN one bit pattern;
* datetimes become int64 nanoseconds, timedeltas too;
* everything else (strings, pandas' `str` and nullable dtypes, categoricals, tz-aware
  datetimes, objects) is hashed value by value with a type tag: a missing value (None,
  NaN, NA, NaT) is one marker, so pandas 2's object column of str and pandas 3's `str`
  column of the same strings give the same bytes.

Objects whose `repr` shows their memory address cannot be hashed by value; such columns
give a digest that changes from process to process (give those datasets a digest yourself).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np

_MISSING = b"\x00"


def array_bytes(values: np.ndarray[Any, Any]) -> tuple[bytes, bytes]:
    """(kind tag, canonical bytes) of a one-dimensional numpy array."""
    kind = values.dtype.kind
    if kind == "b":
        return b"bool", values.astype("u1").tobytes()
    if kind == "i":
        return b"int", values.astype("<i8").tobytes()
    if kind == "u":
        return b"uint", values.astype("<u8").tobytes()
    if kind == "f":
        wide = values.dtype.itemsize > 4
        canonical = values.astype("<f8" if wide else "<f4")
        canonical[np.isnan(canonical)] = np.nan
        return (b"double" if wide else b"float"), canonical.tobytes()
    if kind == "c":
        return b"complex", values.astype("<c16").tobytes()
    if kind == "M":
        return b"datetime", values.astype("M8[ns]").view("<i8").tobytes()
    if kind == "m":
        return b"timedelta", values.astype("m8[ns]").view("<i8").tobytes()
    return b"object", b"".join(_value_bytes(v) for v in values.tolist())


def _value_bytes(value: object) -> bytes:
    """One value of an object column: a type tag and a length-prefixed text."""
    tag, text = _tagged(value)
    return tag + struct.pack("<Q", len(text)) + text


def _tagged(value: object) -> tuple[bytes, bytes]:
    if value is None or _is_missing(value):
        return _MISSING, b""
    if isinstance(value, str):
        return b"s", value.encode("utf-8", "surrogatepass")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return b"y", bytes(value)
    if isinstance(value, (bool, np.bool_)):
        return b"b", b"1" if value else b"0"
    if isinstance(value, (int, np.integer)):
        return b"i", str(int(value)).encode()
    if isinstance(value, (float, np.floating)):
        return b"f", repr(float(value)).encode()
    if isinstance(value, np.ndarray):
        tag, data = array_bytes(np.ascontiguousarray(value).reshape(-1))
        return b"a", tag + struct.pack(f"<{value.ndim}q", *value.shape) + data
    return b"o", f"{type(value).__qualname__}:{value!r}".encode("utf-8", "surrogatepass")


def _is_missing(value: object) -> bool:
    """NaN, pandas' NA and NaT (but not the float 0.0 or an empty string)."""
    if isinstance(value, (float, np.floating)):
        return math.isnan(value)
    name = type(value).__name__
    return name in ("NAType", "NaTType")


def head_elements(array: np.ndarray[Any, Any], limit: int) -> np.ndarray[Any, Any]:
    """The first `limit` elements in C order, without copying the rest of a big array."""
    if array.ndim == 0:
        return array.reshape(-1)
    row_size = math.prod(array.shape[1:])
    rows = -(-limit // row_size) if row_size else 0
    return np.ascontiguousarray(array[:rows]).reshape(-1)[:limit]


def array_parts(array: np.ndarray[Any, Any], limit: int) -> Iterator[bytes]:
    """An array's full shape, then the canonical bytes of its first `limit` elements."""
    yield struct.pack(f"<{array.ndim}q", *array.shape)
    tag, data = array_bytes(head_elements(array, limit))
    yield tag
    yield data
