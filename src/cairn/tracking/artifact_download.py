"""Artifact URIs (`runs:/<run_id>/<path>`, `models:/…`, local paths, `file://`, `s3://`) to
local files, and the `load_*` helpers built on them (MLflow's `mlflow.artifacts` module)."""

from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING, Any

from cairn.artifact_paths import safe_relative
from cairn.artifact_store.uri import artifact_repository
from cairn.entities import FileInfo
from cairn.exceptions import InvalidParameterValueError
from cairn.tracking import artifact_formats as formats
from cairn.tracking import fluent
from cairn.tracking.client import Client
from cairn.tracking.model_uris import download_model

if TYPE_CHECKING:
    import pandas


def download_artifacts(
    artifact_uri: str | None = None,
    run_id: str | None = None,
    artifact_path: str | None = None,
    dst_path: str | None = None,
    tracking_uri: str | None = None,
) -> str:
    """Download a file or directory to `dst_path` (a new temporary folder when None); give
    either `artifact_uri` or `run_id` (with `artifact_path`). Returns the local path."""
    if (artifact_uri is None) == (run_id is None):
        raise InvalidParameterValueError("Give either artifact_uri or run_id, not both.")
    if artifact_uri is not None and artifact_uri.startswith("models:/"):
        # A logged model or a registered version (by number, stage, latest or alias).
        return download_model(artifact_uri, dst_path or tempfile.mkdtemp(prefix="cairn-model-"))
    if artifact_uri is not None and artifact_uri.startswith("runs:/"):
        run_id, _, artifact_path = artifact_uri[len("runs:/") :].partition("/")
    if run_id is not None:
        return Client(tracking_uri).download_artifacts(run_id, artifact_path or "", dst_path)
    assert artifact_uri is not None
    parent, name = _split(artifact_uri)
    repository = artifact_repository(parent, tracking_uri or fluent.get_tracking_uri())
    return repository.download_artifacts(name, dst_path)


def list_artifacts(
    artifact_uri: str | None = None,
    run_id: str | None = None,
    artifact_path: str | None = None,
    tracking_uri: str | None = None,
) -> list[FileInfo]:
    """The entries directly under an artifact URI, or under a run's `artifact_path`."""
    if (artifact_uri is None) == (run_id is None):
        raise InvalidParameterValueError("Give either artifact_uri or run_id, not both.")
    if artifact_uri is not None and artifact_uri.startswith("runs:/"):
        run_id, _, artifact_path = artifact_uri[len("runs:/") :].partition("/")
    if run_id is not None:
        return Client(tracking_uri).list_artifacts(run_id, artifact_path or None)
    assert artifact_uri is not None
    repository = artifact_repository(artifact_uri, tracking_uri or fluent.get_tracking_uri())
    return repository.list_artifacts()


def _split(uri: str) -> tuple[str, str]:
    """(parent URI, last path segment) of a URI or local path."""
    trimmed = uri.rstrip("/")
    parent, _, name = trimmed.rpartition("/")
    if not name:
        raise InvalidParameterValueError(f"Invalid artifact URI {uri!r}.")
    return parent or "/", safe_relative(name)


def _download_file(artifact_uri: str) -> str:
    path = download_artifacts(artifact_uri, dst_path=tempfile.mkdtemp(prefix="cairn-load-"))
    if not os.path.isfile(path):
        raise InvalidParameterValueError(f"{artifact_uri!r} is a directory, not a file.")
    return path


def load_text(artifact_uri: str) -> str:
    """The text of a logged text artifact (e.g. `runs:/<run_id>/notes.txt`)."""
    with open(_download_file(artifact_uri), encoding="utf-8") as handle:
        return handle.read()


def load_dict(artifact_uri: str) -> Any:
    """A logged JSON or YAML artifact as Python data."""
    return formats.read_dict(_download_file(artifact_uri))


def load_image(artifact_uri: str) -> Any:
    """A logged image as a PIL image (needs Pillow: `pip install 'cairn-tracker[images]'`)."""
    return formats.read_image(_download_file(artifact_uri))


def load_table(
    artifact_file: str,
    run_ids: list[str] | None = None,
    extra_columns: list[str] | None = None,
    tracking_uri: str | None = None,
) -> pandas.DataFrame:
    """A table logged with `log_table`, from the given runs (default: every run of the active
    experiment that has it), stacked; `extra_columns` adds e.g. `run_id` to each row."""
    import pandas

    client = Client(tracking_uri)
    if run_ids is None:
        found = fluent.search_runs(output_format="list")
        run_ids = [r.info.run_id for r in found]
    frames = []
    for run_id in run_ids:
        try:
            local = client.download_artifacts(run_id, artifact_file)
        except Exception as error:  # the run has no such table: skip it, as MLflow does
            if getattr(error, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                continue
            raise
        table = formats.read_table(local)
        for column in extra_columns or ():
            if column != "run_id":
                raise InvalidParameterValueError(f"Unsupported extra column {column!r}.")
            table[column] = run_id
        frames.append(table)
    if not frames:
        raise InvalidParameterValueError(f"No run has a table artifact {artifact_file!r}.")
    return pandas.concat(frames, ignore_index=True)
