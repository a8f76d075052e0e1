"""Signature enforcement's fast path: a DataFrame that already has the schema's columns, in
order, with the schema's types comes back as the same object; anything else takes the full
path, which renames, converts and rebuilds. Both give the same frame and the same errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cairn.exceptions import InvalidParameterValueError
from cairn.models import ColSpec, DataType, Schema, enforcement
from cairn.models.enforcement import enforce_input

NUMBERS = Schema([ColSpec(DataType.double, "a"), ColSpec(DataType.long, "b")])
EVERY_TYPE = Schema(
    [
        ColSpec(DataType.boolean, "flag"),
        ColSpec(DataType.integer, "small"),
        ColSpec(DataType.long, "big"),
        ColSpec(DataType.float, "single"),
        ColSpec(DataType.double, "x"),
        ColSpec(DataType.string, "text"),
        ColSpec(DataType.binary, "blob"),
        ColSpec(DataType.datetime, "when"),
    ]
)
POSITIONAL = Schema([ColSpec(DataType.double), ColSpec(DataType.long)])


def _every_type(text: Any = None, blob: Any = None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "flag": np.array([True, False]),
            "small": np.array([1, 2], dtype=np.int32),
            "big": np.array([3, 4], dtype=np.int64),
            "single": np.array([0.5, 1.5], dtype=np.float32),
            "x": np.array([2.5, 3.5]),
            "text": pd.Series(["p", "q"], dtype=object) if text is None else text,
            "blob": pd.Series([b"r", b"s"], dtype=object) if blob is None else blob,
            "when": pd.Series(pd.to_datetime(["2024-01-01", "2024-01-02"])).astype(
                "datetime64[ns]"
            ),
        }
    )


@pytest.fixture
def column_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names `enforce_column` is called with: none when the fast path is taken."""
    calls: list[str] = []
    original = enforcement.enforce_column

    def spy(name: str, values: pd.Series, expected: DataType) -> pd.Series:
        calls.append(name)
        return original(name, values, expected)

    monkeypatch.setattr(enforcement, "enforce_column", spy)
    return calls


def _full_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(enforcement, "_conforms", lambda *args, **kwargs: False)


CONFORMING: list[tuple[Schema, Callable[[], pd.DataFrame]]] = [
    (NUMBERS, lambda: pd.DataFrame({"a": [1.5, 2.5], "b": [1, 2]}, index=[7, 9])),
    (EVERY_TYPE, _every_type),
    (EVERY_TYPE, lambda: _every_type(text=pd.Series(["p", None], dtype="string"))),
    (EVERY_TYPE, lambda: _every_type(text=pd.Series(["p", None], dtype="str"))),
    (EVERY_TYPE, lambda: _every_type(text=pd.Series(["p", None], dtype=object))),
    (POSITIONAL, lambda: pd.DataFrame({"u": [1.5], "v": [1]})),
]


@pytest.mark.parametrize(("schema", "make"), CONFORMING)
def test_a_conforming_frame_is_returned_as_it_is(
    schema: Schema, make: Callable[[], pd.DataFrame], column_calls: list[str]
) -> None:
    given = make()
    kept = given.copy(deep=True)
    assert enforce_input(schema, given) is given
    assert column_calls == []
    pd.testing.assert_frame_equal(given, kept)


@pytest.mark.parametrize(("schema", "make"), CONFORMING)
def test_the_fast_path_gives_what_the_full_path_gives(
    schema: Schema, make: Callable[[], pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = enforce_input(schema, make())
    _full_path(monkeypatch)
    full = enforce_input(schema, make())
    pd.testing.assert_frame_equal(fast, full, check_column_type=False)


NUMBERED = Schema([ColSpec(DataType.double, "0"), ColSpec(DataType.long, "1")])
MISMATCHING: list[tuple[str, Schema, pd.DataFrame]] = [
    ("order", NUMBERS, pd.DataFrame({"b": [1], "a": [1.5]})),
    ("extra column", NUMBERS, pd.DataFrame({"a": [1.5], "b": [1], "c": [0]})),
    ("narrow int", NUMBERS, pd.DataFrame({"a": [1.5], "b": np.array([1], dtype=np.int32)})),
    ("int for double", NUMBERS, pd.DataFrame({"a": [1], "b": [1]})),
    ("nullable int", NUMBERS, pd.DataFrame({"a": [1.5], "b": pd.array([1], dtype="Int64")})),
    ("int labels", NUMBERED, pd.DataFrame({0: [1.5], 1: [1]})),
]


@pytest.mark.parametrize(
    ("schema", "given"),
    [(schema, frame) for _, schema, frame in MISMATCHING],
    ids=[label for label, _, _ in MISMATCHING],
)
def test_a_mismatching_frame_takes_the_full_path(
    schema: Schema, given: pd.DataFrame, column_calls: list[str]
) -> None:
    checked = enforce_input(schema, given)
    assert checked is not given
    names = schema.input_names()
    assert column_calls == names
    assert list(checked.columns) == names
    assert checked.dtypes.tolist() == [np.dtype("float64"), np.dtype("int64")]


def test_a_missing_column_is_still_named(column_calls: list[str]) -> None:
    with pytest.raises(InvalidParameterValueError, match=r"missing columns \['b'\].*\['c'\]"):
        enforce_input(NUMBERS, pd.DataFrame({"a": [1.5], "c": [1]}))


@pytest.mark.parametrize("full", [False, True], ids=["fast", "full"])
def test_text_values_are_checked_on_either_path(
    full: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if full:
        _full_path(monkeypatch)
    bad_text = _every_type(text=pd.Series(["p", 5], dtype=object))
    with pytest.raises(InvalidParameterValueError) as text_error:
        enforce_input(EVERY_TYPE, bad_text)
    assert text_error.value.message == "Column 'text' must hold string values; found int."
    bad_blob = _every_type(blob=pd.Series([b"r", "s"], dtype=object))
    with pytest.raises(InvalidParameterValueError) as blob_error:
        enforce_input(EVERY_TYPE, bad_blob)
    assert blob_error.value.message == "Column 'blob' must hold binary values; found str."
    positional = pd.DataFrame({"u": pd.Series([b"r"], dtype=object)})
    with pytest.raises(InvalidParameterValueError) as positional_error:
        enforce_input(Schema([ColSpec(DataType.string)]), positional)
    assert positional_error.value.message == "Column '0' must hold string values; found bytes."


def test_a_string_dtype_column_for_binary_takes_the_full_path() -> None:
    given = _every_type(blob=pd.Series(["r", "s"], dtype="str"))
    with pytest.raises(InvalidParameterValueError, match="Column 'blob'"):
        enforce_input(EVERY_TYPE, given)
