"""Signatures: inference from data in MLflow's JSON shapes, and enforcement at predict time."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cairn.exceptions import InvalidParameterValueError
from cairn.models import ColSpec, DataType, ModelSignature, Schema, TensorSpec, infer_signature
from cairn.models.enforcement import enforce_input, enforce_params


def test_dataframe_gives_named_columns_in_mlflows_json() -> None:
    frame = pd.DataFrame({"x": [1.0], "n": [1], "s": ["a"], "t": [True]})
    written = infer_signature(frame, np.array([1.0])).to_dict()
    assert json.loads(written["inputs"]) == [
        {"type": "double", "name": "x", "required": True},
        {"type": "long", "name": "n", "required": True},
        {"type": "string", "name": "s", "required": True},
        {"type": "boolean", "name": "t", "required": True},
    ]
    assert json.loads(written["outputs"]) == [
        {"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}
    ]
    assert written["params"] is None


def test_arrays_give_tensors_with_any_batch_size() -> None:
    signature = infer_signature(np.zeros((3, 4)))
    assert signature.inputs == Schema([TensorSpec("float64", (-1, 4))])
    assert json.loads(signature.to_dict()["inputs"]) == [
        {"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}
    ]


def test_dicts_lists_and_series() -> None:
    named = infer_signature({"x": np.zeros((2, 3)), "y": np.zeros(2, dtype=np.int32)}).inputs
    assert named == Schema([TensorSpec("float64", (-1, 3), "x"), TensorSpec("int32", (-1,), "y")])
    records = infer_signature([{"a": 1, "b": "x"}]).inputs
    assert records == Schema([ColSpec(DataType.long, "a"), ColSpec(DataType.string, "b")])
    assert infer_signature({"a": 1.5}).inputs == Schema([ColSpec(DataType.double, "a")])
    assert infer_signature(pd.Series([1, 2], name="k")).inputs == Schema(
        [ColSpec(DataType.long, "k")]
    )


def test_params_keep_their_example_values_as_defaults() -> None:
    signature = infer_signature(pd.DataFrame({"x": [1.0]}), params={"k": 3, "mode": "fast"})
    assert json.loads(signature.to_dict()["params"] or "") == [
        {"name": "k", "default": 3, "shape": None, "type": "long"},
        {"name": "mode", "default": "fast", "shape": None, "type": "string"},
    ]
    assert enforce_params(signature.params, {"k": 5}) == {"k": 5, "mode": "fast"}
    with pytest.raises(InvalidParameterValueError, match="kk"):
        enforce_params(signature.params, {"kk": 5})


def test_signature_round_trips_through_its_dict() -> None:
    signature = infer_signature(pd.DataFrame({"x": [1.0]}), np.zeros((1, 2)), {"k": [1, 2]})
    assert ModelSignature.from_dict(signature.to_dict()) == signature


def test_uninferable_input_is_refused() -> None:
    with pytest.raises(InvalidParameterValueError, match="Cannot infer"):
        infer_signature(object())


COLUMNS = Schema([ColSpec(DataType.double, "a"), ColSpec(DataType.long, "b")])


def test_a_misspelled_column_is_named() -> None:
    with pytest.raises(InvalidParameterValueError, match=r"missing columns \['b'\].*\['bb'\]"):
        enforce_input(COLUMNS, pd.DataFrame({"a": [1.0], "bb": [1]}))


def test_a_missing_column_is_named() -> None:
    with pytest.raises(InvalidParameterValueError, match=r"\['a'\]"):
        enforce_input(COLUMNS, pd.DataFrame({"b": [1]}))


def test_a_wrong_type_names_the_column() -> None:
    with pytest.raises(InvalidParameterValueError, match="Column 'a'"):
        enforce_input(COLUMNS, pd.DataFrame({"a": ["text"], "b": [1]}))
    with pytest.raises(InvalidParameterValueError, match="Column 'b'"):
        enforce_input(COLUMNS, pd.DataFrame({"a": [1.0], "b": [1.5]}))  # float → long loses


def test_integers_widen_to_floats_and_columns_come_in_schema_order() -> None:
    given = pd.DataFrame({"extra": ["x"], "b": np.array([7], dtype=np.int32), "a": [3]})
    checked = enforce_input(COLUMNS, given)
    assert list(checked.columns) == ["a", "b"]
    assert checked["a"].dtype == np.float64 and checked["a"].iloc[0] == 3.0
    assert checked["b"].dtype == np.int64


def test_int64_to_double_only_when_exact() -> None:
    schema = Schema([ColSpec(DataType.double, "a")])
    assert enforce_input(schema, {"a": [2**53]})["a"].iloc[0] == float(2**53)
    with pytest.raises(InvalidParameterValueError, match="Column 'a'"):
        enforce_input(schema, {"a": [2**53 + 1]})


def test_records_and_dicts_become_frames() -> None:
    checked = enforce_input(COLUMNS, [{"a": 1.0, "b": 2}, {"a": 2.0, "b": 3}])
    assert checked["b"].tolist() == [2, 3]
    assert enforce_input(COLUMNS, {"a": 1.0, "b": 2}).shape == (1, 2)


def test_tensor_shape_and_dtype_are_enforced() -> None:
    schema = Schema([TensorSpec("float64", (-1, 2))])
    assert enforce_input(schema, np.ones((5, 2), dtype=np.float32)).dtype == np.float64
    with pytest.raises(InvalidParameterValueError, match=r"Shape of the input tensor is \[5, 3\]"):
        enforce_input(schema, np.ones((5, 3)))
    narrow = Schema([TensorSpec("float32", (-1, 2), "x")])
    with pytest.raises(InvalidParameterValueError, match="'x'.*float64"):
        enforce_input(narrow, {"x": np.ones((1, 2))})


def test_named_tensors_report_the_missing_one() -> None:
    schema = Schema([TensorSpec("float64", (-1,), "x"), TensorSpec("int64", (-1,), "y")])
    with pytest.raises(InvalidParameterValueError, match=r"missing tensors \['y'\]"):
        enforce_input(schema, {"x": np.ones(2)})
    fed = enforce_input(schema, {"x": np.ones(2), "y": np.array([1, 2], dtype=np.int32)})
    assert fed["y"].dtype == np.int64
