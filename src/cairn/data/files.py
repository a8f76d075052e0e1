"""Datasets from local files and directories: `cairn.data.from_path`.

The digest is a SHA-256 of the bytes, streamed in 1 MiB chunks (memory stays flat for a
file of any size); a directory hashes its data files in sorted relative-path order, each
path and size before its bytes. Schema and profile come from a bounded read
(`file_formats.py`). Names starting with "." or "_" (`.crc`, `_SUCCESS`, `_delta_log`) are
not data, as Spark and Arrow treat them: they are skipped, and so are files of other
formats than the dataset's.
"""

from __future__ import annotations

import os
from pathlib import Path

from cairn.data.dataset import Dataset, JsonObject
from cairn.data.digests import FileScan, hash_tree, new_hasher, scan_file, short
from cairn.data.file_formats import FileFacts, check_format, counts_lines, file_facts, format_of
from cairn.data.sources import DatasetSource
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError


class FileDataset(Dataset):
    """A file or a directory of files of one format."""

    def __init__(
        self,
        path: Path,
        format: str,
        digest: str,
        name: str | None,
        schema: JsonObject | None,
        profile: JsonObject,
        targets: str | None = None,
    ) -> None:
        super().__init__(DatasetSource.local(path), digest, name, schema, profile)
        self._path = path
        self._format = format
        self._targets = targets

    @property
    def path(self) -> Path:
        return self._path

    @property
    def format(self) -> str:
        return self._format

    @property
    def targets(self) -> str | None:
        return self._targets


def from_path(
    path: str | os.PathLike[str],
    name: str | None = None,
    targets: str | None = None,
    format: str | None = None,
) -> FileDataset:
    """A dataset of a CSV, Parquet, JSON or JSON Lines file, or a directory of them.

    The digest hashes every byte (streamed, never loaded whole), so a one-byte change
    changes it and a copy elsewhere has the same digest. The source is the absolute
    `file://` URI (source type `local`).

    Args:
        path: a file, or a directory (its data files, recursively).
        name: defaults to the file or directory name.
        targets: the label column, checked against the columns when they are known.
        format: "csv", "parquet", "json" or "jsonl"; by default from the file extensions.

    Example:
        >>> dataset = cairn.data.from_path("data/train/", targets="label")
        >>> cairn.log_input(dataset, context="training")
    """
    root = Path(path).resolve()
    if not root.exists():
        raise ResourceDoesNotExistError(f"No such file or directory: {os.fspath(path)!r}.")
    wanted = None if format is None else check_format(format)
    if root.is_dir():
        files = _data_files(root, wanted)
        fmt = wanted or _single_format(root, files)
        files = [f for f in files if wanted is not None or format_of(f) == fmt]
        hasher = new_hasher()
        scans = hash_tree(root, files, hasher, counts_lines(fmt))
    else:
        fmt = wanted or _format_of_file(root)
        hasher = new_hasher()
        scans = {root: scan_file(root, hasher, counts_lines(fmt))}
    facts = _facts(scans, fmt)
    schema: JsonObject | None = None
    if facts.columns is not None:
        schema = {"mlflow_colspec": facts.columns}
    _check_targets(targets, facts)
    profile = _profile(scans, facts)
    return FileDataset(root, fmt, short(hasher), name or root.name, schema, profile, targets)


def _data_files(root: Path, wanted: str | None) -> list[Path]:
    """Regular files under `root`, sorted by relative path, minus hidden and `_` names."""
    found: list[Path] = []
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = [d for d in subdirs if not d.startswith((".", "_"))]
        for file_name in names:
            file = Path(directory, file_name)
            if file_name.startswith((".", "_")) or not file.is_file():
                continue
            if wanted is None or format_of(file) in (wanted, None):
                found.append(file)
    found.sort(key=lambda f: f.relative_to(root).as_posix())
    return found


def _single_format(root: Path, files: list[Path]) -> str:
    formats = {format_of(f) for f in files} - {None}
    if len(formats) != 1:
        what = ", ".join(sorted(f for f in formats if f)) or "no CSV/Parquet/JSON files"
        raise InvalidParameterValueError(
            f"Cannot tell the format of {str(root)!r} ({what}): pass format=."
        )
    (fmt,) = formats
    assert fmt is not None
    return fmt


def _format_of_file(path: Path) -> str:
    fmt = format_of(path)
    if fmt is None:
        raise InvalidParameterValueError(
            f"Cannot tell the format of {path.name!r} from its extension: pass format=."
        )
    return fmt


def _facts(scans: dict[Path, FileScan], fmt: str) -> FileFacts:
    """Columns from the first file (in sorted order), rows summed over all files."""
    facts = [
        file_facts(path, fmt, scan, with_columns=index == 0)
        for index, (path, scan) in enumerate(scans.items())
    ]
    if not facts:
        return FileFacts(None, 0)
    rows = [f.rows for f in facts]
    total = None if any(r is None for r in rows) else sum(r for r in rows if r is not None)
    return FileFacts(facts[0].columns, total)


def _check_targets(targets: str | None, facts: FileFacts) -> None:
    if targets is None or facts.columns is None:
        return
    names = [c.get("name") for c in facts.columns]
    if targets not in names:
        raise InvalidParameterValueError(f"No targets column {targets!r} among {names}.")


def _profile(scans: dict[Path, FileScan], facts: FileFacts) -> JsonObject:
    profile: JsonObject = {}
    if facts.rows is not None:
        profile["num_rows"] = facts.rows
    if facts.columns is not None:
        if facts.rows is not None:
            profile["num_elements"] = facts.rows * len(facts.columns)
        profile["num_columns"] = len(facts.columns)
    profile["num_files"] = len(scans)
    profile["num_bytes"] = sum(scan.size for scan in scans.values())
    return profile
