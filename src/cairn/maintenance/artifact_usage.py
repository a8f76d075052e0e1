"""What an upload adds to a run's (or a logged model's) artifact figures, measured before
the files are written: the sizes of the local files, less the sizes of the files they
replace where finding those costs a stat (a local folder). On S3 a replaced file is not
looked up (a HEAD per file would double an upload's requests): it counts again until
`cairn storage --recount`.

Uploads through a server's artifact proxy are measured by the server (cairn.server.
storage_api), so for those this answers None and the client records nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from cairn.artifact_paths import file_destination, join_inside, safe_relative
from cairn.artifact_store.base import ArtifactRepository
from cairn.artifact_store.local import LocalArtifactRepository
from cairn.artifact_store.uri import scheme_of
from cairn.exceptions import InvalidParameterValueError
from cairn.store.base import StorageAccounting, TrackingStore

_log = logging.getLogger("cairn.storage")

# Repositories that write through a server's artifact proxy (the server records).
_PROXIED = frozenset({"http", "https", "mlflow-artifacts"})


@dataclass(frozen=True, slots=True)
class Usage:
    """Bytes and files an upload adds (negative when it replaces bigger files)."""

    size_bytes: int
    files: int


def write_counted(
    store: TrackingStore,
    measure: Callable[[], Usage | None],
    write: Callable[[], None],
    record: Callable[[StorageAccounting, Usage], object],
) -> None:
    """`write` the files and, where `store` keeps storage figures (over HTTP the server
    does), `record` what `measure` found they add. The figures are the tracker's own: a
    failure to measure or record them warns (a recount mends them) and never fails the
    write, which is the caller's."""
    if not isinstance(store, StorageAccounting):
        write()
        return
    try:
        usage = measure()
    except OSError:
        usage = None  # a missing local file: `write` says so in its own words
    write()
    if usage is None:
        return
    try:
        record(store, usage)
    except Exception as error:
        _log.warning(
            "Cairn could not record the storage of logged files (%s); "
            "`cairn storage --recount` counts them again.",
            error,
        )


def file_upload(
    repository: ArtifactRepository, local_file: str, artifact_path: str | None
) -> Usage | None:
    """What `repository.log_artifact(local_file, artifact_path)` will add."""
    if _through_a_server(repository):
        return None
    relative = file_destination(local_file, artifact_path)
    return _less_replaced(repository, [(relative, os.path.getsize(local_file))])


def folder_upload(
    repository: ArtifactRepository, local_dir: str, artifact_path: str | None
) -> Usage | None:
    """What `repository.log_artifacts(local_dir, artifact_path)` will add."""
    if _through_a_server(repository):
        return None
    if not os.path.isdir(local_dir):
        raise InvalidParameterValueError(f"No such directory to log: {local_dir!r}.")
    return _less_replaced(repository, list(_files(repository, local_dir, artifact_path)))


def listed_upload(repository: ArtifactRepository, files: Sequence[tuple[str, str]]) -> Usage | None:
    """What storing (artifact path, local file) pairs will add (a run's capture, linked)."""
    if _through_a_server(repository):
        return None
    sized = [(safe_relative(relative), os.path.getsize(local)) for relative, local in files]
    return _less_replaced(repository, sized)


def _through_a_server(repository: ArtifactRepository) -> bool:
    return scheme_of(repository.root_uri) in _PROXIED


def _files(
    repository: ArtifactRepository, local_dir: str, artifact_path: str | None
) -> Iterator[tuple[str, int]]:
    """(destination, size) of each file the upload copies, as the repositories walk it (a
    local repository skips its own folder when it lies inside `local_dir`)."""
    base = safe_relative(artifact_path)
    skip = repository.root if isinstance(repository, LocalArtifactRepository) else None
    for folder, dirs, names in os.walk(local_dir):
        dirs[:] = [d for d in dirs if os.path.realpath(os.path.join(folder, d)) != skip]
        relative = os.path.relpath(folder, local_dir)
        inside = base if relative == "." else "/".join(p for p in (base, relative) if p)
        for name in names:
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                yield safe_relative(f"{inside}/{name}" if inside else name), os.path.getsize(path)


def _less_replaced(repository: ArtifactRepository, files: list[tuple[str, int]]) -> Usage:
    size = sum(found for _, found in files)
    count = len(files)
    if isinstance(repository, LocalArtifactRepository):
        for relative, _ in files:
            try:
                size -= os.path.getsize(join_inside(repository.root, relative))
                count -= 1
            except OSError:
                pass  # nothing there yet: a new file
    return Usage(size, count)
