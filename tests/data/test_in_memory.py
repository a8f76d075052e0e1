"""from_pandas and from_numpy: schema, profile, source and MLflow's field shapes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cairn
from cairn import data
from cairn.entities import Dataset as DatasetEntity
from cairn.exceptions import InvalidParameterValueError


def test_from_pandas_schema_profile_and_columns() -> None:
    frame = pd.DataFrame(
        {
            "age": np.array([31, 45, 28], dtype="int64"),
            "score": np.array([0.5, 0.25, 1.0], dtype="float32"),
            "name": ["ann", "bob", None],
            "vip": [True, False, True],
            "label": [1, 0, 1],
        }
    )
    dataset = data.from_pandas(frame, targets="label", predictions="score", name="people")

    assert (dataset.name, dataset.targets, dataset.predictions) == ("people", "label", "score")
    assert dataset.df is frame
    assert dataset.schema == {
        "mlflow_colspec": [
            {"type": "long", "name": "age", "required": True},
            {"type": "float", "name": "score", "required": True},
            {"type": "string", "name": "name", "required": True},
            {"type": "boolean", "name": "vip", "required": True},
            {"type": "long", "name": "label", "required": True},
        ]
    }
    assert dataset.profile == {"num_rows": 3, "num_elements": 15, "num_columns": 5}
    entity = dataset.to_entity()
    assert isinstance(entity, DatasetEntity)
    assert json.loads(entity.schema or "") == dataset.schema
    assert json.loads(entity.profile or "") == dataset.profile
    assert entity.digest == dataset.digest and len(entity.digest) == 16


def test_from_pandas_defaults_to_mlflow_name_and_code_source() -> None:
    dataset = data.from_pandas(pd.DataFrame({"x": [1.0]}))
    assert dataset.name == "dataset"
    assert dataset.source.source_type == "code"
    assert dataset.source.uri is None
    tags = json.loads(dataset.source.to_json())["tags"]
    assert {"mlflow.user", "mlflow.source.name", "mlflow.source.type"} <= set(tags)


@pytest.mark.parametrize(
    ("source", "source_type", "fields"),
    [
        ("s3://bucket/train.parquet", "s3", {"uri": "s3://bucket/train.parquet"}),
        ("https://host/train.csv", "http", {"url": "https://host/train.csv"}),
        ("gs://bucket/train", "gs", {"uri": "gs://bucket/train"}),
    ],
)
def test_source_strings_resolve_to_mlflow_shapes(
    source: str, source_type: str, fields: dict[str, str]
) -> None:
    dataset = data.from_pandas(pd.DataFrame({"x": [1.0]}), source=source)
    assert dataset.source.source_type == source_type
    assert json.loads(dataset.to_entity().source) == fields
    assert dataset.source.uri == source


def test_a_path_source_becomes_an_absolute_file_uri(tmp_path: Path) -> None:
    dataset = data.from_pandas(pd.DataFrame({"x": [1.0]}), source=tmp_path / "raw data.csv")
    assert dataset.source.source_type == "local"
    assert dataset.source.uri == (tmp_path / "raw data.csv").as_uri()
    again = data.from_pandas(pd.DataFrame({"x": [1.0]}), source=dataset.source.uri or "")
    assert again.source == dataset.source


def test_from_pandas_refuses_unknown_columns_and_non_frames() -> None:
    frame = pd.DataFrame({"x": [1.0]})
    with pytest.raises(InvalidParameterValueError, match="targets column 'y'"):
        data.from_pandas(frame, targets="y")
    with pytest.raises(InvalidParameterValueError, match="predictions column"):
        data.from_pandas(frame, predictions="p")
    with pytest.raises(InvalidParameterValueError, match="DataFrame"):
        data.from_pandas({"x": [1.0]})  # type: ignore[arg-type]


def test_a_column_without_an_mlflow_type_leaves_the_schema_out() -> None:
    """As MLflow does: the dataset still logs, with no schema."""
    dataset = data.from_pandas(pd.DataFrame({"mixed": [1, "a", 2.5]}))
    assert dataset.schema is None
    assert dataset.to_entity().schema is None
    assert dataset.digest


def test_categorical_and_datetime_columns_get_types() -> None:
    frame = pd.DataFrame(
        {
            "colour": pd.Categorical(["red", "blue"]),
            "when": pd.to_datetime(["2024-01-01", "2024-02-01"]),
            "maybe": pd.array([1, None], dtype="Int64"),
        }
    )
    schema = data.from_pandas(frame).schema
    assert schema is not None
    assert [c["type"] for c in schema["mlflow_colspec"]] == ["string", "datetime", "long"]  # type: ignore[index,union-attr]


def test_a_given_digest_is_kept() -> None:
    assert data.from_pandas(pd.DataFrame({"x": [1.0]}), digest="abc123").digest == "abc123"


def test_from_numpy_schema_and_profile_match_mlflow() -> None:
    features = np.zeros((4, 3), dtype="float32")
    targets = np.array([0, 1, 0, 1])
    dataset = data.from_numpy(features, targets=targets, name="tiny")

    assert dataset.features is not None and dataset.targets is not None
    schema = dataset.schema or {}
    spec = schema["mlflow_tensorspec"]
    assert json.loads(spec["features"]) == [  # type: ignore[index]
        {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3]}}
    ]
    assert json.loads(spec["targets"]) == [  # type: ignore[index]
        {"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}
    ]
    assert dataset.profile == {
        "features_shape": [4, 3],
        "features_size": 12,
        "features_nbytes": 48,
        "targets_shape": [4],
        "targets_size": 4,
        "targets_nbytes": 32,
    }


def test_from_numpy_takes_dicts_and_lists() -> None:
    named = data.from_numpy({"b": np.ones(2), "a": np.zeros((2, 2))})
    assert named.profile == {
        "features_shape": {"b": [2], "a": [2, 2]},
        "features_size": {"b": 2, "a": 4},
        "features_nbytes": {"b": 16, "a": 32},
    }
    # Key order does not matter to the digest; the keys do.
    assert named.digest == data.from_numpy({"a": np.zeros((2, 2)), "b": np.ones(2)}).digest
    assert named.digest != data.from_numpy({"c": np.ones(2), "a": np.zeros((2, 2))}).digest
    assert (
        data.from_numpy([[1, 2], [3, 4]]).digest
        == data.from_numpy(np.array([[1, 2], [3, 4]])).digest
    )
    with pytest.raises(InvalidParameterValueError, match="empty"):
        data.from_numpy({})


def test_the_data_module_is_a_lazy_attribute_of_cairn() -> None:
    assert cairn.data is data
    assert "data" not in cairn.__all__ and "log_input" in cairn.__all__
