"""What each file format tells about a file without reading it whole: columns and rows.

* Parquet: the footer has the row count and the schema; no data page is read.
* CSV: the row count is the newline count of the hashing pass minus the header (a quoted
  field with a line break in it counts as two rows); column types come from the first
  1,000 rows.
* JSON Lines: rows are lines (same pass); types from the first 1,000 lines.
* JSON (an array of records): it has to be parsed to be counted, so only files up to
  64 MB are read; bigger ones get no schema and no row count.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.data.dataset import JsonObject
from cairn.data.digests import FileScan
from cairn.exceptions import InvalidParameterValueError

if TYPE_CHECKING:
    import pandas as pd

SAMPLE_ROWS = 1_000
JSON_ARRAY_READ_LIMIT = 64 * 1024 * 1024

FORMATS = ("csv", "parquet", "json", "jsonl")
_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".json": "json"}
_SUFFIXES |= {".jsonl": "jsonl", ".ndjson": "jsonl"}


def format_of(path: Path) -> str | None:
    return _SUFFIXES.get(path.suffix.lower())


def check_format(format: str) -> str:
    name = {"ndjson": "jsonl", "pq": "parquet"}.get(format.lower(), format.lower())
    if name not in FORMATS:
        raise InvalidParameterValueError(f"Unknown format {format!r}: use one of {FORMATS}.")
    return name


def counts_lines(format: str) -> bool:
    """Whether the hashing pass should count newlines for this format."""
    return format in ("csv", "json", "jsonl")


@dataclass(frozen=True, slots=True)
class FileFacts:
    """Columns (MLflow colspecs; None if unknown) and rows (None if unknown) of one file."""

    columns: list[JsonObject] | None
    rows: int | None


def file_facts(path: Path, format: str, scan: FileScan, with_columns: bool = True) -> FileFacts:
    """The file's rows, and its columns when asked (a directory reads only its first file's);
    an unreadable sample (empty, malformed) gives no columns."""
    try:
        return _facts(path, format, scan, with_columns)
    except ValueError:  # pandas' EmptyDataError and ParserError, bad JSON, bad Parquet
        return FileFacts(None, _line_rows(format, scan))


def _line_rows(format: str, scan: FileScan) -> int | None:
    if format == "csv":
        return max(scan.lines - 1, 0)
    return scan.lines if format == "jsonl" else None


def _facts(path: Path, format: str, scan: FileScan, with_columns: bool) -> FileFacts:
    if format == "parquet":
        return _parquet(path)
    if format == "json" and not _is_json_array(path):
        format = "jsonl"  # a ".json" file of one record per line
    if format in ("csv", "jsonl"):
        columns = _sample_columns(path, format) if with_columns else None
        return FileFacts(columns, _line_rows(format, scan))
    if scan.size > JSON_ARRAY_READ_LIMIT:
        return FileFacts(None, None)
    import pandas as pd

    frame = pd.read_json(path, orient="records")
    return FileFacts(_colspecs(frame), len(frame))


def _sample_columns(path: Path, format: str) -> list[JsonObject] | None:
    import pandas as pd

    if format == "csv":
        return _colspecs(pd.read_csv(path, nrows=SAMPLE_ROWS))
    return _colspecs(pd.read_json(path, lines=True, nrows=SAMPLE_ROWS))


def _is_json_array(path: Path) -> bool:
    with open(path, "rb") as stream:
        head = stream.read(4096).lstrip()
    return head.startswith(b"[")


def _colspecs(frame: pd.DataFrame) -> list[JsonObject] | None:
    from cairn.data.pandas_dataset import frame_schema

    schema = frame_schema(frame)
    if schema is None:
        return None
    specs: list[JsonObject] = schema["mlflow_colspec"]  # type: ignore[assignment]
    return specs


def _parquet(path: Path) -> FileFacts:
    import pyarrow.parquet as pq

    metadata = pq.read_metadata(path)
    schema = metadata.schema.to_arrow_schema()
    types = [_arrow_type(field.type) for field in schema]
    columns = None
    if all(t is not None for t in types):
        columns = [
            {"type": t, "name": field.name, "required": True}
            for t, field in zip(types, schema, strict=True)
        ]
    return FileFacts(columns, int(metadata.num_rows))


def _arrow_type(arrow_type: Any) -> str | None:
    """MLflow's column type for an Arrow type; None for nested and decimal types."""
    import pyarrow as pa

    t = pa.types
    if t.is_dictionary(arrow_type):
        return _arrow_type(arrow_type.value_type)
    checks = [
        (t.is_boolean, "boolean"),
        (lambda a: t.is_int64(a) or t.is_uint32(a), "long"),
        (lambda a: t.is_integer(a) and not t.is_uint64(a), "integer"),
        (lambda a: t.is_float16(a) or t.is_float32(a), "float"),
        (t.is_float64, "double"),
        (lambda a: t.is_string(a) or t.is_large_string(a), "string"),
        (lambda a: t.is_binary(a) or t.is_large_binary(a), "binary"),
        (lambda a: t.is_timestamp(a) or t.is_date(a), "datetime"),
    ]
    for check, name in checks:
        if check(arrow_type):
            return name
    return None
