"""Where a dataset came from: MLflow's DatasetSource, as a source type and a JSON object.

The JSON shapes are MLflow's, so MLflow's `mlflow.data.get_source()` can read what Cairn
logs: local files, S3 and other URI schemes are `{"uri": …}`, HTTP is `{"url": …}` (as
MLflow's HTTPDatasetSource writes it), and data built in code is `{"tags": {…}}` with the
run's source tags (script, user, git commit).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from cairn.exceptions import InvalidParameterValueError
from cairn.provenance.source import source_tags


@dataclass(frozen=True, eq=True)
class DatasetSource:
    """A source type (`local`, `s3`, `http`, `code`, …) and its JSON fields."""

    source_type: str
    fields: dict[str, object] = field(default_factory=dict)

    @property
    def uri(self) -> str | None:
        """The location, for sources that have one (`code` has none)."""
        value = self.fields.get("uri", self.fields.get("url"))
        return value if isinstance(value, str) else None

    def to_dict(self) -> dict[str, object]:
        return dict(self.fields)

    def to_json(self) -> str:
        return json.dumps(self.fields)

    @classmethod
    def local(cls, path: str | os.PathLike[str]) -> DatasetSource:
        """A file or directory, as an absolute `file://` URI."""
        return cls("local", {"uri": Path(path).resolve().as_uri()})

    @classmethod
    def s3(cls, uri: str) -> DatasetSource:
        return cls("s3", {"uri": uri})

    @classmethod
    def http(cls, url: str) -> DatasetSource:
        return cls("http", {"url": url})

    @classmethod
    def code(cls) -> DatasetSource:
        """Data built in code: the source is the running script, as MLflow records it."""
        return cls("code", {"tags": source_tags()})


def resolve_source(source: str | os.PathLike[str] | DatasetSource | None) -> DatasetSource:
    """A source from what a user passes: a DatasetSource, a URI, a path, or None (code)."""
    if source is None:
        return DatasetSource.code()
    if isinstance(source, DatasetSource):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise InvalidParameterValueError(
            f"A dataset source is a path, a URI or a DatasetSource, not {type(source).__name__}."
        )
    text = os.fspath(source)
    scheme = urlsplit(text).scheme.lower() if "://" in text else ""
    if not scheme:
        return DatasetSource.local(text)
    if scheme == "file":
        return DatasetSource.local(unquote(urlsplit(text).path))
    if scheme == "s3":
        return DatasetSource.s3(text)
    if scheme in ("http", "https"):
        return DatasetSource.http(text)
    return DatasetSource(scheme, {"uri": text})
