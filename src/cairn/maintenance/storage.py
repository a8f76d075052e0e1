"""`cairn storage --recount`: storage figures counted afresh, by walking every run's and
logged model's artifact folder and counting each run's points in `metrics`.

The figures are kept as things are written (cairn.store.sql.storage), so this is needed
only where that missed something: files written before the store kept figures (a database
upgraded to revision 0008 has its points counted, not its files), files written around
Cairn (the stock mlflow client writing straight to S3, `cairn import` copying files, a
multipart upload, a file deleted by hand), S3 files overwritten, and exact repeats of
points. It walks a few runs at a time and writes their figures in one transaction each.

Runs of a server (`mlflow-artifacts:/…` roots) are walked where the server keeps them
(`artifacts_destination`, its `--artifacts-destination`); without it, or for any root that
cannot be listed, a run's points are still counted and its file figures are left as they
were, and the report names it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cairn.artifact_paths import join_inside, safe_relative
from cairn.artifact_store.base import ArtifactRepository
from cairn.artifact_store.local import LocalArtifactRepository
from cairn.artifact_store.uri import artifact_repository, scheme_of
from cairn.exceptions import CairnError

if TYPE_CHECKING:
    from cairn.store.sql.tracking import SqlTrackingStore

#: Runs walked before their figures are written (one transaction).
BATCH = 100
PROXY_SCHEME = "mlflow-artifacts"
_UPLOADING = ".cairn-upload-"  # the proxy's files still being received


@dataclass
class RecountReport:
    """What a recount covered; `unreachable` names the owners whose files it could not list."""

    runs: int = 0
    logged_models: int = 0
    artifact_bytes: int = 0
    artifact_files: int = 0
    unreachable: list[str] = field(default_factory=list)


def recount(
    store: SqlTrackingStore,
    experiment_ids: Sequence[str] | None = None,
    artifacts_destination: str | None = None,
    *,
    on_progress: Callable[[RecountReport], None] | None = None,
) -> RecountReport:
    """Recount the runs and logged models of the experiments (None: of every experiment)."""
    runs, models = store.storage_owners(experiment_ids)
    report = RecountReport()
    for start in range(0, max(len(runs), len(models)), BATCH):
        run_files = {
            run_id: _figures(f"run {run_id}", uri, artifacts_destination, report)
            for run_id, uri in runs[start : start + BATCH]
        }
        model_files = {}
        for model_id, uri in models[start : start + BATCH]:
            found = _figures(f"logged model {model_id}", uri, artifacts_destination, report)
            if found is not None:
                model_files[model_id] = found
        store.rewrite_storage(run_files, model_files)
        report.runs += len(run_files)
        report.logged_models += len(model_files)
        if on_progress is not None:
            on_progress(report)
    return report


def _figures(
    owner: str, uri: str, destination: str | None, report: RecountReport
) -> tuple[int, int] | None:
    """(bytes, files) under an artifact root, or None (and a line in the report)."""
    repository = repository_of(uri, destination)
    if repository is None:
        report.unreachable.append(f"{owner}: {uri} (give the server's artifacts destination)")
        return None
    try:
        size, files = usage_under(repository)
    except _walk_errors() as error:
        message = error.message if isinstance(error, CairnError) else str(error)
        report.unreachable.append(f"{owner}: {uri}: {message}")
        return None
    report.artifact_bytes += size
    report.artifact_files += files
    return size, files


def repository_of(uri: str, destination: str | None) -> ArtifactRepository | None:
    """The repository to walk for an artifact root; None where it lies behind a server
    (a proxy URI without the server's destination, or an http(s) URI)."""
    if not uri:
        return None
    scheme = scheme_of(uri)
    if scheme == PROXY_SCHEME:
        if destination is None:
            return None
        relative = safe_relative(uri.partition(":")[2].lstrip("/"))
        return artifact_repository(f"{destination.rstrip('/')}/{relative}")
    if scheme in ("http", "https"):
        return None
    return artifact_repository(uri)


def usage_under(repository: ArtifactRepository, path: str | None = None) -> tuple[int, int]:
    """Bytes and files under `path` of a repository (the root when None); (0, 0) if absent."""
    if isinstance(repository, LocalArtifactRepository):
        return _local_usage(repository, safe_relative(path))
    size = files = 0
    for entry in repository.list_artifacts(path):
        if entry.is_dir:
            inner_size, inner_files = usage_under(repository, entry.path)
            size += inner_size
            files += inner_files
        elif not os.path.basename(entry.path).startswith(_UPLOADING):
            size += entry.file_size or 0
            files += 1
    return size, files


def _local_usage(repository: LocalArtifactRepository, relative: str) -> tuple[int, int]:
    top = join_inside(repository.root, relative) if relative else repository.root
    if os.path.isfile(top):
        return os.path.getsize(top), 1
    size = files = 0
    for folder, _dirs, names in os.walk(top):  # links to folders are not followed
        for name in names:
            if name.startswith(_UPLOADING):
                continue
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                size += os.path.getsize(path)
                files += 1
    return size, files


def _walk_errors() -> tuple[type[Exception], ...]:
    """What listing a root may raise: Cairn's errors, the file system's, and boto's (when
    the `s3` extra is installed)."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        return (CairnError, OSError)
    return (CairnError, OSError, BotoCoreError, ClientError)
