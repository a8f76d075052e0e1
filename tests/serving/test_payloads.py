"""Scoring payloads: each format MLflow accepts becomes the input MLflow would hand the model,
and every malformed body is a PayloadError (400), never anything else."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from cairn.models.serving.payloads import (
    PayloadError,
    UnsupportedMediaTypeError,
    parse_request,
)

FRAME = pd.DataFrame({"a": [1.5, 2.5], "b": [3, 4]})


def _json(payload: object, content_type: str = "application/json") -> object:
    return parse_request(json.dumps(payload).encode(), content_type)


def test_dataframe_split_with_index_becomes_that_frame() -> None:
    request = parse_request(
        FRAME.to_json(orient="split").join(['{"dataframe_split": ', "}"]).encode(),
        "application/json",
    )
    assert isinstance(request.data, pd.DataFrame)
    pd.testing.assert_frame_equal(request.data, FRAME)
    assert request.params is None


def test_dataframe_split_without_index_or_columns() -> None:
    request = parse_request(b'{"dataframe_split": {"data": [[1, 2], [3, 4]]}}', "application/json")
    assert isinstance(request.data, pd.DataFrame)
    assert request.data.to_numpy().tolist() == [[1, 2], [3, 4]]
    assert list(request.data.columns) == [0, 1]


def test_dataframe_records_become_a_frame() -> None:
    request = _json({"dataframe_records": FRAME.to_dict(orient="records")})
    assert isinstance(request.data, pd.DataFrame)
    pd.testing.assert_frame_equal(request.data, FRAME)


@pytest.mark.parametrize(
    "rows",
    [[[0.5, 1.5], [2.5, 3.5]], [[0.5, 1], [2.5, 3]], [[0.5, "x"], [None, "y"]], [[True, 1.5]]],
    ids=["all floats", "floats and ints", "strings and nulls", "booleans"],
)
def test_frames_are_those_pandas_builds_from_the_rows(rows: list[list[object]]) -> None:
    expected = pd.DataFrame(rows, columns=["a", "b"])
    split = _json({"dataframe_split": {"columns": ["a", "b"], "data": rows}})
    records = _json({"dataframe_records": [dict(zip("ab", row, strict=True)) for row in rows]})
    for request in (split, records):
        assert isinstance(request.data, pd.DataFrame)
        pd.testing.assert_frame_equal(request.data, expected)


def test_records_with_different_fields_are_joined_as_pandas_joins_them() -> None:
    request = _json({"dataframe_records": [{"a": 1.0, "b": 2.0}, {"b": 3.0, "c": 4.0}]})
    assert isinstance(request.data, pd.DataFrame)
    assert list(request.data.columns) == ["a", "b", "c"]
    assert request.data["b"].tolist() == [2.0, 3.0]
    assert np.isnan(request.data["c"][0])


def test_instances_of_values_become_an_array() -> None:
    request = _json({"instances": [[1.0, 2.0], [3.0, 4.0]]})
    assert isinstance(request.data, np.ndarray)
    assert request.data.shape == (2, 2)
    assert request.data.dtype == np.float64


def test_instances_of_objects_become_columns() -> None:
    request = _json({"instances": [{"a": 1.5, "b": 3}, {"a": 2.5, "b": 4}]})
    assert isinstance(request.data, dict)
    assert sorted(request.data) == ["a", "b"]
    assert request.data["a"].tolist() == [1.5, 2.5]
    assert request.data["b"].dtype.kind == "i"


def test_inputs_as_columns_and_as_a_list() -> None:
    columns = _json({"inputs": {"a": [1.5, 2.5], "b": [3, 4]}})
    rows = _json({"inputs": [[1, 2], [3, 4]]})
    assert isinstance(columns.data, dict) and columns.data["b"].tolist() == [3, 4]
    assert isinstance(rows.data, np.ndarray) and rows.data.tolist() == [[1, 2], [3, 4]]


def test_inputs_scalars_stay_scalars() -> None:
    request = _json({"inputs": {"a": 1.5, "b": [1, 2], "c": None}})
    assert isinstance(request.data, dict)
    assert request.data["a"] == 1.5 and request.data["c"] is None
    assert isinstance(request.data["b"], np.ndarray)


def test_params_pass_through_and_other_keys_are_ignored() -> None:
    request = _json({"inputs": [1, 2], "params": {"k": 3}, "signature_name": "x"})
    assert request.params == {"k": 3}


def test_charset_parameter_and_case_are_accepted() -> None:
    request = _json({"inputs": [1]}, "Application/JSON; charset=UTF-8;")
    assert isinstance(request.data, np.ndarray) and request.data.tolist() == [1]


def test_bare_nan_and_infinity_as_mlflow_clients_write_them() -> None:
    body = b'{"dataframe_split": {"columns": ["a"], "data": [[NaN], [Infinity]]}}'
    request = parse_request(body, "application/json")
    assert isinstance(request.data, pd.DataFrame)
    assert np.isnan(request.data["a"][0]) and np.isinf(request.data["a"][1])


def test_csv_becomes_a_frame() -> None:
    request = parse_request(FRAME.to_csv(index=False).encode(), "text/csv")
    assert isinstance(request.data, pd.DataFrame)
    pd.testing.assert_frame_equal(request.data, FRAME)


def test_parquet_becomes_a_frame() -> None:
    buffer = io.BytesIO()
    FRAME.to_parquet(buffer)
    request = parse_request(buffer.getvalue(), "application/vnd.apache.parquet")
    assert isinstance(request.data, pd.DataFrame)
    pd.testing.assert_frame_equal(request.data, FRAME)


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "text/plain",
        "application/xml",
        "application/json; charset=latin-1",
        "application/json; format=pandas-split",
    ],
)
def test_other_content_types_are_unsupported(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaTypeError) as raised:
        parse_request(b'{"inputs": [1]}', content_type)
    assert raised.value.http_status == 415


MALFORMED_JSON = {
    "not json": b"{inputs: [1]",
    "not utf-8": b'{"inputs": ["\xff\xfe"]}',
    "empty body": b"",
    "a list": b"[[1, 2]]",
    "a number": b"3",
    "no format key": b'{"data": [[1, 2]]}',
    "two format keys": b'{"inputs": [1], "instances": [1]}',
    "params not an object": b'{"inputs": [1], "params": [1]}',
    "split not an object": b'{"dataframe_split": [[1, 2]]}',
    "split without data": b'{"dataframe_split": {"columns": ["a"]}}',
    "split with an extra key": b'{"dataframe_split": {"data": [[1]], "dtypes": ["x"]}}',
    "split data not a list": b'{"dataframe_split": {"data": {"a": 1}}}',
    "split rows ragged": b'{"dataframe_split": {"data": [[1, 2], [3]]}}',
    "split row wider than columns": b'{"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}',
    "split row not a list": b'{"dataframe_split": {"columns": ["a"], "data": [1]}}',
    "split columns not a list": b'{"dataframe_split": {"columns": "a", "data": [[1]]}}',
    "split index of the wrong length": b'{"dataframe_split": {"index": [0], "data": [[1], [2]]}}',
    "split with an object as a column": b'{"dataframe_split": {"columns": [{}], "data": [[1]]}}',
    "split with a list as a label": b'{"dataframe_split": {"index": [[0]], "data": [[1]]}}',
    "split empty": b'{"dataframe_split": {"data": []}}',
    "records not a list": b'{"dataframe_records": {"a": [1]}}',
    "records of lists": b'{"dataframe_records": [[1, 2]]}',
    "records empty": b'{"dataframe_records": []}',
    "instances not a list": b'{"instances": {"a": [1]}}',
    "instances mixed": b'{"instances": [{"a": 1}, 2]}',
    "instances ragged values": b'{"instances": [[1, 2], [3]]}',
    "instances ragged objects": b'{"instances": [{"a": 1, "b": 2}, {"a": 3}]}',
    "instances empty": b'{"instances": []}',
    "inputs a string": b'{"inputs": "1, 2"}',
    "inputs a number": b'{"inputs": 3}',
    "inputs ragged": b'{"inputs": [[1, 2], [3]]}',
    "inputs column ragged": b'{"inputs": {"a": [[1, 2], [3]]}}',
    "inputs empty": b'{"inputs": []}',
}


@pytest.mark.parametrize("body", MALFORMED_JSON.values(), ids=MALFORMED_JSON.keys())
def test_malformed_json_is_a_payload_error(body: bytes) -> None:
    with pytest.raises(PayloadError) as raised:
        parse_request(body, "application/json")
    assert raised.value.http_status == 400
    assert raised.value.error_code == "BAD_REQUEST"
    assert raised.value.message


MALFORMED_TABLES = {
    "csv empty": (b"", "text/csv"),
    "csv header only": (b"a,b\n", "text/csv"),
    "csv too many fields": (b"a,b\n1,2\n3,4,5,6\n", "text/csv"),
    "csv not utf-8": (b"a,b\n\xff,2\n", "text/csv"),
    "csv unterminated quote": (b'a,b\n"1,2\n', "text/csv"),
    "parquet garbage": (b"PAR1 not really", "application/vnd.apache.parquet"),
    "parquet empty": (b"", "application/vnd.apache.parquet"),
}


@pytest.mark.parametrize(
    ("body", "content_type"), MALFORMED_TABLES.values(), ids=MALFORMED_TABLES.keys()
)
def test_malformed_tables_are_payload_errors(body: bytes, content_type: str) -> None:
    with pytest.raises(PayloadError) as raised:
        parse_request(body, content_type)
    assert raised.value.http_status == 400
