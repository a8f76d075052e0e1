"""The file side of `cairn sync`: which files of a run's artifacts are new (or changed size),
and copying them, one file at a time, through a temporary folder.

Both sides are artifact repositories, so any pair works (local folder, S3, a server's proxy);
files stream to disk and back, never whole in memory.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

from cairn.artifact_paths import safe_relative
from cairn.artifact_store.base import ArtifactRepository
from cairn.artifact_store.uri import artifact_repository, scheme_of

PROXY_SCHEME = "mlflow-artifacts"


def source_repository(
    root_uri: str, tracking_uri: str, proxied_folder: str | None
) -> ArtifactRepository:
    """The repository of a source run's artifacts. A store served by a local `cairn server`
    (the relay's) gives its runs `mlflow-artifacts:/<path>` roots; with `proxied_folder`
    (that server's artifact destination) they are read straight from the folder."""
    if proxied_folder is not None and scheme_of(root_uri) == PROXY_SCHEME:
        relative = safe_relative(root_uri.partition(":")[2].lstrip("/"))
        return artifact_repository(os.path.join(proxied_folder, relative))
    return artifact_repository(root_uri, tracking_uri)


def walk_files(
    repository: ArtifactRepository, folder: str | None = None
) -> Iterator[tuple[str, int]]:
    """(path, size) of every file under `folder`, depth first."""
    for entry in repository.list_artifacts(folder):
        if entry.is_dir:
            yield from walk_files(repository, entry.path)
        else:
            yield entry.path, entry.file_size or 0


def copy_file(source: ArtifactRepository, destination: ArtifactRepository, path: str) -> None:
    """Copy one file to the same relative path on the destination."""
    folder = path.rpartition("/")[0] or None
    with tempfile.TemporaryDirectory(prefix="cairn-sync-") as scratch:
        local = source.download_artifacts(path, scratch)
        destination.log_artifact(local, folder)
