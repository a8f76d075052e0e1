"""Artifact folders that outlived their rows: `<root>/<experiment id>` with no experiment,
`<root>/<experiment>/<run id>` with no run, `<root>/<experiment>/models/<model id>` with no
logged model.

They come from rows deleted by hand or by a restore of an older database, or from a
collection cut short between rows and files. Found through the artifact repository's
listing, so a local root and an S3 one are checked the same way, one listing per folder.
Only names shaped like Cairn's ids are considered: anything else under the root is not
ours to judge.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from cairn.artifact_paths import local_path_of
from cairn.artifact_store.base import ArtifactRepository
from cairn.artifact_store.uri import artifact_repository, scheme_of
from cairn.store.ids import LOGGED_MODEL_ID
from cairn.store.sql import health
from cairn.store.uri import default_artifact_root

_RUN_ID = re.compile(r"[0-9a-f]{32}")
_EXPERIMENT_ID = re.compile(r"[0-9]+")
_MODELS = "models"


@dataclass(frozen=True)
class Orphan:
    path: str  # relative to the artifact root
    kind: str  # "experiment", "run" or "logged model"
    bytes: int
    files: int


def default_root(engine: Engine, uri: str) -> str:
    """Where the store puts experiments: the folder of the Default experiment's location
    when that is a folder or a bucket, else the store's default artifact root."""
    location = health.experiment_locations(engine).get("0")
    if location and scheme_of(location) != "mlflow-artifacts":
        parent, _, last = location.rstrip("/").rpartition("/")
        if last == "0" and parent:
            return parent
    return default_artifact_root(uri)


def find(engine: Engine, root: str) -> list[Orphan]:
    """Every orphaned folder under `root`, with its size."""
    repository = artifact_repository(root)
    locations = health.experiment_locations(engine)
    claimed = {_normal(location) for location in locations.values() if location}
    base = _normal(root)
    candidates: list[tuple[str, str]] = []  # (path, kind)
    for entry in repository.list_artifacts(None):
        name = entry.path
        if not entry.is_dir or not _EXPERIMENT_ID.fullmatch(name):
            continue
        if name not in locations and f"{base}/{name}" not in claimed:
            candidates.append((name, "experiment"))
        else:
            candidates += _unclaimed_children(engine, repository, name)
    return [Orphan(path, kind, *_size(repository, path)) for path, kind in candidates]


def remove(root: str, orphans: Sequence[Orphan]) -> None:
    """Delete the folders, for good."""
    repository = artifact_repository(root)
    for orphan in orphans:
        repository.delete_artifacts(orphan.path)


def describe_kinds(orphans: Sequence[Orphan]) -> str:
    """`1 experiment, 2 run` and so on, for a summary line."""
    counts = Counter(o.kind for o in orphans)
    return ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))


def _unclaimed_children(
    engine: Engine, repository: ArtifactRepository, experiment: str
) -> list[tuple[str, str]]:
    runs: dict[str, str] = {}
    models: dict[str, str] = {}
    for entry in repository.list_artifacts(experiment):
        name = entry.path.rpartition("/")[2]
        if entry.is_dir and _RUN_ID.fullmatch(name):
            runs[name] = entry.path
        elif entry.is_dir and name == _MODELS:
            for model in repository.list_artifacts(entry.path):
                model_id = model.path.rpartition("/")[2]
                if model.is_dir and LOGGED_MODEL_ID.fullmatch(model_id):
                    models[model_id] = model.path
    known_runs = health.existing_run_ids(engine, runs)
    known_models = health.existing_logged_model_ids(engine, models)
    return [(path, "run") for run, path in runs.items() if run not in known_runs] + [
        (path, "logged model") for model, path in models.items() if model not in known_models
    ]


def _size(repository: ArtifactRepository, path: str) -> tuple[int, int]:
    """(bytes, files) under `path`, one listing per folder."""
    size = files = 0
    folders = [path]
    while folders:
        for entry in repository.list_artifacts(folders.pop()):
            if entry.is_dir:
                folders.append(entry.path)
            else:
                size += entry.file_size or 0
                files += 1
    return size, files


def _normal(location: str) -> str:
    """A location comparable with another: local paths absolute, no trailing slash."""
    if scheme_of(location) == "file":
        return os.path.abspath(local_path_of(location)).rstrip("/")
    return location.rstrip("/")
