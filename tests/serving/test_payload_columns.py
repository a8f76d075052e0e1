"""Column names of `dataframe_split` and `dataframe_records` payloads: the Index pandas builds
for them is kept per list of names, and each frame gets its own copy."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from cairn.models.serving.payloads import parse_json


def _split(columns: list[object], row: list[object]) -> pd.DataFrame:
    payload = {"dataframe_split": {"columns": columns, "data": [row]}}
    frame = parse_json(json.dumps(payload).encode()).data
    assert isinstance(frame, pd.DataFrame)
    return frame


@pytest.mark.parametrize("row", [[1.5, 2.5], [1, "z"]], ids=["floats", "mixed"])
def test_frames_are_what_pandas_builds_and_share_no_index(row: list[object]) -> None:
    first, second = _split(["a", "b"], row), _split(["a", "b"], row)
    pd.testing.assert_frame_equal(first, pd.DataFrame([row], columns=["a", "b"]))
    assert first.columns is not second.columns
    first.columns.name = "renamed by a model"
    assert _split(["a", "b"], row).columns.name is None


def test_equal_but_differently_typed_labels_keep_their_own_index() -> None:
    for labels in ([1, 2], [1.0, 2.0], ["1", "2"]):
        got = _split(labels, [1.5, 2.5])
        pd.testing.assert_index_equal(got.columns, pd.Index(labels))


def test_records_columns() -> None:
    body = json.dumps({"dataframe_records": [{"x": 1.0, "y": "a"}, {"x": 2.0, "y": "b"}]})
    frame = parse_json(body.encode()).data
    expected = pd.DataFrame([[1.0, "a"], [2.0, "b"]], columns=["x", "y"])
    pd.testing.assert_frame_equal(frame, expected)
