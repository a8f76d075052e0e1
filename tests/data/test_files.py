"""from_path: CSV, Parquet, JSON, JSON Lines and directories; schema and profile from a
bounded read."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cairn import data
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError

FRAME = pd.DataFrame(
    {"x": [0.5, 1.5, 2.5, 3.5], "n": [1, 2, 3, 4], "s": ["a", "b", "c", "d"], "y": [0, 1, 0, 1]}
)
COLSPEC = [
    {"type": "double", "name": "x", "required": True},
    {"type": "long", "name": "n", "required": True},
    {"type": "string", "name": "s", "required": True},
    {"type": "long", "name": "y", "required": True},
]


def _write(path: Path, frame: pd.DataFrame = FRAME) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    kind = path.suffix
    if kind == ".csv":
        frame.to_csv(path, index=False)
    elif kind == ".parquet":
        frame.to_parquet(path, index=False)
    elif kind == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_json(path, orient="records")
    return path


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json", ".jsonl"])
def test_each_format_gives_schema_profile_and_a_local_source(tmp_path: Path, suffix: str) -> None:
    path = _write(tmp_path / f"train{suffix}")
    dataset = data.from_path(path, targets="y")

    assert dataset.name == f"train{suffix}"
    assert dataset.targets == "y"
    assert dataset.format == suffix.lstrip(".")
    assert dataset.schema == {"mlflow_colspec": COLSPEC}
    assert dataset.profile == {
        "num_rows": 4,
        "num_elements": 16,
        "num_columns": 4,
        "num_files": 1,
        "num_bytes": path.stat().st_size,
    }
    entity = dataset.to_entity()
    assert entity.source_type == "local"
    assert json.loads(entity.source) == {"uri": path.resolve().as_uri()}
    assert entity.source.startswith('{"uri": "file:///')


def test_parquet_rows_come_from_the_footer(tmp_path: Path) -> None:
    path = tmp_path / "big.parquet"
    pd.DataFrame({"v": range(250_000)}).to_parquet(path, row_group_size=50_000)
    dataset = data.from_path(path)
    assert dataset.profile is not None and dataset.profile["num_rows"] == 250_000
    assert dataset.schema == {"mlflow_colspec": [{"type": "long", "name": "v", "required": True}]}


def test_csv_rows_are_counted_without_a_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("a,b\n1,2\n3,4")
    assert (data.from_path(path).profile or {})["num_rows"] == 2


def test_a_json_file_of_lines_is_read_as_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "records.json"
    path.write_text('{"a": 1}\n{"a": 2}\n{"a": 3}\n')
    dataset = data.from_path(path)
    assert (dataset.profile or {})["num_rows"] == 3
    assert dataset.schema == {"mlflow_colspec": [{"type": "long", "name": "a", "required": True}]}


def test_a_directory_sums_rows_and_takes_the_first_files_columns(tmp_path: Path) -> None:
    folder = tmp_path / "train"
    _write(folder / "part-0.parquet", FRAME.iloc[:3])
    _write(folder / "nested" / "part-1.parquet", FRAME.iloc[3:])
    (folder / "_SUCCESS").write_text("")
    (folder / "README.md").write_text("not data")
    dataset = data.from_path(folder)

    assert (dataset.name, dataset.format) == ("train", "parquet")
    assert dataset.schema == {"mlflow_colspec": COLSPEC}
    profile = dataset.profile or {}
    assert (profile["num_rows"], profile["num_files"]) == (4, 2)
    assert json.loads(dataset.to_entity().source) == {"uri": folder.resolve().as_uri()}


def test_a_directory_of_mixed_formats_needs_a_format(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    _write(folder / "a.csv")
    _write(folder / "b.parquet")
    with pytest.raises(InvalidParameterValueError, match="csv, parquet"):
        data.from_path(folder)
    only_csv = data.from_path(folder, format="csv")
    assert (only_csv.profile or {})["num_files"] == 1


def test_format_overrides_the_extension(tmp_path: Path) -> None:
    path = tmp_path / "export.txt"
    path.write_text("a\n1\n2\n")
    with pytest.raises(InvalidParameterValueError, match="format="):
        data.from_path(path)
    assert (data.from_path(path, format="csv").profile or {})["num_rows"] == 2
    with pytest.raises(InvalidParameterValueError, match="Unknown format"):
        data.from_path(path, format="xlsx")


def test_targets_must_be_a_column(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterValueError, match="'label'"):
        data.from_path(_write(tmp_path / "t.csv"), targets="label")


def test_a_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ResourceDoesNotExistError):
        data.from_path(tmp_path / "nope.csv")


def test_an_empty_csv_still_gets_a_digest(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    dataset = data.from_path(path)
    assert dataset.schema is None
    assert dataset.profile == {"num_rows": 0, "num_files": 1, "num_bytes": 0}
    assert len(dataset.digest) == 16
